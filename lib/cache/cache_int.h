/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the cache's internals, shared by cache.c (block I/O), disk.c
 * (files, persistence, eviction), commit.c, open.c and prefetch.c; the
 * state of each chunk is chunkmap.h's (private to lib/).
 */
#ifndef S3VOL_CACHE_INT_H
#define S3VOL_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "s3vol/cache.h"
#include "chunkmap.h"

#define NSTRIPES 1024           /* chunk locks */
#define BLOCK 4096u             /* granularity of partial chunks */

struct cache {
  struct volstore *vs;
  const struct s3vol_log *log;
  const struct s3vol_fileio *io; /* every change to the directory */
  struct volume *vol;           /* the base version */
  char *dir;
  char name[S3VOL_NAME_MAX + 1];
  bool readonly, force;
  bool overlay;                 /* readonly, but writable locally */
  uint64_t max_clean;
  unsigned threads;
  int lockfd, datafd, mapfd;
  pid_t owner;                  /* pid in the state file */
  uint64_t size, nchunks;
  uint32_t chunk_size;

  /* The state of each chunk (chunkmap.h).  Chunk i's changes only under
   * stripe lock i % NSTRIPES; who waits for it to change sleeps on
   * cond[i % NSTRIPES].
   */
  struct chunkmap chunks;
  pthread_mutex_t stripe[NSTRIPES];
  pthread_cond_t cond[NSTRIPES];

  /* The on-disk map as last written (chunks.npages pages); only under
   * maplock.  Lock order: stripe, then maplock, then the chunk map's
   * own.
   */
  pthread_mutex_t maplock;
  uint8_t *durable;
  bool broken;                  /* an fsync failed: refuse writes */

  /* Writers hold it shared; a commit's cut holds it exclusive, so that
   * the cut is one instant.
   */
  pthread_rwlock_t cutlock;

  /* Commits: one at a time. */
  pthread_mutex_t commitlock;
  bool cut_taken;
  uint64_t *cut;                /* chunk indexes in the cut */
  size_t ncut;
  cache_noise_fn *noise;        /* changes that publish nothing */
  void *noise_opaque;

  /* Eviction: one evictor at a time. */
  pthread_mutex_t evictlock;
  uint64_t hand;                /* clock hand */

  /* Prefetch: a ring of chunk indexes and the threads that fetch them. */
  pthread_mutex_t pflock;
  pthread_cond_t pfcond;
  uint64_t pfq[256];
  unsigned pfhead, pftail;
  bool pfstop;
  pthread_t *pfthreads;
  unsigned npfthreads;

  /* Sequential read detection for prefetch. */
  atomic_uint_fast64_t next_seq_off;
  atomic_uint seq_run;

  /* Statistics. */
  atomic_uint_fast64_t hits, misses, fetched, uploaded, inflight;
  pthread_mutex_t statlock;
  struct cache_stats last;      /* commit fields only */
};

static inline pthread_mutex_t *
stripe_of (struct cache *c, uint64_t i)
{
  return &c->stripe[i % NSTRIPES];
}

static inline pthread_cond_t *
cond_of (struct cache *c, uint64_t i)
{
  return &c->cond[i % NSTRIPES];
}

static inline unsigned
state_of (const struct cache *c, uint64_t i)
{
  return chunk_state (&c->chunks, i);
}

/* disk.c */
int cache_disk_open (struct cache *c, const struct cache_config *cfg);
void cache_disk_close (struct cache *c);
int cache_disk_flush (struct cache *c);
int cache_disk_set_owner (struct cache *c);
int cache_persist_dirty (struct cache *c, uint64_t i);
int cache_save_state (struct cache *c, bool clean);
void cache_maybe_evict (struct cache *c);
/* The cache disk is full: evict half the clean chunks, whatever the
 * limit.
 */
void cache_make_room (struct cache *c);
int cache_punch (struct cache *c, uint64_t i);
int cache_fetch_into (struct cache *c, uint64_t i, void *buf, bool *hole);

/* cache.c */
int cache_complete_partials (struct cache *c);
/* Fetch chunk i if it is ABSENT (for prefetch). */
void cache_fetch_if_absent (struct cache *c, uint64_t i);

/* prefetch.c */
int cache_prefetch_start (struct cache *c);
void cache_prefetch_stop (struct cache *c);
void cache_prefetch_queue (struct cache *c, uint64_t i);

#endif /* S3VOL_CACHE_INT_H */
