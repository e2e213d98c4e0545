/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: what L changed since B, found from the inode tables.
 *
 * B and L have one layout (same geometry), so inode i sits in the same
 * block of both.  For each group, the used part of its inode table
 * (inodes past bg_itable_unused were never used) is split by chunk of
 * the volume: a chunk whose id is the same in B and L holds the same
 * inode records and is skipped; the others are read from both and
 * compared record by record, without atime and the checksums.  A
 * journal replayed into B or L at open changed blocks the chunk ids do
 * not show, so then every used block is compared.  The journal and the
 * superblock never enter: only inode table blocks are looked at.
 *
 *   B alive  L alive  same gen   what
 *   yes      yes      yes        changed in place (same)
 *   yes      no       -          deleted in L
 *   no       yes      -          new in L
 *   yes      yes      no         deleted and reused: both of the above
 *
 * Alive: allocated (a mode), linked, and not on the orphan list (the
 * superblock's chain, or the orphan file).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"

/* ---- orphans ---- */

static int
add_orphan (struct hashmap *set, ext2_ino_t ino)
{
  int r = extfs_inoset_add (set, ino);

  return r < 0 ? r : 0;
}

struct ofile {
  struct extfs *x;
  struct hashmap *set;
  char *buf;
};

/* One run of the orphan file: blocks of inode numbers, a tail last. */
static int
orphan_run (void *opaque, const struct extfs_run *run)
{
  struct ofile *o = opaque;
  ext2_filsys fs = o->x->fs;
  unsigned per = (fs->blocksize - 8) / 4, i;
  uint32_t ino;
  uint64_t k;
  errcode_t e;
  int r;

  for (k = 0; k < run->len && !run->uninit; k++) {
    e = io_channel_read_blk64 (fs->io, run->pblk + k, 1, o->buf);
    if (e)
      return extfs_fail (o->x, e, "read", "the orphan file");
    for (i = 0; i < per; i++) {
      memcpy (&ino, o->buf + 4 * i, 4);
      ino = ext2fs_le32_to_cpu (ino);
      if (ino && ino <= fs->super->s_inodes_count &&
          (r = add_orphan (o->set, ino)) < 0)
        return r;
    }
  }
  return 0;
}

int
merge_orphans (struct merge *m, struct extfs *x, struct hashmap *set)
{
  struct ext2_super_block *sb = x->fs->super;
  struct ofile o = { .x = x, .set = set };
  union extfs_inode in;
  ext2_ino_t ino = sb->s_last_orphan;
  uint32_t n = 0;
  int r = 0;

  (void) m;
  extfs_inoset_init (set);
  /* The chain runs through i_dtime; bounded, and a loop ends it. */
  while (ino && ino <= sb->s_inodes_count && n++ < sb->s_inodes_count) {
    r = extfs_inoset_add (set, ino);
    if (r <= 0)
      break;
    r = extfs_read_inode (x, ino, &in);
    if (r < 0)
      return r;
    ino = in.small.i_dtime;
  }
  if (r < 0)
    return r;
  if (!ext2fs_has_feature_orphan_file (sb) || sb->s_orphan_file_inum == 0 ||
      sb->s_orphan_file_inum > sb->s_inodes_count)
    return 0;
  r = extfs_read_inode (x, sb->s_orphan_file_inum, &in);
  o.buf = malloc (x->fs->blocksize);
  if (o.buf == NULL)
    return -ENOMEM;
  if (r == 0)
    r = extfs_each_run (x, sb->s_orphan_file_inum, &in, orphan_run, &o);
  free (o.buf);
  return r;
}

static bool
is_orphan (const struct hashmap *set, ext2_ino_t ino)
{
  uintptr_t key = ino;

  return hashmap_get (set, hashmap_hash_u64 (ino), &key) != 0;
}

/* ---- inode records ---- */

/* Bytes of an on-disk inode that do not count as a change (sorted):
 * atime and the checksums; and for a change of content, also the link
 * count and ctime (a name added or removed elsewhere).
 */
struct span {
  unsigned off, len;
};
static const struct span ignored[] = {
  { 0x08, 4 },                  /* i_atime */
  { 0x7c, 2 },                  /* i_checksum_lo */
  { 0x82, 2 },                  /* i_checksum_hi */
  { 0x8c, 4 },                  /* i_atime_extra */
  { 0, 0 },
};
static const struct span ignored_links[] = {
  { 0x08, 4 },                  /* i_atime */
  { 0x0c, 4 },                  /* i_ctime */
  { 0x1a, 2 },                  /* i_links_count */
  { 0x7c, 2 },                  /* i_checksum_lo */
  { 0x82, 2 },                  /* i_checksum_hi */
  { 0x84, 4 },                  /* i_ctime_extra */
  { 0x8c, 4 },                  /* i_atime_extra */
  { 0, 0 },
};

static bool
same_but (struct extfs *x, const void *a, const void *b,
          const struct span *skip)
{
  unsigned isz = EXT2_INODE_SIZE (x->fs->super), at = 0;
  const uint8_t *p = a, *q = b;

  for (; skip->len && skip->off + skip->len <= isz; skip++) {
    if (memcmp (p + at, q + at, skip->off - at))
      return false;
    at = skip->off + skip->len;
  }
  return memcmp (p + at, q + at, isz - at) == 0;
}

bool
merge_same_record (struct extfs *x, const void *a, const void *b)
{
  return same_but (x, a, b, ignored);
}

/* Inodes the merge never touches: reserved ones (but the root), and
 * the special files the superblock names.
 */
static bool
special (struct extfs *x, ext2_ino_t ino)
{
  struct ext2_super_block *sb = x->fs->super;

  if (ino == EXT2_ROOT_INO)
    return false;
  return ino < EXT2_FIRST_INODE (sb) || ino == sb->s_journal_inum ||
    ino == sb->s_usr_quota_inum || ino == sb->s_grp_quota_inum ||
    ino == sb->s_prj_quota_inum || ino == sb->s_orphan_file_inum;
}

int
merge_alive (struct merge *m, struct extfs *x, int side, ext2_ino_t ino,
             union extfs_inode *in, bool *alive)
{
  int r;

  *alive = false;
  if (ino == 0 || ino > x->fs->super->s_inodes_count || special (x, ino))
    return 0;
  r = extfs_read_inode (x, ino, in);
  if (r < 0)
    return r;
  *alive = in->small.i_mode != 0 && in->small.i_links_count > 0 &&
    !is_orphan (&m->orphans[side], ino);
  return 0;
}

/* One inode in two versions: the same number, kind and generation,
 * and (when the inodes have room for it) the same creation time: s3vol
 * before this merge left i_generation 0 in the inodes it made, so the
 * creation time is what tells a reused number there.
 */
bool
merge_same_identity (const union extfs_inode *a, const union extfs_inode *b)
{
  const struct ext2_inode_large *x = &a->large, *y = &b->large;
  bool crtime = x->i_extra_isize >= 24 && y->i_extra_isize >= 24;

  return x->i_generation == y->i_generation &&
    (x->i_mode & LINUX_S_IFMT) == (y->i_mode & LINUX_S_IFMT) &&
    (!crtime || (x->i_crtime == y->i_crtime &&
                 x->i_crtime_extra == y->i_crtime_extra));
}

/* Record inode ino if its state differs in a way that matters. */
static int
classify (struct merge *m, ext2_ino_t ino)
{
  union extfs_inode bi, li;
  struct mchg c = { .ino = ino };
  int r;

  r = merge_alive (m, m->b, SIDE_B, ino, &bi, &c.b_alive);
  if (r == 0)
    r = merge_alive (m, m->l, SIDE_L, ino, &li, &c.l_alive);
  if (r < 0 || (!c.b_alive && !c.l_alive))
    return r;
  c.same = c.b_alive && c.l_alive && merge_same_identity (&bi, &li);
  c.b_dir = c.b_alive && LINUX_S_ISDIR (bi.small.i_mode);
  c.l_dir = c.l_alive && LINUX_S_ISDIR (li.small.i_mode);
  c.content = !c.same || !same_but (m->l, bi.bytes, li.bytes, ignored_links);
  m->reused |= c.b_alive && c.l_alive && !c.same;
  m->res->inodes_changed++;
  return mchg_list_append (&m->chg, c);
}

/* Compare blocks [blk, blk + n) of the inode table of group g. */
static int
compare_blocks (struct merge *m, dgrp_t g, blk64_t itable, blk64_t blk,
                blk64_t n, char *bb, char *lb)
{
  ext2_filsys fs = m->l->fs;
  unsigned isz = EXT2_INODE_SIZE (fs->super), per = fs->blocksize / isz, k;
  ext2_ino_t first;
  errcode_t e;
  blk64_t j;
  int r;

  for (j = blk; j < blk + n; j++) {
    e = io_channel_read_blk64 (m->b->fs->io, j, 1, bb);
    if (e)
      return extfs_fail (m->b, e, "read", "an inode table");
    e = io_channel_read_blk64 (fs->io, j, 1, lb);
    if (e)
      return extfs_fail (m->l, e, "read", "an inode table");
    first = g * fs->super->s_inodes_per_group + (j - itable) * per + 1;
    for (k = 0; k < per; k++)
      if (!merge_same_record (m->l, bb + k * isz, lb + k * isz) &&
          (r = classify (m, first + k)) < 0)
        return r;
  }
  return 0;
}

/* Inodes of group g in use in fs (never used ones past them). */
static uint32_t
used_inodes (ext2_filsys fs, dgrp_t g)
{
  uint32_t ipg = fs->super->s_inodes_per_group;

  if (!ext2fs_has_group_desc_csum (fs))
    return ipg;
  if (ext2fs_bg_flags_test (fs, g, EXT2_BG_INODE_UNINIT))
    return 0;
  return ipg - (ext2fs_bg_itable_unused (fs, g) < ipg
                ? ext2fs_bg_itable_unused (fs, g) : ipg);
}

static int
same_chunk (struct merge *m, uint64_t c)
{
  struct s3vol_id a, b;
  int r;

  r = volume_chunk_id (cache_volume (m->b->cache), c, &a);
  if (r == 0)
    r = volume_chunk_id (cache_volume (m->l->cache), c, &b);
  if (r < 0)
    return r;
  return memcmp (&a, &b, sizeof a) == 0;
}

int
merge_each_changed (struct merge *m, blk64_t blk, blk64_t n,
                    merge_piece_fn *fn, void *opaque)
{
  uint64_t bs = m->l->fs->blocksize, cs = cache_chunk_size (m->l->cache);
  blk64_t end = blk + n, cend;
  int r = 0;

  for (; r == 0 && blk < end; blk = cend) {
    cend = ((blk * bs) / cs + 1) * cs / bs;
    if (cend > end || cend <= blk)
      cend = end;
    r = m->replayed ? 0 : same_chunk (m, blk * bs / cs);
    if (r == 0)
      r = fn (m, blk, cend - blk, opaque);
    else if (r == 1)
      r = 0;
  }
  return r;
}

struct itable {
  dgrp_t g;
  blk64_t itable;
  char *bb, *lb;
};

static int
compare_piece (struct merge *m, blk64_t blk, blk64_t n, void *opaque)
{
  struct itable *it = opaque;

  m->res->itable_chunks_read++;
  return compare_blocks (m, it->g, it->itable, blk, n, it->bb, it->lb);
}

static int
scan_group (struct merge *m, dgrp_t g, char *bb, char *lb)
{
  ext2_filsys fs = m->l->fs;
  uint64_t bs = fs->blocksize;
  uint32_t ub = used_inodes (m->b->fs, g), ul = used_inodes (fs, g);
  uint32_t used = ub > ul ? ub : ul;
  struct itable it = { g, ext2fs_inode_table_loc (fs, g), bb, lb };
  unsigned isz = EXT2_INODE_SIZE (fs->super);

  if (used == 0)
    return 0;
  if (it.itable != ext2fs_inode_table_loc (m->b->fs, g) || it.itable == 0 ||
      it.itable + fs->inode_blocks_per_group >
      ext2fs_blocks_count (fs->super)) {
    s3vol_error (m->log, "volume %s: the inode tables of the base and the "
                 "local version differ (group %u): they are not one "
                 "filesystem", m->cfg->volume, (unsigned) g);
    return -ENOTSUP;
  }
  return merge_each_changed (m, it.itable,
                             ((uint64_t) used * isz + bs - 1) / bs,
                             compare_piece, &it);
}

int
merge_scan (struct merge *m)
{
  ext2_filsys fs = m->l->fs;
  char *bb = malloc (fs->blocksize), *lb = malloc (fs->blocksize);
  dgrp_t g;
  int r = bb && lb ? 0 : -ENOMEM;

  for (g = 0; r == 0 && g < fs->group_desc_count; g++)
    r = scan_group (m, g, bb, lb);
  free (bb);
  free (lb);
  return r;
}

static int
cmp_chg (const void *k, const void *e)
{
  ext2_ino_t a = *(const ext2_ino_t *) k, b = ((const struct mchg *) e)->ino;

  return a < b ? -1 : a > b;
}

const struct mchg *
merge_changed (const struct merge *m, ext2_ino_t ino)
{
  return bsearch (&ino, m->chg.ptr, m->chg.len, sizeof *m->chg.ptr,
                  cmp_chg);
}

int
merge_h_is_b (struct merge *m, ext2_ino_t ino)
{
  union extfs_inode bi, hi;
  bool ba, ha;
  int r;

  r = merge_alive (m, m->b, SIDE_B, ino, &bi, &ba);
  if (r == 0 && ba)
    r = merge_alive (m, m->h, SIDE_H, ino, &hi, &ha);
  if (r < 0 || !ba)
    return r;
  return ha && merge_same_identity (&bi, &hi);
}

bool
merge_l_has (const struct merge *m, ext2_ino_t ino)
{
  const struct mchg *c = merge_changed (m, ino);

  return c == NULL || c->same;
}

int
merge_h_has (struct merge *m, ext2_ino_t ino)
{
  return merge_l_has (m, ino) ? merge_h_is_b (m, ino) : 0;
}

int
merge_h_changed (struct merge *m, ext2_ino_t ino)
{
  union extfs_inode bi, hi;
  int r;

  r = extfs_read_inode (m->b, ino, &bi);
  if (r == 0)
    r = extfs_read_inode (m->h, ino, &hi);
  if (r < 0)
    return r;
  return !merge_same_record (m->h, bi.bytes, hi.bytes);
}
