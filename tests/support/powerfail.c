/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a simulated power failure under a directory (see powerfail.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "powerfail.h"

#define SECTOR 512

enum pf_kind {
  PF_WRITE, PF_TRUNC, PF_PUNCH, PF_EXTEND,      /* data, on a file */
  PF_CREATE, PF_RENAME, PF_LINK, PF_UNLINK,     /* names, on a directory */
};

struct pf_op {
  enum pf_kind kind;
  uint64_t off, len;            /* data: range; PF_TRUNC: size in len */
  uint8_t *data;                /* PF_WRITE: len bytes */
  char *name, *to;              /* names; PF_RENAME: name -> to */
  size_t ino;                   /* the model inode a name op names */
};

struct pf_ent {
  char *name;
  size_t ino;
};

struct pf_inode {
  bool is_dir;
  bool live;                    /* dev_ino still names it on the disk */
  ino_t dev_ino;
  uint8_t *data;                /* file: durable content */
  uint64_t len;
  struct pf_ent *ents;          /* directory: durable entries */
  size_t nents;
  struct pf_op *ops;            /* changes since the last sync */
  size_t nops;
  bool done;                    /* reboot: written already */
  char *path;                   /* reboot: where it was written */
};

struct powerfail {
  struct s3vol_fileio io;
  pthread_mutex_t lock;
  char *root;
  size_t rootlen;
  struct pf_inode *inodes;
  size_t ninodes;
  size_t *fds;                  /* fd -> inode + 1, 0: not modelled */
  size_t nfds;
  bool dead;
  uint64_t calls, arm_at;
  uint64_t rng;
};

/* ---- helpers ---- */

static void *
xrealloc (void *p, size_t n)
{
  p = realloc (p, n ? n : 1);
  if (p == NULL)
    abort ();
  return p;
}

static char *
xstrdup (const char *s)
{
  char *r = strdup (s);

  if (r == NULL)
    abort ();
  return r;
}

static uint64_t
pf_rand (struct powerfail *pf)
{
  uint64_t z = (pf->rng += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static size_t
new_inode (struct powerfail *pf, bool is_dir, ino_t dev_ino)
{
  size_t i;

  /* The disk reused the number: the old inode is gone from it. */
  for (i = 0; i < pf->ninodes; i++)
    if (pf->inodes[i].live && pf->inodes[i].dev_ino == dev_ino)
      pf->inodes[i].live = false;
  pf->inodes = xrealloc (pf->inodes, (pf->ninodes + 1) * sizeof *pf->inodes);
  memset (&pf->inodes[pf->ninodes], 0, sizeof *pf->inodes);
  pf->inodes[pf->ninodes].is_dir = is_dir;
  pf->inodes[pf->ninodes].live = true;
  pf->inodes[pf->ninodes].dev_ino = dev_ino;
  return pf->ninodes++;
}

static void
free_ops (struct pf_inode *n)
{
  size_t i;

  for (i = 0; i < n->nops; i++) {
    free (n->ops[i].data);
    free (n->ops[i].name);
    free (n->ops[i].to);
  }
  free (n->ops);
  n->ops = NULL;
  n->nops = 0;
}

static void
free_model (struct powerfail *pf)
{
  size_t i, k;

  for (i = 0; i < pf->ninodes; i++) {
    struct pf_inode *n = &pf->inodes[i];
    free_ops (n);
    free (n->data);
    for (k = 0; k < n->nents; k++)
      free (n->ents[k].name);
    free (n->ents);
    free (n->path);
  }
  free (pf->inodes);
  pf->inodes = NULL;
  pf->ninodes = 0;
}

static struct pf_op *
add_op (struct pf_inode *n, enum pf_kind kind)
{
  struct pf_op *op;

  n->ops = xrealloc (n->ops, (n->nops + 1) * sizeof *n->ops);
  op = &n->ops[n->nops++];
  memset (op, 0, sizeof *op);
  op->kind = kind;
  return op;
}

/* ---- the model: reading the tree ---- */

static int scan_dir (struct powerfail *pf, size_t dir, const char *path);

/* Model the object at path (lstat'ed as st), durable as it is. */
static int
scan_one (struct powerfail *pf, const char *path, const struct stat *st,
          size_t *out)
{
  size_t i;
  int fd;

  for (i = 0; i < pf->ninodes; i++)
    if (pf->inodes[i].live && pf->inodes[i].dev_ino == st->st_ino) {
      *out = i;                 /* another name of a file seen */
      return 0;
    }
  i = new_inode (pf, S_ISDIR (st->st_mode), st->st_ino);
  *out = i;
  if (S_ISDIR (st->st_mode))
    return scan_dir (pf, i, path);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -errno;
  pf->inodes[i].len = st->st_size;
  pf->inodes[i].data = xrealloc (NULL, st->st_size);
  if (pread (fd, pf->inodes[i].data, st->st_size, 0) != st->st_size) {
    close (fd);
    return -EIO;
  }
  close (fd);
  return 0;
}

static int
scan_dir (struct powerfail *pf, size_t dir, const char *path)
{
  DIR *d = opendir (path);
  struct dirent *de;
  struct stat st;
  char sub[PATH_MAX];
  size_t ino;
  int r = 0;

  if (d == NULL)
    return -errno;
  while (r == 0 && (de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    snprintf (sub, sizeof sub, "%s/%s", path, de->d_name);
    if (lstat (sub, &st) == -1 ||
        !(S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)))
      continue;
    r = scan_one (pf, sub, &st, &ino);
    if (r == 0) {
      struct pf_inode *n = &pf->inodes[dir];
      n->ents = xrealloc (n->ents, (n->nents + 1) * sizeof *n->ents);
      n->ents[n->nents].name = xstrdup (de->d_name);
      n->ents[n->nents++].ino = ino;
    }
  }
  closedir (d);
  return r;
}

static int
scan (struct powerfail *pf)
{
  struct stat st;
  size_t root;

  if (lstat (pf->root, &st) == -1)
    return -errno;
  root = new_inode (pf, true, st.st_ino);
  return scan_dir (pf, root, pf->root);
}

/* The model inode of path (lstat'ed now), or SIZE_MAX. */
static size_t
lookup (struct powerfail *pf, const char *path)
{
  struct stat st;
  size_t i;

  if (lstat (path, &st) == -1)
    return SIZE_MAX;
  for (i = 0; i < pf->ninodes; i++)
    if (pf->inodes[i].live && pf->inodes[i].dev_ino == st.st_ino)
      return i;
  /* Made behind our back: take it as durable (see powerfail.h). */
  if (!(S_ISDIR (st.st_mode) || S_ISREG (st.st_mode)) ||
      scan_one (pf, path, &st, &i) < 0)
    return SIZE_MAX;
  return i;
}

static bool
under_root (struct powerfail *pf, const char *path)
{
  return strncmp (path, pf->root, pf->rootlen) == 0 &&
         path[pf->rootlen] == '/';
}

/* The directory inode above path, and the last name of path in *name
 * (pointing into path).
 */
static size_t
parent_of (struct powerfail *pf, const char *path, const char **name)
{
  char dir[PATH_MAX];
  const char *slash = strrchr (path, '/');
  size_t n = slash - path;

  *name = slash + 1;
  if (n >= sizeof dir)
    return SIZE_MAX;
  memcpy (dir, path, n);
  dir[n] = '\0';
  return lookup (pf, dir);
}

static void
set_fd (struct powerfail *pf, int fd, size_t ino)
{
  if ((size_t) fd >= pf->nfds) {
    size_t n = fd + 64;
    pf->fds = xrealloc (pf->fds, n * sizeof *pf->fds);
    memset (pf->fds + pf->nfds, 0, (n - pf->nfds) * sizeof *pf->fds);
    pf->nfds = n;
  }
  pf->fds[fd] = ino + 1;
}

static struct pf_inode *
inode_of_fd (struct powerfail *pf, int fd)
{
  if (fd < 0 || (size_t) fd >= pf->nfds || pf->fds[fd] == 0)
    return NULL;
  return &pf->inodes[pf->fds[fd] - 1];
}

/* ---- applying changes ---- */

static void
resize (struct pf_inode *n, uint64_t len)
{
  if (len > n->len) {
    n->data = xrealloc (n->data, len);
    memset (n->data + n->len, 0, len - n->len);
  }
  n->len = len;
}

/* Apply a data change to n's durable content; with pf, keep each sector
 * of a write at random.
 */
static void
apply_data (struct pf_inode *n, const struct pf_op *op,
            struct powerfail *pf)
{
  uint64_t off, end, next;

  switch (op->kind) {
  case PF_WRITE:
    for (off = op->off, end = op->off + op->len; off < end; off = next) {
      next = (off / SECTOR + 1) * SECTOR;
      if (next > end)
        next = end;
      if (pf && pf_rand (pf) % 2)
        continue;
      if (next > n->len)
        resize (n, next);
      memcpy (n->data + off, op->data + (off - op->off), next - off);
    }
    break;
  case PF_TRUNC:
    resize (n, op->len);
    break;
  case PF_PUNCH:
    end = op->off + op->len < n->len ? op->off + op->len : n->len;
    if (op->off < end)
      memset (n->data + op->off, 0, end - op->off);
    break;
  case PF_EXTEND:
    if (op->off + op->len > n->len)
      resize (n, op->off + op->len);
    break;
  default:
    abort ();
  }
}

static struct pf_ent *
find_ent (struct pf_inode *d, const char *name)
{
  size_t k;

  for (k = 0; k < d->nents; k++)
    if (strcmp (d->ents[k].name, name) == 0)
      return &d->ents[k];
  return NULL;
}

static void
set_ent (struct pf_inode *d, const char *name, size_t ino)
{
  struct pf_ent *e = find_ent (d, name);

  if (e == NULL) {
    d->ents = xrealloc (d->ents, (d->nents + 1) * sizeof *d->ents);
    e = &d->ents[d->nents++];
    e->name = xstrdup (name);
  }
  e->ino = ino;
}

static void
remove_ent (struct pf_inode *d, const char *name)
{
  struct pf_ent *e = find_ent (d, name);

  if (e == NULL)
    return;
  free (e->name);
  *e = d->ents[--d->nents];
}

/* Apply a name change to directory d's durable entries; one that no
 * longer applies is skipped.
 */
static void
apply_name (struct pf_inode *d, const struct pf_op *op)
{
  switch (op->kind) {
  case PF_CREATE:
    set_ent (d, op->name, op->ino);
    break;
  case PF_RENAME:
    if (find_ent (d, op->name) == NULL)
      break;
    remove_ent (d, op->name);
    set_ent (d, op->to, op->ino);
    break;
  case PF_LINK:
    if (find_ent (d, op->name) == NULL)
      set_ent (d, op->name, op->ino);
    break;
  case PF_UNLINK:
    remove_ent (d, op->name);
    break;
  default:
    abort ();
  }
}

/* Make n's changes durable (all of them), or with pf a random subset. */
static void
settle (struct pf_inode *n, struct powerfail *pf)
{
  size_t i;

  for (i = 0; i < n->nops; i++) {
    if (n->is_dir) {
      if (pf == NULL || pf_rand (pf) % 2)
        apply_name (n, &n->ops[i]);
    }
    else if (pf == NULL || n->ops[i].kind == PF_WRITE || pf_rand (pf) % 2)
      apply_data (n, &n->ops[i], pf);
  }
  free_ops (n);
}

/* ---- the table ---- */

/* Count a call; false if the power is off (errno EIO). */
static bool
power_on (struct powerfail *pf)
{
  pf->calls++;
  if (pf->arm_at && pf->calls >= pf->arm_at)
    pf->dead = true;
  if (pf->dead)
    errno = EIO;
  return !pf->dead;
}

static int
pf_open (void *opaque, const char *path, int flags, mode_t mode)
{
  struct powerfail *pf = opaque;
  struct stat st;
  const char *name;
  size_t dir, ino;
  bool existed;
  int fd = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  existed = lstat (path, &st) == 0;
  fd = open (path, flags | O_CLOEXEC, mode);
  if (fd == -1 || !under_root (pf, path))
    goto out;
  if (!existed) {
    dir = parent_of (pf, path, &name);
    if (fstat (fd, &st) == -1 || dir == SIZE_MAX)
      abort ();
    ino = new_inode (pf, false, st.st_ino);
    struct pf_op *op = add_op (&pf->inodes[dir], PF_CREATE);
    op->name = xstrdup (name);
    op->ino = ino;
  }
  else {
    ino = lookup (pf, path);
    if (ino == SIZE_MAX)
      abort ();
    if (flags & O_TRUNC)
      add_op (&pf->inodes[ino], PF_TRUNC)->len = 0;
  }
  set_fd (pf, fd, ino);
 out:
  pthread_mutex_unlock (&pf->lock);
  return fd;
}

static int
pf_open_dir (void *opaque, const char *path)
{
  struct powerfail *pf = opaque;
  size_t ino;
  int fd = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0 && (strcmp (path, pf->root) == 0 || under_root (pf, path))) {
    ino = lookup (pf, path);
    if (ino == SIZE_MAX)
      abort ();
    set_fd (pf, fd, ino);
  }
 out:
  pthread_mutex_unlock (&pf->lock);
  return fd;
}

static int
pf_close (void *opaque, int fd)
{
  struct powerfail *pf = opaque;

  pthread_mutex_lock (&pf->lock);
  pf->calls++;
  if (fd >= 0 && (size_t) fd < pf->nfds)
    pf->fds[fd] = 0;
  pthread_mutex_unlock (&pf->lock);
  return close (fd);
}

static ssize_t
pf_pwrite (void *opaque, int fd, const void *buf, size_t len, off_t off)
{
  struct powerfail *pf = opaque;
  struct pf_inode *n;
  struct pf_op *op;
  ssize_t r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  r = pwrite (fd, buf, len, off);
  n = inode_of_fd (pf, fd);
  if (r > 0 && n) {
    op = add_op (n, PF_WRITE);
    op->off = off;
    op->len = r;
    op->data = xrealloc (NULL, r);
    memcpy (op->data, buf, r);
  }
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

static int
pf_ftruncate (void *opaque, int fd, off_t len)
{
  struct powerfail *pf = opaque;
  struct pf_inode *n;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  r = ftruncate (fd, len);
  n = inode_of_fd (pf, fd);
  if (r == 0 && n)
    add_op (n, PF_TRUNC)->len = len;
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

static int
pf_fallocate (void *opaque, int fd, int mode, off_t off, off_t len)
{
  struct powerfail *pf = opaque;
  struct pf_inode *n;
  struct pf_op *op;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  r = fallocate (fd, mode, off, len);
  n = inode_of_fd (pf, fd);
  if (r == 0 && n && (mode & FALLOC_FL_PUNCH_HOLE || mode == 0)) {
    op = add_op (n, mode & FALLOC_FL_PUNCH_HOLE ? PF_PUNCH : PF_EXTEND);
    op->off = off;
    op->len = len;
  }
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

/* Only the model syncs: the real call would cost time and prove
 * nothing the simulation needs.
 */
static int
pf_fsync (void *opaque, int fd)
{
  struct powerfail *pf = opaque;
  struct pf_inode *n;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  r = 0;
  n = inode_of_fd (pf, fd);
  if (n)
    settle (n, NULL);
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

/* A change of names: note it in the parent of path (before the call,
 * the inode path names is *ino).
 */
static void
note_name (struct powerfail *pf, enum pf_kind kind, const char *path,
           const char *to, size_t ino)
{
  const char *name, *toname;
  size_t dir;
  struct pf_op *op;

  if (!under_root (pf, path))
    return;
  dir = parent_of (pf, path, &name);
  if (dir == SIZE_MAX || ino == SIZE_MAX)
    abort ();
  if (to && (parent_of (pf, to, &toname) != dir))
    abort ();                   /* across directories: not modelled */
  op = add_op (&pf->inodes[dir], kind);
  op->name = xstrdup (name);
  op->to = to ? xstrdup (toname) : NULL;
  op->ino = ino;
}

static int
pf_rename (void *opaque, const char *from, const char *to, unsigned flags)
{
  struct powerfail *pf = opaque;
  size_t ino;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  ino = lookup (pf, from);
  r = renameat2 (AT_FDCWD, from, AT_FDCWD, to, flags);
  if (r == 0)
    note_name (pf, PF_RENAME, from, to, ino);
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

static int
pf_link (void *opaque, const char *from, const char *to)
{
  struct powerfail *pf = opaque;
  size_t ino;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  ino = lookup (pf, from);
  r = link (from, to);
  if (r == 0)
    note_name (pf, PF_LINK, to, NULL, ino);
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

static int
remove_name (struct powerfail *pf, const char *path, int (*fn) (const char *))
{
  size_t ino;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  ino = lookup (pf, path);
  r = fn (path);
  if (r == 0)
    note_name (pf, PF_UNLINK, path, NULL, ino);
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

static int
pf_unlink (void *opaque, const char *path)
{
  return remove_name (opaque, path, unlink);
}

static int
pf_rmdir (void *opaque, const char *path)
{
  return remove_name (opaque, path, rmdir);
}

static int
pf_mkdir (void *opaque, const char *path, mode_t mode)
{
  struct powerfail *pf = opaque;
  struct stat st;
  size_t ino;
  int r = -1;

  pthread_mutex_lock (&pf->lock);
  if (!power_on (pf))
    goto out;
  r = mkdir (path, mode);
  if (r == 0 && under_root (pf, path)) {
    if (lstat (path, &st) == -1)
      abort ();
    ino = new_inode (pf, true, st.st_ino);
    note_name (pf, PF_CREATE, path, NULL, ino);
  }
 out:
  pthread_mutex_unlock (&pf->lock);
  return r;
}

/* ---- crash and reboot ---- */

static int
remove_tree (const char *path)
{
  DIR *d = opendir (path);
  struct dirent *de;
  struct stat st;
  char sub[PATH_MAX];
  int r = 0;

  if (d == NULL)
    return -errno;
  while (r == 0 && (de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    snprintf (sub, sizeof sub, "%s/%s", path, de->d_name);
    if (lstat (sub, &st) == 0 && S_ISDIR (st.st_mode)) {
      r = remove_tree (sub);
      if (r == 0 && rmdir (sub) == -1)
        r = -errno;
    }
    else if (unlink (sub) == -1)
      r = -errno;
  }
  closedir (d);
  return r;
}

/* Write file n at path: zero blocks stay holes. */
static int
write_file (struct pf_inode *n, const char *path)
{
  static const uint8_t zero[4096];
  uint64_t off, len;
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

  if (fd == -1)
    return -errno;
  for (off = 0; off < n->len; off += len) {
    len = n->len - off < sizeof zero ? n->len - off : sizeof zero;
    if (memcmp (n->data + off, zero, len) != 0 &&
        pwrite (fd, n->data + off, len, off) != (ssize_t) len) {
      close (fd);
      return -EIO;
    }
  }
  if (ftruncate (fd, n->len) == -1) {
    close (fd);
    return -errno;
  }
  close (fd);
  return 0;
}

static int
write_dir (struct powerfail *pf, size_t dir, const char *path)
{
  struct pf_inode *d = &pf->inodes[dir];
  char sub[PATH_MAX];
  size_t k;
  int r = 0;

  d->done = true;
  for (k = 0; r == 0 && k < d->nents; k++) {
    struct pf_inode *n = &pf->inodes[d->ents[k].ino];
    snprintf (sub, sizeof sub, "%s/%s", path, d->ents[k].name);
    if (n->is_dir) {
      if (n->done)
        continue;               /* two names of a directory: keep one */
      if (mkdir (sub, 0755) == -1)
        return -errno;
      r = write_dir (pf, d->ents[k].ino, sub);
    }
    else if (n->done) {
      if (link (n->path, sub) == -1)
        r = -errno;
    }
    else {
      n->done = true;
      n->path = xstrdup (sub);
      r = write_file (n, sub);
    }
  }
  return r;
}

int
powerfail_reboot (struct powerfail *pf, bool keep_some, uint64_t seed)
{
  size_t i;
  int r;

  pthread_mutex_lock (&pf->lock);
  pf->rng = seed;
  for (i = 0; i < pf->ninodes; i++) {
    if (keep_some)
      settle (&pf->inodes[i], pf);
    else
      free_ops (&pf->inodes[i]);
  }
  r = remove_tree (pf->root);
  if (r == 0)
    r = write_dir (pf, 0, pf->root);
  free_model (pf);
  if (r == 0)
    r = scan (pf);
  if (pf->fds)
    memset (pf->fds, 0, pf->nfds * sizeof *pf->fds);
  pf->dead = false;
  pf->arm_at = 0;
  pthread_mutex_unlock (&pf->lock);
  return r;
}

void
powerfail_crash (struct powerfail *pf)
{
  pthread_mutex_lock (&pf->lock);
  pf->dead = true;
  pthread_mutex_unlock (&pf->lock);
}

void
powerfail_arm (struct powerfail *pf, uint64_t n)
{
  pthread_mutex_lock (&pf->lock);
  pf->arm_at = n ? pf->calls + n : 0;
  pthread_mutex_unlock (&pf->lock);
}

bool
powerfail_crashed (struct powerfail *pf)
{
  bool r;

  pthread_mutex_lock (&pf->lock);
  r = pf->dead;
  pthread_mutex_unlock (&pf->lock);
  return r;
}

uint64_t
powerfail_calls (struct powerfail *pf)
{
  uint64_t r;

  pthread_mutex_lock (&pf->lock);
  r = pf->calls;
  pthread_mutex_unlock (&pf->lock);
  return r;
}

size_t
powerfail_pending (struct powerfail *pf)
{
  size_t i, r = 0;

  pthread_mutex_lock (&pf->lock);
  for (i = 0; i < pf->ninodes; i++)
    r += pf->inodes[i].nops;
  pthread_mutex_unlock (&pf->lock);
  return r;
}

const struct s3vol_fileio *
powerfail_fileio (struct powerfail *pf)
{
  return &pf->io;
}

int
powerfail_new (const char *root, struct powerfail **out)
{
  struct powerfail *pf = calloc (1, sizeof *pf);
  int r;

  if (pf == NULL)
    return -ENOMEM;
  pthread_mutex_init (&pf->lock, NULL);
  pf->root = xstrdup (root);
  pf->rootlen = strlen (root);
  while (pf->rootlen > 1 && pf->root[pf->rootlen - 1] == '/')
    pf->root[--pf->rootlen] = '\0';
  pf->io = (struct s3vol_fileio) {
    .opaque = pf,
    .open = pf_open,
    .open_dir = pf_open_dir,
    .close = pf_close,
    .pwrite = pf_pwrite,
    .ftruncate = pf_ftruncate,
    .fallocate = pf_fallocate,
    .fsync = pf_fsync,
    .fdatasync = pf_fsync,
    .rename = pf_rename,
    .link = pf_link,
    .unlink = pf_unlink,
    .mkdir = pf_mkdir,
    .rmdir = pf_rmdir,
  };
  r = scan (pf);
  if (r < 0) {
    powerfail_free (pf);
    return r;
  }
  *out = pf;
  return 0;
}

void
powerfail_free (struct powerfail *pf)
{
  if (pf == NULL)
    return;
  free_model (pf);
  free (pf->fds);
  free (pf->root);
  pthread_mutex_destroy (&pf->lock);
  free (pf);
}
