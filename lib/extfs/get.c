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

/* What a directory gets back at the end. */
struct attrs {
  uint32_t mode, uid, gid;
  int64_t atime_ns, mtime_ns;
};

struct gdir {
  char *local;
  struct attrs a;
};

struct get {
  struct extfs *x;
  unsigned flags;
  struct gfile *files;
  size_t nfiles, capfiles;
  struct gdir *dirs;
  size_t ndirs, capdirs;
  struct gfile **linked;        /* copied files with several links */
  size_t nlinked, caplinked;
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

static int
grow (void **a, size_t *cap, size_t n, size_t size)
{
  void *na;
  size_t c;

  if (n < *cap)
    return 0;
  c = *cap ? 2 * *cap : 64;
  na = realloc (*a, c * size);
  if (na == NULL)
    return -ENOMEM;
  *a = na;
  *cap = c;
  return 0;
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

struct names {
  char **name;
  ext2_ino_t *ino;
  size_t n, cap;
};

static int
add_name (void *opaque, const char *name, size_t len, ext2_ino_t ino,
          int ftype)
{
  struct names *ns = opaque;
  size_t cap = ns->cap;

  (void) ftype;
  if (grow ((void **) &ns->name, &cap, ns->n, sizeof *ns->name) < 0 ||
      grow ((void **) &ns->ino, &ns->cap, ns->n, sizeof *ns->ino) < 0)
    return -ENOMEM;
  ns->name[ns->n] = strndup (name, len);
  ns->ino[ns->n] = ino;
  if (ns->name[ns->n] == NULL)
    return -ENOMEM;
  ns->n++;
  return 0;
}

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
  struct names ns = { 0 };
  union extfs_inode cin;
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
  r = grow ((void **) &g->dirs, &g->capdirs, g->ndirs, sizeof *g->dirs);
  if (r == 0) {
    g->dirs[g->ndirs].local = strdup (local);
    g->dirs[g->ndirs].a = attrs_of (in);
    r = g->dirs[g->ndirs++].local ? 0 : -ENOMEM;
  }
  if (r == 0)
    r = extfs_dir_each (g->x, ino, add_name, &ns);
  for (i = 0; r == 0 && i < ns.n; i++) {
    if (extfs_join (rpath, remote, ns.name[i]) < 0 ||
        extfs_join (lpath, local, ns.name[i]) < 0) {
      s3vol_error (g->x->log, "%s/%s: path too long", local, ns.name[i]);
      r = -ENAMETOOLONG;
      break;
    }
    r = extfs_read_inode (g->x, ns.ino[i], &cin);
    if (r == 0)
      r = walk (g, ns.ino[i], &cin, rpath, lpath);
  }
  for (i = 0; i < ns.n; i++)
    free (ns.name[i]);
  free (ns.name);
  free (ns.ino);
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
    r = grow ((void **) &g->files, &g->capfiles, g->nfiles,
              sizeof *g->files);
    if (r < 0)
      return r;
    f = &g->files[g->nfiles];
    f->ino = ino;
    f->first = 0;
    r = extfs_each_run (g->x, ino, in, first_run, &f->first);
    if (r < 0)
      return r;
    f->local = strdup (local);
    f->remote = strdup (remote);
    g->total += EXT2_I_SIZE (&in->small);
    g->nfiles++;
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

  for (i = 0; i < g->nlinked; i++)
    if (g->linked[i]->ino == ino)
      return g->linked[i];
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
  if (r == 0 && in.small.i_links_count > 1) {
    r = grow ((void **) &g->linked, &g->caplinked, g->nlinked,
              sizeof *g->linked);
    if (r == 0)
      g->linked[g->nlinked++] = f;
  }
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
  if (g.nfiles > 1)
    qsort (g.files, g.nfiles, sizeof *g.files, by_place);
  for (i = 0; r == 0 && i < g.nfiles; i++)
    r = copy_file (&g, &g.files[i]);
  for (i = g.ndirs; r == 0 && i-- > 0;)
    r = set_attrs (x, g.dirs[i].local, &g.dirs[i].a);
  if (r == 0 && g.exists) {
    s3vol_error (x->log, "%u local file%s already exist%s (use --force "
                 "to replace)", g.exists, g.exists > 1 ? "s" : "",
                 g.exists > 1 ? "" : "s");
    r = -EEXIST;
  }
  for (i = 0; i < g.nfiles; i++) {
    free (g.files[i].local);
    free (g.files[i].remote);
  }
  for (i = 0; i < g.ndirs; i++)
    free (g.dirs[i].local);
  free (g.files);
  free (g.dirs);
  free (g.linked);
  free (g.buf);
  return r;
}
