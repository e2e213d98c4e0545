/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a pool of libcurl easy handles, and one HTTP exchange on one
 * (see http_pool.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_pool.h"

struct http_pool {
  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t freed;         /* signalled when a handle comes back */
  CURL **idle;                  /* max slots; the first nidle are idle */
  unsigned nidle;
  unsigned nlive;               /* handles created and not freed */
  unsigned max;
  struct http_opts opts;
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
http_pool_new (unsigned max, const struct http_opts *opts,
               struct http_pool **out)
{
  struct http_pool *p;
  size_t i;

  *out = NULL;
  p = calloc (1, sizeof *p);
  if (p == NULL)
    return -ENOMEM;
  p->max = max ? max : 1;
  p->opts = *opts;
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

/* Take a handle, waiting while all max are in use; reset to libcurl's
 * defaults apart from its connection, caches and share.  NULL only if
 * out of memory.
 */
static CURL *
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

static void
http_pool_put (struct http_pool *p, CURL *h)
{
  pthread_mutex_lock (&p->lock);
  p->idle[p->nidle++] = h;
  pthread_cond_signal (&p->freed);
  pthread_mutex_unlock (&p->lock);
}

/* ---- one exchange ---- */

#define ERRBODY_MAX 16384       /* bytes of an error body kept */

/* State of one exchange, for the curl callbacks. */
struct xstate {
  struct http_xfer *x;
  CURL *h;
  size_t upload_pos;
  bool reserved;                /* out grown to Content-Length once */
  bool nomem;
  bool too_long;                /* the body passed x->max_len */
  size_t out_start;             /* out->len before the exchange */
};

static size_t
write_cb (char *p, size_t size, size_t n, void *opaque)
{
  struct xstate *st = opaque;
  struct http_xfer *x = st->x;
  size_t len = size * n;
  long status = 0;
  curl_off_t cl = -1;

  curl_easy_getinfo (st->h, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status > 299 || x->out == NULL) {
    /* Error bodies are small; keep the start for the message. */
    if (x->err.len < ERRBODY_MAX)
      s3vol_buf_append (&x->err, p, len < ERRBODY_MAX - x->err.len ?
                        len : ERRBODY_MAX - x->err.len);
    return len;
  }
  if (!st->reserved) {
    /* One allocation for a whole object, rather than doubling; but the
     * server is not trusted, so only once its length is within bounds.
     */
    st->reserved = true;
    curl_easy_getinfo (st->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    if (cl > 0 && x->max_len && (uint64_t) cl > x->max_len) {
      st->too_long = true;
      return 0;                 /* makes curl fail the transfer */
    }
    if (cl > 0 && (uint64_t) cl < SIZE_MAX / 2)
      s3vol_buf_reserve (x->out, cl);
  }
  /* Without (or despite) a Content-Length: cut off at the cap. */
  if (x->max_len && x->out->len - st->out_start + len > x->max_len) {
    st->too_long = true;
    return 0;
  }
  if (s3vol_buf_append (x->out, p, len) < 0) {
    st->nomem = true;
    return 0;                   /* makes curl fail the transfer */
  }
  return len;
}

static size_t
header_cb (char *p, size_t size, size_t n, void *opaque)
{
  struct xstate *st = opaque;
  char *etag = st->x->etag;
  size_t len = size * n;

  if (len >= 5 && strncasecmp (p, "HTTP/", 5) == 0)
    etag[0] = '\0';             /* a new response, e.g. after a 100 */
  else if (len > 5 && strncasecmp (p, "ETag:", 5) == 0) {
    p += 5;
    len -= 5;
    while (len > 0 && (*p == ' ' || *p == '\t')) {
      p++;
      len--;
    }
    while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n' ||
                       p[len - 1] == ' '))
      len--;
    snprintf (etag, sizeof st->x->etag, "%.*s", (int) len, p);
  }
  return size * n;
}

static size_t
read_cb (char *p, size_t size, size_t n, void *opaque)
{
  struct xstate *st = opaque;
  size_t left = st->x->body_len - st->upload_pos;
  size_t len = size * n < left ? size * n : left;

  memcpy (p, (const char *) st->x->body + st->upload_pos, len);
  st->upload_pos += len;
  return len;
}

/* curl reports the request's headers each time it sends them. */
static int
debug_cb (CURL *h, curl_infotype type, char *p, size_t n, void *opaque)
{
  struct xstate *st = opaque;

  (void) h; (void) p; (void) n;
  if (type == CURLINFO_HEADER_OUT)
    st->x->sends++;
  return 0;
}

/* curl rewinds the body when it must send it again on one connection. */
static int
seek_cb (void *opaque, curl_off_t off, int origin)
{
  struct xstate *st = opaque;

  if (origin != SEEK_SET || off < 0 || (uint64_t) off > st->x->body_len)
    return CURL_SEEKFUNC_CANTSEEK;
  st->upload_pos = off;
  return CURL_SEEKFUNC_OK;
}

#define SET(opt, val) \
  (rc = rc != CURLE_OK ? rc : curl_easy_setopt (h, (opt), (val)))

static CURLcode
setup (const struct http_pool *p, struct xstate *st)
{
  const struct http_opts *o = &p->opts;
  struct http_xfer *x = st->x;
  CURL *h = st->h;
  CURLcode rc = CURLE_OK;

  SET (CURLOPT_URL, x->url);
  SET (CURLOPT_PATH_AS_IS, 1L);
  SET (CURLOPT_NOSIGNAL, 1L);
  SET (CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
  SET (CURLOPT_HTTPHEADER, x->headers);
  SET (CURLOPT_AWS_SIGV4, o->sigv4);
  SET (CURLOPT_USERNAME, o->user);
  SET (CURLOPT_PASSWORD, o->password);
  SET (CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
  SET (CURLOPT_LOW_SPEED_LIMIT, 1L);
  SET (CURLOPT_LOW_SPEED_TIME, o->stall_timeout_s);
  SET (CURLOPT_TCP_KEEPALIVE, 1L);
  SET (CURLOPT_ERRORBUFFER, x->curl_err);
  SET (CURLOPT_WRITEFUNCTION, write_cb);
  SET (CURLOPT_WRITEDATA, st);
  SET (CURLOPT_HEADERFUNCTION, header_cb);
  SET (CURLOPT_HEADERDATA, st);
  SET (CURLOPT_FILETIME, 1L);
  /* Verbose only so that debug_cb counts the sends; it prints nothing. */
  SET (CURLOPT_DEBUGFUNCTION, debug_cb);
  SET (CURLOPT_DEBUGDATA, st);
  SET (CURLOPT_VERBOSE, 1L);
  if (o->cainfo)
    SET (CURLOPT_CAINFO, o->cainfo);

  if (strcmp (x->method, "HEAD") == 0)
    SET (CURLOPT_NOBODY, 1L);
  else if (strcmp (x->method, "PUT") == 0) {
    /* curl sends "Expect: 100-continue" and waits for the store's go
     * ahead before the body.  We let it: the header cannot be removed
     * (a removal entry gets signed, and RGW then answers 403); against
     * RGW the wait costs nothing measurable (a 4 KiB put takes ~4 ms
     * either way); and a refused put (403, 412) never sends its body.
     * Not waiting (EXPECT_100_TIMEOUT_MS 0) made 4 KiB puts take 43 ms.
     */
    SET (CURLOPT_UPLOAD, 1L);
    SET (CURLOPT_READFUNCTION, read_cb);
    SET (CURLOPT_READDATA, st);
    SET (CURLOPT_SEEKFUNCTION, seek_cb);
    SET (CURLOPT_SEEKDATA, st);
    SET (CURLOPT_INFILESIZE_LARGE, (curl_off_t) x->body_len);
  }
  else if (strcmp (x->method, "POST") == 0) {
    SET (CURLOPT_POST, 1L);
    SET (CURLOPT_POSTFIELDS, x->body);
    SET (CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) x->body_len);
  }
  else if (strcmp (x->method, "GET") != 0)
    SET (CURLOPT_CUSTOMREQUEST, x->method);
  return rc;
}

#undef SET

int
http_exchange (struct http_pool *p, struct http_xfer *x)
{
  size_t out_start = x->out ? x->out->len : 0;
  struct xstate st = { .x = x, .out_start = out_start };
  curl_off_t cl = -1, ft = -1;
  long oserr = 0;

  x->status = 0;
  x->sends = 0;
  x->os_errno = 0;
  x->curl_err[0] = x->etag[0] = '\0';
  x->length = 0;
  x->mtime = -1;
  s3vol_buf_clear (&x->err);

  st.h = http_pool_get (p);
  if (st.h == NULL)
    return -ENOMEM;
  x->cc = setup (p, &st);
  if (x->cc == CURLE_OK)
    x->cc = curl_easy_perform (st.h);
  if (x->cc == CURLE_OK) {
    curl_easy_getinfo (st.h, CURLINFO_RESPONSE_CODE, &x->status);
    curl_easy_getinfo (st.h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
    curl_easy_getinfo (st.h, CURLINFO_FILETIME_T, &ft);
    x->length = cl > 0 ? (uint64_t) cl : 0;
    x->mtime = ft;
  }
  else {
    curl_easy_getinfo (st.h, CURLINFO_OS_ERRNO, &oserr);
    x->os_errno = (int) oserr;
  }
  http_pool_put (p, st.h);
  if (x->out && (x->cc != CURLE_OK || x->status < 200 || x->status > 299 ||
                 st.too_long))
    x->out->len = out_start;    /* drop a partial body */
  return st.nomem ? -ENOMEM : st.too_long ? -EFBIG : 0;
}

void
http_xfer_free (struct http_xfer *x)
{
  s3vol_buf_free (&x->err);
}
