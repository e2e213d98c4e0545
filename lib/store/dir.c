/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: object store backend on a local directory.
 *
 * URL: file:///absolute/dir.  The directory must exist.
 *
 * A key's '/'-separated segments become directories, and its last segment
 * a file.  Since a store may hold both "a" and "a/b", which a filesystem
 * cannot (a name is a file or a directory, not both), file names carry a
 * trailing '@' and names are escaped so that '@' appears nowhere else:
 *
 *   key            path under the root
 *   ---            -------------------
 *   a              a@
 *   a/b            a/b@
 *   x@y%z/w        x%40y%25z/w@
 *
 * Temporary files start with '@' (no escaped name can), and names that
 * are neither escaped directories nor objects are foreign and ignored, so
 * a store may share a directory with other files.
 *
 * Puts are atomic and durable: write a temporary file, fsync it, rename
 * it into place (create-only: renameat2 RENAME_NOREPLACE, else link(2),
 * both atomic), fsync the directory.  Empty directories are removed after
 * deletes; a put that races with that removal recreates them and retries.
 *
 * Every change to the directory goes through the configuration's struct
 * s3vol_fileio (the system calls unless a test passes a simulated disk);
 * reads, stat and listings use the system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/fileio.h"
#include "s3vol/objstore.h"
#include "s3vol/util.h"
#include "vector.h"

struct dir_store {
  struct objstore s;            /* must be first */
  const struct s3vol_fileio *io;
  char *root;                   /* absolute path, no trailing slash */
  atomic_uint tmp_seq;          /* makes temporary names unique */
};

/* Longest path we build: root + escaped key (x3) + '@' + temp suffix. */
#define PATH_CAP (PATH_MAX + 3 * OBJSTORE_KEY_MAX + 64)

static int
dir_open (const char *rest, const struct objstore_config *cfg,
          struct objstore **out)
{
  struct dir_store *d;
  struct stat st;
  size_t len;

  if (rest[0] != '/') {
    s3vol_error (cfg->log, "store URL \"file://%s\": the path must be "
                 "absolute, as in file:///var/lib/s3vol", rest);
    return -EINVAL;
  }
  if (stat (rest, &st) == -1) {
    s3vol_error (cfg->log, "store directory %s: %s", rest, strerror (errno));
    return -ENXIO;
  }
  if (!S_ISDIR (st.st_mode)) {
    s3vol_error (cfg->log, "store directory %s: not a directory", rest);
    return -ENXIO;
  }
  d = calloc (1, sizeof *d);
  if (d == NULL || (d->root = strdup (rest)) == NULL) {
    free (d);
    return -ENOMEM;
  }
  d->io = cfg->fileio ? cfg->fileio : &s3vol_fileio_sys;
  /* Temporary names of an earlier open of this pid may be left. */
  atomic_init (&d->tmp_seq, (unsigned) (s3vol_now_ns () / 1000));
  len = strlen (d->root);
  while (len > 1 && d->root[len - 1] == '/')
    d->root[--len] = '\0';
  *out = &d->s;
  return 0;
}

static void
dir_close (struct objstore *s)
{
  struct dir_store *d = (struct dir_store *) s;

  free (d->root);
  free (d);
}

/* Escape one segment of n bytes into out (room for 3n+1). */
static char *
escape_seg (char *out, const char *seg, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    if (seg[i] == '%' || seg[i] == '@')
      out += sprintf (out, "%%%02X", (unsigned char) seg[i]);
    else
      *out++ = seg[i];
  }
  *out = '\0';
  return out;
}

/* Reverse escape_seg.  Returns the decoded length or -1 if name is not
 * something escape_seg produces.
 */
static int
unescape_seg (char *out, const char *name)
{
  char *start = out;
  unsigned v;

  for (; *name; name++) {
    if (*name == '@')
      return -1;
    if (*name == '%') {
      if (sscanf (name + 1, "%2X", &v) != 1 || (v != '%' && v != '@'))
        return -1;
      *out++ = v;
      name += 2;
    }
    else
      *out++ = *name;
  }
  *out = '\0';
  return out - start;
}

/* Build the path of key's file into path; *leaf points at the file name.
 * Returns 0 or -ENAMETOOLONG (logged).
 */
static int
key_path (struct dir_store *d, const char *key, char *path, char **leaf)
{
  char *p = path + sprintf (path, "%s", d->root);
  const char *seg = key, *slash;

  for (;;) {
    slash = strchr (seg, '/');
    *p++ = '/';
    *leaf = p;
    p = escape_seg (p, seg, slash ? (size_t) (slash - seg) : strlen (seg));
    if (p - *leaf > NAME_MAX - 1) {
      s3vol_error (d->s.log, "%s: key \"%s\": a segment is too long for a "
                   "directory store", d->s.url, key);
      return -ENAMETOOLONG;
    }
    if (slash == NULL)
      break;
    seg = slash + 1;
  }
  *p++ = '@';
  *p = '\0';
  return 0;
}

static int
fsync_dir (struct dir_store *d, const char *path)
{
  const struct s3vol_fileio *io = d->io;
  int fd = io->open_dir (io->opaque, path);
  int r = 0;

  if (fd == -1)
    return -errno;
  if (io->fsync (io->opaque, fd) == -1)
    r = -errno;
  io->close (io->opaque, fd);
  return r;
}

/* Create the directories above leaf (path is cut at leaf[-1] meanwhile),
 * fsyncing each parent whose entries changed.
 */
static int
make_parents (struct dir_store *d, char *path, char *leaf)
{
  size_t rootlen = strlen (d->root);
  char *p;
  int r = 0;

  leaf[-1] = '\0';
  for (p = path + rootlen + 1; p < leaf; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    *p = '\0';
    if (d->io->mkdir (d->io->opaque, path, 0700) == 0) {
      char *up = strrchr (path, '/');
      *up = '\0';
      r = fsync_dir (d, path);
      *up = '/';
    }
    else if (errno != EEXIST)
      r = -errno;
    *p = '/';
    if (r < 0)
      break;
  }
  leaf[-1] = '/';
  return r;
}

static int
write_all (const struct s3vol_fileio *io, int fd, const void *data,
           size_t len)
{
  const char *p = data;
  off_t off = 0;
  ssize_t n;

  while (len > 0) {
    n = io->pwrite (io->opaque, fd, p, len > (1 << 30) ? (1 << 30) : len,
                    off);
    if (n == -1) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += n;
    off += n;
    len -= n;
  }
  return 0;
}

/* Write a temporary file next to path's leaf, durable.  On success the
 * temporary name is in tmp.
 */
static int
write_temp (struct dir_store *d, char *path, char *leaf, char *tmp,
            const void *data, size_t len)
{
  const struct s3vol_fileio *io = d->io;
  int fd, r, tries = 0, taken = 0;

  for (;;) {
    size_t dirlen = leaf - path;
    memcpy (tmp, path, dirlen);
    sprintf (tmp + dirlen, "@tmp.%d.%u", (int) getpid (),
             atomic_fetch_add (&d->tmp_seq, 1));
    fd = io->open (io->opaque, tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd >= 0)
      break;
    /* A crash left a temporary of that name (the numbers start again
     * with each open, and pids repeat after a reboot): take the next.
     * Never report it: -EEXIST means that the key exists.
     */
    if (errno == EEXIST && ++taken < 10000)
      continue;
    if (errno == EEXIST)
      return -EIO;
    /* The directory is missing, or was removed by a delete just now. */
    if (errno != ENOENT || tries++ >= 8)
      return -errno;
    r = make_parents (d, path, leaf);
    if (r < 0)
      return r;
  }
  r = write_all (io, fd, data, len);
  if (r == 0 && io->fsync (io->opaque, fd) == -1)
    r = -errno;
  if (io->close (io->opaque, fd) == -1 && r == 0)
    r = -errno;
  if (r < 0)
    io->unlink (io->opaque, tmp);
  return r;
}

/* Move tmp to path without replacing anything there. */
static int
publish_noreplace (const struct s3vol_fileio *io, const char *tmp,
                   const char *path)
{
  if (io->rename (io->opaque, tmp, path, RENAME_NOREPLACE) == 0)
    return 0;
  if (errno != EINVAL && errno != ENOSYS)
    return -errno;
  /* The filesystem lacks RENAME_NOREPLACE: link(2) is atomic too. */
  if (io->link (io->opaque, tmp, path) == -1)
    return -errno;
  io->unlink (io->opaque, tmp);
  return 0;
}

static int
dir_put (struct objstore *s, const char *key, const void *data, size_t len,
         unsigned flags)
{
  struct dir_store *d = (struct dir_store *) s;
  const struct s3vol_fileio *io = d->io;
  char path[PATH_CAP], tmp[PATH_CAP], *leaf;
  int r;

  r = key_path (d, key, path, &leaf);
  if (r < 0)
    return r;
  r = write_temp (d, path, leaf, tmp, data, len);
  if (r < 0)
    goto fail;
  if (flags & OBJSTORE_CREATE_ONLY)
    r = publish_noreplace (io, tmp, path);
  else if (io->rename (io->opaque, tmp, path, 0) == -1)
    r = -errno;
  if (r < 0) {
    io->unlink (io->opaque, tmp);
    if (r == -EEXIST)
      return r;
    goto fail;
  }
  leaf[-1] = '\0';
  r = fsync_dir (d, path);
  leaf[-1] = '/';
  if (r == 0)
    return 0;
 fail:
  s3vol_error (s->log, "%s: put %s: %s", s->url, key, strerror (-r));
  return r;
}

static void
fill_stat (const struct stat *st, struct objstore_stat *out)
{
  out->size = st->st_size;
  out->mtime = st->st_mtim.tv_sec;
  snprintf (out->etag, sizeof out->etag, "%" PRIx64 "-%" PRIx64 "-%lx.%lx",
            (uint64_t) st->st_ino, (uint64_t) st->st_size,
            (long) st->st_mtim.tv_sec, (long) st->st_mtim.tv_nsec);
}

static int
dir_get (struct objstore *s, const char *key, uint64_t off, uint64_t len,
         struct s3vol_buf *out)
{
  struct dir_store *d = (struct dir_store *) s;
  char path[PATH_CAP], *leaf;
  struct stat st;
  size_t want, got = 0, start = out->len;
  ssize_t n;
  int fd, r;

  r = key_path (d, key, path, &leaf);
  if (r < 0)
    return r;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    if (errno == ENOENT || errno == ENOTDIR)
      return -ENOENT;
    r = -errno;
    goto fail;
  }
  if (fstat (fd, &st) == -1) {
    r = -errno;
    goto fail;
  }
  if (off >= (uint64_t) st.st_size) {
    close (fd);
    return 0;
  }
  want = st.st_size - off < len ? st.st_size - off : len;
  r = s3vol_buf_reserve (out, want);
  if (r < 0)
    goto fail;
  while (got < want) {
    n = pread (fd, out->data + start + got, want - got, off + got);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      r = n == 0 ? -EIO : -errno;   /* 0: truncated under us */
      goto fail;
    }
    got += n;
  }
  close (fd);
  out->len = start + got;
  return 0;
 fail:
  if (fd >= 0)
    close (fd);
  s3vol_error (s->log, "%s: get %s: %s", s->url, key, strerror (-r));
  return r;
}

static int
dir_head (struct objstore *s, const char *key, struct objstore_stat *out)
{
  struct dir_store *d = (struct dir_store *) s;
  char path[PATH_CAP], *leaf;
  struct stat st;
  int r;

  r = key_path (d, key, path, &leaf);
  if (r < 0)
    return r;
  if (stat (path, &st) == -1) {
    if (errno == ENOENT || errno == ENOTDIR)
      return -ENOENT;
    r = -errno;
    s3vol_error (s->log, "%s: head %s: %s", s->url, key, strerror (-r));
    return r;
  }
  fill_stat (&st, out);
  return 0;
}

/* Remove now-empty directories from leaf's up to (not including) root. */
static void
prune_dirs (struct dir_store *d, char *path, char *leaf)
{
  size_t rootlen = strlen (d->root);
  char *slash = leaf - 1;

  while (slash > path + rootlen) {
    *slash = '\0';
    if (d->io->rmdir (d->io->opaque, path) == -1) {
      *slash = '/';
      break;
    }
    *slash = '/';
    do
      slash--;
    while (*slash != '/');
  }
}

static int
dir_del (struct objstore *s, const char *key)
{
  struct dir_store *d = (struct dir_store *) s;
  char path[PATH_CAP], *leaf;
  int r;

  r = key_path (d, key, path, &leaf);
  if (r < 0)
    return r;
  if (d->io->unlink (d->io->opaque, path) == -1) {
    if (errno == ENOENT || errno == ENOTDIR)
      return 0;
    r = -errno;
    s3vol_error (s->log, "%s: delete %s: %s", s->url, key, strerror (-r));
    return r;
  }
  leaf[-1] = '\0';
  r = fsync_dir (d, path);
  leaf[-1] = '/';
  if (r < 0) {
    s3vol_error (s->log, "%s: delete %s: %s", s->url, key, strerror (-r));
    return r;
  }
  prune_dirs (d, path, leaf);
  return 0;
}

static int
dir_del_many (struct objstore *s, const char *const *keys, size_t n)
{
  size_t i;
  int r;

  for (i = 0; i < n; i++) {
    r = dir_del (s, keys[i]);
    if (r < 0)
      return r;
  }
  return 0;
}

/* Listing: a depth-first walk, each directory's entries sorted so that
 * the keys come out in bytewise order.  A directory "x" holds keys that
 * start with "x/", so it sorts as "x/" among its siblings.
 */
struct dir_ent {
  char *sortkey;                /* decoded name, plus '/' for a directory */
  bool is_dir;
};
DEFINE_VECTOR (dir_ents, struct dir_ent);

struct walk {
  struct dir_store *d;
  const char *prefix;
  const char *start_after;
  objstore_list_fn fn;
  void *opaque;
  bool stopped;                 /* fn asked to stop; r is its value */
  char path[PATH_CAP];          /* the directory being read */
  char key[OBJSTORE_KEY_MAX + 2]; /* the key of that directory, with '/' */
};

static int
cmp_ent (const void *a, const void *b)
{
  return strcmp (((const struct dir_ent *) a)->sortkey,
                 ((const struct dir_ent *) b)->sortkey);
}

/* Could any key starting with k (k itself included if !is_dir) pass the
 * prefix and start_after filters?
 */
static bool
worth_visiting (const struct walk *w, const char *k, bool is_dir)
{
  size_t kl = strlen (k), pl = strlen (w->prefix);

  if (strncmp (k, w->prefix, kl < pl ? kl : pl) != 0)
    return false;
  if (!is_dir && kl < pl)
    return false;
  if (w->start_after == NULL)
    return true;
  if (!is_dir)
    return strcmp (k, w->start_after) > 0;
  /* Every key under k is <= start_after iff k < start_after and
   * start_after does not extend k.
   */
  return strcmp (k, w->start_after) > 0 ||
         strncmp (k, w->start_after, kl) == 0;
}

/* Read the directory w->path into ents, sorted. */
static int
read_dir (struct walk *w, struct dir_ents *ents)
{
  DIR *dir;
  struct dirent *de;
  struct dir_ent *ne;
  char name[NAME_MAX + 2];
  struct stat st;
  int r = 0, len;
  bool is_dir;

  dir = opendir (w->path);
  if (dir == NULL)
    return errno == ENOENT ? 0 : -errno;
  while ((errno = 0, de = readdir (dir)) != NULL) {
    size_t nl = strlen (de->d_name);
    if (de->d_name[0] == '@' || de->d_name[0] == '\0' ||
        strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    is_dir = de->d_name[nl - 1] != '@';
    memcpy (name, de->d_name, nl + 1);
    if (!is_dir)
      name[nl - 1] = '\0';
    len = unescape_seg (name, name);
    if (len <= 0)
      continue;                   /* foreign */
    if (is_dir && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
      continue;
    /* Never follow a symbolic link to a directory: one pointing back up
     * would have a listing walk the same entries over and over.
     */
    if (is_dir && de->d_type == DT_UNKNOWN &&
        (fstatat (dirfd (dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
         !S_ISDIR (st.st_mode)))
      continue;
    ne = dir_ents_grow (ents);
    if (ne == NULL || (ne->sortkey = malloc (len + 2)) == NULL) {
      r = -ENOMEM;
      break;
    }
    ne->is_dir = is_dir;
    memcpy (ne->sortkey, name, len);
    strcpy (ne->sortkey + len, is_dir ? "/" : "");
  }
  if (r == 0 && errno != 0)
    r = -errno;
  closedir (dir);
  if (r == 0 && ents->len > 1)
    qsort (ents->ptr, ents->len, sizeof *ents->ptr, cmp_ent);
  return r;
}

static void
free_ents (struct dir_ents *ents)
{
  size_t i;

  for (i = 0; i < ents->len; i++)
    free (ents->ptr[i].sortkey);
  dir_ents_reset (ents);
}

static int
walk_dir (struct walk *w)
{
  struct dir_ents ents = { 0 };
  size_t i, plen = strlen (w->path), klen = strlen (w->key);
  struct objstore_entry e;
  struct stat st;
  int r;

  r = read_dir (w, &ents);
  for (i = 0; r == 0 && i < ents.len; i++) {
    struct dir_ent *ent = &ents.ptr[i];
    size_t sl = strlen (ent->sortkey);
    if (klen + sl > OBJSTORE_KEY_MAX + 1)
      continue;
    strcpy (w->key + klen, ent->sortkey);
    if (!worth_visiting (w, w->key, ent->is_dir))
      continue;
    w->path[plen] = '/';
    escape_seg (w->path + plen + 1, ent->sortkey,
                sl - ent->is_dir);
    if (ent->is_dir)
      r = walk_dir (w);
    else {
      strcat (w->path, "@");
      if (stat (w->path, &st) == -1) {
        if (errno != ENOENT)    /* deleted since readdir: skip it */
          r = -errno;
      }
      else {
        fill_stat (&st, &e.st);
        e.key = w->key;
        r = w->fn (w->opaque, &e);
        w->stopped = r != 0;
      }
    }
    w->path[plen] = '\0';
    w->key[klen] = '\0';
  }
  free_ents (&ents);
  return r;
}

static int
dir_list (struct objstore *s, const char *prefix, const char *start_after,
          objstore_list_fn fn, void *opaque)
{
  struct dir_store *d = (struct dir_store *) s;
  struct walk *w;
  int r;

  w = calloc (1, sizeof *w);
  if (w == NULL)
    return -ENOMEM;
  w->d = d;
  w->prefix = prefix;
  w->start_after = start_after;
  w->fn = fn;
  w->opaque = opaque;
  snprintf (w->path, sizeof w->path, "%s", d->root);
  r = walk_dir (w);
  if (r < 0 && !w->stopped)
    s3vol_error (s->log, "%s: list %s: %s", s->url, prefix, strerror (-r));
  free (w);
  return r;
}

static unsigned
dir_caps (struct objstore *s)
{
  (void) s;
  return OBJSTORE_CAP_CREATE_ONLY;
}

const struct objstore_ops objstore_dir_ops = {
  .scheme = "file",
  .open = dir_open,
  .close = dir_close,
  .get = dir_get,
  .put = dir_put,
  .head = dir_head,
  .del = dir_del,
  .del_many = dir_del_many,
  .list = dir_list,
  .caps = dir_caps,
};
