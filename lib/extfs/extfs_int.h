/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: internals of extfs (file operations in a volume's ext4 image),
 * shared by its files (private to lib/):
 *
 *   extfs.c      open, close, the private cache
 *   ops.c        the apply table of the changes, and their log
 *   oplog.c      base states of touched paths, commit and rebase
 *   io.c         the libext2fs I/O manager over struct cache
 *   sbcheck.c    superblock checks libext2fs lacks, run by io.c's open
 *   bcache.c     its write-back cache of metadata blocks
 *   journal.c    jbd2 journal replay into the overlay
 *   dir.c        directory cache, lookups, entries added and removed
 *   htree.c      indexed (htree) directories
 *   path.c       path resolution, symlinks, walking a directory
 *   node.c       inodes: attributes, times, block runs, freeing
 *   read.c       stat, list, cat
 *   get.c        get (files out of the volume)
 *   put.c        put (local files into the volume)
 *   edit.c       mkdir, rm, cp
 */
#ifndef S3VOL_EXTFS_INT_H
#define S3VOL_EXTFS_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include <ext2fs/ext2fs.h>

#include "s3vol/cache.h"
#include "s3vol/extfs.h"
#include "hashmap.h"
#include "vector.h"

union extfs_inode;

/* ---- the I/O manager (io.c) ---- */

#define EXTFS_IO_MAGIC 0x53335646u     /* "S3VF" */

/* What an I/O channel works on; libext2fs finds it through the name
 * passed to ext2fs_open2 ("s3vol-cache:%p"), so no global state.
 */
struct extfs_io {
  uint32_t magic;
  struct cache *cache;
  const struct s3vol_log *log;
  uint64_t size;                /* bytes of the volume */
  uint64_t bytes_read, bytes_written;
  struct struct_io_stats stats;
  bool pinning;                 /* blocks read now stay in the block cache */
  int last_error;               /* negative errno of the last failure */
};

io_manager extfs_io_manager (void);
/* sbcheck.c: refuse a superblock libext2fs cannot be trusted with
 * (logged; -EUCLEAN, also left in io->last_error), else 0.
 */
int extfs_sb_check (struct extfs_io *io);

/* bcache.c: the channel's block cache, and byte I/O on the volume
 * cache (negative errno, kept in io->last_error).
 */
struct bcache;
int extfs_bc_new (struct extfs_io *io, unsigned bs, struct bcache **out);
void extfs_bc_free (struct bcache *bc);
int extfs_bc_read (struct bcache *bc, uint64_t blk, uint64_t n, void *buf);
int extfs_bc_write (struct bcache *bc, uint64_t blk, uint64_t n,
                    const void *buf);
int extfs_bc_flush (struct bcache *bc);
/* Write back and drop what the cache holds of a byte range. */
int extfs_bc_forget (struct bcache *bc, uint64_t off, uint64_t len);
int extfs_raw_read (struct extfs_io *io, void *buf, uint64_t len,
                    uint64_t off);
int extfs_raw_write (struct extfs_io *io, const void *buf, uint64_t len,
                     uint64_t off);
/* The name that makes extfs_io_manager's open find io. */
void extfs_io_name (struct extfs_io *io, char *buf, size_t n);

/* ---- the handle ---- */

/* The kinds of change: rows of the apply table (ops.c). */
enum extfs_op_kind { OP_PUT, OP_MKDIR, OP_RM, OP_CP };

/* One logged change, replayed as it was resolved the first time. */
struct extfs_op {
  enum extfs_op_kind kind;
  char *a;                      /* PUT: local; CP: src; else: path */
  char *b;                      /* PUT, CP: the resolved remote target */
  unsigned flags;
};
DEFINE_VECTOR (extfs_op_list, struct extfs_op);

/* A path's state in the base version, remembered when a change first
 * touches it, so a replay can tell whether another writer changed it.
 */
struct extfs_seen {
  unsigned checked;             /* the replay that last compared it */
  bool changed;                 /* found changed by another writer */
  bool present;
  uint32_t ino, gen;
  int64_t ctime_ns;
  uint64_t size;
  char path[];
};
DEFINE_VECTOR (extfs_seen_list, struct extfs_seen *);

struct dcache;

struct extfs {
  struct volstore *vs;
  const struct s3vol_log *log;
  struct extfs_config cfg;
  char *volume;
  char tmp[PATH_MAX];           /* the private cache directory */
  struct cache *cache;
  struct extfs_io io;
  ext2_filsys fs;
  uint64_t seq;                 /* version shown */
  bool writable;

  /* Writing. */
  struct dcache *dc;
  struct extfs_op_list ops;     /* the log */
  struct extfs_seen_list seen;  /* in the order first touched */
  struct hashmap seen_by_path;
  bool changed;                 /* anything applied since open */
  bool replaying;               /* running the log on a moved head */
  unsigned rebases;             /* replays so far */
  int64_t now_ns;               /* the time changes are stamped with */
  uint64_t pdone, ptotal;       /* progress of the running put */
};

/* extfs.c */
int extfs_errno (errcode_t e);
/* Log "what: path: reason" for libext2fs error e; returns -errno. */
int extfs_fail (struct extfs *x, errcode_t e, const char *what,
                const char *path);
/* -ENOSPC, logged with the room left in the volume. */
int extfs_nospace (struct extfs *x, const char *path, bool inodes);
int extfs_check_writable (struct extfs *x);
/* Open x->fs on the cache (rw: with bitmaps); open a version on a new
 * private cache (x->seq set); close both, removing the cache.
 */
int extfs_open_fs (struct extfs *x, bool rw);
int extfs_open_version (struct extfs *x, const struct vol_ref *ref);
void extfs_close_version (struct extfs *x);
/* ops.c: apply a change (a, b: as in struct extfs_op, b NULL where
 * the kind has none) through its row of the table, and log it; when
 * x->replaying, with the row's replay flags and not logged.  Redo the
 * log (on a moved head); free it.
 */
int extfs_apply (struct extfs *x, enum extfs_op_kind kind, const char *a,
                 const char *b, unsigned flags);
int extfs_redo (struct extfs *x);
void extfs_free_ops (struct extfs *x);
/* oplog.c: free the log and the base states. */
void extfs_free_log (struct extfs *x);
/* Before a change to path: remember its base state (first run), or
 * report it if another writer changed it (replay).
 */
int extfs_touch (struct extfs *x, const char *path);
void extfs_notify (struct extfs *x, enum extfs_event ev, const char *path,
                   uint64_t seq);
void extfs_progress (struct extfs *x, const char *what, uint64_t done,
                     uint64_t total);

/* journal.c: replay the journal of x->fs (opened read-only on the
 * version as stored) into the overlay.  *replayed gets the number of
 * transactions replayed.  0, or a negative errno (logged).
 */
int extfs_journal_replay (struct extfs *x, unsigned *replayed);

/* extfs.c: the one error for n existing destinations (first: the first
 * of them, each notified as EXTFS_EV_EXISTS before, the CLI showing
 * them from the second on); local: they are local files (get), not
 * the volume's.  -EEXIST.
 */
int extfs_exists_error (struct extfs *x, unsigned n, const char *first,
                        bool local);

/* ---- directories (dir.c) ---- */

int extfs_dc_new (struct extfs *x);
void extfs_dc_free (struct extfs *x);
/* Forget what is cached about directory ino (it was removed). */
void extfs_dc_forget (struct extfs *x, ext2_ino_t dir);

/* Look name up in directory dir: 0 with *ino (and *ftype, EXT2_FT_*),
 * -ENOENT (not logged), or another error (logged).
 */
int extfs_lookup (struct extfs *x, ext2_ino_t dir, const char *name,
                  ext2_ino_t *ino, int *ftype);

/* Resolve path: *ino of the last component (follow: through a symlink
 * there too), *parent its directory, and last its name (at most
 * EXT2_NAME_LEN bytes + NUL; "" for the root).  -ENOENT if the last
 * component is missing: *parent and last are then still set (-ENOENT
 * with *parent 0 if a directory on the way is missing).
 */
int extfs_resolve (struct extfs *x, const char *path, bool follow,
                   ext2_ino_t *parent, char last[EXT2_NAME_LEN + 1],
                   ext2_ino_t *ino);

/* Splitting a path (for extfs_resolve and extfs_norm): the length of
 * the next name from p on (0 at the end), *skip the slashes before it;
 * -ENAMETOOLONG, logged with the whole path, if over EXT2_NAME_LEN.
 */
int extfs_next_name (struct extfs *x, const char *path, const char *p,
                     size_t *skip);

/* A symlink's target (its inode in in), NUL-terminated; -ERANGE if n
 * is too small.
 */
int extfs_read_link (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                     char *buf, size_t n);

/* May a directory entry's name (len bytes) leave the volume: not
 * empty, ".", "..", and without '/' or NUL?  Names that may not are
 * refused wherever a name is used outside the volume (get) or joined
 * into a path.
 */
bool extfs_name_ok (const char *name, size_t len);
/* name, shown safely in a message (control bytes, '/', '\\' and the
 * dots of "." and ".." as \xNN), into out (n bytes; cut if too short).
 */
void extfs_name_escape (const char *name, size_t len, char *out, size_t n);
/* Room for a symlink's target and its NUL. */
#define EXTFS_LINK_MAX 4096
/* The deepest directory tree walked (get, rm, cp). */
#define EXTFS_MAX_DEPTH 1024
/* A set of inode numbers (loops in a corrupt tree): init; add (1 if
 * new, 0 if there already, -ENOMEM); free with hashmap_free.
 */
void extfs_inoset_init (struct hashmap *m);
int extfs_inoset_add (struct hashmap *m, ext2_ino_t ino);

/* Add name -> ino (type ftype) to directory dir; remove it; point an
 * existing name at another inode.
 */
int extfs_dir_add (struct extfs *x, ext2_ino_t dir, const char *name,
                   ext2_ino_t ino, int ftype);
int extfs_dir_remove (struct extfs *x, ext2_ino_t dir, const char *name);
int extfs_dir_set (struct extfs *x, ext2_ino_t dir, const char *name,
                   ext2_ino_t ino, int ftype);

/* Directory blocks (dir.c), for htree.c: the physical block
 * of logical block lblk; reading and writing one (checksums checked and
 * set); the next entry of a block at *off (1, 0 at the end, -EUCLEAN);
 * putting name into the free room of the entry at off (1 if it fit,
 * *at: where); the size of the checksum tail.
 */
int extfs_dir_bmap (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
                    uint64_t lblk, blk64_t *pblk);
int extfs_dirblock_read (struct extfs *x, ext2_ino_t dir, blk64_t pblk,
                         void *buf);
int extfs_dirblock_write (struct extfs *x, ext2_ino_t dir, blk64_t pblk,
                          void *buf);
int extfs_dirent_next (struct extfs *x, char *buf, unsigned *off,
                       struct ext2_dir_entry **de, unsigned *rec_len);
int extfs_dirent_fit (struct extfs *x, char *buf, unsigned off,
                      unsigned rec_len, const char *name, size_t len,
                      ext2_ino_t ino, int ftype, unsigned *at);
int extfs_dir_csum (struct extfs *x);
/* htree.c: index a full one-block linear directory; the logical
 * leaf block of an indexed directory that name hashes to (buf: a block).
 */
int extfs_make_indexed (struct extfs *x, ext2_ino_t dir);
/* Refuse to change directory dir, whose inode flags (EXT4_ENCRYPT_FL,
 * EXT4_CASEFOLD_FL, EXT4_INLINE_DATA_FL) say it is of a kind s3vol
 * does not write: logged as s3vol's limitation; -ENOTSUP.
 */
int extfs_dir_unsupported (struct extfs *x, ext2_ino_t dir, uint32_t flags);
/* Check the whole index of directory dir (untrusted) before it is
 * changed: 0, or -EUCLEAN / -ENOTSUP logged with the directory inode.
 */
int extfs_dx_check (struct extfs *x, ext2_ino_t dir);
int extfs_dx_leaf (struct extfs *x, ext2_ino_t dir, union extfs_inode *in,
                   const char *name, char *buf, uint32_t *lblk);

/* Call fn for every entry of directory dir but "." and "..", in disk
 * order.  fn returns nonzero to stop.
 */
int extfs_dir_each (struct extfs *x, ext2_ino_t dir,
                    int (*fn) (void *opaque, const char *name, size_t len,
                               ext2_ino_t ino, int ftype),
                    void *opaque);

/* A directory entry, as extfs_dir_list collects them. */
struct extfs_dirent {
  char *name;
  size_t len;                   /* of the name on disk (it may hold NUL) */
  ext2_ino_t ino;
  int ftype;
};
DEFINE_VECTOR (extfs_dirents, struct extfs_dirent);
/* Append every entry of directory dir but "." and ".." to l, in disk
 * order; free the names and l.
 */
int extfs_dir_list (struct extfs *x, ext2_ino_t dir,
                    struct extfs_dirents *l);
void extfs_dirents_free (struct extfs_dirents *l);

/* Is directory dir empty?  1, 0 or a negative errno. */
int extfs_dir_empty (struct extfs *x, ext2_ino_t dir);

/* ---- inodes (node.c) ---- */

/* An inode big enough for any inode size. */
union extfs_inode {
  struct ext2_inode small;
  struct ext2_inode_large large;
  uint8_t bytes[1024];
};

int extfs_read_inode (struct extfs *x, ext2_ino_t ino,
                      union extfs_inode *in);
int extfs_write_inode (struct extfs *x, ext2_ino_t ino,
                       union extfs_inode *in);
void extfs_to_stat (struct extfs *x, ext2_ino_t ino,
                    const union extfs_inode *in, struct extfs_stat *st);
int64_t extfs_get_time (const union extfs_inode *in, int which);
void extfs_set_time (struct extfs *x, union extfs_inode *in, int which,
                     int64_t ns);
enum { T_ATIME, T_MTIME, T_CTIME, T_CRTIME };
int extfs_ftype_of_mode (uint32_t mode);

/* A run of a file's blocks: logical lblk.. mapped to physical pblk..;
 * uninit runs read as zeros.
 */
struct extfs_run {
  uint64_t lblk, pblk, len;
  bool uninit;
};
DEFINE_VECTOR (extfs_runs, struct extfs_run);
int extfs_each_run (struct extfs *x, ext2_ino_t ino,
                    union extfs_inode *in,
                    int (*fn) (void *opaque, const struct extfs_run *r),
                    void *opaque);

/* A new inode (not yet linked anywhere) with mode, owner and times;
 * regular files and directories get an empty extent tree.  *ino out.
 * Directories are made by extfs_new_dir.
 */
int extfs_new_inode (struct extfs *x, ext2_ino_t dir, uint32_t mode,
                     uint32_t uid, uint32_t gid, int64_t mtime_ns,
                     ext2_ino_t *ino);
/* A new, empty directory in parent (linked as name). */
int extfs_new_dir (struct extfs *x, ext2_ino_t parent, const char *name,
                   uint32_t mode, uint32_t uid, uint32_t gid,
                   int64_t mtime_ns, ext2_ino_t *ino);
/* A new symlink inode (not linked). */
int extfs_new_symlink (struct extfs *x, ext2_ino_t dir, const char *target,
                       uint32_t uid, uint32_t gid, int64_t mtime_ns,
                       ext2_ino_t *ino);
/* Allocate blocks lblk..lblk+len-1 of regular file ino. */
int extfs_alloc_range (struct extfs *x, ext2_ino_t ino,
                       union extfs_inode *in, uint64_t lblk, uint64_t len,
                       const char *path);
/* One link to ino is gone: drop the count, free the inode and its blocks
 * at zero.  For a directory (whose entries must be gone) this frees it
 * and drops parent's link count.
 */
int extfs_drop_link (struct extfs *x, ext2_ino_t ino, ext2_ino_t parent);
/* Add a link to ino (a hard link's second name). */
int extfs_add_link_count (struct extfs *x, ext2_ino_t ino);
/* Stamp directory dir as modified now. */
int extfs_touch_dir (struct extfs *x, ext2_ino_t dir);

/* edit.c: make directory path and any missing parents; *ino out
 * (an existing directory is fine).
 */
int extfs_make_dirs (struct extfs *x, const char *path, ext2_ino_t *ino);
/* Remove path (a tree if recursive); missing is -ENOENT (not logged). */
int extfs_remove_path (struct extfs *x, const char *path, bool recursive);

/* read.c */
#define EXTFS_PIECE (4u << 20)  /* bytes moved through the cache at once */
/* Resolve a path a user gave (logging a missing one); in if not NULL. */
int extfs_find (struct extfs *x, const char *path, bool follow,
                ext2_ino_t *ino, union extfs_inode *in);
/* extfs_find through symlinks, for a regular file: -EISDIR for a
 * directory, -EINVAL for other kinds (logged).
 */
int extfs_find_file (struct extfs *x, const char *path, ext2_ino_t *ino,
                     union extfs_inode *in);
/* Write regular file ino's bytes to fd (sparse: a fresh regular file,
 * holes skipped, sized at the end; else in order, holes as zeros),
 * through buf (EXTFS_PIECE bytes).  *done counts bytes, for progress.
 */
int extfs_copy_out (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                    int fd, bool sparse, const char *path, char *buf,
                    uint64_t *done, uint64_t total);

/* The apply functions of the table (ops.c), in put.c and edit.c; only
 * extfs_apply calls them.  x->now_ns is set.
 */
int extfs_run_put (struct extfs *x, const char *local, const char *remote,
                   unsigned flags);
int extfs_run_mkdir (struct extfs *x, const char *path, const char *unused,
                     unsigned flags);
int extfs_run_rm (struct extfs *x, const char *path, const char *unused,
                  unsigned flags);
int extfs_run_cp (struct extfs *x, const char *src, const char *dst,
                  unsigned flags);

/* Join dir and name into out (PATH_MAX); -ENAMETOOLONG if too long. */
int extfs_join (char *out, const char *dir, const char *name);
/* A volume path in one form: "/a/b" (no "//", ".", "..", trailing
 * "/"); "/" for the root.  -ENAMETOOLONG (logged) if too long.
 */
int extfs_norm (struct extfs *x, const char *path, char out[PATH_MAX]);
/* Split a normal path into its directory and last name. */
void extfs_split (const char *path, char dir[PATH_MAX],
                  char name[EXT2_NAME_LEN + 1]);
int64_t extfs_now (void);

#endif /* S3VOL_EXTFS_INT_H */
