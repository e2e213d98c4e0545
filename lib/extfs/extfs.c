/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a volume's ext4 filesystem, opened through libext2fs on a
 * private cache, and its changes published as one version.
 *
 *   open     a temporary cache directory on the version, the I/O manager
 *            over it, the journal replayed into it if the version needs
 *            recovery, then ext2fs_open2 (bitmaps too when writable)
 *   change   put/mkdir/rm/cp apply to the filesystem (so to the cache)
 *            and append to the operation log (ops.c)
 *   commit   oplog.c: one version, redone on a moved head
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/parallel.h"
#include "extfs_int.h"


/* ---- errors ---- */

int
extfs_errno (errcode_t e)
{
  if (e > 0 && e < 256)
    return -(int) e;            /* an errno from the I/O manager */
  switch (e) {
  case 0: return 0;
  case EXT2_ET_NO_MEMORY: return -ENOMEM;
  case EXT2_ET_FILE_NOT_FOUND: return -ENOENT;
  case EXT2_ET_FILE_EXISTS: case EXT2_ET_DIR_EXISTS: return -EEXIST;
  case EXT2_ET_NO_DIRECTORY: return -ENOTDIR;
  case EXT2_ET_RO_FILSYS: case EXT2_ET_FILE_RO: return -EROFS;
  case EXT2_ET_BLOCK_ALLOC_FAIL: case EXT2_ET_INODE_ALLOC_FAIL:
  case EXT2_ET_DIR_NO_SPACE: case EXT2_ET_EXPAND_DIR_ERR:
  case EXT2_ET_TOO_MANY_INODES:
    return -ENOSPC;
  case EXT2_ET_FILE_TOO_BIG: return -EFBIG;
  case EXT2_ET_SYMLINK_LOOP: return -ELOOP;
  case EXT2_ET_TOO_MANY_REFS: return -EMLINK;
  case EXT2_ET_BAD_MAGIC: return -EMEDIUMTYPE;
  case EXT2_ET_UNSUPP_FEATURE: case EXT2_ET_RO_UNSUPP_FEATURE:
  case EXT2_ET_UNIMPLEMENTED: case EXT2_ET_OP_NOT_SUPPORTED:
  case EXT2_ET_EXTENT_NOT_SUPPORTED: case EXT2_ET_DIRHASH_UNSUPP:
  case EXT2_ET_EXTERNAL_JOURNAL_NOSUPP:
    return -ENOTSUP;
  case EXT2_ET_INVALID_ARGUMENT: return -EINVAL;
  default: return -EUCLEAN;     /* corruption: bad checksums, bad maps */
  }
}

/* Words for the libext2fs errors a user may meet (without com_err's
 * global error tables).
 */
static const char *
reason (errcode_t e, char *buf, size_t n)
{
  if (e > 0 && e < 256)
    return strerror ((int) e);
  switch (e) {
  case EXT2_ET_DIR_CORRUPTED: return "directory corrupted";
  case EXT2_ET_INODE_CSUM_INVALID: return "inode checksum does not match";
  case EXT2_ET_DIR_CSUM_INVALID:
    return "directory block checksum does not match";
  case EXT2_ET_EXTENT_CSUM_INVALID:
    return "extent block checksum does not match";
  case EXT2_ET_SB_CSUM_INVALID: return "superblock checksum does not match";
  case EXT2_ET_BLOCK_BITMAP_CSUM_INVALID:
  case EXT2_ET_INODE_BITMAP_CSUM_INVALID:
    return "allocation bitmap checksum does not match";
  case EXT2_ET_EXTENT_HEADER_BAD: case EXT2_ET_EXTENT_INDEX_BAD:
  case EXT2_ET_EXTENT_LEAF_BAD:
    return "corrupt extent tree";
  case EXT2_ET_BAD_INODE_NUM: return "bad inode number";
  case EXT2_ET_BAD_BLOCK_NUM: return "bad block number";
  case EXT2_ET_UNSUPP_FEATURE: case EXT2_ET_RO_UNSUPP_FEATURE:
    return "uses filesystem features this libext2fs does not know";
  case EXT2_ET_FILE_TOO_BIG: return "file too large for the filesystem";
  case EXT2_ET_SYMLINK_LOOP: return "too many levels of symbolic links";
  case EXT2_ET_TOO_MANY_REFS: return "too many links";
  case EXT2_ET_NO_DIRECTORY: return "not a directory";
  case EXT2_ET_FILE_NOT_FOUND: return "no such file or directory";
  case EXT2_ET_NO_MEMORY: return "out of memory";
  case EXT2_ET_GDESC_BAD_BLOCK_MAP: case EXT2_ET_GDESC_BAD_INODE_MAP:
  case EXT2_ET_GDESC_BAD_INODE_TABLE:
    return "corrupt group descriptors";
  default:
    snprintf (buf, n, "libext2fs error %ld", (long) e);
    return buf;
  }
}

int
extfs_fail (struct extfs *x, errcode_t e, const char *what,
            const char *path)
{
  char buf[64];
  int r = extfs_errno (e);

  if (r == -ENOSPC)
    return extfs_nospace (x, path, e == EXT2_ET_INODE_ALLOC_FAIL);
  if (e > 0 && e < 256 && x->io.last_error)
    return r;                   /* the cache said why */
  s3vol_error (x->log, "%s %s%s%s (volume %s, version %" PRIu64 ")%s",
               what, path, path[0] ? ": " : "", reason (e, buf, sizeof buf),
               x->volume, x->seq, r == -EUCLEAN ? ": the filesystem "
               "looks corrupt; export it and run e2fsck -f" : "");
  return r;
}

int
extfs_exists_error (struct extfs *x, unsigned n, const char *first,
                    bool local)
{
  if (n == 1)
    s3vol_error (x->log, "%s exists%s%s; nothing was changed (use --force "
                 "to replace it)", first, local ? "" : " in volume ",
                 local ? "" : x->volume);
  else
    s3vol_error (x->log, "%u %sfiles already exist%s%s (%s and the others "
                 "named above); nothing was changed (use --force to "
                 "replace them)", n, local ? "local " : "",
                 local ? "" : " in volume ", local ? "" : x->volume, first);
  return -EEXIST;
}

static const char *
human (uint64_t n, char *buf, size_t size)
{
  static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB",
                                      "PiB" };
  double v = n;
  int u = 0;

  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  snprintf (buf, size, u ? "%.1f %s" : "%.0f %s", v, unit[u]);
  return buf;
}

int
extfs_nospace (struct extfs *x, const char *path, bool inodes)
{
  struct extfs_space sp;
  char a[32], b[32];

  extfs_space (x, &sp);
  if (inodes)
    s3vol_error (x->log, "%s: volume %s has no free inodes left (%" PRIu64
                 " in all); nothing was published", path, x->volume,
                 sp.total_inodes);
  else
    s3vol_error (x->log, "%s: volume %s is full: %s free of %s; nothing "
                 "was published", path, x->volume,
                 human (sp.free_bytes, a, sizeof a),
                 human (sp.total_bytes, b, sizeof b));
  return -ENOSPC;
}

int
extfs_check_writable (struct extfs *x)
{
  if (x->writable && x->fs)
    return 0;
  s3vol_error (x->log, "volume %s is open read-only here", x->volume);
  return -EROFS;
}

void
extfs_notify (struct extfs *x, enum extfs_event ev, const char *path,
              uint64_t seq)
{
  if (x->cfg.notify.fn)
    x->cfg.notify.fn (x->cfg.notify.opaque, ev, path, seq);
}

void
extfs_progress (struct extfs *x, const char *what, uint64_t done,
                uint64_t total)
{
  if (x->cfg.progress.fn)
    x->cfg.progress.fn (x->cfg.progress.opaque, what, done, total);
}

/* ---- the private cache directory ---- */

static void
remove_tmp (struct extfs *x)
{
  struct dirent *de;
  DIR *d;

  if (x->tmp[0] == '\0')
    return;
  d = opendir (x->tmp);
  while (d && (de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      unlinkat (dirfd (d), de->d_name, 0);
  if (d)
    closedir (d);
  if (rmdir (x->tmp) == -1)
    s3vol_warn (x->log, "could not remove %s: %s", x->tmp,
                strerror (errno));
  x->tmp[0] = '\0';
}

/* The private cache directory is TMPDIR/s3vol-files-PID-XXXXXX.  A
 * process killed before it removed its directory leaves it behind, so
 * the next one removes the stale ones: those named so, that are
 * directories (not symlinks) owned by this user, whose process is gone
 * and whose cache lock nobody holds (the lock also covers a process of
 * another pid namespace sharing TMPDIR).  Everything is done relative to
 * descriptors opened without following symlinks; another user's
 * directory, or anything else, is never touched.
 */
#define TMP_PREFIX "s3vol-files-"

/* Is name TMP_PREFIX "PID-XXXXXX"?  Sets *pid. */
static bool
tmp_name_pid (const char *name, pid_t *pid)
{
  const char *p = name + strlen (TMP_PREFIX);
  unsigned long v;
  char *end;

  if (strncmp (name, TMP_PREFIX, strlen (TMP_PREFIX)) != 0 ||
      *p < '1' || *p > '9')
    return false;
  errno = 0;
  v = strtoul (p, &end, 10);
  if (errno != 0 || v > INT_MAX || *end != '-' || strlen (end + 1) != 6)
    return false;
  *pid = (pid_t) v;
  return true;
}

/* Empty and remove directory name of dfd (st: what lstat saw), if it is
 * still that directory and its cache lock is free.
 */
static void
remove_stale (struct extfs *x, int dfd, const char *name,
              const struct stat *st)
{
  struct stat now;
  struct dirent *de;
  DIR *d = NULL;
  int fd, lock, dup_fd;

  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    return;
  if (fstat (fd, &now) == -1 || now.st_dev != st->st_dev ||
      now.st_ino != st->st_ino || now.st_uid != geteuid ())
    goto out;
  lock = openat (fd, "lock", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
                 O_CLOEXEC);
  if (lock == -1 && errno != ENOENT)
    goto out;
  if (lock >= 0 && flock (lock, LOCK_EX | LOCK_NB) == -1) {
    close (lock);
    goto out;                   /* in use */
  }
  dup_fd = dup (fd);
  d = dup_fd >= 0 ? fdopendir (dup_fd) : NULL;
  if (d == NULL && dup_fd >= 0)
    close (dup_fd);
  while (d && (de = readdir (d)) != NULL)
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
      unlinkat (fd, de->d_name, 0);     /* files only: no recursion */
  if (lock >= 0)
    close (lock);
  if (unlinkat (dfd, name, AT_REMOVEDIR) == 0)
    s3vol_info (x->log, "removed the stale temporary directory %s of "
                "an s3vol process that is gone", name);
 out:
  if (d)
    closedir (d);
  close (fd);
}

static void
remove_stale_tmps (struct extfs *x, const char *dir)
{
  struct dirent *de;
  struct stat st;
  pid_t pid;
  DIR *d;
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (dfd == -1)
    return;
  d = fdopendir (dfd);
  if (d == NULL) {
    close (dfd);
    return;
  }
  while ((de = readdir (d)) != NULL) {
    if (!tmp_name_pid (de->d_name, &pid) || pid == getpid ())
      continue;
    if (fstatat (dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
        !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
      continue;
    if (kill (pid, 0) == 0 || errno != ESRCH)
      continue;                 /* alive, or not ours to signal */
    remove_stale (x, dfd, de->d_name, &st);
  }
  closedir (d);
}

static int
make_tmp (struct extfs *x)
{
  const char *dir = x->cfg.tmpdir;

  if (dir == NULL || dir[0] == '\0')
    dir = getenv ("TMPDIR");
  if (dir == NULL || dir[0] == '\0')
    dir = "/tmp";
  remove_stale_tmps (x, dir);
  snprintf (x->tmp, sizeof x->tmp, "%s/" TMP_PREFIX "%d-XXXXXX", dir,
            (int) getpid ());
  if (mkdtemp (x->tmp) == NULL) {
    int r = -errno;
    s3vol_error (x->log, "cannot make a temporary cache directory in %s: "
                 "%s", dir, strerror (errno));
    x->tmp[0] = '\0';
    return r;
  }
  return 0;
}

/* ---- opening ---- */

/* Why a volume without an ext4 superblock has none, for the message. */
static const char *
what_is_there (struct extfs *x)
{
  static const char zero[512];
  uint8_t b[2048];

  if (cache_pread (x->cache, b, sizeof b, 0) < 0)
    return "unreadable";
  if (memcmp (b + 512, "EFI PART", 8) == 0 ||
      (b[510] == 0x55 && b[511] == 0xaa))
    return "a partitioned disk (a VM image?); s3vol reads only a "
      "filesystem on the whole volume";
  if (memcmp (b, zero, 512) == 0 && memcmp (b + 1024, zero, 512) == 0)
    return "nothing: it was never formatted (created with --no-format?)";
  return "something other than an ext2/3/4 filesystem";
}

struct prefetch {
  struct cache *cache;
  uint64_t *chunks;
  uint32_t cs;
};

static int
prefetch_one (size_t i, void *opaque)
{
  struct prefetch *p = opaque;
  uint8_t b[512];

  return cache_pread (p->cache, b, sizeof b, p->chunks[i] * p->cs);
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

/* libext2fs reads the bitmaps of every initialised group one block at a
 * time; on a big volume they sit in hundreds of chunks (one per flex
 * group).  Fetch those chunks first, in parallel.
 */
static int
prefetch_bitmaps (struct extfs *x)
{
  struct prefetch p = { .cache = x->cache, .cs = cache_chunk_size (x->cache) };
  ext2_filsys fs = x->fs;
  size_t n = 0, k, i;
  dgrp_t g;
  int r;

  p.chunks = malloc (2 * (fs->group_desc_count + 1) * sizeof *p.chunks);
  if (p.chunks == NULL)
    return -ENOMEM;
  for (g = 0; g < fs->group_desc_count; g++) {
    if (!ext2fs_bg_flags_test (fs, g, EXT2_BG_BLOCK_UNINIT))
      p.chunks[n++] = ext2fs_block_bitmap_loc (fs, g) * fs->blocksize / p.cs;
    if (!ext2fs_bg_flags_test (fs, g, EXT2_BG_INODE_UNINIT))
      p.chunks[n++] = ext2fs_inode_bitmap_loc (fs, g) * fs->blocksize / p.cs;
  }
  if (n > 1)
    qsort (p.chunks, n, sizeof *p.chunks, cmp_u64);
  for (i = k = 0; i < n; i++)
    if (k == 0 || p.chunks[i] != p.chunks[k - 1])
      p.chunks[k++] = p.chunks[i];
  r = s3vol_parallel (x->cfg.threads ? x->cfg.threads : 8, k, prefetch_one,
                      &p);
  free (p.chunks);
  return r;
}

int
extfs_open_fs (struct extfs *x, bool rw)
{
  int flags = EXT2_FLAG_64BITS | EXT2_FLAG_SKIP_MMP;
  char name[64];
  errcode_t e;
  int r;

  if (rw)
    flags |= EXT2_FLAG_RW;
  extfs_io_name (&x->io, name, sizeof name);
  x->io.pinning = rw;
  e = ext2fs_open2 (name, NULL, flags, 0, 0, extfs_io_manager (), &x->fs);
  if (e == EXT2_ET_BAD_MAGIC || e == EXT2_ET_SHORT_READ ||
      e == EXT2_ET_CORRUPT_SUPERBLOCK) {
    x->fs = NULL;
    s3vol_error (x->log, "volume %s (version %" PRIu64 ") holds %s",
                 x->volume, x->seq, what_is_there (x));
    return -EMEDIUMTYPE;
  }
  if (e) {
    x->fs = NULL;
    return extfs_fail (x, e, "open the filesystem of", x->volume);
  }
  x->fs->flags |= EXT2_FLAG_MASTER_SB_ONLY;
  if (rw) {
    r = prefetch_bitmaps (x);
    if (r < 0)
      return r;
    e = ext2fs_read_bitmaps (x->fs);
    x->io.pinning = false;
    if (e)
      return extfs_fail (x, e, "read the allocation bitmaps of",
                         x->volume);
  }
  return 0;
}

static void
close_fs (struct extfs *x)
{
  if (x->fs)
    ext2fs_free (x->fs);        /* writes nothing */
  x->fs = NULL;
}

static int
refuse (struct extfs *x, const char *why)
{
  s3vol_error (x->log, "volume %s: s3vol cannot write to this filesystem: "
               "%s (reading works)", x->volume, why);
  return -ENOTSUP;
}

/* What the writing code does not handle. */
static int
check_features (struct extfs *x)
{
  struct ext2_super_block *sb = x->fs->super;

  if (!ext2fs_has_feature_extents (sb))
    return refuse (x, "it has no extents (ext2 or ext3)");
  if (ext2fs_has_feature_inline_data (sb))
    return refuse (x, "it uses inline_data");
  /* encrypt and casefold: only the directories that use them are
   * refused (extfs_dir_unsupported), and encrypted files' contents.
   */
  if (sb->s_state & EXT2_ERROR_FS)
    return refuse (x, "it is marked as having errors (export it, run "
                   "e2fsck -f, import it)");
  return 0;
}

/* Open the cache and the filesystem on version ref (x->seq set). */
int
extfs_open_version (struct extfs *x, const struct vol_ref *ref)
{
  struct cache_config cc = {
    .log = x->log, .volume = x->volume, .ref = *ref,
    .max_clean_bytes = x->cfg.cache_bytes, .threads = x->cfg.threads,
  };
  unsigned replayed = 0;
  int r;

  /* Clean chunks (bitmaps, inode tables, files read) come from the host
   * chunk store; only what this handle changes stays in its private
   * cache.
   */
  r = make_tmp (x);
  if (r < 0)
    return r;
  cc.dir = x->tmp;
  r = cache_open (x->vs, &cc, &x->cache);
  if (r < 0)
    return r;
  r = cache_start (x->cache);
  if (r < 0)
    return r;
  x->seq = volume_seq (cache_volume (x->cache));
  memset (&x->io, 0, sizeof x->io);
  x->io.magic = EXTFS_IO_MAGIC;
  x->io.cache = x->cache;
  x->io.log = x->log;
  x->io.size = cache_size (x->cache);
  r = extfs_open_fs (x, false);
  if (r == 0 && ext2fs_has_feature_journal_needs_recovery (x->fs->super)) {
    r = extfs_journal_replay (x, &replayed);
    close_fs (x);
    if (r == 0)
      r = extfs_open_fs (x, x->writable);
    if (r == 0)
      extfs_notify (x, EXTFS_EV_REPLAYED, "", x->seq);
  }
  else if (r == 0 && x->writable) {
    close_fs (x);
    r = extfs_open_fs (x, true);
  }
  if (r == 0 && x->writable)
    r = check_features (x);
  if (r == 0 && x->writable)
    r = extfs_dc_new (x);
  return r;
}

void
extfs_close_version (struct extfs *x)
{
  extfs_dc_free (x);
  close_fs (x);
  if (x->cache)
    cache_close (x->cache);
  x->cache = NULL;
  remove_tmp (x);
}

int
extfs_open (struct volstore *vs, const struct extfs_config *cfg,
            struct extfs **out)
{
  struct vol_ref head = { 0 };
  struct extfs *x = calloc (1, sizeof *x);
  int r;

  if (x == NULL)
    return -ENOMEM;
  x->vs = vs;
  x->log = cfg->log;
  x->cfg = *cfg;
  x->writable = cfg->writable;
  x->volume = strdup (cfg->volume);
  if (x->volume == NULL) {
    free (x);
    return -ENOMEM;
  }
  if (x->writable && (cfg->ref.seq || cfg->ref.snapshot)) {
    s3vol_error (x->log, "volume %s: changes are made to the newest "
                 "version only", x->volume);
    r = -EINVAL;
  }
  else
    r = extfs_open_version (x, x->writable ? &head : &cfg->ref);
  if (r < 0) {
    extfs_close (x);
    return r;
  }
  *out = x;
  return 0;
}

void
extfs_close (struct extfs *x)
{
  if (x == NULL)
    return;
  extfs_close_version (x);
  extfs_free_log (x);
  free (x->volume);
  free (x);
}

uint64_t
extfs_version (const struct extfs *x)
{
  return x->seq;
}

void
extfs_space (struct extfs *x, struct extfs_space *sp)
{
  struct ext2_super_block *sb = x->fs->super;

  sp->total_bytes = ext2fs_blocks_count (sb) * x->fs->blocksize;
  sp->free_bytes = ext2fs_free_blocks_count (sb) * x->fs->blocksize;
  sp->total_inodes = sb->s_inodes_count;
  sp->free_inodes = sb->s_free_inodes_count;
}

/* Does the ext4 superblock in sb (1 KiB, as on disk) say its journal
 * needs replaying?  False for anything that is not ext4.
 */
static bool
needs_recovery (const uint8_t *sb)
{
  uint16_t magic = sb[0x38] | sb[0x39] << 8;
  uint32_t incompat = sb[0x60] | sb[0x61] << 8 | sb[0x62] << 16 |
    (uint32_t) sb[0x63] << 24;

  return magic == EXT2_SUPER_MAGIC &&
    (incompat & EXT3_FEATURE_INCOMPAT_RECOVER);
}

int
extfs_replay_cache (struct cache *c, const char *volume,
                    const struct s3vol_log *log, unsigned *replayed)
{
  struct extfs *x;
  uint8_t sb[1024];
  int r;

  *replayed = 0;
  if (cache_size (c) < 2048)
    return 0;
  r = cache_pread (c, sb, sizeof sb, 1024);
  if (r < 0 || !needs_recovery (sb))
    return r;
  x = calloc (1, sizeof *x);
  if (x == NULL)
    return -ENOMEM;
  x->log = log;
  x->volume = (char *) volume;
  x->cache = c;
  x->seq = volume_seq (cache_volume (c));
  x->io.magic = EXTFS_IO_MAGIC;
  x->io.cache = c;
  x->io.log = log;
  x->io.size = cache_size (c);
  r = extfs_open_fs (x, false);
  if (r == 0)
    r = extfs_journal_replay (x, replayed);
  close_fs (x);
  if (r == 0)
    r = cache_flush (c);
  free (x);
  return r;
}
