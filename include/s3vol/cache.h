/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the local write-back cache of one attached volume.
 *
 * A cache directory (one per attachment) is a private overlay: it holds
 * only the chunks written here and not yet published (dirty), which
 * commits upload as new versions.  Every other chunk is read by its id
 * in the base version through the host-wide chunk store (chunkstore.h),
 * which fetches it from the object store once (verified) and shares it
 * with every attachment, volume and version on the host.  It is what
 * the nbdkit plugin serves and what the CLI's file operations use.  One
 * process at a time owns a cache directory (it is locked).
 *
 * Durability (see the state table in lib/cache/chunkmap.h): after a
 * crash of the process or of the host, reopening the directory shows
 * every write that was acknowledged before the last completed
 * cache_flush (or a write with fua), and never bytes that neither the
 * store nor those writes hold.
 * Dirty chunks survive and are committed later.
 *
 * Thread safety: every function may be called from many threads at once,
 * except cache_close.  Reads and writes of different chunks run in
 * parallel; no lock is held while talking to the object store.
 *
 * Errors are negative errno values, logged once: -EIO for a chunk the
 * store does not have or that fails verification, -ENOSPC when dirty data
 * alone fills the cache disk, -EBUSY for a directory in use, -EROFS for a
 * write to a read-only cache, -EEXIST for a commit conflict.
 */
#ifndef S3VOL_CACHE_H
#define S3VOL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/chunkstore.h"
#include "s3vol/fileio.h"
#include "s3vol/volume.h"

struct cache_config {
  const struct s3vol_log *log;
  const char *dir;              /* created if missing (mode 0700) */
  const char *volume;           /* volume name */
  struct vol_ref ref;           /* version to serve if the cache is new */
  bool readonly;
  bool overlay;                 /* with readonly: nothing is ever
                                   committed, but the owner may still
                                   write locally (a journal replayed into
                                   a read-only attachment); -EROFS is
                                   then the caller's to enforce */
  /* Clean chunks come from this host chunk store, shared (it must
   * outlive the cache).  NULL: the cache opens its own, in store_dir
   * (NULL: chunkstore_default_dir) with a limit of max_clean_bytes (0:
   * the store's default), and closes it with the cache.
   */
  struct chunkstore *store;
  const char *store_dir;
  uint64_t max_clean_bytes;     /* the store's size limit, see above */
  unsigned threads;             /* parallel fetches/uploads (0: 8) */
  bool force;                   /* commits win over a moved head */
  bool no_write_behind;         /* upload dirty chunks only at commits
                                   (default: complete dirty chunks start
                                   uploading at once once cache_start
                                   ran; lib/cache/writebehind.c) */
  const struct s3vol_fileio *fileio; /* how the cache directory is
                                   changed and synced (NULL: the system
                                   calls; tests pass a simulated disk) */
};

struct cache;

/* Open (creating or recovering) a cache directory for a volume.  A
 * directory that belongs to another volume is refused.  A directory whose
 * clean chunks belong to an older version of the same volume is moved to
 * the requested version (chunks that differ are dropped); dirty chunks are
 * kept and stay dirty.
 */
int cache_open (struct volstore *vs, const struct cache_config *cfg,
                struct cache **out);

/* Start the cache's threads (read-ahead) and record the calling process
 * as the cache's owner (in the lock and state files).  Separate from
 * cache_open so that a daemon can open (and report errors) before it
 * forks; the daemon calls it.  Without it the cache works, with no
 * read-ahead.
 */
int cache_start (struct cache *c);

/* Flush and close (does not commit).  Returns the flush's result. */
int cache_close (struct cache *c);

uint64_t cache_size (const struct cache *c);
uint32_t cache_chunk_size (const struct cache *c);

/* Block I/O.  Ranges must lie inside the volume. */
int cache_pread (struct cache *c, void *buf, uint32_t count,
                 uint64_t offset);
int cache_pwrite (struct cache *c, const void *buf, uint32_t count,
                  uint64_t offset, bool fua);
/* Write zeros; whole chunks become holes locally (cheap). */
int cache_zero (struct cache *c, uint32_t count, uint64_t offset, bool fua);
/* Trim (discard): whole chunks in the range become holes, as with
 * cache_zero.  Part of a chunk is zeroed too (the kernel's loop device
 * sends its write-zeroes requests as punches, which nbdfuse sends as
 * trims: they must zero), except where it reads as zeros already, where
 * nothing changes (the chunk is fetched to know, if it is not cached):
 * a trim of free space that is already zero (fstrim, mount -o discard)
 * never dirties a chunk.
 */
int cache_trim (struct cache *c, uint32_t count, uint64_t offset, bool fua);
/* Make every acknowledged write durable in the cache directory. */
int cache_flush (struct cache *c);

/* Is [offset, offset+count) known to read as zeros without fetching?
 * Calls fn for each maximal run with zero = true for holes.
 */
int cache_extents (struct cache *c, uint32_t count, uint64_t offset,
                   int (*fn) (void *opaque, uint64_t off, uint64_t len,
                              bool zero),
                   void *opaque);

/* Commit in two steps, so that a filesystem needs to be frozen only for
 * the first: cache_commit_cut completes partial chunks and takes an
 * instant copy-on-write cut of the dirty chunks (no sync: cache_flush
 * first, outside the freeze, to have it find little to complete);
 * cache_commit_finish flushes, uploads them (writes go on meanwhile; most
 * went up already, by write-behind) and publishes a version.  One commit at a time: a second
 * cut waits for the first commit to finish.  If nothing changed, finish
 * publishes nothing and reports the current version.  On failure every
 * chunk stays dirty.
 */
int cache_commit_cut (struct cache *c);
int cache_commit_finish (struct cache *c, const struct vol_commit_opts *o,
                         struct vol_commit_result *res);
/* Both in one call. */
int cache_commit (struct cache *c, const struct vol_commit_opts *o,
                  struct vol_commit_result *res);

/* Changes that need no version of their own (a filesystem's own
 * housekeeping, see extfs_housekeeping_only): fn gets the dirty chunks
 * of a cut, each with its bytes in the base version and at the cut and
 * where they sit on the volume.  When it returns true (only small cuts
 * are asked: at most 4 chunks, 16 MiB), cache_commit_finish publishes
 * nothing and leaves those chunks dirty, to go with the next commit
 * that has a real change; false and every dirty chunk goes.  fn must do
 * no I/O.  NULL (the default): every change is published.  Called
 * before commits start (it takes the commit lock).
 */
struct cache_change {
  uint64_t offset;              /* where the chunk sits on the volume */
  const void *base;             /* its bytes in the base version */
  const void *cur;              /* and at the cut */
  size_t len;
};
typedef bool cache_noise_fn (void *opaque, const struct cache_change *ch,
                             size_t n);
void cache_set_noise (struct cache *c, cache_noise_fn *fn, void *opaque);

struct cache_stats {
  uint64_t base;                /* version the cache is based on */
  uint64_t dirty_bytes;
  uint64_t cached_bytes;        /* what the host chunk store holds */
  uint64_t hits, misses;        /* chunk reads served without / with a
                                   fetch by this cache */
  uint64_t bytes_fetched, bytes_uploaded;
  uint64_t uploads_in_flight;
  uint64_t early_uploads;       /* chunks stored ahead of a commit */
  uint64_t early_named;         /* of those, named by a commit as is */
  uint64_t early_reputs;        /* stored again: older than grace / 2 */
  uint64_t writers_throttled;   /* writes that waited for the backlog */
  uint64_t commits, commit_failures;
  int last_commit_error;        /* 0 or negative errno */
  uint64_t last_commit_seq;
  int64_t last_commit_ns;
  struct chunkstore_stats store; /* the host chunk store's (host-wide) */
  const char *store_dir;        /* and where it is (valid while the
                                   cache is open) */
};
void cache_stats (struct cache *c, struct cache_stats *st);
bool cache_is_dirty (struct cache *c);
struct volume *cache_volume (struct cache *c);

#endif /* S3VOL_CACHE_H */
