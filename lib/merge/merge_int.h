/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: internals of the three-way merge (private to lib/merge):
 *
 *   merge.c   merge_run: opening B, L and H, retries, publishing
 *   scan.c    what L changed since B: orphans, inode tables, identity
 *   tree.c    directories entry by entry: adds, removals, moves
 *   copy.c    inodes from L into H: attributes, data, xattrs, new ones
 *
 * B and L are read-only extfs handles, H a writable one; everything
 * goes through lib/extfs's internal API (extfs_int.h) and libext2fs.
 */
#ifndef S3VOL_MERGE_INT_H
#define S3VOL_MERGE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "s3vol/merge.h"
#include "extfs_int.h"

/* An inode whose record L changed since B (atime aside). */
struct mchg {
  ext2_ino_t ino;
  bool b_alive, l_alive;
  bool same;                    /* alive in both, one generation */
  bool l_dir, b_dir;
  bool content;                 /* more than links and ctime changed */
  bool h_changed;               /* H changed it too (before merging) */
};
DEFINE_VECTOR (mchg_list, struct mchg);

/* A link to drop after every entry was added (a replaced entry's old
 * target): dir is H's directory it was in.
 */
struct mdrop {
  ext2_ino_t dir, ino;
};
DEFINE_VECTOR (mdrop_list, struct mdrop);

/* A report, told once the merge is published. */
struct mevent {
  enum merge_event ev;
  uint64_t seq;
  char *path;
};
DEFINE_VECTOR (mevent_list, struct mevent);

struct merge {
  const struct merge_config *cfg;
  const struct s3vol_log *log;
  struct volstore *vs;
  struct extfs *b, *l, *h;
  bool replayed;                /* a journal was replayed into B or L */
  struct hashmap orphans[3];    /* B, L, H: inode sets */
  struct mchg_list chg;         /* sorted by inode number */
  bool reused;                  /* L freed a number of B's and reused it */
  struct hashmap lmap;          /* L inode -> H inode made or merged */
  struct mdrop_list drops;
  struct mevent_list events;
  struct merge_result *res;
  char *buf;                    /* EXTFS_PIECE bytes */
  unsigned depth;
};

enum { SIDE_B, SIDE_L, SIDE_H };

/* scan.c: the orphan lists of side s (an inode set); the changes of L
 * since B into m->chg; lookups.
 */
int merge_orphans (struct merge *m, struct extfs *x, struct hashmap *set);
int merge_scan (struct merge *m);
const struct mchg *merge_changed (const struct merge *m, ext2_ino_t ino);
/* Is ino alive in x (allocated, linked, not an orphan)?  *in read. */
int merge_alive (struct merge *m, struct extfs *x, int side, ext2_ino_t ino,
                 union extfs_inode *in, bool *alive);
/* Same inode (number aside): generation, kind, creation time. */
bool merge_same_identity (const union extfs_inode *a,
                          const union extfs_inode *b);
/* Inode records equal but for atime and checksums? */
bool merge_same_record (struct extfs *x, const void *a, const void *b);
/* Does H hold inode ino as B had it (same number and generation,
 * alive)?  Does L (unchanged, or changed in place)?  Both (merge_h_has:
 * L's inode ino is H's ino)?  1, 0 or a negative errno.
 */
int merge_h_is_b (struct merge *m, ext2_ino_t ino);
bool merge_l_has (const struct merge *m, ext2_ino_t ino);
int merge_h_has (struct merge *m, ext2_ino_t ino);
/* Did H change ino's record since B?  1, 0 or a negative errno. */
int merge_h_changed (struct merge *m, ext2_ino_t ino);

/* Call fn (m, blk, n, opaque) for each piece of blocks [blk, blk + n)
 * in one chunk of the volume whose id differs between B and L (every
 * piece when a journal was replayed into either); stop at an error.
 */
typedef int merge_piece_fn (struct merge *m, blk64_t blk, blk64_t n,
                            void *opaque);
int merge_each_changed (struct merge *m, blk64_t blk, blk64_t n,
                        merge_piece_fn *fn, void *opaque);

/* dirdiff.c: the names of directory dir that differ between B and L
 * (appended to ops); every entry of x's dir but "." and "..", sorted by
 * name, names checked.
 */
struct mop {
  char *name;
  ext2_ino_t b, l;              /* B's target and L's (0: none) */
};
DEFINE_VECTOR (mop_list, struct mop);
int merge_diff_dir (struct merge *m, ext2_ino_t dir, struct mop_list *ops);
int merge_sorted_list (struct merge *m, struct extfs *x, ext2_ino_t dir,
                       struct extfs_dirents *l);

/* tree.c */
int merge_tree (struct merge *m);
/* The path of entry name of directory dir in x (name NULL: of dir). */
void merge_path (struct merge *m, struct extfs *x, ext2_ino_t dir,
                 const char *name, char out[PATH_MAX]);
void merge_tell (struct merge *m, enum merge_event ev, struct extfs *x,
                 ext2_ino_t dir, const char *name);

/* copy.c: a fresh H inode with L inode lino's kind, attributes,
 * xattrs and data (directories: empty, linked as name in hdir);
 * L's attributes, xattrs and data onto H's inode hino (the same inode
 * of B).
 */
int merge_copy_new (struct merge *m, ext2_ino_t lino, ext2_ino_t hdir,
                    const char *name, ext2_ino_t *hino);
int merge_copy_over (struct merge *m, ext2_ino_t lino, ext2_ino_t hino);
/* L's attributes of lino (mode, owner, times, flags) onto hino. */
int merge_copy_attrs (struct merge *m, ext2_ino_t lino, ext2_ino_t hino);
/* The data runs of an inode (unwritten ones left out); equal lists? */
int merge_runs_of (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                   struct extfs_runs *rs);
bool merge_same_runs (const struct extfs_runs *a, const struct extfs_runs *b);

#endif /* S3VOL_MERGE_INT_H */
