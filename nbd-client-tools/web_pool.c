/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: open versions, kept for the next request.
 *
 * Opening a version (extfs_open) reads its superblock and may replay a
 * journal: worth keeping.  Up to max handles stay open; when one more
 * is needed the least recently used one nobody holds is closed.  Each
 * handle's chunks come through the host chunk store, shared with every
 * other s3vol process.
 *
 * Locks: the pool's lock guards the list, refs and used; it is never
 * held while a version is opened or closed (store I/O).  A handle's own
 * lock is held around each call into its extfs (not thread-safe).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

struct web_pool {
  pthread_mutex_t lock;
  struct volstore *vs;
  struct web_handle *list;
  unsigned n, max;
  uint64_t tick;
};

int
web_pool_new (struct volstore *vs, unsigned max, struct web_pool **out)
{
  struct web_pool *p = calloc (1, sizeof *p);

  if (p == NULL)
    return -ENOMEM;
  pthread_mutex_init (&p->lock, NULL);
  p->vs = vs;
  p->max = max ? max : 1;
  *out = p;
  return 0;
}

static void
handle_free (struct web_handle *h)
{
  extfs_close (h->x);
  pthread_mutex_destroy (&h->lock);
  free (h);
}

void
web_pool_free (struct web_pool *p)
{
  struct web_handle *h, *next;

  if (p == NULL)
    return;
  for (h = p->list; h; h = next) {
    next = h->next;
    handle_free (h);
  }
  pthread_mutex_destroy (&p->lock);
  free (p);
}

/* With the pool's lock held: the handle of (volume, seq), taken. */
static struct web_handle *
find (struct web_pool *p, const char *volume, uint64_t seq)
{
  struct web_handle *h;

  for (h = p->list; h; h = h->next)
    if (h->seq == seq && strcmp (h->volume, volume) == 0) {
      h->refs++;
      h->used = ++p->tick;
      return h;
    }
  return NULL;
}

/* With the pool's lock held: unlink the least recently used idle
 * handle, if the pool is over its size.  The caller closes it.
 */
static struct web_handle *
evict_one (struct web_pool *p)
{
  struct web_handle **pp, **victim = NULL;
  struct web_handle *h;

  if (p->n <= p->max)
    return NULL;
  for (pp = &p->list; *pp; pp = &(*pp)->next)
    if ((*pp)->refs == 0 && (victim == NULL || (*pp)->used < (*victim)->used))
      victim = pp;
  if (victim == NULL)
    return NULL;
  h = *victim;
  *victim = h->next;
  p->n--;
  return h;
}

static int
open_handle (struct web_pool *p, const char *volume, uint64_t seq,
             struct web_handle **out)
{
  struct extfs_config cfg = {
    .log = &cli_log, .volume = volume, .ref = { .seq = seq },
  };
  struct web_handle *h = calloc (1, sizeof *h);
  int r;

  if (h == NULL)
    return -ENOMEM;
  if (strlen (volume) > S3VOL_NAME_MAX) {
    free (h);
    return -EINVAL;
  }
  strcpy (h->volume, volume);
  h->seq = seq;
  r = extfs_open (p->vs, &cfg, &h->x);
  if (r < 0) {
    free (h);
    return r;
  }
  pthread_mutex_init (&h->lock, NULL);
  *out = h;
  return 0;
}

int
web_pool_get (struct web_pool *p, const char *volume, uint64_t seq,
              struct web_handle **out)
{
  struct web_handle *h, *mine, *old;
  int r;

  pthread_mutex_lock (&p->lock);
  h = find (p, volume, seq);
  pthread_mutex_unlock (&p->lock);
  if (h) {
    *out = h;
    return 0;
  }
  r = open_handle (p, volume, seq, &mine);
  if (r < 0)
    return r;
  pthread_mutex_lock (&p->lock);
  h = find (p, volume, seq);            /* opened meanwhile? */
  if (h == NULL) {
    h = mine;
    mine = NULL;
    h->refs = 1;
    h->used = ++p->tick;
    h->next = p->list;
    p->list = h;
    p->n++;
  }
  old = evict_one (p);
  pthread_mutex_unlock (&p->lock);
  if (mine)
    handle_free (mine);
  if (old)
    handle_free (old);
  *out = h;
  return 0;
}

void
web_pool_put (struct web_pool *p, struct web_handle *h)
{
  struct web_handle *old;

  if (h == NULL)
    return;
  pthread_mutex_lock (&p->lock);
  h->refs--;
  old = evict_one (p);
  pthread_mutex_unlock (&p->lock);
  if (old)
    handle_free (old);
}
