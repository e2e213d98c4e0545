/* s3vol: a pool of libcurl easy handles (see http_pool.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "http_pool.h"

struct http_pool {
  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t freed;         /* signalled when a handle comes back */
  CURL **idle;                  /* max slots, nidle in use */
  unsigned nidle;
  unsigned nlive;               /* handles created and not freed */
  unsigned max;
  CURLSH *share;
  pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init (void)
{
  global_rc = curl_global_init (CURL_GLOBAL_ALL);
}

int
http_global_init (void)
{
  pthread_once (&global_once, global_init);
  return global_rc == CURLE_OK ? 0 : -ENOMEM;
}

/* The share's lock callbacks: one mutex per kind of shared data. */
static void
share_lock (CURL *h, curl_lock_data data, curl_lock_access access,
            void *opaque)
{
  struct http_pool *p = opaque;

  (void) h; (void) access;
  pthread_mutex_lock (&p->share_lock[data]);
}

static void
share_unlock (CURL *h, curl_lock_data data, void *opaque)
{
  struct http_pool *p = opaque;

  (void) h;
  pthread_mutex_unlock (&p->share_lock[data]);
}

int
http_pool_new (unsigned max, struct http_pool **out)
{
  struct http_pool *p;
  size_t i;

  *out = NULL;
  p = calloc (1, sizeof *p);
  if (p == NULL)
    return -ENOMEM;
  p->max = max ? max : 1;
  p->idle = calloc (p->max, sizeof *p->idle);
  p->share = curl_share_init ();
  if (p->idle == NULL || p->share == NULL) {
    curl_share_cleanup (p->share);
    free (p->idle);
    free (p);
    return -ENOMEM;
  }
  pthread_mutex_init (&p->lock, NULL);
  pthread_cond_init (&p->freed, NULL);
  for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init (&p->share_lock[i], NULL);
  curl_share_setopt (p->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt (p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt (p->share, CURLSHOPT_USERDATA, p);
  /* Connections are not shared: each handle keeps its own, which is what
   * makes a handle worth pooling.
   */
  curl_share_setopt (p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt (p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  *out = p;
  return 0;
}

void
http_pool_free (struct http_pool *p)
{
  size_t i;

  if (p == NULL)
    return;
  /* Handles first: a share cannot go while handles still use it. */
  for (i = 0; i < p->nidle; i++)
    curl_easy_cleanup (p->idle[i]);
  curl_share_cleanup (p->share);
  for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy (&p->share_lock[i]);
  pthread_cond_destroy (&p->freed);
  pthread_mutex_destroy (&p->lock);
  free (p->idle);
  free (p);
}

CURL *
http_pool_get (struct http_pool *p)
{
  CURL *h = NULL;

  pthread_mutex_lock (&p->lock);
  while (p->nidle == 0 && p->nlive >= p->max)
    pthread_cond_wait (&p->freed, &p->lock);
  if (p->nidle > 0)
    h = p->idle[--p->nidle];
  else
    p->nlive++;                 /* reserve the slot; create it unlocked */
  pthread_mutex_unlock (&p->lock);

  if (h) {
    /* Back to defaults; the connection, caches and share stay. */
    curl_easy_reset (h);
    return h;
  }
  h = curl_easy_init ();
  if (h == NULL || curl_easy_setopt (h, CURLOPT_SHARE, p->share) != CURLE_OK) {
    curl_easy_cleanup (h);
    pthread_mutex_lock (&p->lock);
    p->nlive--;
    pthread_cond_signal (&p->freed);
    pthread_mutex_unlock (&p->lock);
    return NULL;
  }
  return h;
}

void
http_pool_put (struct http_pool *p, CURL *h)
{
  pthread_mutex_lock (&p->lock);
  p->idle[p->nidle++] = h;
  pthread_cond_signal (&p->freed);
  pthread_mutex_unlock (&p->lock);
}
