/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the cache's prefetch threads.
 *
 * Sequential reads queue the chunks ahead of them (cache.c); a few
 * threads fetch them.  The queue is a small ring: when it is full, more
 * read-ahead is simply dropped, which bounds the bytes in flight to the
 * number of threads times the chunk size.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache_int.h"

#define QLEN (sizeof ((struct cache *) 0)->pfq / sizeof (uint64_t))

static void *
worker (void *arg)
{
  struct cache *c = arg;
  uint64_t i;

  pthread_mutex_lock (&c->pflock);
  for (;;) {
    while (!c->pfstop && c->pfhead == c->pftail)
      pthread_cond_wait (&c->pfcond, &c->pflock);
    if (c->pfstop)
      break;
    i = c->pfq[c->pftail++ % QLEN];
    pthread_mutex_unlock (&c->pflock);
    cache_fetch_if_absent (c, i);
    pthread_mutex_lock (&c->pflock);
  }
  pthread_mutex_unlock (&c->pflock);
  return NULL;
}

int
cache_prefetch_start (struct cache *c)
{
  unsigned i;

  c->pfthreads = calloc (c->threads, sizeof *c->pfthreads);
  if (c->pfthreads == NULL)
    return -ENOMEM;
  for (i = 0; i < c->threads; i++) {
    if (pthread_create (&c->pfthreads[i], NULL, worker, c) != 0)
      break;
    c->npfthreads++;
  }
  return 0;
}

void
cache_prefetch_stop (struct cache *c)
{
  unsigned i;

  pthread_mutex_lock (&c->pflock);
  c->pfstop = true;
  pthread_cond_broadcast (&c->pfcond);
  pthread_mutex_unlock (&c->pflock);
  for (i = 0; i < c->npfthreads; i++)
    pthread_join (c->pfthreads[i], NULL);
  free (c->pfthreads);
  c->pfthreads = NULL;
  c->npfthreads = 0;
}

void
cache_prefetch_queue (struct cache *c, uint64_t i)
{
  unsigned k;

  pthread_mutex_lock (&c->pflock);
  for (k = c->pftail; k != c->pfhead; k++)
    if (c->pfq[k % QLEN] == i)
      goto out;                 /* already queued */
  if (c->pfhead - c->pftail < QLEN && c->npfthreads > 0) {
    c->pfq[c->pfhead++ % QLEN] = i;
    pthread_cond_signal (&c->pfcond);
  }
 out:
  pthread_mutex_unlock (&c->pflock);
}
