/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: write-behind: dirty chunks start uploading before the commit.
 *
 * A dirty chunk is uploaded early, as the content-addressed chunk object
 * a commit would store, once it is complete: every 4 KiB block of it
 * written since it became dirty (or since its last early upload), or no
 * write to it for a short while (idle: 3 s).  The commit that cuts it then
 * only names the object, if no write came since the bytes were taken
 * (chunkmap.h, CB_WB): upload overlaps the writer, and a commit publishes
 * only what is left.
 *
 *   writer      under the chunk's lock, notes each write in the chunk's
 *               record (cache_wb_note): the blocks written, the time, and
 *               that any early upload is now spoiled; a chunk not yet
 *               listed is added to the pending list
 *   dispatcher  one thread: goes through the pending list every tick (or
 *               when a chunk gets complete, or an upload ends); takes the
 *               bytes of each complete chunk (under its lock) while there
 *               is room in flight, and queues them for the workers
 *   workers     store the bytes (volume_put_chunk_at), then, under the
 *               chunk's lock, record the object in the chunk's record if
 *               nothing was written since the bytes were taken
 *   commit      a chunk of its cut whose record names an object for its
 *               current bytes uses it (cache_wb_claim); one being
 *               uploaded is waited for; an object older than half the gc
 *               grace period is stored again first (it could be collected
 *               before the version that names it is published)
 *
 * A chunk whose early uploads are spoiled twice by later writes (a
 * journal, a superblock) waits for the cut.  Bytes in flight are bounded
 * (WB_INFLIGHT); writers wait only when the backlog of complete chunks
 * not yet uploaded passes a bound (cache_wb_throttle).  Nothing here
 * changes what a crash leaves: an early upload is an object no version
 * names until a commit publishes it, and the chunk stays dirty on disk
 * until then.
 *
 * Locks: the write-behind lock may be held while taking a chunk's stripe
 * lock, never the other way round.  Records are attached to chunks and
 * change only under their stripe lock.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_int.h"

#define WB_TICK_NS (100 * 1000000LL)        /* pending list checked */
#define WB_IDLE_NS (3000 * 1000000LL)       /* a chunk idle this long */
#define WB_INFLIGHT (32u << 20)             /* bytes taken, not stored */
#define WB_MAX_WORKERS 16u
#define WB_BACKLOG (512ull << 20)           /* writers wait past this */
#define WB_SPOILED_MAX 2                    /* then wait for the cut */
#define WB_FAIL_PAUSE_NS (5000 * 1000000LL) /* after a failed upload */

/* A dirty chunk's record (CB_WB), under its stripe lock. */
struct wb_rec {
  int64_t last_write_ns;
  uint64_t capture;             /* nonzero: its bytes taken for this upload */
  bool changed;                 /* written since the bytes were taken */
  bool listed;                  /* on the pending list */
  bool have_id;                 /* id: stored, and its current bytes */
  uint8_t spoiled;              /* early uploads made stale by writes */
  uint32_t nfull;               /* blocks written since dirty or taken */
  struct s3vol_id id;
  uint32_t stored_len;
  int64_t written;              /* when the object was written (s) */
  uint8_t bits[];               /* which blocks, one bit each */
};

struct wb_job {
  uint64_t i, tag;
  uint8_t *buf;
};

static uint32_t
nblocks (const struct cache *c)
{
  return c->chunk_size / BLOCK;
}

static struct wb_rec *
rec_of (struct cache *c, uint64_t i)
{
  return chunk_buf_get (&c->chunks, CB_WB, i);
}

static void
clear_bits (struct cache *c, struct wb_rec *w)
{
  memset (w->bits, 0, (nblocks (c) + 7) / 8);
  w->nfull = 0;
}

static void
set_bits (struct cache *c, struct wb_rec *w, uint32_t from, uint32_t to)
{
  uint32_t b;

  for (b = (from + BLOCK - 1) / BLOCK; b < to / BLOCK && b < nblocks (c);
       b++)
    if (!(w->bits[b / 8] & 1 << b % 8)) {
      w->bits[b / 8] |= 1 << b % 8;
      w->nfull++;
    }
}

unsigned
cache_wb_note (struct cache *c, uint64_t i, uint32_t from, uint32_t to)
{
  struct wb_rec *w;
  unsigned what;

  if (!c->wb.running)
    return 0;
  w = rec_of (c, i);
  if (w == NULL) {
    w = calloc (1, sizeof *w + (nblocks (c) + 7) / 8);
    if (w == NULL || chunk_buf_attach (&c->chunks, CB_WB, i, w) < 0) {
      free (w);                 /* no write-behind for it: the cut takes it */
      return 0;
    }
  }
  if (w->have_id || (w->capture && !w->changed))
    w->spoiled++;
  w->have_id = false;
  w->changed = true;
  w->last_write_ns = s3vol_now_ns ();
  set_bits (c, w, from, to);
  what = (w->listed ? 0 : WB_LIST) | (w->nfull == nblocks (c) ? WB_KICK : 0);
  w->listed = true;
  return what;
}

void
cache_wb_after (struct cache *c, uint64_t i, unsigned what)
{
  struct wb_rec *w;

  pthread_mutex_lock (&c->wb.lock);
  if ((what & WB_LIST) && chunk_list_append (&c->wb.pending, i) < 0) {
    /* Out of memory: off the list, until its next write. */
    pthread_mutex_unlock (&c->wb.lock);
    pthread_mutex_lock (stripe_of (c, i));
    if ((w = rec_of (c, i)) != NULL)
      w->listed = false;
    pthread_mutex_unlock (stripe_of (c, i));
    return;
  }
  if (what & WB_KICK) {
    c->wb.kick = true;
    pthread_cond_signal (&c->wb.wake);
  }
  pthread_mutex_unlock (&c->wb.lock);
}

void
cache_wb_forget (struct cache *c, uint64_t i)
{
  free (chunk_buf_detach (&c->chunks, CB_WB, i));
}

void
cache_wb_reset (struct cache *c, uint64_t i)
{
  struct wb_rec *w = rec_of (c, i);

  if (w)
    w->spoiled = 0;
}

int
cache_wb_claim (struct cache *c, uint64_t i, struct s3vol_id *id,
                uint32_t *stored_len)
{
  int64_t now, half = volume_grace_seconds (c->vol) / 2;
  struct wb_rec *w;

  for (;;) {
    w = rec_of (c, i);
    if (w == NULL || !(chunk_flags (&c->chunks, i) & CF_CUTPEND))
      return 0;
    if (!w->capture || w->changed)
      break;
    pthread_cond_wait (cond_of (c, i), stripe_of (c, i));
  }
  if (!w->have_id)
    return 0;
  now = s3vol_now_ns () / 1000000000;
  if (w->written != 0 && now - w->written >= half) {
    /* Too old to name without storing it again (gc.c). */
    w->have_id = false;
    c->wb.reputs++;
    return 0;
  }
  *id = w->id;
  *stored_len = w->stored_len;
  chunk_clear_flags (&c->chunks, i, CF_CUTPEND);
  c->wb.claimed++;
  return 1;
}

/* ---- the dispatcher ---- */

enum verdict { KEEP, DROP, READY };

/* What to do with listed chunk i now (its lock held). */
static enum verdict
judge (struct cache *c, uint64_t i, int64_t now)
{
  struct wb_rec *w = rec_of (c, i);
  unsigned f = chunk_flags (&c->chunks, i);

  if (w == NULL)
    return DROP;
  if (w->capture)
    return KEEP;                /* the worker's outcome decides */
  if (w->have_id || w->spoiled >= WB_SPOILED_MAX) {
    w->listed = false;
    return DROP;
  }
  if (state_of (c, i) != CS_DIRTY ||
      ((f & CF_INCUT) && !(f & CF_REDIRTY)))
    return KEEP;                /* being filled, or the commit has it */
  if (w->nfull == nblocks (c) || now - w->last_write_ns >= WB_IDLE_NS)
    return READY;
  return KEEP;
}

/* Take chunk i's bytes for an upload (its lock held). */
static int
take (struct cache *c, uint64_t i, struct wb_job *job)
{
  struct wb_rec *w = rec_of (c, i);
  ssize_t n;

  job->buf = malloc (c->chunk_size);
  if (job->buf == NULL)
    return -ENOMEM;
  n = pread (c->datafd, job->buf, c->chunk_size,
             (off_t) (i * c->chunk_size));
  if (n != (ssize_t) c->chunk_size) {
    free (job->buf);
    return -EIO;                /* left for the commit, which reports it */
  }
  job->i = i;
  job->tag = ++c->wb.tags;
  w->capture = job->tag;
  w->changed = false;
  clear_bits (c, w);
  return 0;
}

static void
queue_job (struct cache *c, const struct wb_job *job)
{
  c->wb.jobs[c->wb.jhead++ % c->wb.nslots] = *job;
  c->wb.busy++;
  pthread_cond_signal (&c->wb.work);
}

/* Chunks a pass looks at when an upload ended or a chunk got complete
 * (times the room free): the list's head, the oldest, is where complete
 * chunks are.  Every tick a pass looks at all of them (idle chunks, the
 * backlog).  A pass at every event over a long list cost as much CPU as
 * the uploads.
 */
#define WB_SCAN_PER_SLOT 4u

/* One pass over the pending list (full) or its head. */
static void
dispatch (struct cache *c, bool full)
{
  struct chunk_list todo, keep = { 0 };
  uint64_t backlog = 0;
  int64_t now = s3vol_now_ns ();
  struct wb_job job;
  unsigned room;
  bool paused;
  enum verdict v;
  size_t k, limit;

  pthread_mutex_lock (&c->wb.lock);
  todo = c->wb.pending;
  c->wb.pending = (struct chunk_list) { 0 };
  room = c->wb.nslots - c->wb.busy;
  paused = now < c->wb.pause_until;
  if (paused)
    room = 0;
  pthread_mutex_unlock (&c->wb.lock);

  limit = full ? todo.len : (size_t) room * WB_SCAN_PER_SLOT;
  for (k = 0; k < todo.len; k++) {
    uint64_t i = todo.ptr[k];

    if (k >= limit) {             /* not looked at: kept as it is */
      if (chunk_list_append (&keep, i) < 0)
        break;
      continue;
    }
    pthread_mutex_lock (stripe_of (c, i));
    v = judge (c, i, now);
    if (v == READY && room > 0 && take (c, i, &job) == 0) {
      room--;
      pthread_mutex_unlock (stripe_of (c, i));
      pthread_mutex_lock (&c->wb.lock);
      queue_job (c, &job);
      pthread_mutex_unlock (&c->wb.lock);
      v = KEEP;                 /* until the worker is done */
    }
    else {
      if (v == READY)
        backlog += c->chunk_size;
      pthread_mutex_unlock (stripe_of (c, i));
    }
    if (v == KEEP && chunk_list_append (&keep, i) < 0) {
      pthread_mutex_lock (stripe_of (c, i));
      if (rec_of (c, i))
        rec_of (c, i)->listed = false;
      pthread_mutex_unlock (stripe_of (c, i));
    }
  }
  chunk_list_reset (&todo);

  /* Kept ones first: they were listed before those added meanwhile. */
  pthread_mutex_lock (&c->wb.lock);
  for (k = 0; k < c->wb.pending.len; k++)
    if (chunk_list_append (&keep, c->wb.pending.ptr[k]) < 0)
      break;
  if (k == c->wb.pending.len) {
    chunk_list_reset (&c->wb.pending);
    c->wb.pending = keep;
  }
  else {
    for (k = 0; k < keep.len; k++)
      chunk_list_append (&c->wb.pending, keep.ptr[k]);
    chunk_list_reset (&keep);
  }
  /* Writers are never held back for a store that fails. */
  if (full || paused)
    c->wb.backlog = paused ? 0 : backlog;
  pthread_cond_broadcast (&c->wb.room);
  pthread_mutex_unlock (&c->wb.lock);
}

static void *
dispatcher (void *arg)
{
  struct cache *c = arg;
  struct timespec ts;
  int64_t now, next_full = 0;
  bool full;

  pthread_mutex_lock (&c->wb.lock);
  while (!c->wb.stop) {
    if (!c->wb.kick) {
      clock_gettime (CLOCK_REALTIME, &ts);
      ts.tv_nsec += WB_TICK_NS;
      if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
      }
      pthread_cond_timedwait (&c->wb.wake, &c->wb.lock, &ts);
    }
    c->wb.kick = false;
    if (c->wb.stop)
      break;
    pthread_mutex_unlock (&c->wb.lock);
    now = s3vol_now_ns ();
    full = now >= next_full;
    if (full)
      next_full = now + WB_TICK_NS;
    dispatch (c, full);
    pthread_mutex_lock (&c->wb.lock);
  }
  pthread_mutex_unlock (&c->wb.lock);
  return NULL;
}

/* ---- the workers ---- */

static void
finish (struct cache *c, const struct wb_job *job, int r,
        const struct s3vol_id *id, uint32_t stored_len, int64_t written)
{
  struct wb_rec *w;

  pthread_mutex_lock (stripe_of (c, job->i));
  w = rec_of (c, job->i);
  if (w && w->capture == job->tag) {
    w->capture = 0;
    if (r == 0 && !w->changed) {
      w->have_id = true;
      w->id = *id;
      w->stored_len = stored_len;
      w->written = written;
    }
  }
  pthread_cond_broadcast (cond_of (c, job->i));
  pthread_mutex_unlock (stripe_of (c, job->i));
}

static void *
worker (void *arg)
{
  struct cache *c = arg;
  struct s3vol_id id;
  uint32_t len = 0;
  int64_t written = 0;
  struct wb_job job;
  int r;

  pthread_mutex_lock (&c->wb.lock);
  for (;;) {
    while (!c->wb.stop && c->wb.jtail == c->wb.jhead)
      pthread_cond_wait (&c->wb.work, &c->wb.lock);
    if (c->wb.jtail == c->wb.jhead)
      break;                    /* stopping, and nothing left */
    job = c->wb.jobs[c->wb.jtail++ % c->wb.nslots];
    pthread_mutex_unlock (&c->wb.lock);

    c->inflight++;
    r = volume_put_chunk_at (c->vol, job.buf, c->chunk_size, &id, &len,
                             &written);
    c->inflight--;
    if (r == 0) {
      cache_store_put (c, &id, job.buf);
      c->uploaded += len;
      c->wb.uploads++;
    }
    free (job.buf);
    finish (c, &job, r, &id, len, written);

    pthread_mutex_lock (&c->wb.lock);
    if (r < 0)
      c->wb.pause_until = s3vol_now_ns () + WB_FAIL_PAUSE_NS;
    c->wb.busy--;
    c->wb.kick = true;
    pthread_cond_signal (&c->wb.wake);
  }
  pthread_mutex_unlock (&c->wb.lock);
  return NULL;
}

/* ---- starting, stopping, pacing ---- */

void
cache_wb_init (struct cache *c)
{
  pthread_mutex_init (&c->wb.lock, NULL);
  pthread_cond_init (&c->wb.wake, NULL);
  pthread_cond_init (&c->wb.work, NULL);
  pthread_cond_init (&c->wb.room, NULL);
}

void
cache_wb_destroy (struct cache *c)
{
  chunk_list_reset (&c->wb.pending);
  free (c->wb.jobs);
  free (c->wb.workers);
  pthread_mutex_destroy (&c->wb.lock);
  pthread_cond_destroy (&c->wb.wake);
  pthread_cond_destroy (&c->wb.work);
  pthread_cond_destroy (&c->wb.room);
}

int
cache_wb_start (struct cache *c)
{
  unsigned n, k;

  if (c->readonly || c->wb.disabled)
    return 0;
  n = WB_INFLIGHT / c->chunk_size;
  if (n < 2)
    n = 2;
  if (n > WB_MAX_WORKERS)
    n = WB_MAX_WORKERS;
  c->wb.nslots = n;
  c->wb.jobs = calloc (n, sizeof *c->wb.jobs);
  c->wb.workers = calloc (n, sizeof *c->wb.workers);
  if (c->wb.jobs == NULL || c->wb.workers == NULL)
    return -ENOMEM;
  /* Records start with the first write after this. */
  c->wb.running = true;
  for (k = 0; k < n; k++) {
    if (pthread_create (&c->wb.workers[k], NULL, worker, c) != 0)
      break;
    c->wb.nworkers++;
  }
  if (c->wb.nworkers == 0 ||
      pthread_create (&c->wb.dispatcher, NULL, dispatcher, c) != 0) {
    cache_wb_stop (c);
    return -EAGAIN;
  }
  c->wb.have_dispatcher = true;
  return 0;
}

void
cache_wb_stop (struct cache *c)
{
  unsigned k;

  pthread_mutex_lock (&c->wb.lock);
  c->wb.stop = true;
  pthread_cond_broadcast (&c->wb.wake);
  pthread_cond_broadcast (&c->wb.work);
  pthread_cond_broadcast (&c->wb.room);
  pthread_mutex_unlock (&c->wb.lock);
  if (c->wb.have_dispatcher)
    pthread_join (c->wb.dispatcher, NULL);
  c->wb.have_dispatcher = false;
  /* Queued jobs are finished: their records must not wait forever. */
  for (k = 0; k < c->wb.nworkers; k++)
    pthread_join (c->wb.workers[k], NULL);
  c->wb.nworkers = 0;
}

void
cache_wb_throttle (struct cache *c)
{
  struct timespec ts;

  if (!c->wb.running || c->wb.backlog <= WB_BACKLOG)
    return;
  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += 1;               /* never more than this at once */
  pthread_mutex_lock (&c->wb.lock);
  c->wb.throttled++;
  while (!c->wb.stop && c->wb.backlog > WB_BACKLOG &&
         pthread_cond_timedwait (&c->wb.room, &c->wb.lock, &ts) == 0)
    ;
  pthread_mutex_unlock (&c->wb.lock);
}

