/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: inodes for extfs: reading and writing them whole, attributes
 * and nanosecond times, the runs of blocks a file maps, new files,
 * directories and symlinks, block allocation, and freeing.
 *
 * Inodes are read and written at the filesystem's full inode size
 * (union extfs_inode), so the extra fields of large inodes (nanoseconds,
 * creation time) survive and new inodes never keep stale bytes.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "extfs_int.h"

int
extfs_read_inode (struct extfs *x, ext2_ino_t ino, union extfs_inode *in)
{
  errcode_t e;

  memset (in, 0, sizeof *in);
  e = ext2fs_read_inode_full (x->fs, ino, &in->small, sizeof *in);
  if (e) {
    char what[32];
    snprintf (what, sizeof what, "inode %u", (unsigned) ino);
    return extfs_fail (x, e, "read", what);
  }
  return 0;
}

int
extfs_write_inode (struct extfs *x, ext2_ino_t ino, union extfs_inode *in)
{
  errcode_t e = ext2fs_write_inode_full (x->fs, ino, &in->small,
                                         sizeof *in);

  if (e) {
    char what[32];
    snprintf (what, sizeof what, "inode %u", (unsigned) ino);
    return extfs_fail (x, e, "write", what);
  }
  return 0;
}

/* ---- times ---- */

/* Does the inode hold field [off, off + 4) of the large inode? */
static bool
has_extra (struct extfs *x, const union extfs_inode *in, size_t off)
{
  size_t isize = EXT2_INODE_SIZE (x->fs->super);

  return isize > EXT2_GOOD_OLD_INODE_SIZE &&
    (size_t) EXT2_GOOD_OLD_INODE_SIZE + in->large.i_extra_isize >= off + 4;
}

static void
fields (union extfs_inode *in, int which, uint32_t **lo, uint32_t **extra,
        size_t *extra_off)
{
  struct ext2_inode_large *l = &in->large;

  switch (which) {
  case T_ATIME:
    *lo = &l->i_atime;
    *extra = &l->i_atime_extra;
    break;
  case T_MTIME:
    *lo = &l->i_mtime;
    *extra = &l->i_mtime_extra;
    break;
  case T_CTIME:
    *lo = &l->i_ctime;
    *extra = &l->i_ctime_extra;
    break;
  default:
    *lo = &l->i_crtime;
    *extra = &l->i_crtime_extra;
    break;
  }
  *extra_off = (uint8_t *) *extra - in->bytes;
}

/* The last whole second an int64_t of nanoseconds holds, less one (the
 * nanoseconds field of an inode may hold up to 2^30 - 1).
 */
#define NS_MAX_SEC (INT64_MAX / 1000000000 - 1)

int64_t
extfs_get_time (const union extfs_inode *in, int which)
{
  uint32_t *lo, *extra;
  size_t off;
  int64_t sec;
  uint32_t ex = 0;

  fields ((union extfs_inode *) in, which, &lo, &extra, &off);
  sec = (int32_t) *lo;
  /* Without a filesystem at hand: the extra field is valid if
   * i_extra_isize covers it (it is zero in a 128-byte inode's buffer).
   */
  if (in->large.i_extra_isize >= off + 4 - EXT2_GOOD_OLD_INODE_SIZE)
    ex = *extra;
  sec += (int64_t) (ex & EXT4_EPOCH_MASK) << 32;
  /* ext4's seconds reach the year 2446, nanoseconds in an int64_t only
   * 2262: later times (a hostile inode) are kept at that limit.
   */
  if (sec > NS_MAX_SEC)
    sec = NS_MAX_SEC;
  return sec * 1000000000 + (ex >> EXT4_EPOCH_BITS);
}

void
extfs_set_time (struct extfs *x, union extfs_inode *in, int which,
                int64_t ns)
{
  int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
  uint32_t nsec = ns - sec * 1000000000;
  uint32_t *lo, *extra;
  size_t off;

  fields (in, which, &lo, &extra, &off);
  if (which == T_CRTIME && !has_extra (x, in, off - 4))
    return;
  *lo = (uint32_t) sec;
  if (has_extra (x, in, off))
    *extra = (((sec - (int32_t) sec) >> 32) & EXT4_EPOCH_MASK) |
      nsec << EXT4_EPOCH_BITS;
}

/* ---- attributes ---- */

int
extfs_ftype_of_mode (uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return EXT2_FT_REG_FILE;
  case S_IFDIR: return EXT2_FT_DIR;
  case S_IFLNK: return EXT2_FT_SYMLINK;
  case S_IFCHR: return EXT2_FT_CHRDEV;
  case S_IFBLK: return EXT2_FT_BLKDEV;
  case S_IFIFO: return EXT2_FT_FIFO;
  case S_IFSOCK: return EXT2_FT_SOCK;
  default: return EXT2_FT_UNKNOWN;
  }
}

void
extfs_to_stat (struct extfs *x, ext2_ino_t ino, const union extfs_inode *in,
               struct extfs_stat *st)
{
  memset (st, 0, sizeof *st);
  st->ino = ino;
  st->mode = in->small.i_mode;
  st->nlink = in->small.i_links_count;
  st->uid = inode_uid (in->small);
  st->gid = inode_gid (in->small);
  st->size = EXT2_I_SIZE (&in->small);
  st->alloc_bytes = ext2fs_get_stat_i_blocks (x->fs,
                                              (struct ext2_inode *)
                                              &in->small) * 512;
  st->atime_ns = extfs_get_time (in, T_ATIME);
  st->mtime_ns = extfs_get_time (in, T_MTIME);
  st->ctime_ns = extfs_get_time (in, T_CTIME);
}

/* ---- block runs ---- */

struct runs {
  int (*fn) (void *opaque, const struct extfs_run *r);
  void *opaque;
  struct extfs_run cur;         /* len 0: none yet */
  int err;
};

/* Add a run, merging it with the one before when they continue. */
static int
add_run (struct runs *rs, uint64_t lblk, uint64_t pblk, uint64_t len,
         bool uninit)
{
  struct extfs_run *c = &rs->cur;
  int r;

  if (c->len && c->uninit == uninit && c->lblk + c->len == lblk &&
      c->pblk + c->len == pblk) {
    c->len += len;
    return 0;
  }
  if (c->len) {
    r = rs->fn (rs->opaque, c);
    if (r)
      return r;
  }
  c->lblk = lblk;
  c->pblk = pblk;
  c->len = len;
  c->uninit = uninit;
  return 0;
}

static int
block_run (ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt,
           blk64_t ref_blk, int ref_offset, void *priv)
{
  struct runs *rs = priv;

  (void) fs;
  (void) ref_blk;
  (void) ref_offset;
  if (blockcnt < 0 || *blocknr == 0)
    return 0;
  rs->err = add_run (rs, blockcnt, *blocknr, 1, false);
  return rs->err ? BLOCK_ABORT : 0;
}

static int
extent_runs (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
             struct runs *rs)
{
  ext2_extent_handle_t h;
  struct ext2fs_extent ext;
  int op = EXT2_EXTENT_ROOT;
  uint64_t next = 0;            /* the first block the next leaf may map */
  errcode_t e;
  int r = 0;

  e = ext2fs_extent_open2 (x->fs, ino, &in->small, &h);
  if (e)
    return extfs_fail (x, e, "read the extents of", "a file");
  for (;;) {
    e = ext2fs_extent_get (h, op, &ext);
    if (e == EXT2_ET_EXTENT_NO_NEXT || e == EXT2_ET_NO_CURRENT_NODE) {
      e = 0;
      break;
    }
    if (e)
      break;
    op = EXT2_EXTENT_NEXT;
    if ((ext.e_flags & EXT2_EXTENT_FLAGS_SECOND_VISIT) ||
        !(ext.e_flags & EXT2_EXTENT_FLAGS_LEAF) || ext.e_len == 0)
      continue;
    /* Leaves in file order, without overlaps, inside the volume. */
    if (ext.e_lblk < next || ext.e_pblk == 0 ||
        ext.e_pblk >= ext2fs_blocks_count (x->fs->super) ||
        ext.e_len > ext2fs_blocks_count (x->fs->super) - ext.e_pblk) {
      s3vol_error (x->log, "inode %u: corrupt extent tree (blocks %llu+%u "
                   "at block %llu)", (unsigned) ino,
                   (unsigned long long) ext.e_lblk, (unsigned) ext.e_len,
                   (unsigned long long) ext.e_pblk);
      r = -EUCLEAN;
      break;
    }
    next = ext.e_lblk + ext.e_len;
    r = add_run (rs, ext.e_lblk, ext.e_pblk, ext.e_len,
                 ext.e_flags & EXT2_EXTENT_FLAGS_UNINIT);
    if (r)
      break;
  }
  ext2fs_extent_free (h);
  if (e)
    return extfs_fail (x, e, "read the extents of", "a file");
  return r;
}

int
extfs_each_run (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                int (*fn) (void *opaque, const struct extfs_run *r),
                void *opaque)
{
  struct runs rs = { .fn = fn, .opaque = opaque };
  errcode_t e;
  int r;

  if (!ext2fs_inode_has_valid_blocks2 (x->fs, &in->small))
    return 0;                   /* fast symlink, inline data */
  if (in->small.i_flags & EXT4_EXTENTS_FL)
    r = extent_runs (x, ino, in, &rs);
  else {
    e = ext2fs_block_iterate3 (x->fs, ino, BLOCK_FLAG_READ_ONLY |
                               BLOCK_FLAG_DATA_ONLY, NULL, block_run, &rs);
    r = e ? extfs_fail (x, e, "read the block map of", "a file") : rs.err;
  }
  if (r == 0 && rs.cur.len)
    r = fn (opaque, &rs.cur);
  return r;
}

/* ---- new inodes ---- */

static int
alloc_ino (struct extfs *x, ext2_ino_t dir, uint32_t mode, ext2_ino_t *ino)
{
  errcode_t e = ext2fs_new_inode (x->fs, dir, mode, NULL, ino);

  if (e == EXT2_ET_INODE_ALLOC_FAIL)
    return extfs_nospace (x, "new file", true);
  if (e)
    return extfs_fail (x, e, "allocate an inode in", x->volume);
  return 0;
}

static void
set_owner (union extfs_inode *in, uint32_t uid, uint32_t gid)
{
  in->small.i_uid = uid & 0xffff;
  in->small.i_gid = gid & 0xffff;
  ext2fs_set_i_uid_high (in->small, uid >> 16);
  ext2fs_set_i_gid_high (in->small, gid >> 16);
}

/* Times of a new inode: mtime as given, the rest now. */
static void
set_new_times (struct extfs *x, union extfs_inode *in, int64_t mtime_ns)
{
  extfs_set_time (x, in, T_ATIME, x->now_ns);
  extfs_set_time (x, in, T_CTIME, x->now_ns);
  extfs_set_time (x, in, T_CRTIME, x->now_ns);
  extfs_set_time (x, in, T_MTIME, mtime_ns);
}

int
extfs_new_inode (struct extfs *x, ext2_ino_t dir, uint32_t mode,
                 uint32_t uid, uint32_t gid, int64_t mtime_ns,
                 ext2_ino_t *ino)
{
  size_t isize = EXT2_INODE_SIZE (x->fs->super);
  union extfs_inode in;
  ext2_extent_handle_t h;
  errcode_t e;
  int r;

  r = alloc_ino (x, dir, mode, ino);
  if (r < 0)
    return r;
  ext2fs_inode_alloc_stats2 (x->fs, *ino, +1, 0);
  memset (&in, 0, sizeof in);
  in.small.i_mode = mode;
  in.small.i_links_count = 1;
  set_owner (&in, uid, gid);
  if (isize > EXT2_GOOD_OLD_INODE_SIZE)
    in.large.i_extra_isize = sizeof (struct ext2_inode_large) -
      EXT2_GOOD_OLD_INODE_SIZE;
  set_new_times (x, &in, mtime_ns);
  if (S_ISREG (mode)) {
    /* An empty extent tree: opening a handle on a blank inode makes one. */
    e = ext2fs_extent_open2 (x->fs, *ino, &in.small, &h);
    if (e)
      return extfs_fail (x, e, "start the extent tree of", "a new file");
    ext2fs_extent_free (h);
  }
  return extfs_write_inode (x, *ino, &in);
}

/* Give a freshly made inode its mode, owner and times. */
static int
dress (struct extfs *x, ext2_ino_t ino, uint32_t mode, uint32_t uid,
       uint32_t gid, int64_t mtime_ns)
{
  size_t isize = EXT2_INODE_SIZE (x->fs->super);
  union extfs_inode in;
  int r = extfs_read_inode (x, ino, &in);

  if (r < 0)
    return r;
  in.small.i_mode = (in.small.i_mode & S_IFMT) | (mode & 07777);
  set_owner (&in, uid, gid);
  if (isize > EXT2_GOOD_OLD_INODE_SIZE && in.large.i_extra_isize == 0)
    in.large.i_extra_isize = sizeof (struct ext2_inode_large) -
      EXT2_GOOD_OLD_INODE_SIZE;
  set_new_times (x, &in, mtime_ns);
  return extfs_write_inode (x, ino, &in);
}

int
extfs_new_dir (struct extfs *x, ext2_ino_t parent, const char *name,
               uint32_t mode, uint32_t uid, uint32_t gid, int64_t mtime_ns,
               ext2_ino_t *ino)
{
  union extfs_inode pin;
  errcode_t e;
  int r;

  r = alloc_ino (x, parent, LINUX_S_IFDIR | 0755, ino);
  if (r < 0)
    return r;
  /* No name: ext2fs_mkdir only makes the directory (and counts the new
   * ".." in parent's links); the entry is ours to add.
   */
  e = ext2fs_mkdir (x->fs, parent, *ino, NULL);
  if (e)
    return extfs_fail (x, e, "make directory", name);
  r = dress (x, *ino, mode, uid, gid, mtime_ns);
  if (r == 0)
    r = extfs_read_inode (x, parent, &pin);
  if (r == 0 && pin.small.i_links_count > EXT2_LINK_MAX) {
    if (!ext2fs_has_feature_dir_nlink (x->fs->super)) {
      s3vol_error (x->log, "%s: too many subdirectories", name);
      return -EMLINK;
    }
    pin.small.i_links_count = 1;  /* dir_nlink: "many" */
    r = extfs_write_inode (x, parent, &pin);
  }
  if (r == 0)
    r = extfs_dir_add (x, parent, name, *ino, EXT2_FT_DIR);
  return r;
}

int
extfs_new_symlink (struct extfs *x, ext2_ino_t dir, const char *target,
                   uint32_t uid, uint32_t gid, int64_t mtime_ns,
                   ext2_ino_t *ino)
{
  errcode_t e;
  int r;

  if (strlen (target) >= x->fs->blocksize) {
    s3vol_error (x->log, "symlink target too long (%zu bytes): %.60s...",
                 strlen (target), target);
    return -ENAMETOOLONG;
  }
  r = alloc_ino (x, dir, LINUX_S_IFLNK | 0777, ino);
  if (r < 0)
    return r;
  e = ext2fs_symlink (x->fs, dir, *ino, NULL, target);
  if (e == EXT2_ET_BLOCK_ALLOC_FAIL)
    return extfs_nospace (x, "symlink", false);
  if (e)
    return extfs_fail (x, e, "make symlink to", target);
  return dress (x, *ino, 0777, uid, gid, mtime_ns);
}

int
extfs_alloc_range (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                   uint64_t lblk, uint64_t len, const char *path)
{
  errcode_t e;

  e = ext2fs_fallocate (x->fs, EXT2_FALLOCATE_FORCE_INIT |
                        EXT2_FALLOCATE_INIT_BEYOND_EOF, ino, &in->small,
                        ~0ULL, lblk, len);
  if (e == EXT2_ET_BLOCK_ALLOC_FAIL || e == EXT2_ET_EXTENT_NO_SPACE)
    return extfs_nospace (x, path, false);
  if (e)
    return extfs_fail (x, e, "allocate blocks for", path);
  return 0;
}

/* ---- links and freeing ---- */

int
extfs_add_link_count (struct extfs *x, ext2_ino_t ino)
{
  union extfs_inode in;
  int r = extfs_read_inode (x, ino, &in);

  if (r < 0)
    return r;
  if (in.small.i_links_count >= EXT2_LINK_MAX) {
    s3vol_error (x->log, "inode %u has too many links", (unsigned) ino);
    return -EMLINK;
  }
  in.small.i_links_count++;
  extfs_set_time (x, &in, T_CTIME, x->now_ns);
  return extfs_write_inode (x, ino, &in);
}

int
extfs_touch_dir (struct extfs *x, ext2_ino_t dir)
{
  union extfs_inode in;
  int r = extfs_read_inode (x, dir, &in);

  if (r < 0)
    return r;
  extfs_set_time (x, &in, T_MTIME, x->now_ns);
  extfs_set_time (x, &in, T_CTIME, x->now_ns);
  return extfs_write_inode (x, dir, &in);
}

int
extfs_drop_link (struct extfs *x, ext2_ino_t ino, ext2_ino_t parent)
{
  union extfs_inode in;
  bool dir;
  errcode_t e;
  int r;

  r = extfs_read_inode (x, ino, &in);
  if (r < 0)
    return r;
  dir = LINUX_S_ISDIR (in.small.i_mode);
  if (in.small.i_links_count > 0)
    in.small.i_links_count--;
  if (dir)
    in.small.i_links_count = 0;
  extfs_set_time (x, &in, T_CTIME, x->now_ns);
  if (in.small.i_links_count > 0)
    return extfs_write_inode (x, ino, &in);
  in.small.i_dtime = x->now_ns / 1000000000;
  e = ext2fs_free_ext_attr (x->fs, ino, &in.large);
  if (e == 0 && ext2fs_inode_has_valid_blocks2 (x->fs, &in.small))
    e = ext2fs_punch (x->fs, ino, &in.small, NULL, 0, ~0ULL);
  if (e)
    return extfs_fail (x, e, "free the blocks of", "a removed file");
  ext2fs_inode_alloc_stats2 (x->fs, ino, -1, dir);
  r = extfs_write_inode (x, ino, &in);
  if (r < 0 || !dir)
    return r;
  /* The directory's ".." no longer counts in its parent. */
  r = extfs_read_inode (x, parent, &in);
  if (r == 0 && in.small.i_links_count > 1)
    in.small.i_links_count--;
  if (r == 0)
    r = extfs_write_inode (x, parent, &in);
  return r;
}
