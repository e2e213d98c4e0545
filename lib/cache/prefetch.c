/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: read-ahead: sequential streams and the threads that fetch ahead
 * of them.
 *
 * Every read is matched against a small table of streams (struct
 * ra_stream): a read that starts near where one of them ended continues
 * it, anything else starts a new one in the place of the least recently
 * used.  Several readers (files, regions of the device) are followed at
 * once, and the block path's readers do not have to arrive in order: the
 * kernel sends a read-ahead batch as many requests, which nbdkit serves
 * on many threads.
 *
 *   stream:  ...read...|next          (match: a read starting within
 *                      |<-slack->|     RA_SLACK chunks of next)
 *   chunks:  [c][c][c][c][q][q][q][q][ ][ ]
 *                         ^ahead-window   ^ahead: queued below this
 *
 * A read over several chunks queues those after its first at once, so
 * that they are fetched in parallel with it.  A stream's window (chunks
 * fetched ahead of its reader) starts at one
 * chunk once it has been continued twice and doubles with each read
 * that continues it, up to ra_max chunks (RA_BYTES bytes); each chunk is
 * queued once per stream (ahead only moves forward).  The queue is a
 * ring of chunk indexes that c->threads threads drain; when it is full,
 * more read-ahead is dropped and the reader fetches for itself.  Bytes
 * in flight: at most the ring's chunks.
 *
 * Only under ralock (streams) and pflock (the ring), never both at once.
 */
#include <errno.h>
#include <stdlib.h>

#include "cache_int.h"

#define QLEN (sizeof ((struct cache *) 0)->pfq / sizeof (uint64_t))
#define RA_BYTES (128u << 20)   /* the largest window, in bytes */
#define RA_SLACK 4              /* chunks a continuing read may be off */

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

  c->ra_max = RA_BYTES / c->chunk_size;
  if (c->ra_max > QLEN)
    c->ra_max = QLEN;
  if (c->ra_max == 0)
    c->ra_max = 1;
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

/* Queue chunks [first, end) for the threads, as many as the ring takes;
 * chunks already queued are not queued again.
 */
static void
queue_range (struct cache *c, uint64_t first, uint64_t end)
{
  uint64_t i;
  unsigned k;
  bool queued;

  pthread_mutex_lock (&c->pflock);
  for (i = first; i < end && c->npfthreads > 0; i++) {
    if (state_of (c, i) != CS_ABSENT)
      continue;
    if (c->pfhead - c->pftail >= QLEN)
      break;                    /* full: the reader fetches the rest */
    queued = false;
    for (k = c->pftail; k != c->pfhead && !queued; k++)
      queued = c->pfq[k % QLEN] == i;
    if (!queued) {
      c->pfq[c->pfhead++ % QLEN] = i;
      pthread_cond_signal (&c->pfcond);   /* one thread per chunk */
    }
  }
  pthread_mutex_unlock (&c->pflock);
}

/* The stream that a read at [offset, end) continues, or NULL. */
static struct ra_stream *
find_stream (struct cache *c, uint64_t offset)
{
  uint64_t slack = (uint64_t) RA_SLACK * c->chunk_size;
  struct ra_stream *s;
  unsigned k;

  for (k = 0; k < RA_STREAMS; k++) {
    s = &c->ra[k];
    if (s->used != 0 && offset + slack >= s->next &&
        offset <= s->next + slack)
      return s;
  }
  return NULL;
}

/* A new stream at [offset, end), in the least recently used slot. */
static void
new_stream (struct cache *c, uint64_t end, uint64_t tick)
{
  struct ra_stream *s = &c->ra[0];
  unsigned k;

  for (k = 1; k < RA_STREAMS; k++)
    if (c->ra[k].used < s->used)
      s = &c->ra[k];
  *s = (struct ra_stream) { .next = end, .used = tick };
}

/* Continue stream s with a read ending at end: grow its window and say
 * which chunks [*first, *last) after the read's last to queue now.
 */
static void
advance (struct cache *c, struct ra_stream *s, uint64_t end,
         uint64_t *first, uint64_t *last)
{
  uint64_t cur = (end - 1) / c->chunk_size;

  if (end > s->next)
    s->next = end;
  if (++s->hits < 2)
    return;
  s->window = s->window == 0 ? 1 : s->window * 2;
  if (s->window > c->ra_max)
    s->window = c->ra_max;
  *first = s->ahead > cur + 1 ? s->ahead : cur + 1;
  *last = cur + 1 + s->window;
  if (*last > c->nchunks)
    *last = c->nchunks;
  if (*last > s->ahead)
    s->ahead = *last;
}

void
cache_readahead (struct cache *c, uint64_t offset, uint32_t count)
{
  struct ra_stream *s;
  uint64_t first = 0, last = 0;

  if (count == 0 || offset >= c->size || count > c->size - offset)
    return;
  /* A request over several chunks: its chunks after the first. */
  if ((offset + count - 1) / c->chunk_size > offset / c->chunk_size)
    queue_range (c, offset / c->chunk_size + 1,
                 (offset + count - 1) / c->chunk_size + 1);
  pthread_mutex_lock (&c->ralock);
  c->ra_tick++;
  s = find_stream (c, offset);
  if (s == NULL)
    new_stream (c, offset + count, c->ra_tick);
  else {
    s->used = c->ra_tick;
    advance (c, s, offset + count, &first, &last);
  }
  pthread_mutex_unlock (&c->ralock);
  if (first < last)
    queue_range (c, first, last);
}
