/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: directories for extfs: lookups, path resolution, and adding,
 * removing and repointing entries.
 *
 * libext2fs looks names up and links them by scanning a directory from
 * its first block, which makes a put of n files into one directory cost
 * n^2.  Writable handles keep a cache instead: the first lookup in a
 * directory reads all of it into a hash table (name -> inode, type, and
 * where the entry sits), and every change here keeps the table right.
 *
 *   linear dir   entries are appended to the last block (a new block
 *                when it is full), as the kernel does; the table knows
 *                each entry's block and offset, which never move
 *   indexed dir  (htree) ext2fs_link inserts through the index, which
 *                may move entries between leaves, so an entry is found
 *                again by hashing its name down the index when needed
 *   1 block full a linear directory whose only block is full becomes an
 *                indexed one (the kernel's rule), so big directories
 *                made by put stay fast for the kernel too
 *
 * Read-only handles use ext2fs_lookup (one scan per path component).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "extfs_int.h"


struct dent {
  ext2_ino_t ino;
  uint32_t lblk, off;           /* where it is (linear directories) */
  uint8_t ftype;
  uint8_t len;
  char name[];
};

/* A directory's table. */
struct dtab {
  ext2_ino_t dir;
  bool indexed;
  bool dx_checked;              /* its index checked (the image is untrusted) */
  struct hashmap names;         /* name -> struct dent * */
};

/* Writable handles' directories. */
struct dcache {
  struct hashmap dirs;          /* ino -> struct dtab * */
};

/* A name as looked up: not NUL-terminated. */
struct name {
  const char *s;
  size_t len;
};

static bool
name_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct dent *d = (const struct dent *) val;
  const struct name *n = key;

  (void) ctx;
  return d->len == n->len && memcmp (d->name, n->s, n->len) == 0;
}

static bool
dir_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return ((const struct dtab *) val)->dir == *(const ext2_ino_t *) key;
}

int
extfs_dir_csum (struct extfs *x)
{
  return ext2fs_has_feature_metadata_csum (x->fs->super)
    ? sizeof (struct ext2_dir_entry_tail) : 0;
}

/* ---- the cache ---- */

int
extfs_dc_new (struct extfs *x)
{
  x->dc = calloc (1, sizeof *x->dc);
  if (x->dc == NULL)
    return -ENOMEM;
  x->dc->dirs = (struct hashmap) HASHMAP_INIT (dir_eq, NULL);
  return 0;
}

static int
free_dent (void *opaque, uintptr_t val)
{
  (void) opaque;
  free ((struct dent *) val);
  return 0;
}

static void
free_tab (struct dtab *t)
{
  hashmap_each (&t->names, free_dent, NULL);
  hashmap_free (&t->names);
  free (t);
}

static int
free_tab_val (void *opaque, uintptr_t val)
{
  (void) opaque;
  free_tab ((struct dtab *) val);
  return 0;
}

void
extfs_dc_free (struct extfs *x)
{
  if (x->dc == NULL)
    return;
  hashmap_each (&x->dc->dirs, free_tab_val, NULL);
  hashmap_free (&x->dc->dirs);
  free (x->dc);
  x->dc = NULL;
}

void
extfs_dc_forget (struct extfs *x, ext2_ino_t dir)
{
  uintptr_t t;

  if (x->dc == NULL)
    return;
  t = hashmap_remove (&x->dc->dirs, hashmap_hash_u64 (dir), &dir);
  if (t)
    free_tab ((struct dtab *) t);
}

static uint64_t
name_hash (const struct name *n)
{
  return hashmap_hash_bytes (n->s, n->len);
}

static struct dent *
dent_find (struct dtab *t, const char *name, size_t len)
{
  struct name n = { name, len };

  return (struct dent *) hashmap_get (&t->names, name_hash (&n), &n);
}

static int
dent_add (struct dtab *t, const char *name, size_t len, ext2_ino_t ino,
          int ftype, uint32_t lblk, uint32_t off)
{
  struct name n = { name, len };
  struct dent *d = malloc (sizeof *d + len + 1);
  int r;

  if (d == NULL)
    return -ENOMEM;
  d->ino = ino;
  d->ftype = ftype;
  d->lblk = lblk;
  d->off = off;
  d->len = len;
  memcpy (d->name, name, len);
  d->name[len] = '\0';
  r = hashmap_put (&t->names, name_hash (&n), (uintptr_t) d);
  if (r < 0)
    free (d);
  return r;
}

static void
dent_del (struct dtab *t, const char *name, size_t len)
{
  struct name n = { name, len };

  free ((struct dent *) hashmap_remove (&t->names, name_hash (&n), &n));
}

/* ---- directory blocks ---- */

/* Physical block of directory dir's logical block lblk. */
int
extfs_dir_bmap (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
          uint64_t lblk, blk64_t *pblk)
{
  errcode_t e;

  *pblk = 0;
  e = ext2fs_bmap2 (x->fs, dir, &in->small, NULL, 0, lblk, NULL, pblk);
  if (e == 0 && *pblk == 0)
    e = EXT2_ET_DIR_CORRUPTED;
  return e ? extfs_fail (x, e, "map a block of", "a directory") : 0;
}

int
extfs_dirblock_read (struct extfs *x, ext2_ino_t dir, blk64_t pblk, void *buf)
{
  errcode_t e = ext2fs_read_dir_block4 (x->fs, pblk, buf, 0, dir);

  return e ? extfs_fail (x, e, "read", "a directory block") : 0;
}

int
extfs_dirblock_write (struct extfs *x, ext2_ino_t dir, blk64_t pblk, void *buf)
{
  errcode_t e = ext2fs_write_dir_block4 (x->fs, pblk, buf, 0, dir);

  return e ? extfs_fail (x, e, "write", "a directory block") : 0;
}

/* Walk the entries of a block: *off advances; 1 while there is one. */
int
extfs_dirent_next (struct extfs *x, char *buf, unsigned *off,
            struct ext2_dir_entry **de, unsigned *rec_len)
{
  unsigned end = x->fs->blocksize - extfs_dir_csum (x);

  if (*off + 8 > end)
    return 0;
  *de = (struct ext2_dir_entry *) (buf + *off);
  if (ext2fs_get_rec_len (x->fs, *de, rec_len) || *rec_len < 8 ||
      *rec_len % 4 || *off + *rec_len > end ||
      (unsigned) ext2fs_dirent_name_len (*de) + 8 > *rec_len)
    return -EUCLEAN;
  return 1;
}

/* Does block lblk (in buf) of a directory hold its htree index rather
 * than entries: the root (block 0), or a node (one empty entry over the
 * whole block)?  Their entries span the checksum tail's room, so
 * extfs_dirent_next would call them corrupt.
 */
static bool
index_block (struct extfs *x, bool indexed, uint64_t lblk, char *buf)
{
  struct ext2_dir_entry *de = (struct ext2_dir_entry *) buf;
  unsigned rec_len;

  if (!indexed)
    return false;
  return lblk == 0 ||
    (de->inode == 0 && ext2fs_get_rec_len (x->fs, de, &rec_len) == 0 &&
     rec_len == x->fs->blocksize);
}

/* The entry at off of block lblk (in buf) of dir is not what an entry
 * must be (extfs_dirent_next said so): log which rule it breaks.
 */
static int
dirent_corrupt (struct extfs *x, ext2_ino_t dir, uint64_t lblk,
                char *buf, unsigned off)
{
  struct ext2_dir_entry *de = (struct ext2_dir_entry *) (buf + off);
  unsigned end = x->fs->blocksize - extfs_dir_csum (x), rec_len = 0;
  char why[128];

  if (ext2fs_get_rec_len (x->fs, de, &rec_len) || rec_len < 8 ||
      rec_len % 4)
    snprintf (why, sizeof why, "a record length of %u, expected a "
              "multiple of 4 of at least 8", rec_len);
  else if (off + rec_len > end)
    snprintf (why, sizeof why, "a record length of %u that ends past "
              "the entries' end (byte %u)", rec_len, end);
  else
    snprintf (why, sizeof why, "a name of %u bytes in a record of %u",
              (unsigned) ext2fs_dirent_name_len (de), rec_len);
  s3vol_error (x->log, "directory inode %u (volume %s, version %" PRIu64
               "): the entry at byte %u of block %" PRIu64 " has %s: the "
               "directory is corrupt; export the volume and run e2fsck -f",
               dir, x->volume, x->seq, off, lblk, why);
  return -EUCLEAN;
}

/* Directory blocks read at once when a table is loaded. */
#define LOAD_BLOCKS 32

struct loader {
  struct extfs *x;
  struct dtab *t;
  ext2_ino_t dir;
  char *buf;
  int err;
};

/* Read blocks pblk.. (n of them, at most LOAD_BLOCKS) of directory dir
 * into buf with one read, each checked as ext2fs_read_dir_block4 would:
 * a big directory is read in a few requests, not one per block.
 */
static int
dirblocks_read (struct extfs *x, ext2_ino_t dir, blk64_t pblk, unsigned n,
                char *buf)
{
  unsigned bs = x->fs->blocksize, k;
  errcode_t e = io_channel_read_blk64 (x->fs->io, pblk, n, buf);

  for (k = 0; e == 0 && k < n; k++)
    if (!(x->fs->flags & EXT2_FLAG_IGNORE_CSUM_ERRORS) &&
        !ext2fs_dir_block_csum_verify (x->fs, dir, (struct ext2_dir_entry *)
                                       (buf + (size_t) k * bs)))
      e = EXT2_ET_DIR_CSUM_INVALID;
  return e ? extfs_fail (x, e, "read", "a directory block") : 0;
}

static int
load_run (void *opaque, const struct extfs_run *run)
{
  struct loader *l = opaque;
  struct extfs *x = l->x;
  struct ext2_dir_entry *de;
  unsigned off, rec_len, bs = x->fs->blocksize;
  uint64_t k, n = 0;
  char *blk;
  int r, len;

  for (k = 0; k < run->len; k++) {
    if (run->uninit)
      continue;
    if (k % LOAD_BLOCKS == 0) {
      n = run->len - k < LOAD_BLOCKS ? run->len - k : LOAD_BLOCKS;
      r = dirblocks_read (x, l->dir, run->pblk + k, n, l->buf);
      if (r < 0)
        return r;
    }
    blk = l->buf + (k % LOAD_BLOCKS) * bs;
    if (index_block (x, l->t->indexed, run->lblk + k, blk))
      continue;
    off = 0;
    while ((r = extfs_dirent_next (x, blk, &off, &de, &rec_len)) == 1) {
      len = ext2fs_dirent_name_len (de);
      if (de->inode && !(len == 1 && de->name[0] == '.') &&
          !(len == 2 && de->name[0] == '.' && de->name[1] == '.')) {
        r = dent_add (l->t, de->name, len, de->inode,
                      ext2fs_dirent_file_type (de), run->lblk + k, off);
        if (r < 0)
          return r;
      }
      off += rec_len;
    }
    if (r < 0)
      return dirent_corrupt (x, l->dir, run->lblk + k, blk, off);
  }
  return 0;
}

int
extfs_dir_unsupported (struct extfs *x, ext2_ino_t dir, uint32_t flags)
{
  const char *kind = flags & EXT4_ENCRYPT_FL ? "encrypted (fscrypt)"
    : flags & EXT4_CASEFOLD_FL ? "casefolded (case-insensitive names)"
    : "stored inline in its inode (inline_data)";

  s3vol_error (x->log, "directory inode %u (volume %s) is %s: s3vol "
               "cannot change such directories (an s3vol limitation, the "
               "directory is fine); attach the volume and change it "
               "through the mount", dir, x->volume, kind);
  return -ENOTSUP;
}

/* The cached table of directory dir, read on first use. */
static int
get_tab (struct extfs *x, ext2_ino_t dir, struct dtab **out)
{
  struct dcache *dc = x->dc;
  struct loader l = { .x = x, .dir = dir };
  uint64_t h = hashmap_hash_u64 (dir);
  union extfs_inode in;
  struct dtab *t;
  int r;

  t = (struct dtab *) hashmap_get (&dc->dirs, h, &dir);
  if (t) {
    *out = t;
    return 0;
  }
  r = extfs_read_inode (x, dir, &in);
  if (r < 0)
    return r;
  if (!LINUX_S_ISDIR (in.small.i_mode))
    return -ENOTDIR;
  if (in.small.i_flags & (EXT4_ENCRYPT_FL | EXT4_CASEFOLD_FL |
                          EXT4_INLINE_DATA_FL))
    return extfs_dir_unsupported (x, dir, in.small.i_flags);
  t = calloc (1, sizeof *t);
  l.buf = malloc ((size_t) LOAD_BLOCKS * x->fs->blocksize);
  if (t == NULL || l.buf == NULL) {
    free (t);
    free (l.buf);
    return -ENOMEM;
  }
  t->dir = dir;
  t->indexed = in.small.i_flags & EXT2_INDEX_FL;
  t->names = (struct hashmap) HASHMAP_INIT (name_eq, NULL);
  l.t = t;
  r = extfs_each_run (x, dir, &in, load_run, &l);
  free (l.buf);
  if (r == 0)
    r = hashmap_put (&dc->dirs, h, (uintptr_t) t);
  if (r < 0) {
    free_tab (t);
    return r;
  }
  *out = t;
  return 0;
}

/* ---- lookups ---- */

int
extfs_lookup (struct extfs *x, ext2_ino_t dir, const char *name,
              ext2_ino_t *ino, int *ftype)
{
  size_t len = strlen (name);
  struct dtab *t;
  struct dent *d;
  errcode_t e;
  int r;

  *ftype = EXT2_FT_UNKNOWN;
  if (x->dc == NULL || strcmp (name, "..") == 0) {
    e = ext2fs_lookup (x->fs, dir, name, len, NULL, ino);
    if (e == EXT2_ET_FILE_NOT_FOUND)
      return -ENOENT;
    return e ? extfs_fail (x, e, "look up", name) : 0;
  }
  r = get_tab (x, dir, &t);
  if (r < 0)
    return r;
  d = dent_find (t, name, len);
  if (d == NULL)
    return -ENOENT;
  *ino = d->ino;
  *ftype = d->ftype;
  return 0;
}

/* ---- changing entries ---- */

/* Before the first change to an indexed directory: is its index sound?
 * (libext2fs and extfs_dx_leaf trust its counts and limits.)
 */
static int
check_index (struct extfs *x, struct dtab *t)
{
  int r;

  if (!t->indexed || t->dx_checked)
    return 0;
  r = extfs_dx_check (x, t->dir);
  t->dx_checked = r == 0;
  return r;
}

/* Put name into the free room of entry de (at off) if it fits; 1 if. */
int
extfs_dirent_fit (struct extfs *x, char *buf, unsigned off, unsigned rec_len,
     const char *name, size_t len, ext2_ino_t ino, int ftype,
     unsigned *at)
{
  struct ext2_dir_entry *de = (struct ext2_dir_entry *) (buf + off), *nd;
  unsigned need = EXT2_DIR_REC_LEN (len), used;

  used = de->inode ? EXT2_DIR_REC_LEN (ext2fs_dirent_name_len (de)) : 0;
  if (rec_len < used + need)
    return 0;
  if (used) {
    ext2fs_set_rec_len (x->fs, used, de);
    nd = (struct ext2_dir_entry *) (buf + off + used);
    ext2fs_set_rec_len (x->fs, rec_len - used, nd);
    *at = off + used;
  }
  else {
    nd = de;
    *at = off;
  }
  nd->inode = ino;
  ext2fs_dirent_set_name_len (nd, len);
  ext2fs_dirent_set_file_type (nd, ext2fs_has_feature_filetype
                               (x->fs->super) ? ftype : 0);
  memcpy (nd->name, name, len);
  return 1;
}

/* Append to the last block of a linear directory, or to a new block.
 * -ENOSPC (not logged) when the only block is full and the directory
 * should become indexed instead.
 */
static int
linear_add (struct extfs *x, struct dtab *t, const char *name, size_t len,
            ext2_ino_t ino, int ftype)
{
  union extfs_inode in;
  unsigned off = 0, rec_len, at = 0;
  struct ext2_dir_entry *de;
  uint64_t nblocks, lblk;
  blk64_t pblk;
  char *buf;
  errcode_t e;
  int r, placed = 0;

  r = extfs_read_inode (x, t->dir, &in);
  if (r < 0)
    return r;
  nblocks = EXT2_I_SIZE (&in.small) / x->fs->blocksize;
  buf = malloc (x->fs->blocksize);
  if (buf == NULL)
    return -ENOMEM;
  lblk = nblocks - 1;
  r = nblocks ? extfs_dir_bmap (x, t->dir, &in, lblk, &pblk) : -EUCLEAN;
  if (r == 0)
    r = extfs_dirblock_read (x, t->dir, pblk, buf);
  while (r == 0 && (r = extfs_dirent_next (x, buf, &off, &de, &rec_len)) == 1) {
    placed = extfs_dirent_fit (x, buf, off, rec_len, name, len, ino, ftype, &at);
    if (placed)
      break;
    off += rec_len;
    r = 0;
  }
  if (r >= 0 && !placed && nblocks == 1 &&
      ext2fs_has_feature_dir_index (x->fs->super)) {
    free (buf);
    return -ENOSPC;
  }
  if (r >= 0 && !placed) {
    /* A new last block. */
    lblk = nblocks;
    e = ext2fs_bmap2 (x->fs, t->dir, &in.small, NULL, BMAP_ALLOC, lblk,
                      NULL, &pblk);
    if (e) {
      free (buf);
      return e == EXT2_ET_BLOCK_ALLOC_FAIL
        ? extfs_nospace (x, name, false)
        : extfs_fail (x, e, "grow", "a directory");
    }
    r = extfs_read_inode (x, t->dir, &in);
    if (r == 0)
      r = ext2fs_inode_size_set (x->fs, &in.small, (lblk + 1) *
                                 x->fs->blocksize) ? -EFBIG : 0;
    if (r == 0)
      r = extfs_write_inode (x, t->dir, &in);
    memset (buf, 0, x->fs->blocksize);
    de = (struct ext2_dir_entry *) buf;
    ext2fs_set_rec_len (x->fs, x->fs->blocksize - extfs_dir_csum (x), de);
    if (extfs_dir_csum (x))
      ext2fs_initialize_dirent_tail (x->fs,
                                     EXT2_DIRENT_TAIL (buf,
                                                       x->fs->blocksize));
    if (r == 0)
      placed = extfs_dirent_fit (x, buf, 0, x->fs->blocksize - extfs_dir_csum (x), name, len,
                    ino, ftype, &at);
  }
  if (r >= 0 && placed)
    r = extfs_dirblock_write (x, t->dir, pblk, buf);
  else if (r > 0 || r == -EUCLEAN)
    r = extfs_fail (x, EXT2_ET_DIR_CORRUPTED, "add to", "a directory");
  free (buf);
  if (r < 0)
    return r;
  return dent_add (t, name, len, ino, ftype, lblk, at);
}

int
extfs_dir_add (struct extfs *x, ext2_ino_t dir, const char *name,
               ext2_ino_t ino, int ftype)
{
  size_t len = strlen (name);
  struct dtab *t;
  errcode_t e;
  int r;

  r = get_tab (x, dir, &t);
  if (r < 0)
    return r;
  if (!t->indexed) {
    r = linear_add (x, t, name, len, ino, ftype);
    if (r != -ENOSPC || t->indexed)
      return r;
    r = extfs_make_indexed (x, t->dir);
    if (r < 0)
      return r;
    t->indexed = true;
  }
  r = check_index (x, t);
  if (r < 0)
    return r;
  e = ext2fs_link (x->fs, dir, name, ino, ftype);
  if (e == EXT2_ET_DIR_NO_SPACE) {
    s3vol_error (x->log, "%s: the directory is full (its index cannot "
                 "grow further)", name);
    return -ENOSPC;
  }
  if (e)
    return e == EXT2_ET_BLOCK_ALLOC_FAIL ? extfs_nospace (x, name, false)
      : extfs_fail (x, e, "add an entry for", name);
  return dent_add (t, name, len, ino, ftype, 0, 0);
}

/* Find name in logical block lblk of dir: 1 (and *off, *prev: the entry
 * before it in the block, or UINT32_MAX), 0 if not there.
 */
static int
scan_block (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
            uint64_t lblk, const char *name, char *buf, blk64_t *pblk,
            unsigned *off, unsigned *prev)
{
  struct ext2_dir_entry *de;
  size_t len = strlen (name);
  unsigned rec_len;
  int r;

  r = extfs_dir_bmap (x, dir, in, lblk, pblk);
  if (r == 0)
    r = extfs_dirblock_read (x, dir, *pblk, buf);
  if (r < 0)
    return r;
  if (index_block (x, in->small.i_flags & EXT2_INDEX_FL, lblk, buf))
    return 0;
  *prev = UINT32_MAX;
  *off = 0;
  while ((r = extfs_dirent_next (x, buf, off, &de, &rec_len)) == 1) {
    if (de->inode && (size_t) ext2fs_dirent_name_len (de) == len &&
        memcmp (de->name, name, len) == 0)
      return 1;
    *prev = *off;
    *off += rec_len;
  }
  return r;
}

/* Where name's entry is in dir: its block (read into buf), offset, and
 * the entry before it.
 */
static int
locate (struct extfs *x, struct dtab *t, const char *name, char *buf,
        blk64_t *pblk, unsigned *off, unsigned *prev)
{
  struct dent *d = dent_find (t, name, strlen (name));
  union extfs_inode in;
  uint64_t nblocks, k;
  uint32_t lblk = 0;
  int r;

  if (d == NULL)
    return -ENOENT;
  r = extfs_read_inode (x, t->dir, &in);
  if (r < 0)
    return r;
  if (!t->indexed)
    r = scan_block (x, t->dir, &in, d->lblk, name, buf, pblk, off, prev);
  else {
    r = extfs_dx_leaf (x, t->dir, &in, name, buf, &lblk);
    if (r == 0)
      r = scan_block (x, t->dir, &in, lblk, name, buf, pblk, off, prev);
    if (r == -EUCLEAN)
      r = 0;                    /* look everywhere, below */
  }
  /* Not where expected (hash collisions across leaves): look everywhere. */
  nblocks = EXT2_I_SIZE (&in.small) / x->fs->blocksize;
  for (k = 0; r == 0 && k < nblocks; k++)
    r = scan_block (x, t->dir, &in, k, name, buf, pblk, off, prev);
  if (r == 0 || r == -EUCLEAN)
    r = extfs_fail (x, EXT2_ET_DIR_CORRUPTED, "find the entry of", name);
  return r < 0 ? r : 0;
}

/* An entry found for changing in place (see find_entry). */
struct found {
  struct dtab *t;
  char *buf;                    /* its block; the caller frees it */
  blk64_t pblk;
  unsigned off, prev;
};

/* Read in the block of name's entry in dir, for extfs_dir_remove and
 * extfs_dir_set.
 */
static int
find_entry (struct extfs *x, ext2_ino_t dir, const char *name,
            struct found *f)
{
  int r;

  f->buf = NULL;
  r = get_tab (x, dir, &f->t);
  if (r == 0)
    r = check_index (x, f->t);
  if (r < 0)
    return r;
  f->buf = malloc (x->fs->blocksize);
  if (f->buf == NULL)
    return -ENOMEM;
  return locate (x, f->t, name, f->buf, &f->pblk, &f->off, &f->prev);
}

int
extfs_dir_remove (struct extfs *x, ext2_ino_t dir, const char *name)
{
  struct ext2_dir_entry *de, *pe;
  unsigned rec_len, prev_len;
  struct found f;
  int r;

  r = find_entry (x, dir, name, &f);
  if (r == 0) {
    de = (struct ext2_dir_entry *) (f.buf + f.off);
    if (f.prev != UINT32_MAX) {
      pe = (struct ext2_dir_entry *) (f.buf + f.prev);
      ext2fs_get_rec_len (x->fs, pe, &prev_len);
      ext2fs_get_rec_len (x->fs, de, &rec_len);
      ext2fs_set_rec_len (x->fs, prev_len + rec_len, pe);
    }
    else
      de->inode = 0;
    r = extfs_dirblock_write (x, dir, f.pblk, f.buf);
  }
  free (f.buf);
  if (r == 0)
    dent_del (f.t, name, strlen (name));
  return r;
}

int
extfs_dir_set (struct extfs *x, ext2_ino_t dir, const char *name,
               ext2_ino_t ino, int ftype)
{
  struct ext2_dir_entry *de;
  struct found f;
  struct dent *d;
  int r;

  r = find_entry (x, dir, name, &f);
  if (r == 0) {
    de = (struct ext2_dir_entry *) (f.buf + f.off);
    de->inode = ino;
    if (ext2fs_has_feature_filetype (x->fs->super))
      ext2fs_dirent_set_file_type (de, ftype);
    r = extfs_dirblock_write (x, dir, f.pblk, f.buf);
  }
  free (f.buf);
  if (r == 0 && (d = dent_find (f.t, name, strlen (name))) != NULL) {
    d->ino = ino;
    d->ftype = ftype;
  }
  return r;
}
