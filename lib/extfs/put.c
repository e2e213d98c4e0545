/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: put: local files, symlinks and directory trees into a volume.
 *
 * A put first plans: it walks the local trees and looks up every target,
 * so that existing files are all reported (and nothing written) unless
 * forced, and it knows how many bytes will be copied.  Then it copies:
 *
 *   directory  made (mode, owner, mtime of the local one) or merged into
 *   file       a new inode; the local file's data regions (SEEK_DATA /
 *              SEEK_HOLE, so holes stay holes) are allocated in one go
 *              with ext2fs_fallocate, then the data is written run by run
 *              in large pieces straight to the blocks, bypassing
 *              libext2fs's block-at-a-time file I/O
 *   symlink    a new symlink inode
 *   hard link  a local file met again (same device and inode) becomes
 *              another link to the inode already made
 *   existing   with force, the entry is pointed at the new inode and the
 *              old one loses a link
 *
 * Directories that gained entries get mtime and ctime now.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extfs_int.h"

#define PIECE (4u << 20)

static int
local_error (struct extfs *x, const char *what, const char *path)
{
  int r = -errno;

  s3vol_error (x->log, "%s %s: %s", what, path, strerror (errno));
  return r;
}

static int64_t
mtime_of (const struct stat *st)
{
  return (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The names in local directory path, sorted. */
static int
read_local_dir (struct extfs *x, const char *path, char ***names, size_t *n)
{
  struct dirent **list;
  int k, i;

  k = scandir (path, &list, NULL, alphasort);
  if (k < 0)
    return local_error (x, "read directory", path);
  *names = malloc ((k + 1) * sizeof **names);
  *n = 0;
  for (i = 0; i < k; i++) {
    if (*names && strcmp (list[i]->d_name, ".") &&
        strcmp (list[i]->d_name, ".."))
      (*names)[(*n)++] = strdup (list[i]->d_name);
    free (list[i]);
  }
  free (list);
  if (*names == NULL)
    return -ENOMEM;
  for (i = 0; i < (int) *n; i++)
    if ((*names)[i] == NULL)
      return -ENOMEM;
  return 0;
}

static void
free_names (char **names, size_t n)
{
  size_t i;

  for (i = 0; names && i < n; i++)
    free (names[i]);
  free (names);
}

/* ---- planning ---- */

struct plan {
  struct extfs *x;
  unsigned flags;
  uint64_t bytes;
  unsigned exists;
  char first_exists[PATH_MAX];  /* the first of them */
};

static int plan_node (struct plan *p, const char *local, const char *remote,
                      bool absent);

static int
plan_dir (struct plan *p, const char *local, const char *remote,
          bool absent)
{
  char lpath[PATH_MAX], rpath[PATH_MAX];
  char **names = NULL;
  size_t n = 0, i;
  int r;

  r = read_local_dir (p->x, local, &names, &n);
  for (i = 0; r == 0 && i < n; i++) {
    if (extfs_join (lpath, local, names[i]) < 0 ||
        extfs_join (rpath, remote, names[i]) < 0) {
      s3vol_error (p->x->log, "%s/%s: path too long", local, names[i]);
      r = -ENAMETOOLONG;
    }
    else if (strlen (names[i]) > EXT2_NAME_LEN) {
      s3vol_error (p->x->log, "%s: the name is longer than %d bytes",
                   lpath, EXT2_NAME_LEN);
      r = -ENAMETOOLONG;
    }
    else
      r = plan_node (p, lpath, rpath, absent);
  }
  free_names (names, n);
  return r;
}

static int
plan_node (struct plan *p, const char *local, const char *remote,
           bool absent)
{
  char last[EXT2_NAME_LEN + 1];
  union extfs_inode in;
  ext2_ino_t parent, ino;
  bool is_dir = false;
  struct stat st;
  int r;

  if (lstat (local, &st) == -1)
    return local_error (p->x, "read", local);
  if (!absent) {
    r = extfs_resolve (p->x, remote, false, &parent, last, &ino);
    if (r == -ENOTDIR) {
      s3vol_error (p->x->log, "cannot put %s: a part of %s is not a "
                   "directory", local, remote);
      return r;
    }
    if (r < 0 && r != -ENOENT)
      return r;
    absent = r == -ENOENT;
    if (!absent) {
      r = extfs_read_inode (p->x, ino, &in);
      if (r < 0)
        return r;
      is_dir = LINUX_S_ISDIR (in.small.i_mode);
    }
  }
  if (S_ISDIR (st.st_mode)) {
    if (!absent && !is_dir) {
      s3vol_error (p->x->log, "cannot put directory %s: %s exists and is "
                   "not a directory", local, remote);
      return -ENOTDIR;
    }
    return plan_dir (p, local, remote, absent);
  }
  if (!S_ISREG (st.st_mode) && !S_ISLNK (st.st_mode))
    return 0;                   /* skipped when copying */
  p->bytes += S_ISREG (st.st_mode) ? st.st_size : 0;
  if (absent)
    return 0;
  if (is_dir) {
    s3vol_error (p->x->log, "cannot put %s: %s is a directory", local,
                 remote);
    return -EISDIR;
  }
  if (!(p->flags & EXTFS_FORCE)) {
    extfs_notify (p->x, EXTFS_EV_EXISTS, remote, 0);
    if (p->exists++ == 0)
      snprintf (p->first_exists, sizeof p->first_exists, "%s", remote);
  }
  return 0;
}

/* ---- copying ---- */

/* Local (device, inode) -> inode made, for hard links. */
struct hl {
  dev_t dev;
  ino_t lino;
  ext2_ino_t ino;
};
DEFINE_VECTOR (hl_list, struct hl);
DEFINE_VECTOR (ino_list, ext2_ino_t);

struct put {
  struct extfs *x;
  unsigned flags;
  struct hl_list links;
  struct ino_list changed;      /* directories that gained entries */
  struct ino_list made;         /* directories made here (they keep the
                                   local mtime) */
  char *buf;
};

static ext2_ino_t
hl_find (struct put *p, const struct stat *st)
{
  size_t i;

  for (i = 0; i < p->links.len; i++)
    if (p->links.ptr[i].dev == st->st_dev &&
        p->links.ptr[i].lino == st->st_ino)
      return p->links.ptr[i].ino;
  return 0;
}

/* Add ino to l, unless it was the last added. */
static int
push_ino (struct ino_list *l, ext2_ino_t ino)
{
  if (l->len && l->ptr[l->len - 1] == ino)
    return 0;
  return ino_list_append (l, ino);
}

static int
cmp_ino (const void *a, const void *b)
{
  ext2_ino_t x = *(const ext2_ino_t *) a, y = *(const ext2_ino_t *) b;

  return x < y ? -1 : x > y;
}

/* Stamp every directory that gained entries once, but those made here. */
static int
stamp_changed (struct put *p)
{
  struct ino_list *c = &p->changed, *m = &p->made;
  size_t i;
  int r = 0;

  if (c->len > 1)
    qsort (c->ptr, c->len, sizeof *c->ptr, cmp_ino);
  if (m->len > 1)
    qsort (m->ptr, m->len, sizeof *m->ptr, cmp_ino);
  for (i = 0; r == 0 && i < c->len; i++)
    if ((i == 0 || c->ptr[i] != c->ptr[i - 1]) &&
        (m->len == 0 || !bsearch (&c->ptr[i], m->ptr, m->len,
                                  sizeof *m->ptr, cmp_ino)))
      r = extfs_touch_dir (p->x, c->ptr[i]);
  return r;
}

/* Block-aligned data regions of local file fd: allocated in the inode. */
static int
alloc_data (struct put *p, int fd, const struct stat *st, ext2_ino_t ino,
            union extfs_inode *in, const char *remote)
{
  uint64_t bs = p->x->fs->blocksize, size = st->st_size, start, end;
  uint64_t run_lo = 0, run_hi = 0;
  off_t data = 0, hole;
  int r;

  while (data < (off_t) size) {
    data = lseek (fd, data, SEEK_DATA);
    if (data == -1 && errno == ENXIO)
      break;
    if (data == -1) {             /* no SEEK_DATA here: all data */
      data = 0;
      hole = size;
    }
    else if ((hole = lseek (fd, data, SEEK_HOLE)) == -1)
      hole = size;
    if (hole > (off_t) size)
      hole = size;
    start = data / bs;
    end = (hole + bs - 1) / bs;
    if (run_hi && start <= run_hi)
      run_hi = end > run_hi ? end : run_hi;
    else {
      if (run_hi > run_lo) {
        r = extfs_alloc_range (p->x, ino, in, run_lo, run_hi - run_lo,
                               remote);
        if (r < 0)
          return r;
      }
      run_lo = start;
      run_hi = end;
    }
    data = hole;
  }
  if (run_hi > run_lo)
    return extfs_alloc_range (p->x, ino, in, run_lo, run_hi - run_lo,
                              remote);
  return 0;
}

struct fill {
  struct put *p;
  int fd;
  uint64_t size;
  const char *local;
};

/* Write the local bytes of one run of allocated blocks. */
static int
fill_run (void *opaque, const struct extfs_run *run)
{
  struct fill *f = opaque;
  struct extfs *x = f->p->x;
  uint64_t bs = x->fs->blocksize, k, n, off, want;
  ssize_t got;
  size_t have;
  errcode_t e;

  for (k = 0; k < run->len; k += n) {
    n = run->len - k < PIECE / bs ? run->len - k : PIECE / bs;
    off = (run->lblk + k) * bs;
    want = off < f->size ? f->size - off : 0;
    if (want > n * bs)
      want = n * bs;
    for (have = 0; have < want; have += got) {
      got = pread (f->fd, f->p->buf + have, want - have, off + have);
      if (got == -1 && errno == EINTR) {
        got = 0;
        continue;
      }
      if (got == -1)
        return local_error (x, "read", f->local);
      if (got == 0)
        break;                  /* it shrank: zeros */
    }
    memset (f->p->buf + have, 0, n * bs - have);
    e = io_channel_write_blk64 (x->fs->io, run->pblk + k, n, f->p->buf);
    if (e)
      return extfs_fail (x, e, "write", f->local);
    x->pdone += want;
    extfs_progress (x, "put", x->pdone, x->ptotal);
  }
  return 0;
}

static int
put_file (struct put *p, const char *local, const struct stat *st,
          ext2_ino_t dir, const char *remote, ext2_ino_t *ino)
{
  struct extfs *x = p->x;
  struct fill f = { .p = p, .size = st->st_size, .local = local };
  union extfs_inode in;
  int r;

  f.fd = open (local, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f.fd == -1)
    return local_error (x, "open", local);
  r = extfs_new_inode (x, dir, LINUX_S_IFREG | (st->st_mode & 07777),
                       st->st_uid, st->st_gid, mtime_of (st), ino);
  if (r == 0)
    r = extfs_read_inode (x, *ino, &in);
  if (r == 0 && ext2fs_inode_size_set (x->fs, &in.small, st->st_size)) {
    s3vol_error (x->log, "%s: too large for the filesystem", local);
    r = -EFBIG;
  }
  if (r == 0)
    r = alloc_data (p, f.fd, st, *ino, &in, remote);
  if (r == 0)
    r = extfs_write_inode (x, *ino, &in);
  if (r == 0)
    r = extfs_each_run (x, *ino, &in, fill_run, &f);
  close (f.fd);
  return r;
}

static int put_node (struct put *p, const char *local, ext2_ino_t parent,
                     const char *name, const char *remote);

static int
put_dir (struct put *p, const char *local, const struct stat *st,
         ext2_ino_t parent, const char *name, const char *remote,
         ext2_ino_t old, bool exists)
{
  char lpath[PATH_MAX], rpath[PATH_MAX];
  char **names = NULL;
  ext2_ino_t dir = old;
  size_t n = 0, i;
  int r = 0;

  if (!exists) {
    r = extfs_new_dir (p->x, parent, name, st->st_mode, st->st_uid,
                       st->st_gid, mtime_of (st), &dir);
    if (r == 0)
      r = push_ino (&p->changed, parent);
    if (r == 0)
      r = push_ino (&p->made, dir);
  }
  if (r == 0)
    r = read_local_dir (p->x, local, &names, &n);
  for (i = 0; r == 0 && i < n; i++) {
    r = extfs_join (lpath, local, names[i]);
    if (r == 0)
      r = extfs_join (rpath, remote, names[i]);
    if (r == 0)
      r = put_node (p, lpath, dir, names[i], rpath);
  }
  free_names (names, n);
  return r;
}

static int
put_node (struct put *p, const char *local, ext2_ino_t parent,
          const char *name, const char *remote)
{
  struct extfs *x = p->x;
  char target[4096];
  union extfs_inode in;
  ext2_ino_t old = 0, ino = 0;
  struct stat st;
  bool exists, linked = false;
  int ftype = EXT2_FT_UNKNOWN, r;
  ssize_t len;

  if (lstat (local, &st) == -1)
    return local_error (x, "read", local);
  r = extfs_lookup (x, parent, name, &old, &ftype);
  if (r < 0 && r != -ENOENT)
    return r;
  exists = r == 0;
  if (exists && ftype == EXT2_FT_UNKNOWN) {
    r = extfs_read_inode (x, old, &in);
    if (r < 0)
      return r;
    ftype = extfs_ftype_of_mode (in.small.i_mode);
  }
  if (S_ISDIR (st.st_mode)) {
    if (exists && ftype != EXT2_FT_DIR) {
      s3vol_error (x->log, "cannot put directory %s: %s exists and is not "
                   "a directory", local, remote);
      return -ENOTDIR;
    }
    return put_dir (p, local, &st, parent, name, remote, old, exists);
  }
  if (!S_ISREG (st.st_mode) && !S_ISLNK (st.st_mode)) {
    extfs_notify (x, EXTFS_EV_SKIPPED, local, 0);
    return 0;
  }
  if (exists && ftype == EXT2_FT_DIR) {
    s3vol_error (x->log, "cannot put %s: %s is a directory", local, remote);
    return -EISDIR;
  }
  if (exists && !(p->flags & EXTFS_FORCE)) {
    s3vol_error (x->log, "%s exists in volume %s (use --force to replace "
                 "it)", remote, x->volume);
    return -EEXIST;
  }
  r = extfs_touch (x, remote);
  if (r == 0 && S_ISREG (st.st_mode) && st.st_nlink > 1 &&
      (ino = hl_find (p, &st)) != 0) {
    r = extfs_add_link_count (x, ino);
    linked = true;
  }
  else if (r == 0 && S_ISREG (st.st_mode))
    r = put_file (p, local, &st, parent, remote, &ino);
  else if (r == 0) {
    len = readlink (local, target, sizeof target - 1);
    if (len < 0)
      return local_error (x, "read symlink", local);
    target[len] = '\0';
    r = extfs_new_symlink (x, parent, target, st.st_uid, st.st_gid,
                           mtime_of (&st), &ino);
  }
  ftype = S_ISREG (st.st_mode) ? EXT2_FT_REG_FILE : EXT2_FT_SYMLINK;
  if (r == 0 && exists) {
    r = extfs_dir_set (x, parent, name, ino, ftype);
    if (r == 0)
      r = extfs_drop_link (x, old, parent);
  }
  else if (r == 0)
    r = extfs_dir_add (x, parent, name, ino, ftype);
  if (r == 0)
    r = push_ino (&p->changed, parent);
  if (r == 0 && !linked && S_ISREG (st.st_mode) && st.st_nlink > 1)
    r = hl_list_append (&p->links, (struct hl) { st.st_dev, st.st_ino,
                                                 ino });
  return r;
}

int
extfs_run_put (struct extfs *x, const char *local, const char *remote,
               unsigned flags)
{
  struct put p = { .x = x, .flags = flags };
  char dir[PATH_MAX], name[EXT2_NAME_LEN + 1];
  ext2_ino_t parent;
  struct stat st;
  int r;

  p.buf = malloc (PIECE);
  if (p.buf == NULL)
    return -ENOMEM;
  extfs_split (remote, dir, name);
  if (name[0] == '\0') {
    /* Into the root itself. */
    if (lstat (local, &st) == -1)
      r = local_error (x, "read", local);
    else if (!S_ISDIR (st.st_mode)) {
      s3vol_error (x->log, "cannot put %s: / is a directory", local);
      r = -EISDIR;
    }
    else
      r = put_dir (&p, local, &st, EXT2_ROOT_INO, "", "/", EXT2_ROOT_INO,
                   true);
  }
  else {
    r = extfs_make_dirs (x, dir, &parent);
    if (r == 0)
      r = put_node (&p, local, parent, name, remote);
  }
  if (r == 0)
    r = stamp_changed (&p);
  free (p.buf);
  hl_list_reset (&p.links);
  ino_list_reset (&p.changed);
  ino_list_reset (&p.made);
  return r;
}

int
extfs_put (struct extfs *x, const char *const *locals, size_t n,
           const char *remote, unsigned flags)
{
  struct plan pl = { .x = x, .flags = flags };
  char base[PATH_MAX], *b, **targets;
  char last[EXT2_NAME_LEN + 1];
  union extfs_inode in;
  ext2_ino_t parent, ino;
  bool into;
  size_t i, len;
  int r;

  r = extfs_check_writable (x);
  if (r < 0 || n == 0)
    return r < 0 ? r : -EINVAL;
  len = strlen (remote);
  into = n > 1 || (len && remote[len - 1] == '/');
  if (!into && extfs_resolve (x, remote, true, &parent, last, &ino) == 0 &&
      extfs_read_inode (x, ino, &in) == 0 &&
      LINUX_S_ISDIR (in.small.i_mode))
    into = true;
  targets = calloc (n, sizeof *targets);
  if (targets == NULL)
    return -ENOMEM;
  for (i = 0; r == 0 && i < n; i++) {
    targets[i] = malloc (PATH_MAX);
    if (targets[i] == NULL) {
      r = -ENOMEM;
      break;
    }
    /* The local's own name: its last component ("." stays "."). */
    snprintf (base, sizeof base, "%s", locals[i]);
    for (len = strlen (base); len > 1 && base[len - 1] == '/'; len--)
      base[len - 1] = '\0';
    b = strrchr (base, '/');
    b = b && b[1] ? b + 1 : base;
    if (strcmp (b, "..") == 0 || strcmp (b, "/") == 0)
      b = ".";
    r = extfs_join (targets[i], remote, into ? b : "");
    if (r == 0)
      r = extfs_norm (x, targets[i], targets[i]);
    else
      s3vol_error (x->log, "%s: path too long", remote);
  }
  for (i = 0; r == 0 && i < n; i++)
    r = plan_node (&pl, locals[i], targets[i], false);
  if (r == 0 && pl.exists)
    r = extfs_exists_error (x, pl.exists, pl.first_exists, false);
  x->pdone = 0;
  x->ptotal = pl.bytes;
  for (i = 0; r == 0 && i < n; i++)
    r = extfs_apply (x, OP_PUT, locals[i], targets[i], flags);
  for (i = 0; i < n; i++)
    free (targets[i]);
  free (targets);
  return r;
}
