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
 *
 * A volume's contents are untrusted.  Every name that leaves it must be
 * a plain name (extfs_name_ok: not "", ".", "..", no '/'); others are
 * skipped, each notified (EXTFS_EV_BADNAME), and the result is then
 * -EUCLEAN.  Nothing is made through a path string: the directory LOCAL
 * goes into is opened once (base), and everything is made relative to
 * directories opened beneath it one name at a time with O_NOFOLLOW
 * (*at calls, AT_SYMLINK_NOFOLLOW, attributes through the open file), so
 * a symlink get made is never followed.  Directories are walked once
 * (a loop is corruption) and at most EXTFS_MAX_DEPTH deep.
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
  char *rel, *remote;           /* rel: beneath base */
};
DEFINE_VECTOR (gfile_list, struct gfile);
DEFINE_VECTOR (gfile_ptrs, struct gfile *);

/* What a directory gets back at the end. */
struct attrs {
  uint32_t mode, uid, gid;
  int64_t atime_ns, mtime_ns;
};

struct gdir {
  char *rel;
  struct attrs a;
};
DEFINE_VECTOR (gdir_list, struct gdir);

struct get {
  struct extfs *x;
  unsigned flags;
  int base;                     /* the local directory made into */
  char *shown;                  /* its path, for messages */
  int dfd;                      /* the directory last opened, or -1 */
  char *drel;                   /* its rel */
  struct hashmap dirs_seen;     /* directory inodes walked */
  struct gfile_list files;
  struct gdir_list dirs;
  struct gfile_ptrs linked;     /* copied files with several links */
  unsigned exists;              /* local files refused */
  char first_exists[PATH_MAX];  /* the first of them */
  unsigned badnames;            /* entries skipped for their names */
  uint64_t done, total;
  char *buf;
};

/* The local path of rel, for messages. */
static const char *
shown (struct get *g, const char *rel, char out[PATH_MAX])
{
  if (extfs_join (out, g->shown, rel) < 0)
    snprintf (out, PATH_MAX, "%s/...", g->shown);
  return out;
}

static int
local_error (struct get *g, const char *what, const char *rel)
{
  char p[PATH_MAX];
  int r = -errno;

  s3vol_error (g->x->log, "%s %s: %s", what, shown (g, rel, p),
               strerror (errno));
  return r;
}

/* Open directory rel beneath base (a new fd), one name at a time, never
 * through a symlink; -errno.
 */
static int
open_beneath (struct get *g, const char *rel)
{
  char name[EXT2_NAME_LEN + 1];
  const char *p = rel;
  size_t len;
  int fd, next;

  fd = fcntl (g->base, F_DUPFD_CLOEXEC, 0);
  if (fd == -1)
    return -errno;
  while (*p) {
    len = strcspn (p, "/");
    if (len == 0 || len > EXT2_NAME_LEN) {
      close (fd);
      return -EINVAL;
    }
    memcpy (name, p, len);
    name[len] = '\0';
    next = openat (fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                   O_CLOEXEC);
    if (next == -1) {
      next = -errno;
      close (fd);
      return next;
    }
    close (fd);
    fd = next;
    p += len;
    if (*p == '/')
      p++;
  }
  return fd;
}

/* The directory rel's last name is in (held until another is asked
 * for), and that name: -errno (logged).
 */
static int
parent_of (struct get *g, const char *rel, const char **name)
{
  const char *slash = strrchr (rel, '/');
  size_t n = slash ? (size_t) (slash - rel) : 0;
  char *dir;
  int fd;

  *name = slash ? slash + 1 : rel;
  if (g->dfd >= 0 && strlen (g->drel) == n && memcmp (g->drel, rel, n) == 0)
    return g->dfd;
  dir = strndup (rel, n);
  if (dir == NULL)
    return -ENOMEM;
  fd = open_beneath (g, dir);
  if (fd < 0) {
    errno = -fd;
    fd = local_error (g, "open directory", dir);
    free (dir);
    return fd;
  }
  if (g->dfd >= 0)
    close (g->dfd);
  free (g->drel);
  g->dfd = fd;
  g->drel = dir;
  return fd;
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

static void
times_of (const struct attrs *a, struct timespec ts[2])
{
  ts[0].tv_sec = a->atime_ns / 1000000000;
  ts[0].tv_nsec = a->atime_ns % 1000000000;
  ts[1].tv_sec = a->mtime_ns / 1000000000;
  ts[1].tv_nsec = a->mtime_ns % 1000000000;
  if (ts[0].tv_nsec < 0)
    ts[0].tv_nsec = 0;
  if (ts[1].tv_nsec < 0)
    ts[1].tv_nsec = 0;
}

/* Owner (as root, like cp -a; best effort; before the mode, as chown
 * clears set-id bits), mode, times of an open file or directory.
 */
static int
set_attrs_fd (struct get *g, int fd, const char *rel, const struct attrs *a)
{
  struct timespec ts[2];

  times_of (a, ts);
  if (geteuid () == 0)
    (void) !fchown (fd, a->uid, a->gid);
  if (fchmod (fd, a->mode & 07777) == -1)
    return local_error (g, "set the mode of", rel);
  futimens (fd, ts);
  return 0;
}

/* The same for name in dfd, a symlink or fifo get just made (never
 * followed).
 */
static int
set_attrs_at (struct get *g, int dfd, const char *name, const char *rel,
              const union extfs_inode *in)
{
  struct attrs a = attrs_of (in);
  struct timespec ts[2];

  times_of (&a, ts);
  if (geteuid () == 0)
    (void) !fchownat (dfd, name, a.uid, a.gid, AT_SYMLINK_NOFOLLOW);
  if (!LINUX_S_ISLNK (a.mode) &&
      fchmodat (dfd, name, a.mode & 07777, AT_SYMLINK_NOFOLLOW) == -1 &&
      (errno != EOPNOTSUPP ||
       fchmodat (dfd, name, a.mode & 07777, 0) == -1))
    return local_error (g, "set the mode of", rel);
  utimensat (dfd, name, ts, AT_SYMLINK_NOFOLLOW);
  return 0;
}

/* A local name is taken: 0 if it may be (re)made, 1 if refused. */
static int
taken (struct get *g, int dfd, const char *name, const char *rel,
       bool is_dir)
{
  char p[PATH_MAX];
  struct stat st;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
    return errno == ENOENT ? 0 : local_error (g, "check", rel);
  if (is_dir && S_ISDIR (st.st_mode))
    return 0;                   /* merge into it */
  if (!(g->flags & EXTFS_FORCE) || S_ISDIR (st.st_mode)) {
    extfs_notify (g->x, EXTFS_EV_EXISTS, shown (g, rel, p), 0);
    if (g->exists++ == 0)
      memcpy (g->first_exists, p, PATH_MAX);
    return 1;
  }
  if (unlinkat (dfd, name, 0) == -1)
    return local_error (g, "replace", rel);
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
                 const char *remote, const char *rel, unsigned depth);

/* An entry whose name cannot be a local name: told, skipped. */
static void
bad_name (struct get *g, const char *remote, const struct extfs_dirent *d)
{
  char esc[4 * EXT2_NAME_LEN + 8], p[PATH_MAX];

  extfs_name_escape (d->name, d->len, esc, sizeof esc);
  snprintf (p, sizeof p, "%s/%s%s", strcmp (remote, "/") ? remote : "",
            esc, d->len ? "" : "\"\"");
  extfs_notify (g->x, EXTFS_EV_BADNAME, p, 0);
  g->badnames++;
}

static int
walk_dir (struct get *g, ext2_ino_t ino, union extfs_inode *in,
          const char *remote, const char *rel, unsigned depth)
{
  char *rpath = NULL, *cpath = NULL;
  struct extfs_dirents ns = { 0 };
  union extfs_inode cin;
  const char *name;
  struct gdir *d;
  size_t i;
  int dfd, r;

  if (!(g->flags & EXTFS_RECURSIVE)) {
    s3vol_error (g->x->log, "%s is a directory (use -r)", remote);
    return -EISDIR;
  }
  r = extfs_inoset_add (&g->dirs_seen, ino);
  if (r == 0 || depth > EXTFS_MAX_DEPTH) {
    s3vol_error (g->x->log, "%s: %s (a corrupt filesystem)", remote,
                 r == 0 ? "a directory seen before (a loop)"
                 : "directories nested too deep");
    return -EUCLEAN;
  }
  if (r < 0)
    return r;
  if (rel[0]) {                 /* else: base itself */
    dfd = parent_of (g, rel, &name);
    if (dfd < 0)
      return dfd;
    r = taken (g, dfd, name, rel, true);
    if (r != 0)
      return r < 0 ? r : 0;
    if (mkdirat (dfd, name, 0700) == -1 && errno != EEXIST)
      return local_error (g, "make directory", rel);
  }
  d = gdir_list_grow (&g->dirs);
  if (d == NULL || (d->rel = strdup (rel)) == NULL)
    return -ENOMEM;
  d->a = attrs_of (in);
  rpath = malloc (PATH_MAX);
  cpath = malloc (PATH_MAX);
  r = rpath && cpath ? extfs_dir_list (g->x, ino, &ns) : -ENOMEM;
  for (i = 0; r == 0 && i < ns.len; i++) {
    if (!extfs_name_ok (ns.ptr[i].name, ns.ptr[i].len)) {
      bad_name (g, remote, &ns.ptr[i]);
      continue;
    }
    if (extfs_join (rpath, remote, ns.ptr[i].name) < 0 ||
        (rel[0] ? snprintf (cpath, PATH_MAX, "%s/%s", rel, ns.ptr[i].name)
         : snprintf (cpath, PATH_MAX, "%s", ns.ptr[i].name)) >= PATH_MAX) {
      s3vol_error (g->x->log, "%s/%s: path too long", remote,
                   ns.ptr[i].name);
      r = -ENAMETOOLONG;
      break;
    }
    r = extfs_read_inode (g->x, ns.ptr[i].ino, &cin);
    if (r == 0)
      r = walk (g, ns.ptr[i].ino, &cin, rpath, cpath, depth + 1);
  }
  extfs_dirents_free (&ns);
  free (rpath);
  free (cpath);
  return r;
}

static int
walk (struct get *g, ext2_ino_t ino, union extfs_inode *in,
      const char *remote, const char *rel, unsigned depth)
{
  struct gfile *f;
  const char *name;
  char *target;
  int dfd, r;

  switch (in->small.i_mode & LINUX_S_IFMT) {
  case LINUX_S_IFDIR:
    return walk_dir (g, ino, in, remote, rel, depth);
  case LINUX_S_IFREG:
    f = gfile_list_grow (&g->files);
    if (f == NULL)
      return -ENOMEM;
    f->ino = ino;
    f->rel = f->remote = NULL;
    r = extfs_each_run (g->x, ino, in, first_run, &f->first);
    if (r < 0)
      return r;
    f->rel = strdup (rel);
    f->remote = strdup (remote);
    g->total += EXT2_I_SIZE (&in->small);
    return f->rel && f->remote ? 0 : -ENOMEM;
  case LINUX_S_IFLNK:
    /* Not on the stack: walk recurses (EXTFS_MAX_DEPTH deep). */
    target = malloc (EXTFS_LINK_MAX);
    r = target ? extfs_read_link (g->x, ino, in, target, EXTFS_LINK_MAX)
      : -ENOMEM;
    dfd = r < 0 ? r : parent_of (g, rel, &name);
    r = dfd < 0 ? dfd : taken (g, dfd, name, rel, false);
    if (r == 0 && symlinkat (target, dfd, name) == -1)
      r = local_error (g, "make symlink", rel);
    else if (r == 0)
      r = set_attrs_at (g, dfd, name, rel, in);
    free (target);
    return r < 0 ? r : 0;
  case LINUX_S_IFIFO:
    dfd = parent_of (g, rel, &name);
    if (dfd < 0)
      return dfd;
    r = taken (g, dfd, name, rel, false);
    if (r != 0)
      return r < 0 ? r : 0;
    if (mkfifoat (dfd, name, in->small.i_mode & 0777) == -1)
      return local_error (g, "make fifo", rel);
    return set_attrs_at (g, dfd, name, rel, in);
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

/* A hard link to a file copied already: 0 if made. */
static int
link_to (struct get *g, struct gfile *other, int dfd, const char *name)
{
  const char *slash = strrchr (other->rel, '/');
  char *dir = strndup (other->rel, slash ? (size_t) (slash - other->rel)
                       : 0);
  int ofd = dir ? open_beneath (g, dir) : -ENOMEM, r = -1;

  if (ofd >= 0) {
    r = linkat (ofd, slash ? slash + 1 : other->rel, dfd, name, 0);
    close (ofd);
  }
  free (dir);
  return r == 0 ? 0 : -1;
}

static int
copy_file (struct get *g, struct gfile *f)
{
  struct extfs *x = g->x;
  union extfs_inode in;
  struct gfile *other;
  struct attrs a;
  const char *name;
  int dfd, fd, r;

  dfd = parent_of (g, f->rel, &name);
  if (dfd < 0)
    return dfd;
  r = taken (g, dfd, name, f->rel, false);
  if (r != 0)
    return r < 0 ? r : 0;
  r = extfs_read_inode (x, f->ino, &in);
  if (r < 0)
    return r;
  if (in.small.i_links_count > 1 && (other = copied_as (g, f->ino)) &&
      link_to (g, other, dfd, name) == 0)
    return 0;
  fd = openat (dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
               O_CLOEXEC, 0600);
  if (fd == -1)
    return local_error (g, "create", f->rel);
  r = extfs_copy_out (x, f->ino, &in, fd, true, f->remote, g->buf,
                      &g->done, g->total);
  a = attrs_of (&in);
  if (r == 0)
    r = set_attrs_fd (g, fd, f->rel, &a);
  if (close (fd) == -1 && r == 0)
    r = local_error (g, "write", f->rel);
  if (r == 0 && in.small.i_links_count > 1)
    r = gfile_ptrs_append (&g->linked, f);
  return r;
}

/* ---- finish ---- */

static int
finish_dir (struct get *g, struct gdir *d)
{
  int fd = open_beneath (g, d->rel), r;

  if (fd < 0) {
    errno = -fd;
    return local_error (g, "open directory", d->rel);
  }
  r = set_attrs_fd (g, fd, d->rel, &d->a);
  close (fd);
  return r;
}

/* Where get puts remote: the directory base (opened) and the name in
 * it (*top; "" for base itself: the volume's root into an existing
 * directory).
 */
static int
place (struct get *g, const char *remote, const char *local, char **top)
{
  struct extfs *x = g->x;
  char last[EXT2_NAME_LEN + 1], *dir = NULL;
  const char *name;
  ext2_ino_t parent, ino;
  struct stat st;
  size_t n;
  int r;

  if (stat (local, &st) == 0 && S_ISDIR (st.st_mode)) {
    /* Into an existing directory: under the remote's own name. */
    r = extfs_resolve (x, remote, false, &parent, last, &ino);
    if (r < 0)
      return r;
    if (last[0] && !extfs_name_ok (last, strlen (last))) {
      s3vol_error (x->log, "%s: cannot be named locally", remote);
      return -EINVAL;
    }
    g->shown = strdup (local);
    *top = strdup (last);
    dir = NULL;
    name = local;
  }
  else {
    n = strlen (local);
    while (n > 1 && local[n - 1] == '/')
      n--;
    dir = strndup (local, n);
    if (dir == NULL)
      return -ENOMEM;
    name = strrchr (dir, '/');
    if (name == NULL) {
      *top = strdup (dir);
      g->shown = strdup (".");
    }
    else {
      *top = strdup (name + 1);
      dir[name == dir ? 1 : name - dir] = '\0';
      g->shown = strdup (dir);
    }
    if (*top && !extfs_name_ok (*top, strlen (*top))) {
      s3vol_error (x->log, "%s: not a name to make", local);
      free (dir);
      return -EINVAL;
    }
    name = g->shown;
  }
  free (dir);
  if (g->shown == NULL || *top == NULL)
    return -ENOMEM;
  g->base = open (name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (g->base == -1) {
    r = -errno;
    s3vol_error (x->log, "open directory %s: %s", name, strerror (errno));
    return r;
  }
  return 0;
}

int
extfs_get (struct extfs *x, const char *remote, const char *local,
           unsigned flags)
{
  struct get g = { .x = x, .flags = flags, .base = -1, .dfd = -1 };
  union extfs_inode in;
  char *top = NULL;
  ext2_ino_t ino;
  size_t i;
  int r;

  extfs_inoset_init (&g.dirs_seen);
  r = extfs_find (x, remote, true, &ino, &in);
  if (r == 0)
    r = place (&g, remote, local, &top);
  if (r == 0 && strlen (g.shown) + 1 + strlen (top) >= PATH_MAX) {
    s3vol_error (x->log, "%s: path too long", local);
    r = -ENAMETOOLONG;
  }
  g.buf = r == 0 ? malloc (EXTFS_PIECE) : NULL;
  if (r == 0 && g.buf == NULL)
    r = -ENOMEM;
  if (r == 0)
    r = walk (&g, ino, &in, remote, top, 0);
  if (g.files.len > 1)
    qsort (g.files.ptr, g.files.len, sizeof *g.files.ptr, by_place);
  for (i = 0; r == 0 && i < g.files.len; i++)
    r = copy_file (&g, &g.files.ptr[i]);
  for (i = g.dirs.len; r == 0 && i-- > 0;)
    r = finish_dir (&g, &g.dirs.ptr[i]);
  if (r == 0 && g.badnames) {
    s3vol_error (x->log, "%u entr%s skipped: %s (a corrupt or hostile "
                 "volume)", g.badnames, g.badnames > 1 ? "ies" : "y",
                 g.badnames > 1 ? "their names cannot be local names"
                 : "its name cannot be a local name");
    r = -EUCLEAN;
  }
  if (r == 0 && g.exists)
    r = extfs_exists_error (x, g.exists, g.first_exists, true);
  for (i = 0; i < g.files.len; i++) {
    free (g.files.ptr[i].rel);
    free (g.files.ptr[i].remote);
  }
  for (i = 0; i < g.dirs.len; i++)
    free (g.dirs.ptr[i].rel);
  gfile_list_reset (&g.files);
  gdir_list_reset (&g.dirs);
  gfile_ptrs_reset (&g.linked);
  hashmap_free (&g.dirs_seen);
  if (g.dfd >= 0)
    close (g.dfd);
  if (g.base >= 0)
    close (g.base);
  free (g.drel);
  free (g.shown);
  free (top);
  free (g.buf);
  return r;
}
