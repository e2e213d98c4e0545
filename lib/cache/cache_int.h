/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the cache's internals, shared by cache.c (block I/O), disk.c
 * (files, persistence), base.c (the base's chunks, through the host chunk
 * store), commit.c, open.c and prefetch.c; the
 * state of each chunk is chunkmap.h's (private to lib/).
 */
#ifndef S3VOL_CACHE_INT_H
#define S3VOL_CACHE_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "s3vol/cache.h"
#include "chunkmap.h"
#include "vector.h"

#define NSTRIPES 1024           /* chunk locks */
#define BLOCK 4096u             /* granularity of partial chunks */
#define RA_STREAMS 16           /* sequential readers followed at once */
#define ENT_SLOTS 32            /* chunk store entries kept open */

struct cache_entry;

/* One sequential reader (prefetch.c). */
struct ra_stream {
  uint64_t next;                /* where its next read should start */
  uint64_t ahead;               /* chunks below this are queued */
  uint64_t used;                /* tick of its last read; 0: free slot */
  unsigned hits;                /* reads that continued it */
  unsigned window;              /* chunks fetched ahead of it */
};

DEFINE_VECTOR (chunk_list, uint64_t);

struct wb_job;

/* Write-behind (writebehind.c): its own lock guards the lists and the
 * counts here; the rest of its state is in each chunk's record.
 */
struct wb {
  pthread_mutex_t lock;
  pthread_cond_t wake;          /* the dispatcher: something to do */
  pthread_cond_t work;          /* the workers: a job */
  pthread_cond_t room;          /* writers: the backlog shrank */
  bool disabled, running, stop, kick, have_dispatcher;
  struct chunk_list pending;    /* chunks to look at */
  struct wb_job *jobs;          /* a ring of nslots */
  unsigned nslots, busy, jhead, jtail, nworkers;
  pthread_t dispatcher, *workers;
  uint64_t tags;                /* the dispatcher's alone */
  int64_t pause_until;          /* after a failed upload */
  atomic_uint_fast64_t backlog; /* bytes of complete chunks waiting */
  atomic_uint_fast64_t uploads, claimed, reputs, throttled;
};

struct cache {
  struct volstore *vs;
  const struct s3vol_log *log;
  const struct s3vol_fileio *io; /* every change to the directory */
  struct volume *vol;           /* the base version */
  char *dir;
  char name[S3VOL_NAME_MAX + 1];
  bool readonly, force;
  bool overlay;                 /* readonly, but writable locally */
  struct chunkstore *store;     /* the host's clean chunks */
  bool own_store;               /* opened (and closed) by this cache */
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

  /* Prefetch: a ring of chunk indexes and the threads that fetch them. */
  pthread_mutex_t pflock;
  pthread_cond_t pfcond;
  uint64_t pfq[256];
  unsigned pfhead, pftail;
  bool pfstop;
  pthread_t *pfthreads;
  unsigned npfthreads;

  /* Read-ahead: the sequential streams being followed (prefetch.c);
   * only under ralock.
   */
  pthread_mutex_t ralock;
  struct ra_stream ra[RA_STREAMS];
  uint64_t ra_tick;
  unsigned ra_max;              /* the largest window, in chunks */

  /* Chunk store entries kept open (entries.c); only under entlock. */
  pthread_mutex_t entlock;
  struct cache_entry *ent[ENT_SLOTS];
  unsigned ent_next;            /* the slot to replace next */

  struct wb wb;

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
int cache_save_state (struct cache *c, bool clean);
int cache_punch (struct cache *c, uint64_t i);

/* base.c */
/* Bytes [from, to) of chunk i in the base version into buf: zeros for a
 * hole, else through the host chunk store (fetched on a miss).  *hole
 * (may be NULL) says whether it is a hole.  No lock held.
 */
int cache_read_base (struct cache *c, uint64_t i, void *buf, uint32_t from,
                     uint32_t to, bool *hole);
/* All of chunk i in the base version (chunk_size bytes). */
int cache_fetch_into (struct cache *c, uint64_t i, void *buf, bool *hole);
/* Have chunk i of the base in the chunk store (read-ahead). */
void cache_warm (struct cache *c, uint64_t i);
/* Put data (a whole chunk, just uploaded as id) into the chunk store, so
 * that it reads from there once it is committed; failures are ignored.
 */
void cache_store_put (struct cache *c, const struct s3vol_id *id,
                      const void *data);
/* The disk is full: prune the host chunk store to half its size.  Did it
 * free anything?
 */
bool cache_make_room (struct cache *c);

/* entries.c */
/* The entry of id kept open, with a reference taken, or NULL. */
struct cache_entry *cache_entry_find (struct cache *c,
                                      const struct s3vol_id *id);
/* Keep fd (id's entry, taken over) open; returns it with a reference
 * taken, or NULL (out of memory: fd is still the caller's).
 */
struct cache_entry *cache_entry_keep (struct cache *c,
                                      const struct s3vol_id *id, int fd);
int cache_entry_fd (const struct cache_entry *e);
void cache_entry_release (struct cache *c, struct cache_entry *e);
/* Close every kept entry (the cache is closing: no reader left). */
void cache_entries_close (struct cache *c);

/* cache.c */
int cache_complete_partials (struct cache *c);
/* Have chunk i in the chunk store if it is ABSENT (for prefetch). */
void cache_fetch_if_absent (struct cache *c, uint64_t i);

/* prefetch.c */
int cache_prefetch_start (struct cache *c);
void cache_prefetch_stop (struct cache *c);
/* A read of [offset, offset+count) happened: follow its stream and
 * queue the chunks ahead of it (no lock held).
 */
void cache_readahead (struct cache *c, uint64_t offset, uint32_t count);

/* writebehind.c */
void cache_wb_init (struct cache *c);
void cache_wb_destroy (struct cache *c);
/* Start the threads (after cache_wb_init; nothing for a read-only cache
 * or with write-behind off); stop them, waiting for uploads under way.
 */
int cache_wb_start (struct cache *c);
void cache_wb_stop (struct cache *c);
/* Bytes [from, to) of chunk i were just written (its lock held).  Not
 * 0: call cache_wb_after (c, i, what) with what it returned once the
 * lock is released (to list the chunk, or wake the uploads: WB_*).
 */
#define WB_LIST 1u
#define WB_KICK 2u
unsigned cache_wb_note (struct cache *c, uint64_t i, uint32_t from,
                        uint32_t to);
void cache_wb_after (struct cache *c, uint64_t i, unsigned what);
/* A writer waits here (no lock held) while the backlog is too long. */
void cache_wb_throttle (struct cache *c);
/* For the commit, cut chunk i not yet captured (its lock held): 1 if an
 * early upload holds its bytes at the cut, fresh enough to name (*id,
 * *stored_len set, CF_CUTPEND cleared); 0 if it must be stored as usual.
 * Waits for an upload of its current bytes under way.
 */
int cache_wb_claim (struct cache *c, uint64_t i, struct s3vol_id *id,
                    uint32_t *stored_len);
/* Chunk i settled after a commit (its lock held): became ABSENT (forget
 * its record), or stays dirty (reset its count of spoiled uploads).
 */
void cache_wb_forget (struct cache *c, uint64_t i);
void cache_wb_reset (struct cache *c, uint64_t i);

#endif /* S3VOL_CACHE_INT_H */
