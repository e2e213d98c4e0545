/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: what changed in a directory between B and L, by name.
 *
 * When the directory maps the same blocks in B and L (entries added,
 * removed or renamed in place: the common case, and a directory moved
 * elsewhere, whose ".." changed), only its blocks in chunks whose ids
 * differ are read, and of those only the blocks whose bytes differ are
 * parsed: a rename of a directory of a million files reads one block.
 * An entry cannot hide in an unchanged block (it would be there in both),
 * so the names of the changed blocks of B and of L, diffed, are the
 * directory's changes.  But an entry whose inode number L freed and
 * reused (a file replaced twice: the second new inode takes the first
 * one's number back) reads the same in both, in an unchanged block: so
 * when L reused any number of B's, as when the directory grew, shrank or
 * was rebuilt, both listings are diffed whole.  htree index blocks hold no entries and are
 * skipped.  Names are untrusted: one that cannot be a name is refused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"

static int
by_name (const void *a, const void *b)
{
  const struct extfs_dirent *x = a, *y = b;
  size_t n = x->len < y->len ? x->len : y->len;
  int c = memcmp (x->name, y->name, n);

  return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Refuse names that cannot be linked (a corrupt or hostile image);
 * sort the rest.
 */
static int
check_sort (struct merge *m, struct extfs *x, ext2_ino_t dir,
            struct extfs_dirents *l)
{
  size_t i;

  for (i = 0; i < l->len; i++)
    if (!extfs_name_ok (l->ptr[i].name, l->ptr[i].len) ||
        strlen (l->ptr[i].name) != l->ptr[i].len) {
      s3vol_error (m->log, "directory inode %u of volume %s has an entry "
                   "with a corrupt name: nothing was merged",
                   (unsigned) dir, x->volume);
      return -EUCLEAN;
    }
  if (l->len > 1)
    qsort (l->ptr, l->len, sizeof *l->ptr, by_name);
  return 0;
}

int
merge_sorted_list (struct merge *m, struct extfs *x, ext2_ino_t dir,
                   struct extfs_dirents *l)
{
  int r = extfs_dir_list (x, dir, l);

  return r < 0 ? r : check_sort (m, x, dir, l);
}

static int
add_op (struct mop_list *ops, const char *name, ext2_ino_t b, ext2_ino_t l)
{
  struct mop op = { .name = strdup (name), .b = b, .l = l };

  if (op.name == NULL)
    return -ENOMEM;
  if (mop_list_append (ops, op) < 0) {
    free (op.name);
    return -ENOMEM;
  }
  return 0;
}

/* Sorted lists of B's and L's names: the ops. */
static int
diff_lists (struct merge *m, const struct extfs_dirents *bl,
            const struct extfs_dirents *ll, struct mop_list *ops)
{
  size_t i = 0, j = 0;
  int c, r = 0;

  while (r == 0 && (i < bl->len || j < ll->len)) {
    c = i == bl->len ? 1 : j == ll->len ? -1
      : by_name (&bl->ptr[i], &ll->ptr[j]);
    if (c < 0)
      r = add_op (ops, bl->ptr[i].name, bl->ptr[i].ino, 0);
    else if (c > 0)
      r = add_op (ops, ll->ptr[j].name, 0, ll->ptr[j].ino);
    else if (bl->ptr[i].ino != ll->ptr[j].ino ||
             !merge_l_has (m, ll->ptr[j].ino))
      r = add_op (ops, ll->ptr[j].name, bl->ptr[i].ino, ll->ptr[j].ino);
    i += c <= 0;
    j += c >= 0;
  }
  return r;
}

/* ---- changed blocks ---- */

struct blocks {
  struct extfs_runs runs;       /* B's (and L's) */
  bool indexed;
  ext2_ino_t dir;
  struct extfs_dirents bl, ll;
  char *bbuf, *lbuf;
};

/* Is block buf (logical lblk) an htree index block: no entries? */
static bool
index_block (struct extfs *x, const struct blocks *bk, uint64_t lblk,
             const char *buf)
{
  const struct ext2_dir_entry *de = (const void *) buf;
  unsigned rec_len;

  return bk->indexed &&
    (lblk == 0 || (de->inode == 0 &&
                   ext2fs_get_rec_len (x->fs, (struct ext2_dir_entry *) de,
                                       &rec_len) == 0 &&
                   rec_len == x->fs->blocksize));
}

/* The entries of a directory block into l. */
static int
parse_block (struct merge *m, struct extfs *x, char *buf,
             struct extfs_dirents *l, ext2_ino_t dir)
{
  struct ext2_dir_entry *de;
  struct extfs_dirent *d;
  unsigned off = 0, rec_len;
  int r, len;

  while ((r = extfs_dirent_next (x, buf, &off, &de, &rec_len)) == 1) {
    len = ext2fs_dirent_name_len (de);
    off += rec_len;
    if (de->inode == 0 || (len == 1 && de->name[0] == '.') ||
        (len == 2 && de->name[0] == '.' && de->name[1] == '.'))
      continue;
    d = extfs_dirents_grow (l);
    if (d == NULL || (d->name = malloc (len + 1)) == NULL)
      return -ENOMEM;
    memcpy (d->name, de->name, len);
    d->name[len] = '\0';
    d->len = len;
    d->ino = de->inode;
    d->ftype = ext2fs_dirent_file_type (de);
  }
  if (r < 0)
    s3vol_error (m->log, "directory inode %u of volume %s is corrupt: "
                 "nothing was merged", (unsigned) dir, x->volume);
  return r;
}

/* The logical block of physical block p (in the runs). */
static uint64_t
lblk_of (const struct blocks *bk, blk64_t p)
{
  size_t i;

  for (i = 0; i < bk->runs.len; i++)
    if (p >= bk->runs.ptr[i].pblk &&
        p < bk->runs.ptr[i].pblk + bk->runs.ptr[i].len)
      return bk->runs.ptr[i].lblk + (p - bk->runs.ptr[i].pblk);
  return 0;
}

static int
diff_piece (struct merge *m, blk64_t blk, blk64_t n, void *opaque)
{
  struct blocks *bk = opaque;
  blk64_t p;
  int r = 0;

  for (p = blk; r == 0 && p < blk + n; p++) {
    r = extfs_dirblock_read (m->b, bk->dir, p, bk->bbuf);
    if (r == 0)
      r = extfs_dirblock_read (m->l, bk->dir, p, bk->lbuf);
    if (r < 0 || memcmp (bk->bbuf, bk->lbuf, m->l->fs->blocksize) == 0 ||
        index_block (m->l, bk, lblk_of (bk, p), bk->lbuf))
      continue;
    r = parse_block (m, m->b, bk->bbuf, &bk->bl, bk->dir);
    if (r == 0)
      r = parse_block (m, m->l, bk->lbuf, &bk->ll, bk->dir);
  }
  return r;
}

/* 1 if the blocks could be compared (ops added), 0 if not alike. */
static int
diff_blocks (struct merge *m, ext2_ino_t dir, struct mop_list *ops)
{
  struct blocks bk = { .dir = dir };
  struct extfs_runs lr = { 0 };
  union extfs_inode bi, li;
  size_t i;
  int r;

  r = extfs_read_inode (m->b, dir, &bi);
  if (r == 0)
    r = extfs_read_inode (m->l, dir, &li);
  if (r == 0)
    r = merge_runs_of (m->b, dir, &bi, &bk.runs);
  if (r == 0)
    r = merge_runs_of (m->l, dir, &li, &lr);
  bk.indexed = li.small.i_flags & EXT2_INDEX_FL;
  if (r == 0 && (m->reused || !merge_same_runs (&bk.runs, &lr) ||
                 !(bi.small.i_flags & EXT2_INDEX_FL) != !bk.indexed ||
                 EXT2_I_SIZE (&bi.small) != EXT2_I_SIZE (&li.small)))
    r = 1;                      /* not alike: no */
  bk.bbuf = malloc (m->l->fs->blocksize);
  bk.lbuf = malloc (m->l->fs->blocksize);
  if (r == 0 && (bk.bbuf == NULL || bk.lbuf == NULL))
    r = -ENOMEM;
  for (i = 0; r == 0 && i < bk.runs.len; i++)
    r = merge_each_changed (m, bk.runs.ptr[i].pblk, bk.runs.ptr[i].len,
                            diff_piece, &bk);
  m->res->dir_entries_read += bk.bl.len + bk.ll.len;
  if (r == 0)
    r = check_sort (m, m->b, dir, &bk.bl);
  if (r == 0)
    r = check_sort (m, m->l, dir, &bk.ll);
  if (r == 0)
    r = diff_lists (m, &bk.bl, &bk.ll, ops);
  free (bk.bbuf);
  free (bk.lbuf);
  extfs_dirents_free (&bk.bl);
  extfs_dirents_free (&bk.ll);
  extfs_runs_reset (&bk.runs);
  extfs_runs_reset (&lr);
  return r < 0 ? r : r == 0;
}

int
merge_diff_dir (struct merge *m, ext2_ino_t dir, struct mop_list *ops)
{
  struct extfs_dirents bl = { 0 }, ll = { 0 };
  int r;

  m->res->dirs_diffed++;
  r = diff_blocks (m, dir, ops);
  if (r != 0)
    return r < 0 ? r : 0;
  r = merge_sorted_list (m, m->b, dir, &bl);
  if (r == 0)
    r = merge_sorted_list (m, m->l, dir, &ll);
  m->res->dir_entries_read += bl.len + ll.len;
  if (r == 0)
    r = diff_lists (m, &bl, &ll, ops);
  extfs_dirents_free (&bl);
  extfs_dirents_free (&ll);
  return r;
}
