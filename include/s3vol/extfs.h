/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: file operations inside a volume's ext4 filesystem, without
 * mounting it (no kernel, no FUSE, no root).
 *
 * extfs_open opens one version of a volume through libext2fs, whose I/O
 * goes to a private, temporary cache directory (struct cache, see
 * cache.h): reads fetch only the chunks they touch, writes land in the
 * cache as an overlay.  A version published while the filesystem was
 * mounted and busy (a crash-consistent commit) can hold an ext4 journal
 * that was never replayed; extfs_open replays it into the overlay first,
 * so metadata is never read as it sits in the store.
 *
 * A writable handle records every change (put, mkdir, rm, cp) in an
 * operation log as well as applying it.  extfs_commit publishes all of
 * them as one new version.  If another writer published first, it opens
 * the new head, replays the log on it and publishes again: writers of
 * different files never lose each other's work; for a path both changed,
 * the last to publish wins and is told (EXTFS_EV_OVERWROTE).
 *
 * Paths inside the volume are absolute or relative to its root, '/'
 * separated; symlinks in the middle of a path are followed within the
 * volume.
 *
 * Errors are negative errno values, logged once: -ENOENT (no such path,
 * not logged by lookups a caller expects to fail), -EEXIST (the target
 * exists), -ENOTDIR, -EISDIR, -ENOTEMPTY, -ENOSPC (the volume is full:
 * the message says how much room is left), -EMEDIUMTYPE (the volume
 * holds no ext4 filesystem), -EUCLEAN (the filesystem or its journal is
 * corrupt), -ENOTSUP (a feature s3vol cannot write), or the cache's and
 * the store's errors.
 *
 * Not thread-safe: one thread uses a handle at a time.
 */
#ifndef S3VOL_EXTFS_H
#define S3VOL_EXTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/volume.h"

/* What extfs_notify reports. */
enum extfs_event {
  EXTFS_EV_EXISTS,      /* put/get: path exists; not overwritten (no
                           force); the error that follows names the first */
  EXTFS_EV_SKIPPED,     /* put: a local file of a kind not copied (socket) */
  EXTFS_EV_REBASED,     /* the head moved to version seq: replaying there */
  EXTFS_EV_OVERWROTE,   /* replaying replaced or removed path, which the
                           writer of version seq had changed */
  EXTFS_EV_REPLAYED,    /* opening version seq replayed its journal */
  EXTFS_EV_BADNAME,     /* get: an entry whose name cannot be a local
                           name ("", ".", "..", with '/'), shown escaped
                           in path, was skipped (the result is then
                           -EUCLEAN) */
};

struct extfs_notify {
  void (*fn) (void *opaque, enum extfs_event ev, const char *path,
              uint64_t seq);
  void *opaque;
};

/* Progress of long operations: bytes (or entries) done of total (0 if
 * unknown), under a short label ("put", "upload", "get").  Called from
 * the caller's thread, or while extfs_commit uploads from one other
 * thread (never two at once).
 */
struct extfs_progress {
  void (*fn) (void *opaque, const char *what, uint64_t done,
              uint64_t total);
  void *opaque;
};

struct extfs_config {
  const struct s3vol_log *log;
  const char *volume;
  struct vol_ref ref;           /* read-only: the version (default: head);
                                   writable handles use the head */
  bool writable;
  const char *tmpdir;           /* the private cache goes under it (NULL:
                                   $TMPDIR, else /tmp); removed at close */
  unsigned threads;             /* parallel fetches and uploads (0: 8) */
  uint64_t cache_bytes;         /* the host chunk store's size limit (0:
                                   its default; see cache.h) */
  unsigned max_rebases;         /* replays on a moved head (0: 10) */
  struct extfs_notify notify;
  struct extfs_progress progress;
};

struct extfs;

int extfs_open (struct volstore *vs, const struct extfs_config *cfg,
                struct extfs **out);
/* Remove the private cache; changes not committed are dropped. */
void extfs_close (struct extfs *x);

/* The version the handle shows (after extfs_commit: the one published). */
uint64_t extfs_version (const struct extfs *x);

struct extfs_space {
  uint64_t total_bytes, free_bytes;
  uint64_t total_inodes, free_inodes;
};
void extfs_space (struct extfs *x, struct extfs_space *sp);

/* File attributes, with POSIX mode bits (S_IFREG | 0644, ...). */
struct extfs_stat {
  uint32_t ino;
  uint32_t mode;
  uint32_t nlink;
  uint32_t uid, gid;
  uint64_t size;
  uint64_t alloc_bytes;         /* space allocated to the file */
  int64_t atime_ns, mtime_ns, ctime_ns;
};

/* Attributes of path (a symlink itself: lstat). */
int extfs_lstat (struct extfs *x, const char *path, struct extfs_stat *st);
/* The same through symlinks; -ENOENT and -ENOTDIR are not logged. */
int extfs_stat (struct extfs *x, const char *path, struct extfs_stat *st);

/* A symlink's target, NUL-terminated; -ERANGE if n is too small. */
int extfs_readlink (struct extfs *x, const char *path, char *buf, size_t n);

/* List a directory: fn gets every entry but "." and "..", sorted by name
 * (bytewise).  With stat, st is filled (target too, for a symlink);
 * without, only st->ino and the type bits of st->mode are.  fn returns
 * nonzero to stop (extfs_list then returns that value).
 */
typedef int (*extfs_list_fn) (void *opaque, const char *name,
                              const struct extfs_stat *st,
                              const char *target);
int extfs_list (struct extfs *x, const char *path, bool stat,
                extfs_list_fn fn, void *opaque);

/* Flags of the operations below. */
#define EXTFS_RECURSIVE 1u      /* get, rm, cp: whole directory trees */
#define EXTFS_FORCE 2u          /* put, cp, get: replace existing files */
#define EXTFS_PARENTS 4u        /* mkdir: make missing parents, no error
                                   if it exists */

/* Write regular file path's bytes to fd in order (a stream: holes are
 * written as zeros).  extfs_get keeps holes.
 */
int extfs_cat (struct extfs *x, const char *path, int fd);

/* Read up to n bytes of regular file path (through symlinks) from byte
 * off into buf; holes and unwritten extents read as zeros.  *got is the
 * number of bytes read: n, or fewer only at the end of the file (0 at or
 * past it).  -EISDIR for a directory, -EINVAL for other kinds.  Each call
 * looks path up again: a caller streaming a file reads pieces of a few
 * MiB.
 */
int extfs_pread (struct extfs *x, const char *path, void *buf, size_t n,
                 uint64_t off, size_t *got);

/* Copy remote (a file, a symlink, or with EXTFS_RECURSIVE a directory
 * tree) to the local path (made; if it is an existing directory, into
 * it).  Sizes, modes, mtimes, symlinks, hard links and holes are kept.
 * Existing local files are refused (-EEXIST, each notified) unless
 * EXTFS_FORCE.
 */
int extfs_get (struct extfs *x, const char *remote, const char *local,
               unsigned flags);

/* Writes (writable handles only).  Each is applied at once and logged
 * for a replay on a moved head; nothing is published before
 * extfs_commit.  After a failure the handle should be closed.
 */

/* Copy local files, symlinks and directory trees into the volume.  If
 * remote ends in '/', is an existing directory, or n > 1, each local
 * goes into it under its own name (remote is made if missing); else
 * locals[0] becomes remote.  Missing parents are made.  Existing files
 * are refused unless EXTFS_FORCE: all of them are notified, nothing is
 * written, and the result is -EEXIST.  Hard links among the copied files
 * stay hard links.
 */
int extfs_put (struct extfs *x, const char *const *locals, size_t n,
               const char *remote, unsigned flags);
int extfs_mkdir (struct extfs *x, const char *path, unsigned flags);
/* Remove a file, symlink, empty directory, or with EXTFS_RECURSIVE a
 * tree.
 */
int extfs_rm (struct extfs *x, const char *path, unsigned flags);
/* Copy src to dst inside the volume (dst an existing directory: into
 * it); directories need EXTFS_RECURSIVE.  As cp(1): with
 * EXTFS_RECURSIVE a symlink src is copied as a symlink, without it the
 * file it points to is.
 */
int extfs_cp (struct extfs *x, const char *src, const char *dst,
              unsigned flags);

struct extfs_commit_result {
  uint64_t seq;                 /* version published (or the base, if
                                   nothing changed) */
  unsigned rebases;             /* replays on a moved head */
  uint64_t bytes_uploaded;
  bool changed;                 /* false: nothing to publish */
};

/* Publish every logged change as one version (see the top); nothing
 * if nothing changed.  -EEXIST only if the head kept moving for
 * max_rebases replays; a replay that cannot be done (a source another
 * writer removed, a file where a directory is wanted) fails with its own
 * error, publishing nothing.  On success the handle shows the published
 * version (and may take more changes); on failure close it.
 */
int extfs_commit (struct extfs *x, const char *message,
                  struct extfs_commit_result *res);

/* ---- A journal left in a block device's cache ---- */

struct cache;

/* If the ext4 filesystem in c (a volume's block device, not mounted
 * anywhere: nothing else may write to it meanwhile) says its journal
 * needs replaying, replay it into c, as extfs_open does into its private
 * cache, and flush c; the version in the store is not changed.  c must
 * accept writes (read-only caches: opened as an overlay).  0 also when
 * there is nothing to do or c holds no ext4; *replayed: the transactions
 * replayed.  Errors as extfs_open's (logged); a torn journal is replayed
 * as far as it is whole and the filesystem marked for e2fsck (a warning).
 */
int extfs_replay_cache (struct cache *c, const char *volume,
                        const struct s3vol_log *log, unsigned *replayed);

/* ---- Housekeeping (idle.c) ---- */

/* Bytes of a device holding ext4, in two states. */
struct extfs_change {
  uint64_t offset;              /* where they sit on the device */
  const void *base;             /* before (a commit's base version) */
  const void *cur;              /* after (its cut) */
  size_t len;
};

/* Are the changes ch[0..n) (the chunks that changed) only the kernel's
 * housekeeping of a mounted ext4 filesystem nobody wrote to?  True when
 * every byte that differs is in
 *  - the primary superblock (device byte 1024, ext4 in both): the mount
 *    and write times (and their _hi bytes), the mount count, kbytes
 *    written, the last mounted path, the orphan list head, the valid
 *    and orphan bits of the state, the needs_recovery flag, the
 *    checksum;
 *  - a jbd2 journal superblock (its magic at a 1 KiB boundary in both):
 *    the sequence, start, errno, head and checksum;
 *  - the journal's log, when the superblock (which locates the journal)
 *    and the journal's superblock are among the changes and the journal
 *    is empty in both states;
 * or when nothing differs.  Anything else (an error state, any other
 * field or block, bytes that are not a superblock) gives false.  Bytes
 * only: no I/O, no logging; safe from any thread.
 */
bool extfs_housekeeping_only (const struct extfs_change *ch, size_t n);

#endif /* S3VOL_EXTFS_H */
