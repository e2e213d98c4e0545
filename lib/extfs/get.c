/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: get: files, symlinks and directory trees out of a volume.
 *
 * Three steps, so that a big tree reads the volume in order rather than
 * jumping between chunks (a directory's files are spread over the disk
 * in the order they were written, and the cache would evict and fetch
 * the same chunks again and again):
 *
 *   walk    make the directories, symlinks and fifos, and list the
 *           regular files with where their data starts on the volume
 *   copy    copy the files sorted by that place; a file with several
 *           links that was copied already becomes a hard link
 *   finish  give the directories their modes and times, deepest first
 *           (writing into them changed their mtimes)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extfs_int.h"

struct gfile {
  ext2_ino_t ino;
  uint64_t first;               /* first physical block */
  char *local, *remote;
};
DEFINE_VECTOR (gfile_list, struct gfile);
DEFINE_VECTOR (gfile_ptrs, struct gfile *);

/* What a directory gets back at the end. */
struct attrs {
  uint32_t mode, uid, gid;
  int64_t atime_ns, mtime_ns;
};

struct gdir {
  char *local;
  struct attrs a;
};
DEFINE_VECTOR (gdir_list, struct gdir);

struct get {
  struct extfs *x;
  unsigned flags;
  struct gfile_list files;
  struct gdir_list dirs;
  struct gfile_ptrs linked;     /* copied files with several links */
  unsigned exists;              /* local files refused */
  uint64_t done, total;
  char *buf;
};

static int
local_error (struct extfs *x, const char *what, const char *path)
{
  int r = -errno;

  s3vol_error (x->log, "%s %s: %s", what, path, strerror (errno));
  return r;
}

static struct attrs
attrs_of (const union extfs_inode *in)
{
  struct attrs a = {
    .mode = in->small.i_mode, .uid = inode_uid (in->small),
    .gid = inode_gid (in->small), .atime_ns = extfs_get_time (in, T_ATIME),
    .mtime_ns = extfs_get_time (in, T_MTIME),
  };

  return a;
}

/* Owner (as root, like cp -a; best effort; before the mode, as chown
 * clears set-id bits), mode (not for symlinks), times.
 */
static int
set_attrs (struct extfs *x, const char *local, const struct attrs *a)
{
  struct timespec ts[2] = {
    { a->atime_ns / 1000000000, a->atime_ns % 1000000000 },
    { a->mtime_ns / 1000000000, a->mtime_ns % 1000000000 },
  };

  if (geteuid () == 0)
    (void) !lchown (local, a->uid, a->gid);
  if (!LINUX_S_ISLNK (a->mode) && chmod (local, a->mode & 07777) == -1)
    return local_error (x, "set the mode of", local);
  utimensat (AT_FDCWD, local, ts, AT_SYMLINK_NOFOLLOW);
  return 0;
}

static int
set_times (struct extfs *x, const char *local, const union extfs_inode *in)
{
  struct attrs a = attrs_of (in);

  return set_attrs (x, local, &a);
}

/* A local name is taken: 0 if it may be (re)made, 1 if refused. */
static int
taken (struct get *g, const char *local, bool is_dir)
{
  struct stat st;

  if (lstat (local, &st) == -1)
    return errno == ENOENT ? 0 : local_error (g->x, "check", local);
  if (is_dir && S_ISDIR (st.st_mode))
    return 0;                   /* merge into it */
  if (!(g->flags & EXTFS_FORCE) || S_ISDIR (st.st_mode)) {
    extfs_notify (g->x, EXTFS_EV_EXISTS, local, 0);
    g->exists++;
    return 1;
  }
  if (unlink (local) == -1)
    return local_error (g->x, "replace", local);
  return 0;
}

/* ---- walk ---- */

static int
first_run (void *opaque, const struct extfs_run *r)
{
  *(uint64_t *) opaque = r->pblk;
  return 1;                     /* stop */
}

static int walk (struct get *g, ext2_ino_t ino, union extfs_inode *in,
                 const char *remote, const char *local);

static int
walk_dir (struct get *g, ext2_ino_t ino, union extfs_inode *in,
          const char *remote, const char *local)
{
  char rpath[PATH_MAX], lpath[PATH_MAX];
  struct extfs_dirents ns = { 0 };
  union extfs_inode cin;
  struct gdir *d;
  size_t i;
  int r;

  if (!(g->flags & EXTFS_RECURSIVE)) {
    s3vol_error (g->x->log, "%s is a directory (use -r)", remote);
    return -EISDIR;
  }
  r = taken (g, local, true);
  if (r != 0)
    return r < 0 ? r : 0;
  if (mkdir (local, 0700) == -1 && errno != EEXIST)
    return local_error (g->x, "make directory", local);
  d = gdir_list_grow (&g->dirs);
  if (d == NULL || (d->local = strdup (local)) == NULL)
    return -ENOMEM;
  d->a = attrs_of (in);
  r = extfs_dir_list (g->x, ino, &ns);
  for (i = 0; r == 0 && i < ns.len; i++) {
    if (extfs_join (rpath, remote, ns.ptr[i].name) < 0 ||
        extfs_join (lpath, local, ns.ptr[i].name) < 0) {
      s3vol_error (g->x->log, "%s/%s: path too long", local,
                   ns.ptr[i].name);
      r = -ENAMETOOLONG;
      break;
    }
    r = extfs_read_inode (g->x, ns.ptr[i].ino, &cin);
    if (r == 0)
      r = walk (g, ns.ptr[i].ino, &cin, rpath, lpath);
  }
  extfs_dirents_free (&ns);
  return r;
}

static int
walk (struct get *g, ext2_ino_t ino, union extfs_inode *in,
      const char *remote, const char *local)
{
  struct gfile *f;
  char target[4096];
  int r;

  switch (in->small.i_mode & LINUX_S_IFMT) {
  case LINUX_S_IFDIR:
    return walk_dir (g, ino, in, remote, local);
  case LINUX_S_IFREG:
    f = gfile_list_grow (&g->files);
    if (f == NULL)
      return -ENOMEM;
    f->ino = ino;
    r = extfs_each_run (g->x, ino, in, first_run, &f->first);
    if (r < 0)
      return r;
    f->local = strdup (local);
    f->remote = strdup (remote);
    g->total += EXT2_I_SIZE (&in->small);
    return f->local && f->remote ? 0 : -ENOMEM;
  case LINUX_S_IFLNK:
    r = extfs_read_link (g->x, ino, in, target, sizeof target);
    if (r == 0)
      r = taken (g, local, false);
    if (r != 0)
      return r < 0 ? r : 0;
    if (symlink (target, local) == -1)
      return local_error (g->x, "make symlink", local);
    return set_times (g->x, local, in);
  case LINUX_S_IFIFO:
    r = taken (g, local, false);
    if (r != 0)
      return r < 0 ? r : 0;
    if (mkfifo (local, in->small.i_mode & 07777) == -1)
      return local_error (g->x, "make fifo", local);
    return set_times (g->x, local, in);
  default:
    extfs_notify (g->x, EXTFS_EV_SKIPPED, remote, 0);
    return 0;
  }
}

/* ---- copy ---- */

static int
by_place (const void *a, const void *b)
{
  const struct gfile *x = a, *y = b;

  if (x->first != y->first)
    return x->first < y->first ? -1 : 1;
  return x->ino < y->ino ? -1 : x->ino > y->ino;
}

static struct gfile *
copied_as (struct get *g, ext2_ino_t ino)
{
  size_t i;

  for (i = 0; i < g->linked.len; i++)
    if (g->linked.ptr[i]->ino == ino)
      return g->linked.ptr[i];
  return NULL;
}

static int
copy_file (struct get *g, struct gfile *f)
{
  struct extfs *x = g->x;
  union extfs_inode in;
  struct gfile *other;
  int fd, r;

  r = taken (g, f->local, false);
  if (r != 0)
    return r < 0 ? r : 0;
  r = extfs_read_inode (x, f->ino, &in);
  if (r < 0)
    return r;
  if (in.small.i_links_count > 1 && (other = copied_as (g, f->ino)) &&
      link (other->local, f->local) == 0)
    return 0;
  fd = open (f->local, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd == -1)
    return local_error (x, "create", f->local);
  r = extfs_copy_out (x, f->ino, &in, fd, true, f->remote, g->buf,
                      &g->done, g->total);
  if (close (fd) == -1 && r == 0)
    r = local_error (x, "write", f->local);
  if (r == 0)
    r = set_times (x, f->local, &in);
  if (r == 0 && in.small.i_links_count > 1)
    r = gfile_ptrs_append (&g->linked, f);
  return r;
}

int
extfs_get (struct extfs *x, const char *remote, const char *local,
           unsigned flags)
{
  struct get g = { .x = x, .flags = flags };
  char target[PATH_MAX], last[EXT2_NAME_LEN + 1];
  union extfs_inode in;
  ext2_ino_t ino, parent, link_ino;
  struct stat st;
  size_t i;
  int r;

  r = extfs_find (x, remote, true, &ino, &in);
  if (r < 0)
    return r;
  /* Into an existing directory: under the remote's own name. */
  if (stat (local, &st) == 0 && S_ISDIR (st.st_mode)) {
    r = extfs_resolve (x, remote, false, &parent, last, &link_ino);
    if (r == 0)
      r = extfs_join (target, local, last);
  }
  else
    r = snprintf (target, sizeof target, "%s", local) >= PATH_MAX
      ? -ENAMETOOLONG : 0;
  if (r == -ENAMETOOLONG)
    s3vol_error (x->log, "%s: path too long", local);
  g.buf = r == 0 ? malloc (EXTFS_PIECE) : NULL;
  if (r == 0 && g.buf == NULL)
    r = -ENOMEM;
  if (r == 0)
    r = walk (&g, ino, &in, remote, target);
  if (g.files.len > 1)
    qsort (g.files.ptr, g.files.len, sizeof *g.files.ptr, by_place);
  for (i = 0; r == 0 && i < g.files.len; i++)
    r = copy_file (&g, &g.files.ptr[i]);
  for (i = g.dirs.len; r == 0 && i-- > 0;)
    r = set_attrs (x, g.dirs.ptr[i].local, &g.dirs.ptr[i].a);
  if (r == 0 && g.exists) {
    s3vol_error (x->log, "%u local file%s already exist%s (use --force "
                 "to replace)", g.exists, g.exists > 1 ? "s" : "",
                 g.exists > 1 ? "" : "s");
    r = -EEXIST;
  }
  for (i = 0; i < g.files.len; i++) {
    free (g.files.ptr[i].local);
    free (g.files.ptr[i].remote);
  }
  for (i = 0; i < g.dirs.len; i++)
    free (g.dirs.ptr[i].local);
  gfile_list_reset (&g.files);
  gdir_list_reset (&g.dirs);
  gfile_ptrs_reset (&g.linked);
  free (g.buf);
  return r;
}
