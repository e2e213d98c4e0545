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
#include <inttypes.h>
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


/* ---- checking an index ----
 *
 * The image is untrusted: an index whose counts or limits lie would make
 * the lookups below and ext2fs_link read and write past a block, or an
 * edit keep (and publish) a broken index.  So before the first change to
 * an indexed directory its whole index is checked, and each block the
 * lookups read again: the root's info (reserved zero, a hash s3vol knows,
 * info_length 8, levels as the features allow), every block's limit what
 * fits in a block, 1 <= count <= limit, hashes in order, block numbers
 * inside the directory.
 */

/* The entries that fit in the root (root) or a node. */
static unsigned
dx_limit (struct extfs *x, bool root)
{
  unsigned tail = extfs_dir_csum (x) ? sizeof (struct ext2_dx_tail) : 0;

  return (x->fs->blocksize - (root ? 32 : 8) - tail) /
    sizeof (struct ext2_dx_entry);
}

static int
dx_corrupt (struct extfs *x, ext2_ino_t dir, const char *what)
{
  s3vol_error (x->log, "directory inode %u (volume %s, version %" PRIu64
               ") has a corrupt htree index (%s): s3vol will not change "
               "it; export the volume and run e2fsck -fD", dir, x->volume,
               x->seq, what);
  return -EUCLEAN;
}

/* Check the root (block 0, in buf); *levels: its indirect levels. */
static int
dx_check_root (struct extfs *x, ext2_ino_t dir, const char *buf,
               unsigned *levels)
{
  const struct ext2_dx_root_info *info =
    (const struct ext2_dx_root_info *) (buf + 24);
  const struct ext2_dir_entry *dot = (const struct ext2_dir_entry *) buf;
  const struct ext2_dir_entry *dotdot =
    (const struct ext2_dir_entry *) (buf + 12);
  unsigned rec_len, rec_len2;

  if (ext2fs_get_rec_len (x->fs, (struct ext2_dir_entry *) dot, &rec_len) ||
      ext2fs_get_rec_len (x->fs, (struct ext2_dir_entry *) dotdot,
                          &rec_len2) ||
      rec_len != 12 || rec_len2 != x->fs->blocksize - 12 ||
      ext2fs_dirent_name_len (dot) != 1 ||
      ext2fs_dirent_name_len (dotdot) != 2)
    return dx_corrupt (x, dir, "its root block is not \".\" and \"..\"");
  if (info->reserved_zero != 0 || (info->unused_flags & 1))
    return dx_corrupt (x, dir, "the root's reserved fields are set");
  if (info->hash_version == EXT2_HASH_SIPHASH)
    return extfs_dir_unsupported (x, dir, EXT4_CASEFOLD_FL);
  if (info->hash_version > EXT2_HASH_TEA)
    return dx_corrupt (x, dir, "an unknown hash version");
  if (info->info_length != sizeof *info)
    return dx_corrupt (x, dir, "its root info is not 8 bytes long, the "
                       "only length s3vol handles");
  if (info->indirect_levels >= ext2_dir_htree_level (x->fs))
    return dx_corrupt (x, dir, ext2fs_has_feature_largedir (x->fs->super)
                       ? "more than 2 indirect levels"
                       : "more than 1 indirect level without largedir");
  *levels = info->indirect_levels;
  return 0;
}

/* The count/limit of an index block (root or node) in buf, checked:
 * the entries (with the count) and their number.
 */
static int
dx_entries (struct extfs *x, ext2_ino_t dir, const char *buf, bool root,
            const struct ext2_dx_entry **ent, unsigned *count)
{
  const struct ext2_dx_countlimit *cl;
  const struct ext2_dir_entry *fake = (const struct ext2_dir_entry *) buf;
  unsigned rec_len, limit, k;

  if (!root &&
      (fake->inode != 0 ||
       ext2fs_get_rec_len (x->fs, (struct ext2_dir_entry *) fake, &rec_len)
       || rec_len != x->fs->blocksize || ext2fs_dirent_name_len (fake) != 0))
    return dx_corrupt (x, dir, "an index node is not an empty entry over "
                       "its block");
  cl = (const struct ext2_dx_countlimit *) (buf + (root ? 32 : 8));
  limit = ext2fs_le16_to_cpu (cl->limit);
  *count = ext2fs_le16_to_cpu (cl->count);
  if (limit != dx_limit (x, root))
    return dx_corrupt (x, dir, "a limit that is not what fits in a block");
  if (*count == 0 || *count > limit)
    return dx_corrupt (x, dir, "a count of 0 or over the limit");
  *ent = (const struct ext2_dx_entry *) cl;
  /* Entry 0 holds count/limit where its hash would be: hash 0. */
  for (k = 2; k < *count; k++)
    if ((ext2fs_le32_to_cpu ((*ent)[k].hash) & ~1u) <
        (ext2fs_le32_to_cpu ((*ent)[k - 1].hash) & ~1u))
      return dx_corrupt (x, dir, "hashes out of order");
  return 0;
}

struct dx_walk {
  struct extfs *x;
  ext2_ino_t dir;
  union extfs_inode *in;
  uint64_t nblocks;             /* of the directory */
  uint64_t nodes;               /* index blocks read so far */
  struct hashmap seen;          /* their logical blocks, + 1 */
  unsigned levels;
  char *buf[EXT4_HTREE_LEVEL];
};

static bool
lblk_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return val - 1 == *(const uint32_t *) key;
}

/* Check the index block in w->buf[level] and everything below it. */
static int
dx_check_block (struct dx_walk *w, unsigned level)
{
  const struct ext2_dx_entry *ent;
  unsigned count, k;
  uint32_t lblk;
  blk64_t pblk;
  int r;

  r = dx_entries (w->x, w->dir, w->buf[level], level == 0, &ent, &count);
  if (r < 0)
    return r;
  for (k = 0; k < count; k++) {
    lblk = ext2fs_le32_to_cpu (ent[k].block) & EXT4_DX_BLOCK_MASK;
    if (lblk == 0 || lblk >= w->nblocks)
      return dx_corrupt (w->x, w->dir, "a block outside the directory");
    if (level == w->levels)
      continue;                 /* a leaf */
    /* Each node once: pointers shared between nodes would make the
     * walk read a node again for every entry above it.
     */
    if (++w->nodes >= w->nblocks ||
        hashmap_get (&w->seen, hashmap_hash_u64 (lblk), &lblk))
      return dx_corrupt (w->x, w->dir, "an index block used twice");
    r = hashmap_put (&w->seen, hashmap_hash_u64 (lblk), lblk + 1u);
    if (r < 0)
      return r;
    r = extfs_dir_bmap (w->x, w->dir, w->in, lblk, &pblk);
    if (r == 0)
      r = extfs_dirblock_read (w->x, w->dir, pblk, w->buf[level + 1]);
    if (r == 0)
      r = dx_check_block (w, level + 1);
    if (r < 0)
      return r;
  }
  return 0;
}

int
extfs_dx_check (struct extfs *x, ext2_ino_t dir)
{
  struct dx_walk w = { .x = x, .dir = dir,
                       .seen = HASHMAP_INIT (lblk_eq, NULL) };
  union extfs_inode in;
  blk64_t pblk;
  unsigned k;
  int r;

  r = extfs_read_inode (x, dir, &in);
  if (r < 0)
    return r;
  if (!(in.small.i_flags & EXT2_INDEX_FL))
    return 0;
  w.in = &in;
  w.nblocks = EXT2_I_SIZE (&in.small) / x->fs->blocksize;
  for (k = 0; k < EXT4_HTREE_LEVEL; k++) {
    w.buf[k] = malloc (x->fs->blocksize);
    if (w.buf[k] == NULL)
      r = -ENOMEM;
  }
  if (r == 0)
    r = extfs_dir_bmap (x, dir, &in, 0, &pblk);
  if (r == 0)
    r = extfs_dirblock_read (x, dir, pblk, w.buf[0]);
  if (r == 0)
    r = dx_check_root (x, dir, w.buf[0], &w.levels);
  if (r == 0)
    r = dx_check_block (&w, 0);
  for (k = 0; k < EXT4_HTREE_LEVEL; k++)
    free (w.buf[k]);
  hashmap_free (&w.seen);
  return r;
}

/* The leaf block (logical) of an indexed directory name hashes to. */
int
extfs_dx_leaf (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
         const char *name, char *buf, uint32_t *lblk)
{
  const struct ext2_dx_root_info *info;
  const struct ext2_dx_entry *ent;
  ext2_dirhash_t hash, minor;
  unsigned level, levels, count, lo, hi, mid, version;
  blk64_t pblk;
  errcode_t e;
  int r;

  r = extfs_dir_bmap (x, dir, in, 0, &pblk);
  if (r == 0)
    r = extfs_dirblock_read (x, dir, pblk, buf);
  if (r == 0)
    r = dx_check_root (x, dir, buf, &levels);
  if (r < 0)
    return r;
  info = (const struct ext2_dx_root_info *) (buf + 24);
  version = info->hash_version;
  if (version <= EXT2_HASH_TEA &&
      (x->fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
    version += 3;
  e = ext2fs_dirhash2 (version, name, strlen (name), x->fs->encoding, 0,
                       x->fs->super->s_hash_seed, &hash, &minor);
  if (e)
    return extfs_fail (x, e, "hash", name);
  for (level = 0;; level++) {
    r = dx_entries (x, dir, buf, level == 0, &ent, &count);
    if (r < 0)
      return r;
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
  }
}
