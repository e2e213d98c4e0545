/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: hash-indexed (htree) directories for extfs: turning a full
 * one-block directory into one, and finding the leaf a name hashes to.
 * Entries are then added by ext2fs_link, which splits leaves and grows
 * the index itself.
 *
 *   block 0   "." (12 bytes), ".." covering the rest of the block, and
 *             in that room the root: info (hash version, levels), then
 *             count/limit and (hash, block) pairs, hash 0 implied first
 *   nodes     a fake empty entry over the block, count/limit, pairs
 *   leaves    ordinary directory blocks, names sorted into them by hash
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

/* Turn a full one-block linear directory into an indexed one: block 0
 * becomes the index root ("." and ".." kept), its other entries move to
 * a new block 1, the single leaf.  ext2fs_link then splits leaves and
 * grows the index as entries come.
 */
int
extfs_make_indexed (struct extfs *x, ext2_ino_t dir)
{
  unsigned bs = x->fs->blocksize, cs = extfs_dir_csum (x), off, rec_len, at;
  struct ext2_dir_entry *de, *dot, *dotdot;
  ext2_ino_t dot_ino = 0, dotdot_ino = 0;
  union extfs_inode in;
  struct ext2_dx_root_info *info;
  struct ext2_dx_countlimit *cl;
  blk64_t p0, p1;
  char *old, *leaf;
  errcode_t e;
  int r;

  r = extfs_read_inode (x, dir, &in);
  if (r < 0)
    return r;
  old = calloc (1, bs);
  leaf = calloc (1, bs);
  if (old == NULL || leaf == NULL) {
    free (old);
    free (leaf);
    return -ENOMEM;
  }
  r = extfs_dir_bmap (x, dir, &in, 0, &p0);
  if (r == 0)
    r = extfs_dirblock_read (x, dir, p0, old);
  /* The leaf: every entry but "." and "..", packed. */
  de = (struct ext2_dir_entry *) leaf;
  ext2fs_set_rec_len (x->fs, bs - cs, de);
  if (cs)
    ext2fs_initialize_dirent_tail (x->fs, EXT2_DIRENT_TAIL (leaf, bs));
  off = 0;
  at = 0;
  while (r == 0 && (r = extfs_dirent_next (x, old, &off, &de, &rec_len)) == 1) {
    int len = ext2fs_dirent_name_len (de);
    r = 0;
    if (len == 1 && de->name[0] == '.')
      dot_ino = de->inode;
    else if (len == 2 && de->name[0] == '.' && de->name[1] == '.')
      dotdot_ino = de->inode;
    else if (de->inode &&
             !extfs_dirent_fit (x, leaf, at, bs - cs - at, de->name, len, de->inode,
                   ext2fs_dirent_file_type (de), &at))
      r = -EUCLEAN;
    off += rec_len;
  }
  if (r == 0 && (dot_ino != dir || dotdot_ino == 0))
    r = -EUCLEAN;
  if (r < 0) {
    free (old);
    free (leaf);
    return r == -EUCLEAN
      ? extfs_fail (x, EXT2_ET_DIR_CORRUPTED, "index", "a directory") : r;
  }
  e = ext2fs_bmap2 (x->fs, dir, &in.small, NULL, BMAP_ALLOC, 1, NULL,
                    &p1);
  if (e == 0)
    e = ext2fs_write_dir_block4 (x->fs, p1, leaf, 0, dir);
  if (e == 0) {
    /* The root: "." (12 bytes), ".." over the rest, then the index. */
    memset (old, 0, bs);
    dot = (struct ext2_dir_entry *) old;
    dotdot = (struct ext2_dir_entry *) (old + 12);
    dot->inode = dot_ino;
    dotdot->inode = dotdot_ino;
    ext2fs_set_rec_len (x->fs, 12, dot);
    ext2fs_set_rec_len (x->fs, bs - 12, dotdot);
    ext2fs_dirent_set_name_len (dot, 1);
    ext2fs_dirent_set_name_len (dotdot, 2);
    if (ext2fs_has_feature_filetype (x->fs->super)) {
      ext2fs_dirent_set_file_type (dot, EXT2_FT_DIR);
      ext2fs_dirent_set_file_type (dotdot, EXT2_FT_DIR);
    }
    memcpy (dot->name, ".", 1);
    memcpy (dotdot->name, "..", 2);
    info = (struct ext2_dx_root_info *) (old + 24);
    info->hash_version = x->fs->super->s_def_hash_version;
    info->info_length = 8;
    cl = (struct ext2_dx_countlimit *) (old + 32);
    cl->limit = ext2fs_cpu_to_le16 ((bs - 32 - (cs ? 8 : 0)) / 8);
    cl->count = ext2fs_cpu_to_le16 (1);
    *(uint32_t *) (old + 36) = ext2fs_cpu_to_le32 (1);
    e = ext2fs_write_dir_block4 (x->fs, p0, old, 0, dir);
  }
  free (old);
  free (leaf);
  if (e)
    return e == EXT2_ET_BLOCK_ALLOC_FAIL ? extfs_nospace (x, "directory",
                                                          false)
      : extfs_fail (x, e, "index", "a directory");
  r = extfs_read_inode (x, dir, &in);
  if (r < 0)
    return r;
  in.small.i_flags |= EXT2_INDEX_FL;
  ext2fs_inode_size_set (x->fs, &in.small, 2 * bs);
  return extfs_write_inode (x, dir, &in);
}


/* The leaf block (logical) of an indexed directory name hashes to. */
int
extfs_dx_leaf (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
         const char *name, char *buf, uint32_t *lblk)
{
  struct ext2_dx_root_info *info;
  struct ext2_dx_countlimit *cl;
  struct ext2_dx_entry *ent;
  ext2_dirhash_t hash, minor;
  unsigned level, levels, count, lo, hi, mid, version;
  blk64_t pblk;
  errcode_t e;
  int r;

  r = extfs_dir_bmap (x, dir, in, 0, &pblk);
  if (r == 0)
    r = extfs_dirblock_read (x, dir, pblk, buf);
  if (r < 0)
    return r;
  info = (struct ext2_dx_root_info *) (buf + 24);
  levels = info->indirect_levels;
  version = info->hash_version;
  if (version <= EXT2_HASH_TEA &&
      (x->fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
    version += 3;
  e = ext2fs_dirhash2 (version, name, strlen (name), x->fs->encoding, 0,
                       x->fs->super->s_hash_seed, &hash, &minor);
  if (e)
    return extfs_fail (x, e, "hash", name);
  cl = (struct ext2_dx_countlimit *) (buf + 24 + info->info_length);
  for (level = 0;; level++) {
    ent = (struct ext2_dx_entry *) cl;
    count = ext2fs_le16_to_cpu (cl->count);
    if (count == 0 || count > ext2fs_le16_to_cpu (cl->limit))
      return -EUCLEAN;
    /* The last entry whose hash is <= ours (entry 0 has none). */
    lo = 1;
    hi = count;
    while (lo < hi) {
      mid = (lo + hi) / 2;
      if (ext2fs_le32_to_cpu (ent[mid].hash) > hash)
        hi = mid;
      else
        lo = mid + 1;
    }
    *lblk = ext2fs_le32_to_cpu (ent[lo - 1].block) & EXT4_DX_BLOCK_MASK;
    if (level == levels)
      return 0;
    r = extfs_dir_bmap (x, dir, in, *lblk, &pblk);
    if (r == 0)
      r = extfs_dirblock_read (x, dir, pblk, buf);
    if (r < 0)
      return r;
    cl = (struct ext2_dx_countlimit *) (buf + 8);
  }
}
