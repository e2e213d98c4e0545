/* s3vol: the cache's internals, shared by cache.c (block I/O),
 * cache_disk.c (files, persistence, eviction) and cache_commit.c
 * (private to lib/).
 */
#ifndef S3VOL_CACHE_INT_H
#define S3VOL_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "s3vol/cache.h"

/* Chunk states (low 3 bits of st[i]); see the table in cache.c. */
enum {
  CS_ABSENT = 0,
  CS_CLEAN = 1,
  CS_DIRTY = 2,
  CS_FETCHING = 3,
  CS_EVICTING = 4,
  CS_PARTIAL = 5,
};
#define CS_MASK 7u
/* Flags. */
#define CF_REF 8u               /* read or written lately (clock) */
#define CF_INCUT 16u            /* dirty when the running commit cut */
#define CF_CUTPEND 32u          /* in the cut, content not yet captured */
#define CF_REDIRTY 64u          /* written since the cut */

#define NSTRIPES 1024           /* chunk locks */
#define BLOCK 4096u             /* granularity of partial chunks */

/* A small map from chunk index to a malloc'd buffer (partial chunks'
 * valid-block bitmaps, copy-on-write copies).
 */
struct ptrmap {
  uint64_t *keys;
  void **vals;
  size_t n, cap;
};
void *ptrmap_get (const struct ptrmap *m, uint64_t key);
int ptrmap_put (struct ptrmap *m, uint64_t key, void *val);
void *ptrmap_take (struct ptrmap *m, uint64_t key);
void ptrmap_free (struct ptrmap *m);

struct cache {
  struct volstore *vs;
  const struct s3vol_log *log;
  struct volume *vol;           /* the base version */
  char *dir;
  char name[S3VOL_NAME_MAX + 1];
  bool readonly, force;
  uint64_t max_clean;
  unsigned threads;
  int lockfd, datafd, mapfd;
  pid_t owner;                  /* pid in the state file */
  uint64_t size, nchunks;
  uint32_t chunk_size;

  /* Per-chunk state: st[i] under stripe lock i % NSTRIPES. */
  uint8_t *st;
  pthread_mutex_t stripe[NSTRIPES];
  pthread_cond_t cond[NSTRIPES];

  /* Under glock: partial-chunk bitmaps, copy-on-write copies, and the
   * pages of the on-disk map that changed since they were last written.
   */
  pthread_mutex_t glock;
  struct ptrmap partial, cow;
  uint8_t *mapdirty;            /* one bit per map page */
  size_t mappages;

  /* The on-disk map as last written; only under maplock.  Lock order:
   * stripe, then maplock, then glock.
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
  atomic_uint_fast64_t nclean, ndirty;
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
  return __atomic_load_n (&c->st[i], __ATOMIC_ACQUIRE) & CS_MASK;
}

/* Set chunk i's state (keeping flags), under its stripe lock, and keep
 * the counters and the changed-map-page bits up to date.
 */
void cache_set_state (struct cache *c, uint64_t i, unsigned s);

/* cache_disk.c */
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

/* cache_prefetch.c */
int cache_prefetch_start (struct cache *c);
void cache_prefetch_stop (struct cache *c);
void cache_prefetch_queue (struct cache *c, uint64_t i);

#endif /* S3VOL_CACHE_INT_H */
