/* s3vol: a volume's ext4 filesystem, opened through libext2fs on a
 * private cache, and its changes published as one version.
 *
 *   open     a temporary cache directory on the version, the I/O manager
 *            over it, the journal replayed into it if the version needs
 *            recovery, then ext2fs_open2 (bitmaps too when writable)
 *   change   put/mkdir/rm/cp apply to the filesystem (so to the cache)
 *            and append to the operation log
 *   commit   ext2fs_close2 writes the superblock, descriptors and
 *            bitmaps; cache_commit uploads the changed chunks and
 *            publishes them.  A conflict (the head moved) throws the
 *            cache away, opens the new head on a fresh one, runs the log
 *            again there, and publishes that.
 *
 * The log holds each operation as it was resolved the first time (which
 * local path became which remote path), so a replay does the same thing
 * on the new head; where another writer changed a path the log changes
 * too, the replay wins (last write wins) and says so.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/parallel.h"
#include "extfs_int.h"

#define DEFAULT_CACHE_BYTES (256ull << 20)
#define DEFAULT_REBASES 10

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

static int
make_tmp (struct extfs *x)
{
  const char *dir = x->cfg.tmpdir;

  if (dir == NULL || dir[0] == '\0')
    dir = getenv ("TMPDIR");
  if (dir == NULL || dir[0] == '\0')
    dir = "/tmp";
  snprintf (x->tmp, sizeof x->tmp, "%s/s3vol-files-XXXXXX", dir);
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

static int
open_fs (struct extfs *x, bool rw)
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
  if (ext2fs_has_feature_encrypt (sb) || ext2fs_has_feature_casefold (sb))
    return refuse (x, "it uses encryption or casefolding");
  if (sb->s_state & EXT2_ERROR_FS)
    return refuse (x, "it is marked as having errors (export it, run "
                   "e2fsck -f, import it)");
  return 0;
}

/* Open the cache and the filesystem on version ref (x->seq set). */
static int
open_version (struct extfs *x, const struct vol_ref *ref)
{
  struct cache_config cc = {
    .log = x->log, .volume = x->volume, .ref = *ref,
    .max_clean_bytes = x->cfg.cache_bytes ? x->cfg.cache_bytes
      : DEFAULT_CACHE_BYTES,
    .threads = x->cfg.threads,
  };
  unsigned replayed = 0;
  int r;

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
  r = open_fs (x, false);
  if (r == 0 && ext2fs_has_feature_journal_needs_recovery (x->fs->super)) {
    r = extfs_journal_replay (x, &replayed);
    close_fs (x);
    if (r == 0)
      r = open_fs (x, x->writable);
    if (r == 0)
      extfs_notify (x, EXTFS_EV_REPLAYED, "", x->seq);
  }
  else if (r == 0 && x->writable) {
    close_fs (x);
    r = open_fs (x, true);
  }
  if (r == 0 && x->writable)
    r = check_features (x);
  if (r == 0 && x->writable)
    r = extfs_dc_new (x);
  return r;
}

static void
close_version (struct extfs *x)
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
    r = open_version (x, x->writable ? &head : &cfg->ref);
  if (r < 0) {
    extfs_close (x);
    return r;
  }
  *out = x;
  return 0;
}

static void
free_log (struct extfs *x)
{
  struct extfs_seen *s, *next;
  size_t i;

  for (i = 0; i < x->nops; i++) {
    free (x->ops[i].a);
    free (x->ops[i].b);
  }
  free (x->ops);
  x->ops = NULL;
  x->nops = x->capops = 0;
  for (i = 0; i < x->capseen; i++)
    for (s = x->seen[i]; s; s = next) {
      next = s->next;
      free (s);
    }
  free (x->seen);
  x->seen = NULL;
  x->nseen = x->capseen = 0;
}

void
extfs_close (struct extfs *x)
{
  if (x == NULL)
    return;
  close_version (x);
  free_log (x);
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

/* ---- the operation log ---- */

int
extfs_log_op (struct extfs *x, enum extfs_op_kind kind, const char *a,
              const char *b, unsigned flags)
{
  struct extfs_op *op;

  x->changed = true;
  if (x->replaying)
    return 0;
  if (x->nops == x->capops) {
    size_t cap = x->capops ? 2 * x->capops : 16;
    op = realloc (x->ops, cap * sizeof *op);
    if (op == NULL)
      return -ENOMEM;
    x->ops = op;
    x->capops = cap;
  }
  op = &x->ops[x->nops];
  op->kind = kind;
  op->flags = flags;
  op->a = strdup (a);
  op->b = b ? strdup (b) : NULL;
  if (op->a == NULL || (b && op->b == NULL)) {
    free (op->a);
    free (op->b);
    return -ENOMEM;
  }
  x->nops++;
  return 0;
}

static size_t
hash_path (const char *p)
{
  size_t h = 14695981039346656037ull;

  for (; *p; p++)
    h = (h ^ (unsigned char) *p) * 1099511628211ull;
  return h;
}

static struct extfs_seen *
find_seen (struct extfs *x, const char *path)
{
  struct extfs_seen *s;

  if (x->capseen == 0)
    return NULL;
  for (s = x->seen[hash_path (path) & (x->capseen - 1)]; s; s = s->next)
    if (strcmp (s->path, path) == 0)
      return s;
  return NULL;
}

static int
add_seen (struct extfs *x, struct extfs_seen *s)
{
  struct extfs_seen **t, *e, *next;
  size_t i, cap;

  if (x->nseen >= x->capseen) {
    cap = x->capseen ? 2 * x->capseen : 256;
    t = calloc (cap, sizeof *t);
    if (t == NULL)
      return -ENOMEM;
    for (i = 0; i < x->capseen; i++)
      for (e = x->seen[i]; e; e = next) {
        next = e->next;
        e->next = t[hash_path (e->path) & (cap - 1)];
        t[hash_path (e->path) & (cap - 1)] = e;
      }
    free (x->seen);
    x->seen = t;
    x->capseen = cap;
  }
  i = hash_path (s->path) & (x->capseen - 1);
  s->next = x->seen[i];
  x->seen[i] = s;
  x->nseen++;
  return 0;
}

/* The state of path now, in the form remembered. */
static int
state_of (struct extfs *x, const char *path, struct extfs_seen *s)
{
  union extfs_inode in;
  char last[EXT2_NAME_LEN + 1];
  ext2_ino_t parent, ino;
  int r;

  s->present = false;
  r = extfs_resolve (x, path, false, &parent, last, &ino);
  if (r == -ENOENT)
    return 0;
  if (r == 0)
    r = extfs_read_inode (x, ino, &in);
  if (r < 0)
    return r;
  s->present = true;
  s->ino = ino;
  s->gen = in.small.i_generation;
  s->ctime_ns = extfs_get_time (&in, T_CTIME);
  s->size = EXT2_I_SIZE (&in.small);
  return 0;
}

static bool
same_state (const struct extfs_seen *a, const struct extfs_seen *b)
{
  if (a->present != b->present)
    return false;
  return !a->present || (a->ino == b->ino && a->gen == b->gen &&
                         a->ctime_ns == b->ctime_ns && a->size == b->size);
}

int
extfs_touch (struct extfs *x, const char *path)
{
  struct extfs_seen *s = find_seen (x, path), now = { 0 };
  int r;

  if (!x->replaying) {
    if (s)
      return 0;
    s = calloc (1, sizeof *s + strlen (path) + 1);
    if (s == NULL)
      return -ENOMEM;
    strcpy (s->path, path);
    r = state_of (x, path, s);
    if (r == 0)
      r = add_seen (x, s);
    if (r < 0)
      free (s);
    return r;
  }
  /* Replaying: compare the head with the base, once per replay (later
   * touches would see our own replayed changes).  Told after a publish.
   */
  if (s == NULL || s->checked == x->rebases)
    return 0;
  s->checked = x->rebases;
  r = state_of (x, path, &now);
  if (r < 0)
    return r;
  s->changed = !same_state (s, &now);
  return 0;
}

/* Before a replay: nothing found changed yet. */
static void
clear_changed (struct extfs *x)
{
  struct extfs_seen *s;
  size_t i;

  for (i = 0; i < x->capseen; i++)
    for (s = x->seen[i]; s; s = s->next)
      s->changed = false;
}

/* After a publish: the paths this replaced that another writer changed. */
static void
tell_changed (struct extfs *x, uint64_t head)
{
  struct extfs_seen *s;
  size_t i;

  for (i = 0; i < x->capseen; i++)
    for (s = x->seen[i]; s; s = s->next)
      if (s->changed)
        extfs_notify (x, EXTFS_EV_OVERWROTE, s->path, head);
}

/* ---- committing ---- */

struct watch {
  struct extfs *x;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
};

/* Report upload progress while cache_commit runs. */
static void *
watch_upload (void *arg)
{
  struct watch *w = arg;
  struct cache_stats st;
  struct timespec ts;

  pthread_mutex_lock (&w->lock);
  while (!w->stop) {
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&w->cond, &w->lock, &ts);
    if (w->stop)
      break;
    cache_stats (w->x->cache, &st);
    extfs_progress (w->x, "upload", st.bytes_uploaded, 0);
  }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

static int
publish (struct extfs *x, const char *message, struct vol_commit_result *res,
         uint64_t *uploaded)
{
  struct vol_commit_opts o = { .message = message, .quiet_conflict = true };
  struct watch w = { .x = x };
  struct cache_stats st;
  pthread_t t;
  bool watching;
  errcode_t e;
  int r;

  e = ext2fs_close2 (x->fs, EXT2_FLAG_FLUSH_NO_SYNC);
  x->fs = NULL;
  if (e)
    return extfs_fail (x, e, "write the filesystem metadata of",
                       x->volume);
  pthread_mutex_init (&w.lock, NULL);
  pthread_cond_init (&w.cond, NULL);
  watching = x->cfg.progress.fn &&
    pthread_create (&t, NULL, watch_upload, &w) == 0;
  r = cache_commit (x->cache, &o, res);
  if (watching) {
    pthread_mutex_lock (&w.lock);
    w.stop = true;
    pthread_cond_signal (&w.cond);
    pthread_mutex_unlock (&w.lock);
    pthread_join (t, NULL);
  }
  pthread_mutex_destroy (&w.lock);
  pthread_cond_destroy (&w.cond);
  cache_stats (x->cache, &st);
  *uploaded = st.bytes_uploaded;
  return r;
}

static int
run_op (struct extfs *x, const struct extfs_op *op)
{
  unsigned flags = op->flags | EXTFS_FORCE;

  switch (op->kind) {
  case OP_PUT: return extfs_run_put (x, op->a, op->b, flags);
  case OP_MKDIR: return extfs_run_mkdir (x, op->a, flags | EXTFS_PARENTS);
  case OP_RM: return extfs_run_rm (x, op->a, flags);
  case OP_CP: return extfs_run_cp (x, op->a, op->b, flags);
  }
  return -EINVAL;
}

/* The head moved: open it on a fresh cache and run the log there. */
static int
rebase (struct extfs *x, uint64_t head)
{
  struct vol_ref ref = { 0 };
  size_t i;
  int r;

  close_version (x);
  r = open_version (x, &ref);
  if (r < 0)
    return r;
  extfs_notify (x, EXTFS_EV_REBASED, "", x->seq);
  (void) head;
  x->rebases++;
  clear_changed (x);
  x->replaying = true;
  for (i = 0; r == 0 && i < x->nops; i++)
    r = run_op (x, &x->ops[i]);
  x->replaying = false;
  if (r < 0)
    s3vol_error (x->log, "volume %s: could not redo the changes on "
                 "version %" PRIu64 ", which another writer published "
                 "meanwhile; nothing was published", x->volume, x->seq);
  return r;
}

int
extfs_commit (struct extfs *x, const char *message,
              struct extfs_commit_result *res)
{
  unsigned max = x->cfg.max_rebases ? x->cfg.max_rebases : DEFAULT_REBASES;
  struct vol_commit_result cres;
  uint64_t up = 0;
  int r;

  memset (res, 0, sizeof *res);
  r = extfs_check_writable (x);
  if (r < 0)
    return r;
  res->seq = x->seq;
  if (!x->changed)
    return 0;
  for (;;) {
    r = publish (x, message, &cres, &up);
    res->bytes_uploaded += up;
    if (r != -EEXIST)
      break;
    if (res->rebases == max) {
      s3vol_error (x->log, "volume %s: other writers kept publishing "
                   "first (%u times); nothing was published", x->volume,
                   max);
      return -EEXIST;
    }
    res->rebases++;
    r = rebase (x, cres.conflict_head);
    if (r < 0)
      return r;
  }
  if (r < 0)
    return r;
  if (res->rebases)
    tell_changed (x, x->seq);
  res->changed = cres.seq != x->seq;
  res->seq = cres.seq;
  x->seq = cres.seq;
  x->changed = false;
  free_log (x);
  /* Go on showing the new version. */
  r = open_fs (x, true);
  if (r == 0) {
    extfs_dc_free (x);
    r = extfs_dc_new (x);
  }
  return r;
}
