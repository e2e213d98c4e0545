/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the host-wide cache of clean chunks, by chunk id.
 *
 * One directory per host (per user when not root) holds clean chunk
 * plaintexts under their ids, shared by every attachment, volume and
 * version on the host, with one size limit and one eviction.  It is a
 * cache: anything in it may vanish at any time (eviction, prune, a
 * crash), and whatever it serves is the plaintext of the id asked for.
 *
 *   DIR/HH/HEX        an entry: the chunk's bytes, then a 32-byte trailer
 *   DIR/HH/HEX.lock   held (flock) by whoever fetches HEX; short-lived
 *   DIR/HH/HEX.tmp    the fetcher's private temporary file (0600)
 *   DIR/lock          held while opening and while pruning
 *   DIR/stats         host-wide counters, shared by every process
 *
 * HEX is the 64 hex digits of the id, HH its first two.
 *
 * Fetching: on a miss, chunkstore_get takes the id's lock (flock on
 * HEX.lock, so threads and processes alike wait; the kernel releases it
 * if its holder dies), looks again, and only then calls the caller's
 * fetch: N askers of one id, in any processes, cause one fetch.  The
 * bytes go to HEX.tmp, which is renamed to HEX only once whole, so a
 * torn entry is never visible under its id after a process crash.
 *
 * Crash of the host: entries are not fsynced (unless cfg.sync), so a
 * rename may survive a power loss that its data did not.  Each entry's
 * trailer records the boot it was written in (the kernel's boot id); an
 * entry of another boot is "unverified" and is checked once with the
 * caller's verify callback (then marked as of this boot), or removed and
 * fetched again when the caller gives none.  Entries written with
 * cfg.sync (fsync before the rename) are trusted after any crash.
 *
 * Eviction: least recently used first, by the entries' mtimes (a hit
 * touches its entry, at most once per touch interval), whenever an
 * insert takes the host-wide total above max_bytes (down to 7/8 of it),
 * or on chunkstore_prune.  Removing an entry never disturbs a reader:
 * an fd from chunkstore_get keeps reading the right bytes after its
 * entry is evicted.
 *
 * Thread safety: every function may be called from many threads at
 * once, and many processes may use one directory at once, except
 * chunkstore_close (once, when no other call on cs runs).
 *
 * Errors are negative errno values, logged once through cfg.log:
 * -EPERM for a directory that is not safe to use (a symbolic link, not
 * owned by the user, or open to others), -EINVAL for bad arguments (not
 * logged), -ENOMEM, the fetch callback's own error (not logged again),
 * and the system calls' errors.
 */
#ifndef S3VOL_CHUNKSTORE_H
#define S3VOL_CHUNKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/chunk.h"
#include "s3vol/fileio.h"
#include "s3vol/log.h"

#define CHUNKSTORE_MAX_DEFAULT (10ull << 30)   /* 10 GiB, see max_bytes */

struct chunkstore_config {
  const struct s3vol_log *log;
  /* The store's directory (NULL: chunkstore_default_dir).  Created,
   * with missing parents, mode 0700.  It must be a directory owned by
   * the effective user with no access for group or others (cached
   * chunks of encrypted volumes are plaintext): else -EPERM.
   */
  const char *dir;
  /* Size limit of the whole store, every process together.  0: the
   * default, the smaller of CHUNKSTORE_MAX_DEFAULT and half of (the
   * filesystem's free space + what the store holds) at open.
   */
  uint64_t max_bytes;
  /* fsync each entry before it becomes visible: slower misses, no
   * re-verification after a crash of the host.  Also what happens when
   * the boot id cannot be read.  Needed where the filesystem can lose
   * unsynced data without the host rebooting (a removable disk pulled
   * and mounted again), which the boot id does not see.
   */
  bool sync;
  /* A hit moves its entry up the LRU order (touches its mtime) only if
   * its last touch is older than this.  0: 60000 (a minute).
   */
  unsigned touch_interval_ms;
  /* The boot id (any string of up to 64 bytes; NULL: the kernel's,
   * /proc/sys/kernel/random/boot_id).  Tests set it to simulate a
   * reboot.
   */
  const char *boot_id;
  /* How files are created, written, synced, renamed and removed (NULL:
   * the system calls; tests pass a simulated disk).
   */
  const struct s3vol_fileio *fileio;
};

struct chunkstore;

/* The default directory into out (n bytes): $S3VOL_CHUNK_CACHE if set
 * (an absolute path), else /var/cache/s3vol/chunks for root, else
 * $XDG_CACHE_HOME/s3vol/.chunks (or ~/.cache/s3vol/.chunks).
 * The leading dot: volume caches are $XDG_CACHE_HOME/s3vol/NAME, and no
 * volume name starts with a dot.  Creates nothing.  0 or -EINVAL (no
 * HOME; logged) or -ENAMETOOLONG (logged).
 */
int chunkstore_default_dir (char *out, size_t n,
                            const struct s3vol_log *log);

/* Open (creating if needed) the store.  After a reboot (a new boot id),
 * when the counters are missing, or a day after the last scan, it scans
 * the directory to count what it holds (about a second for 100,000
 * entries), holding DIR/lock: other opens and prunes wait.
 */
int chunkstore_open (const struct chunkstore_config *cfg,
                     struct chunkstore **out);

/* Close.  Descriptors returned by chunkstore_get stay valid. */
void chunkstore_close (struct chunkstore *cs);

/* Where the caller's chunks come from.  fetch fills buf with exactly len
 * bytes of id's plaintext, checked against id (volume_read_chunk does),
 * and returns 0 or a negative errno it has logged.  verify (may be NULL)
 * returns 0 if data is id's plaintext, anything else if not; the store
 * never hashes content itself (plain ids are SHA-256, encrypted ones
 * keyed), so without verify an unverified entry is removed and fetched
 * again.  Both may be called from many threads at once; no lock of the
 * store's threads is held meanwhile, only id's file lock.
 */
struct chunkstore_source {
  int (*fetch) (void *opaque, const struct s3vol_id *id, void *buf,
                size_t len);
  int (*verify) (void *opaque, const struct s3vol_id *id, const void *data,
                 size_t len);
  void *opaque;
};

/* A read-only descriptor of chunk id (len bytes, 1 to S3VOL_CHUNK_MAX)
 * into *fd: pread its bytes at [0, len) (what lies beyond is the
 * store's), close it when done.  A miss fetches it (once, whoever else
 * asks at the same time, see above) and stores it; an insert over the
 * limit evicts (a failure to evict is a warning, not an error).  -EINVAL
 * for a hole id or a bad len; the fetch's error as it is; -ENOSPC (or
 * another error writing the entry) when it cannot be stored.
 */
int chunkstore_get (struct chunkstore *cs, const struct s3vol_id *id,
                    size_t len, const struct chunkstore_source *src,
                    int *fd);

/* chunkstore_get, then read the len bytes into buf and close. */
int chunkstore_read (struct chunkstore *cs, const struct s3vol_id *id,
                     size_t len, const struct chunkstore_source *src,
                     void *buf);

/* Evict least recently used entries until the store holds at most
 * target_bytes (0: empty it), and remove temporary and lock files left
 * by dead processes.  Waits for a prune of another process or thread to
 * end first.  *freed (may be NULL) gets the bytes removed.
 */
int chunkstore_prune (struct chunkstore *cs, uint64_t target_bytes,
                      uint64_t *freed);

/* Host-wide figures, every process together, since the store was
 * created (bytes and entries: a running estimate, made exact by each
 * scan; it drifts only by the inserts and removals of processes that
 * crashed between the change and its count).
 */
struct chunkstore_stats {
  uint64_t bytes;               /* stored, trailers included */
  uint64_t entries;
  uint64_t max_bytes;           /* this opener's limit */
  uint64_t hits;                /* gets served without a fetch */
  uint64_t misses;              /* gets that called fetch */
  uint64_t verified;            /* entries of an earlier boot checked */
  uint64_t dropped;             /* entries found bad or unverifiable */
  uint64_t evictions, evicted_bytes;
};
void chunkstore_stats (struct chunkstore *cs, struct chunkstore_stats *st);

/* The store's directory (for messages). */
const char *chunkstore_dir (const struct chunkstore *cs);

#endif /* S3VOL_CHUNKSTORE_H */
