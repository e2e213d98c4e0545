/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: inodes of L written into H.
 *
 *   attributes  mode bits, owner, the four times with nanoseconds, the
 *               user flags; never the link count (entries decide it)
 *   data        a regular file's blocks: when B, L and H map them alike
 *               (an in-place overwrite, or attributes only), only the
 *               blocks of chunks whose ids differ between B and L are
 *               copied, into H's same blocks; otherwise H's blocks are
 *               freed and L's runs allocated and copied (holes stay
 *               holes, unwritten extents become holes)
 *   xattrs      H's are replaced by L's, raw (ACLs untranslated)
 *   new inodes  of L's kind: files, symlinks, devices, fifos, sockets,
 *               and (linked at once) empty directories
 *
 * Data moves L -> H block-run by block-run through the two handles'
 * caches, in pieces of EXTFS_PIECE bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"

/* User-visible flags a file carries over (chattr's). */
#define USER_FLAGS (EXT2_SECRM_FL | EXT2_UNRM_FL | EXT2_SYNC_FL | \
                    EXT2_IMMUTABLE_FL | EXT2_APPEND_FL | EXT2_NODUMP_FL | \
                    EXT2_NOATIME_FL | EXT2_DIRSYNC_FL | EXT2_TOPDIR_FL | \
                    EXT4_PROJINHERIT_FL)

int
merge_copy_attrs (struct merge *m, ext2_ino_t lino, ext2_ino_t hino)
{
  union extfs_inode li, hi;
  int r, t;

  r = extfs_read_inode (m->l, lino, &li);
  if (r == 0)
    r = extfs_read_inode (m->h, hino, &hi);
  if (r < 0)
    return r;
  hi.small.i_mode = (hi.small.i_mode & LINUX_S_IFMT) | (li.small.i_mode & 07777);
  hi.small.i_uid = li.small.i_uid;
  hi.small.i_gid = li.small.i_gid;
  hi.small.osd2.linux2.l_i_uid_high = li.small.osd2.linux2.l_i_uid_high;
  hi.small.osd2.linux2.l_i_gid_high = li.small.osd2.linux2.l_i_gid_high;
  hi.small.i_flags = (hi.small.i_flags & ~USER_FLAGS) |
    (li.small.i_flags & USER_FLAGS);
  for (t = T_ATIME; t <= T_CRTIME; t++)
    extfs_set_time (m->h, &hi, t, extfs_get_time (&li, t));
  return extfs_write_inode (m->h, hino, &hi);
}

/* ---- xattrs ---- */

struct names {
  char **v;
  size_t n, cap;
};

static int
collect_name (char *name, char *value, size_t len, void *data)
{
  struct names *ns = data;
  char **v;

  (void) value;
  (void) len;
  if (ns->n == ns->cap) {
    ns->cap = ns->cap ? 2 * ns->cap : 8;
    v = realloc (ns->v, ns->cap * sizeof *v);
    if (v == NULL)
      return XATTR_ABORT;
    ns->v = v;
  }
  ns->v[ns->n] = strdup (name);
  if (ns->v[ns->n] == NULL)
    return XATTR_ABORT;
  ns->n++;
  return 0;
}

struct setter {
  struct ext2_xattr_handle *h;
  errcode_t e;
};

static int
set_one (char *name, char *value, size_t len, void *data)
{
  struct setter *s = data;

  s->e = ext2fs_xattr_set (s->h, name, value, len);
  return s->e ? XATTR_ABORT : 0;
}

static errcode_t
open_xattrs (ext2_filsys fs, ext2_ino_t ino, struct ext2_xattr_handle **h)
{
  unsigned int flags = XATTR_HANDLE_FLAG_RAW;
  errcode_t e = ext2fs_xattrs_open (fs, ino, h);

  if (e == 0)
    e = ext2fs_xattrs_flags (*h, &flags, NULL);
  if (e == 0)
    e = ext2fs_xattrs_read (*h);
  return e;
}

/* Replace H's xattrs of hino with L's of lino. */
static int
copy_xattrs (struct merge *m, ext2_ino_t lino, ext2_ino_t hino)
{
  struct ext2_xattr_handle *lh = NULL, *hh = NULL;
  struct names ns = { 0 };
  struct setter s = { 0 };
  size_t nl = 0, nh = 0, i;
  errcode_t e;

  if (!ext2fs_has_feature_xattr (m->l->fs->super))
    return 0;
  e = open_xattrs (m->l->fs, lino, &lh);
  if (e == 0)
    e = open_xattrs (m->h->fs, hino, &hh);
  if (e == 0)
    e = ext2fs_xattrs_count (lh, &nl);
  if (e == 0)
    e = ext2fs_xattrs_count (hh, &nh);
  if (e == 0 && (nl || nh)) {
    e = ext2fs_xattrs_iterate (hh, collect_name, &ns);
    for (i = 0; e == 0 && i < ns.n; i++)
      e = ext2fs_xattr_remove (hh, ns.v[i]);
    s.h = hh;
    if (e == 0)
      e = ext2fs_xattrs_iterate (lh, set_one, &s);
    if (e == 0)
      e = s.e;
  }
  for (i = 0; i < ns.n; i++)
    free (ns.v[i]);
  free (ns.v);
  if (hh && ext2fs_xattrs_close (&hh) && e == 0)
    e = EXT2_ET_EA_BAD_VALUE_SIZE;
  if (lh)
    ext2fs_xattrs_close (&lh);
  return e ? extfs_fail (m->h, e, "copy the extended attributes of",
                         "a file") : 0;
}

/* ---- data ---- */

static int
add_run (void *opaque, const struct extfs_run *run)
{
  return run->uninit ? 0 : extfs_runs_append (opaque, *run);
}

int
merge_runs_of (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
         struct extfs_runs *rs)
{
  return extfs_each_run (x, ino, in, add_run, rs);
}

bool
merge_same_runs (const struct extfs_runs *a, const struct extfs_runs *b)
{
  size_t i;

  if (a->len != b->len)
    return false;
  for (i = 0; i < a->len; i++)          /* fields: the struct has padding */
    if (a->ptr[i].lblk != b->ptr[i].lblk || a->ptr[i].pblk != b->ptr[i].pblk
        || a->ptr[i].len != b->ptr[i].len)
      return false;
  return true;
}

/* Copy n blocks at L's block from to H's block to. */
static int
move_blocks (struct merge *m, blk64_t from, blk64_t to, uint64_t n)
{
  uint64_t bs = m->l->fs->blocksize, k, step;
  errcode_t e;

  for (k = 0; k < n; k += step) {
    step = n - k < EXTFS_PIECE / bs ? n - k : EXTFS_PIECE / bs;
    e = io_channel_read_blk64 (m->l->fs->io, from + k, step, m->buf);
    if (e)
      return extfs_fail (m->l, e, "read", "a file");
    e = io_channel_write_blk64 (m->h->fs->io, to + k, step, m->buf);
    if (e)
      return extfs_fail (m->h, e, "write", "a file");
    m->res->bytes_copied += step * bs;
  }
  return 0;
}

static int
move_piece (struct merge *m, blk64_t blk, blk64_t n, void *opaque)
{
  (void) opaque;
  return move_blocks (m, blk, blk, n);
}

/* B, L and H map the file alike: copy the blocks of chunks that differ
 * between B and L.
 */
static int
copy_changed_chunks (struct merge *m, const struct extfs_runs *rs)
{
  size_t i;
  int r = 0;

  for (i = 0; r == 0 && i < rs->len; i++)
    r = merge_each_changed (m, rs->ptr[i].pblk, rs->ptr[i].len, move_piece,
                            NULL);
  return r;
}

/* Allocate L's runs rs in H's inode hino and copy their data. */
static int
copy_runs (struct merge *m, const struct extfs_runs *rs, ext2_ino_t hino,
           union extfs_inode *hi)
{
  struct extfs_runs d = { 0 };
  uint64_t k, n, lblk;
  size_t i, j = 0;
  int r = 0;

  for (i = 0; r == 0 && i < rs->len; i++)
    r = extfs_alloc_range (m->h, hino, hi, rs->ptr[i].lblk, rs->ptr[i].len,
                           "a merged file");
  if (r == 0)
    r = extfs_write_inode (m->h, hino, hi);
  if (r == 0)
    r = merge_runs_of (m->h, hino, hi, &d);
  for (i = 0; r == 0 && i < rs->len; i++)
    for (k = 0; r == 0 && k < rs->ptr[i].len; k += n) {
      lblk = rs->ptr[i].lblk + k;
      while (j < d.len && d.ptr[j].lblk + d.ptr[j].len <= lblk)
        j++;
      if (j == d.len || d.ptr[j].lblk > lblk) {
        r = extfs_fail (m->h, EXT2_ET_BAD_BLOCK_NUM, "copy to",
                        "a merged file");
        break;
      }
      n = rs->ptr[i].len - k;
      if (n > d.ptr[j].lblk + d.ptr[j].len - lblk)
        n = d.ptr[j].lblk + d.ptr[j].len - lblk;
      r = move_blocks (m, rs->ptr[i].pblk + k,
                       d.ptr[j].pblk + (lblk - d.ptr[j].lblk), n);
    }
  extfs_runs_reset (&d);
  return r;
}

/* L's data of regular file lino into H's hino (fresh: H's has none). */
static int
copy_data (struct merge *m, ext2_ino_t lino, ext2_ino_t hino, bool fresh)
{
  struct extfs_runs lr = { 0 }, br = { 0 }, hr = { 0 };
  union extfs_inode li, bi, hi;
  errcode_t e;
  int r;

  r = extfs_read_inode (m->l, lino, &li);
  if (r == 0)
    r = extfs_read_inode (m->h, hino, &hi);
  if (r == 0 && (li.small.i_flags & (EXT4_INLINE_DATA_FL | EXT4_ENCRYPT_FL))) {
    s3vol_error (m->log, "inode %u: inline or encrypted files cannot be "
                 "merged", (unsigned) lino);
    r = -ENOTSUP;
  }
  if (r == 0)
    r = merge_runs_of (m->l, lino, &li, &lr);
  if (r == 0 && !fresh) {
    r = extfs_read_inode (m->b, hino, &bi);
    if (r == 0)
      r = merge_runs_of (m->b, hino, &bi, &br);
    if (r == 0)
      r = merge_runs_of (m->h, hino, &hi, &hr);
  }
  if (r == 0 && !fresh && merge_same_runs (&lr, &br) && merge_same_runs (&lr, &hr))
    r = copy_changed_chunks (m, &lr);
  else if (r == 0) {
    if (!fresh && ext2fs_inode_has_valid_blocks2 (m->h->fs, &hi.small)) {
      e = ext2fs_punch (m->h->fs, hino, &hi.small, NULL, 0, ~0ULL);
      if (e)
        r = extfs_fail (m->h, e, "free the blocks of", "a merged file");
    }
    if (r == 0)
      r = copy_runs (m, &lr, hino, &hi);
  }
  if (r == 0)
    r = extfs_read_inode (m->h, hino, &hi);
  if (r == 0 && ext2fs_inode_size_set (m->h->fs, &hi.small,
                                       EXT2_I_SIZE (&li.small)))
    r = -EFBIG;
  if (r == 0)
    r = extfs_write_inode (m->h, hino, &hi);
  extfs_runs_reset (&lr);
  extfs_runs_reset (&br);
  extfs_runs_reset (&hr);
  return r;
}

int
merge_copy_over (struct merge *m, ext2_ino_t lino, ext2_ino_t hino)
{
  union extfs_inode li;
  int r = extfs_read_inode (m->l, lino, &li);

  if (r == 0 && LINUX_S_ISREG (li.small.i_mode))
    r = copy_data (m, lino, hino, false);
  if (r == 0)
    r = copy_xattrs (m, lino, hino);
  if (r == 0)
    r = merge_copy_attrs (m, lino, hino);
  return r;
}

/* A device, fifo or socket: its numbers are in i_block. */
static int
copy_special (struct merge *m, const union extfs_inode *li, ext2_ino_t hino)
{
  union extfs_inode hi;
  int r = extfs_read_inode (m->h, hino, &hi);

  if (r < 0)
    return r;
  memcpy (hi.small.i_block, li->small.i_block, sizeof hi.small.i_block);
  return extfs_write_inode (m->h, hino, &hi);
}

int
merge_copy_new (struct merge *m, ext2_ino_t lino, ext2_ino_t hdir,
                const char *name, ext2_ino_t *hino)
{
  union extfs_inode li;
  uint32_t mode, uid, gid;
  int64_t mtime;
  char *target;
  int r;

  r = extfs_read_inode (m->l, lino, &li);
  if (r < 0)
    return r;
  mode = li.small.i_mode;
  uid = inode_uid (li.small);
  gid = inode_gid (li.small);
  mtime = extfs_get_time (&li, T_MTIME);
  if (LINUX_S_ISDIR (mode))
    return extfs_new_dir (m->h, hdir, name, mode, uid, gid, mtime, hino);
  if (LINUX_S_ISLNK (mode)) {
    target = malloc (EXTFS_LINK_MAX);
    r = target ? extfs_read_link (m->l, lino, &li, target, EXTFS_LINK_MAX)
      : -ENOMEM;
    if (r == 0)
      r = extfs_new_symlink (m->h, hdir, target, uid, gid, mtime, hino);
    free (target);
  }
  else {
    r = extfs_new_inode (m->h, hdir, mode, uid, gid, mtime, hino);
    if (r == 0 && LINUX_S_ISREG (mode))
      r = copy_data (m, lino, *hino, true);
    else if (r == 0)
      r = copy_special (m, &li, *hino);
  }
  if (r == 0)
    r = copy_xattrs (m, lino, *hino);
  if (r == 0)
    r = merge_copy_attrs (m, lino, *hino);
  return r;
}
