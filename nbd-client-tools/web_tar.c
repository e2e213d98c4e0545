/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: a directory as a tar stream, /tar/NAME/SEQ/PATH.
 *
 * POSIX pax (ustar blocks, with an extended header where ustar falls
 * short: long or non-ASCII names and link targets, big sizes or ids,
 * times with nanoseconds).  Directories, regular files and symlinks go in; a file's
 * second and later names within the archive go as hard links to the
 * first; device files, FIFOs and sockets are skipped.  A file with holes
 * goes in GNU's pax sparse format 1.0 (what GNU tar --sparse writes,
 * which GNU tar and libarchive restore): a map of its data runs
 * (extfs_data_runs), then only those bytes.
 *
 * Names in the archive are relative, under one top directory (the
 * directory's own name, or VOLUME-vSEQ for the root), and each
 * component is checked: an entry named "", ".", ".." or holding '/'
 * (a corrupt or hostile filesystem) is skipped, so nothing can be
 * extracted outside that directory.
 *
 * The tree is walked first (names and attributes only: one pass over
 * the directories, nothing read from files), then streamed: headers,
 * then file bytes WEB_PIECE at a time as the client takes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "s3vol/extfs_map.h"
#include "web.h"

#define TAR_BLOCK 512
#define TAR_MAX_DEPTH 256
#define TAR_MAX_ENTRIES (4u << 20)
#define TAR_OCTAL11 077777777777ull
#define TAR_OCTAL7 07777777u

struct tar_entry {
  char *path;                   /* in the volume */
  struct extfs_stat st;
  char *target;                 /* symlink target */
  size_t link;                  /* a hard link to entry link - 1 (0: no) */
  uint64_t *runs;               /* sparse: off, len pairs */
  size_t nruns;
  bool sparse;
};

struct tar_ino {
  uint32_t ino;                 /* 0: a free slot */
  size_t entry;
};

struct tar {
  struct web *w;
  struct web_handle *h;
  size_t base_len;              /* of the directory's path, no '/' at end */
  char *top;                    /* the archive's top directory */
  struct tar_entry *e;
  size_t n, cap;
  size_t skipped;
  struct tar_ino *links;        /* files with several links, hashed */
  size_t nlinks, lcap;
  /* streaming */
  size_t i;                     /* entry being sent */
  bool in_data;
  size_t run;                   /* its run being sent, bytes of it sent */
  uint64_t run_done, data_len;
  struct s3vol_buf out;
  size_t out_pos;
  bool finished;
};

/* ---- the walk ---- */

/* The slot of ino in t->links: its own, or the free one it would take. */
static size_t
tar_slot (const struct tar *t, uint32_t ino)
{
  size_t i = (ino * 2654435761u) & (t->lcap - 1);

  while (t->links[i].ino && t->links[i].ino != ino)
    i = (i + 1) & (t->lcap - 1);
  return i;
}

static int
add_entry (struct tar *t, const char *path, const struct extfs_stat *st,
           const char *target)
{
  struct tar_entry *e;

  if (t->n == TAR_MAX_ENTRIES)
    return -E2BIG;
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 256;
    e = realloc (t->e, cap * sizeof *e);
    if (e == NULL)
      return -ENOMEM;
    t->e = e;
    t->cap = cap;
  }
  e = &t->e[t->n];
  memset (e, 0, sizeof *e);
  e->st = *st;
  e->path = strdup (path);
  e->target = target ? strdup (target) : NULL;
  if (e->path == NULL || (target && e->target == NULL)) {
    free (e->path);
    return -ENOMEM;
  }
  t->n++;
  return 0;
}

struct walk_dir {
  struct tar *t;
  const char *dir;              /* "" for the root */
  int err;
};

static bool
name_ok (const char *name)
{
  return name[0] && strcmp (name, ".") && strcmp (name, "..") &&
    strchr (name, '/') == NULL;
}

static int
walk_one (void *opaque, const char *name, const struct extfs_stat *st,
          const char *target)
{
  struct walk_dir *wd = opaque;
  char *path;
  int r;

  if (!name_ok (name) || !(S_ISREG (st->mode) || S_ISDIR (st->mode) ||
                           S_ISLNK (st->mode))) {
    wd->t->skipped++;
    return 0;
  }
  if (asprintf (&path, "%s/%s", wd->dir, name) < 0)
    return wd->err = -ENOMEM;
  r = add_entry (wd->t, path, st, S_ISLNK (st->mode) ? target : NULL);
  free (path);
  return r < 0 ? (wd->err = r) : 0;
}

/* The second and later names of an inode become links to the first:
 * a hash of inode -> first entry, of the files with several links
 * (open addressing; inode 0 marks a free slot, no file has it).
 */
static int
find_link (struct tar *t, size_t k)
{
  struct tar_entry *e = &t->e[k];
  size_t i, cap;
  struct tar_ino *old;

  if (!S_ISREG (e->st.mode) || e->st.nlink < 2 || e->st.ino == 0)
    return 0;
  if (2 * (t->nlinks + 1) > t->lcap) {
    old = t->links;
    cap = t->lcap;
    t->lcap = cap ? 2 * cap : 64;
    t->links = calloc (t->lcap, sizeof *t->links);
    if (t->links == NULL) {
      t->links = old;
      t->lcap = cap;
      return -ENOMEM;
    }
    t->nlinks = 0;
    for (i = 0; i < cap; i++)
      if (old[i].ino)
        t->links[tar_slot (t, old[i].ino)] = old[i], t->nlinks++;
    free (old);
  }
  i = tar_slot (t, e->st.ino);
  if (t->links[i].ino) {
    e->link = t->links[i].entry + 1;
    return 0;
  }
  t->links[i].ino = e->st.ino;
  t->links[i].entry = k;
  t->nlinks++;
  return 0;
}

static int
add_run (void *opaque, uint64_t off, uint64_t len)
{
  struct tar_entry *e = opaque;
  uint64_t *r = e->runs;

  if ((e->nruns & (e->nruns - 1)) == 0) {       /* 0, 1, 2, 4, ...: grow */
    r = realloc (e->runs, (e->nruns ? 2 * e->nruns : 1) * 2 * sizeof *r);
    if (r == NULL)
      return -ENOMEM;
    e->runs = r;
  }
  r[2 * e->nruns] = off;
  r[2 * e->nruns + 1] = len;
  e->nruns++;
  return 0;
}

static int
walk (struct tar *t, const char *dir, int depth)
{
  struct walk_dir wd = { t, dir, 0 };
  size_t first = t->n, end, k;
  int r;

  if (depth > TAR_MAX_DEPTH)
    return -ELOOP;
  r = extfs_list (t->h->x, dir[0] ? dir : "/", true, walk_one, &wd);
  if (wd.err)
    r = wd.err;
  end = t->n;
  for (k = first; r == 0 && k < end; k++) {
    r = find_link (t, k);
    if (r == 0 && S_ISREG (t->e[k].st.mode) && !t->e[k].link &&
        t->e[k].st.alloc_bytes < t->e[k].st.size) {
      t->e[k].sparse = true;
      r = extfs_data_runs (t->h->x, t->e[k].path, add_run, &t->e[k]);
    }
  }
  for (k = first; r == 0 && k < end; k++)
    if (S_ISDIR (t->e[k].st.mode))
      r = walk (t, t->e[k].path, depth + 1);
  return r;
}

/* ---- headers ---- */

static void
put (struct s3vol_buf *b, const void *p, size_t n, int *err)
{
  if (*err == 0 && s3vol_buf_append (b, p, n) < 0)
    *err = -ENOMEM;
}

/* Zeros to the next block boundary after len bytes. */
static void
pad (struct s3vol_buf *b, uint64_t len, int *err)
{
  static const char zero[TAR_BLOCK];

  if (len % TAR_BLOCK)
    put (b, zero, TAR_BLOCK - len % TAR_BLOCK, err);
}

/* "LEN key=value\n", LEN counting itself. */
static void
pax_record (struct s3vol_buf *pax, const char *key, const char *value,
            int *err)
{
  size_t n = strlen (key) + strlen (value) + 3, len = n, d;
  char num[24];

  for (;;) {
    d = snprintf (num, sizeof num, "%zu ", len) - 1;
    if (n + d == len)
      break;
    len = n + d;
  }
  put (pax, num, d + 1, err);
  put (pax, key, strlen (key), err);
  put (pax, "=", 1, err);
  put (pax, value, strlen (value), err);
  put (pax, "\n", 1, err);
}

/* Does s fit a ustar field of n bytes as it is (short, ASCII)? */
static bool
fits (const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *) s;

  if (strlen (s) >= n)
    return false;
  for (; *u; u++)
    if (*u < 0x20 || *u >= 0x7f)
      return false;
  return true;
}

/* A ustar name field: s if it fits, else a printable stand-in (the pax
 * record holds the real one).
 */
static void
ustar_name (char *field, size_t n, const char *s)
{
  size_t i;

  for (i = 0; i + 1 < n && s[i]; i++)
    field[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '_';
}

static void
octal (char *field, size_t n, uint64_t v, uint64_t max)
{
  snprintf (field, n, "%0*" PRIo64, (int) n - 1, v > max ? 0 : v);
}

static void
ustar_block (char b[TAR_BLOCK], const char *name, char type,
             const struct extfs_stat *st, uint64_t size, const char *link)
{
  unsigned sum = 0;
  int64_t mtime = st->mtime_ns / 1000000000;
  size_t i;

  memset (b, 0, TAR_BLOCK);
  ustar_name (b, 100, name);
  octal (b + 100, 8, st->mode & 07777, TAR_OCTAL7);
  octal (b + 108, 8, st->uid, TAR_OCTAL7);
  octal (b + 116, 8, st->gid, TAR_OCTAL7);
  octal (b + 124, 12, size, TAR_OCTAL11);
  octal (b + 136, 12, mtime < 0 ? 0 : (uint64_t) mtime, TAR_OCTAL11);
  b[156] = type;
  if (link)
    ustar_name (b + 157, 100, link);
  memcpy (b + 257, "ustar", 6);
  memcpy (b + 263, "00", 2);
  memset (b + 148, ' ', 8);
  for (i = 0; i < TAR_BLOCK; i++)
    sum += (unsigned char) b[i];
  snprintf (b + 148, 8, "%06o", sum);
}

/* The archive name of entry e (for a directory ending in '/'). */
static char *
arc_name (const struct tar *t, const struct tar_entry *e)
{
  char *s;

  if (asprintf (&s, "%s%s%s", t->top, e->path + t->base_len,
                S_ISDIR (e->st.mode) ? "/" : "") < 0)
    return NULL;
  return s;
}

/* The sparse map as GNU pax 1.0 stores it before the data, padded:
 * the number of runs, then each run's offset and length, in decimal,
 * one a line; a run of length 0 at the end sets the size.
 */
static void
sparse_map (const struct tar_entry *e, struct s3vol_buf *m, int *err)
{
  uint64_t end = e->nruns ? e->runs[2 * e->nruns - 2] +
    e->runs[2 * e->nruns - 1] : 0;
  bool tail = end < e->st.size || e->nruns == 0;
  char num[48];
  size_t i;

  snprintf (num, sizeof num, "%zu\n", e->nruns + tail);
  put (m, num, strlen (num), err);
  for (i = 0; i < e->nruns; i++) {
    snprintf (num, sizeof num, "%" PRIu64 "\n%" PRIu64 "\n", e->runs[2 * i],
              e->runs[2 * i + 1]);
    put (m, num, strlen (num), err);
  }
  if (tail) {
    snprintf (num, sizeof num, "%" PRIu64 "\n0\n", e->st.size);
    put (m, num, strlen (num), err);
  }
  pad (m, m->len, err);
}

/* The file bytes of entry e in the archive (after any map). */
static uint64_t
data_bytes (const struct tar_entry *e)
{
  uint64_t sum = 0;
  size_t i;

  if (!e->sparse)
    return e->link || !S_ISREG (e->st.mode) ? 0 : e->st.size;
  for (i = 0; i < e->nruns; i++)
    sum += e->runs[2 * i + 1];
  return sum;
}

/* The pax records entry e needs (none if ustar holds it all). */
static void
pax_records (const struct tar_entry *e, const char *name, const char *link,
             uint64_t size, struct s3vol_buf *pax, int *err)
{
  char num[32];

  if (e->sparse) {
    pax_record (pax, "GNU.sparse.major", "1", err);
    pax_record (pax, "GNU.sparse.minor", "0", err);
    pax_record (pax, "GNU.sparse.name", name, err);
    snprintf (num, sizeof num, "%" PRIu64, e->st.size);
    pax_record (pax, "GNU.sparse.realsize", num, err);
  }
  else if (!fits (name, 100))
    pax_record (pax, "path", name, err);
  if (link && !fits (link, 100))
    pax_record (pax, "linkpath", link, err);
  if (size > TAR_OCTAL11) {
    snprintf (num, sizeof num, "%" PRIu64, size);
    pax_record (pax, "size", num, err);
  }
  if (e->st.mtime_ns % 1000000000 || e->st.mtime_ns < 0 ||
      e->st.mtime_ns / 1000000000 > (int64_t) TAR_OCTAL11) {
    /* to the nanosecond, as extfs_get keeps it */
    int64_t sec = e->st.mtime_ns / 1000000000, ns = e->st.mtime_ns % 1000000000;
    if (ns < 0) {
      sec--;
      ns += 1000000000;
    }
    snprintf (num, sizeof num, "%" PRId64 ".%09" PRId64, sec, ns);
    pax_record (pax, "mtime", num, err);
  }
  if (e->st.uid > TAR_OCTAL7 || e->st.gid > TAR_OCTAL7) {
    snprintf (num, sizeof num, "%" PRIu32, e->st.uid);
    pax_record (pax, "uid", num, err);
    snprintf (num, sizeof num, "%" PRIu32, e->st.gid);
    pax_record (pax, "gid", num, err);
  }
}

/* GNU tar's stand-in name of a sparse file: DIR/GNUSparseFile.0/BASE. */
static char *
sparse_dummy (const char *name)
{
  const char *slash = strrchr (name, '/');
  char *s;

  if (asprintf (&s, "%.*sGNUSparseFile.0/%s",
                (int) (slash ? slash - name + 1 : 0), name,
                slash ? slash + 1 : name) < 0)
    return NULL;
  return s;
}

/* Entry e's headers (and sparse map) onto t->out. */
static int
header (struct tar *t, const struct tar_entry *e)
{
  struct s3vol_buf pax = S3VOL_BUF_INIT, map = S3VOL_BUF_INIT;
  char b[TAR_BLOCK], *name = arc_name (t, e), *link = NULL, *dummy = NULL;
  char type = S_ISDIR (e->st.mode) ? '5' : S_ISLNK (e->st.mode) ? '2' : '0';
  const char *lk;
  uint64_t size;
  int err = name ? 0 : -ENOMEM;

  if (e->link) {
    type = '1';
    link = arc_name (t, &t->e[e->link - 1]);
    if (link == NULL)
      err = -ENOMEM;
  }
  if (e->sparse) {
    dummy = sparse_dummy (name ? name : "");
    if (dummy == NULL)
      err = -ENOMEM;
    sparse_map (e, &map, &err);
  }
  lk = e->target ? e->target : link;
  size = data_bytes (e) + map.len;
  if (err == 0)
    pax_records (e, name, lk, size, &pax, &err);
  if (err == 0 && pax.len) {
    ustar_block (b, "PaxHeader", 'x', &e->st, pax.len, NULL);
    put (&t->out, b, TAR_BLOCK, &err);
    put (&t->out, pax.data, pax.len, &err);
    pad (&t->out, pax.len, &err);
  }
  if (err == 0) {
    ustar_block (b, dummy ? dummy : name, type, &e->st, size, lk);
    put (&t->out, b, TAR_BLOCK, &err);
    if (map.len)
      put (&t->out, map.data, map.len, &err);
  }
  s3vol_buf_free (&pax);
  s3vol_buf_free (&map);
  free (name);
  free (link);
  free (dummy);
  return err;
}

/* ---- the stream ---- */

/* The next data run of the entry being sent: [*off, *off + *len). */
static bool
next_run (const struct tar *t, const struct tar_entry *e, uint64_t *off,
          uint64_t *len)
{
  if (!e->sparse) {
    *off = 0;
    *len = e->st.size;
    return t->run == 0;
  }
  if (t->run >= e->nruns)
    return false;
  *off = e->runs[2 * t->run];
  *len = e->runs[2 * t->run + 1];
  return true;
}

/* Up to WEB_PIECE bytes of the entry's data onto t->out, or its
 * padding once all is sent.
 */
static int
data_piece (struct tar *t, const struct tar_entry *e)
{
  uint64_t off, len;
  size_t want, got;
  int r, err = 0;

  if (!next_run (t, e, &off, &len)) {
    pad (&t->out, t->data_len, &err);
    t->in_data = false;
    t->i++;
    return err;
  }
  want = len - t->run_done < WEB_PIECE ? len - t->run_done : WEB_PIECE;
  if (s3vol_buf_reserve (&t->out, want) < 0)
    return -ENOMEM;
  pthread_mutex_lock (&t->h->lock);
  r = extfs_pread (t->h->x, e->path, t->out.data + t->out.len, want,
                   off + t->run_done, &got);
  pthread_mutex_unlock (&t->h->lock);
  if (r < 0)
    return r;
  if (got != want)
    return -EIO;                /* shorter than it said: the stream would
                                   be corrupt */
  t->out.len += got;
  t->data_len += got;
  t->run_done += got;
  if (t->run_done == len) {
    t->run++;
    t->run_done = 0;
  }
  return 0;
}

/* Refill t->out with the next bytes of the archive. */
static int
fill (struct tar *t)
{
  static const char end[2 * TAR_BLOCK];
  const struct tar_entry *e;
  int r = 0;

  s3vol_buf_clear (&t->out);
  t->out_pos = 0;
  while (r == 0 && t->out.len == 0) {
    if (t->i == t->n) {
      put (&t->out, end, sizeof end, &r);
      t->finished = true;
      break;
    }
    e = &t->e[t->i];
    if (t->in_data) {
      r = data_piece (t, e);
      continue;
    }
    r = header (t, e);
    t->run = 0;
    t->run_done = 0;
    t->data_len = 0;
    t->in_data = S_ISREG (e->st.mode) && !e->link;
    if (!t->in_data)
      t->i++;
  }
  return r;
}

static ssize_t
tar_read (void *cls, uint64_t pos, char *buf, size_t max)
{
  struct tar *t = cls;
  size_t n;

  (void) pos;
  if (t->out_pos == t->out.len) {
    if (t->finished)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if (fill (t) < 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  n = t->out.len - t->out_pos;
  if (n > max)
    n = max;
  memcpy (buf, t->out.data + t->out_pos, n);
  t->out_pos += n;
  return n;
}

static void
tar_free (void *cls)
{
  struct tar *t = cls;
  size_t i;

  for (i = 0; i < t->n; i++) {
    free (t->e[i].path);
    free (t->e[i].target);
    free (t->e[i].runs);
  }
  free (t->e);
  free (t->links);
  free (t->top);
  s3vol_buf_free (&t->out);
  web_pool_put (t->w->pool, t->h);
  free (t);
}

/* The top directory: the directory's own name, or VOLUME-vSEQ. */
static int
tar_top (struct tar *t, const struct web_req *rq, char **base)
{
  size_t n = strlen (rq->path);
  const char *slash;

  while (n > 0 && rq->path[n - 1] == '/')
    n--;
  *base = strndup (rq->path, n);
  if (*base == NULL)
    return -ENOMEM;
  t->base_len = n;
  slash = strrchr (*base, '/');
  if (n == 0 || slash == NULL || !name_ok (slash + 1))
    return asprintf (&t->top, "%s-v%" PRIu64, rq->volume, rq->seq) < 0
      ? -ENOMEM : 0;
  t->top = strdup (slash + 1);
  return t->top ? 0 : -ENOMEM;
}

static enum MHD_Result
tar_respond (struct MHD_Connection *c, struct tar *t)
{
  char *name;
  struct MHD_Response *resp;

  if (asprintf (&name, "%s.tar", t->top) < 0) {
    tar_free (t);
    return MHD_NO;
  }
  resp = web_stream (MHD_SIZE_UNKNOWN, tar_read, t, tar_free,
                     "application/x-tar", name);
  free (name);
  return web_queue (c, MHD_HTTP_OK, resp);
}

enum MHD_Result
web_tar (struct web_req *rq)
{
  struct tar *t = calloc (1, sizeof *t);
  struct extfs_stat st;
  char *base = NULL;
  int r;

  if (t == NULL)
    return web_send_err (rq->c, -ENOMEM);
  t->w = rq->w;
  r = web_pool_get (rq->w->pool, rq->volume, rq->seq, &t->h);
  if (r < 0) {
    free (t);
    return web_send_err (rq->c, r);
  }
  r = tar_top (t, rq, &base);
  pthread_mutex_lock (&t->h->lock);
  if (r == 0)
    r = extfs_stat (t->h->x, base[0] ? base : "/", &st);
  if (r == 0 && !S_ISDIR (st.mode))
    r = -ENOTDIR;
  /* the top directory itself, then what is under it */
  if (r == 0)
    r = add_entry (t, base, &st, NULL);
  if (r == 0)
    r = walk (t, base, 0);
  pthread_mutex_unlock (&t->h->lock);
  free (base);
  if (r < 0) {
    tar_free (t);
    return web_send_err (rq->c, r);
  }
  if (t->skipped)
    fprintf (stderr, "s3vol web: tar of %s version %" PRIu64 ": %zu entries "
             "skipped (devices, FIFOs, sockets or unsafe names)\n",
             rq->volume, rq->seq, t->skipped);
  return tar_respond (rq->c, t);
}
