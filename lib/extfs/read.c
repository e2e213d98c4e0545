/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: reading a volume's files: stat, readlink, list, cat, get.
 *
 * A file's bytes are read run by run (extfs_each_run): each run of
 * blocks is read from the cache in large pieces, so a big file streams
 * at the cache's speed (which fetches ahead) rather than block by block;
 * holes and unwritten extents are skipped, and stay holes in a local
 * copy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "extfs_int.h"

#define PIECE EXTFS_PIECE

int
extfs_join (char *out, const char *dir, const char *name)
{
  size_t n = strlen (dir);
  int len;

  while (n > 1 && dir[n - 1] == '/')
    n--;
  if (name[0] == '\0')
    len = snprintf (out, PATH_MAX, "%.*s", (int) n, dir);
  else
    len = snprintf (out, PATH_MAX, "%.*s%s%s", (int) n, dir,
                    n && dir[n - 1] == '/' ? "" : "/", name);
  return len >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Resolve a path a user gave; say so if it is not there. */
int
extfs_find (struct extfs *x, const char *path, bool follow, ext2_ino_t *ino,
      union extfs_inode *in)
{
  char last[EXT2_NAME_LEN + 1];
  ext2_ino_t parent;
  int r;

  r = extfs_resolve (x, path, follow, &parent, last, ino);
  if (r == -ENOENT || r == -ENOTDIR)
    s3vol_error (x->log, "%s: %s in volume %s (version %" PRIu64 ")", path,
                 r == -ENOENT ? "no such file or directory"
                 : "a part of the path is not a directory", x->volume,
                 x->seq);
  if (r == 0 && in)
    r = extfs_read_inode (x, *ino, in);
  return r;
}

int
extfs_lstat (struct extfs *x, const char *path, struct extfs_stat *st)
{
  union extfs_inode in;
  ext2_ino_t ino;
  int r = extfs_find (x, path, false, &ino, &in);

  if (r == 0)
    extfs_to_stat (x, ino, &in, st);
  return r;
}

int
extfs_stat (struct extfs *x, const char *path, struct extfs_stat *st)
{
  char last[EXT2_NAME_LEN + 1];
  union extfs_inode in;
  ext2_ino_t parent, ino;
  int r;

  r = extfs_resolve (x, path, true, &parent, last, &ino);
  if (r == 0)
    r = extfs_read_inode (x, ino, &in);
  if (r == 0)
    extfs_to_stat (x, ino, &in, st);
  return r;
}

int
extfs_readlink (struct extfs *x, const char *path, char *buf, size_t n)
{
  union extfs_inode in;
  ext2_ino_t ino;
  int r = extfs_find (x, path, false, &ino, &in);

  if (r == 0 && !LINUX_S_ISLNK (in.small.i_mode)) {
    s3vol_error (x->log, "%s: not a symbolic link", path);
    r = -EINVAL;
  }
  return r == 0 ? extfs_read_link (x, ino, &in, buf, n) : r;
}

/* ---- listing ---- */

/* What a listing adds to entry i of the directory: info[i]. */
struct info {
  struct extfs_stat st;
  char *target;
};

static int
by_name (const void *a, const void *b)
{
  return strcmp (((const struct extfs_dirent *) a)->name,
                 ((const struct extfs_dirent *) b)->name);
}

static int
by_ino (const void *a, const void *b)
{
  const struct extfs_dirent *const *x = a, *const *y = b;

  return (*x)->ino < (*y)->ino ? -1 : (*x)->ino > (*y)->ino;
}

static const uint32_t type_bits[] = {
  [EXT2_FT_UNKNOWN] = 0, [EXT2_FT_REG_FILE] = S_IFREG,
  [EXT2_FT_DIR] = S_IFDIR, [EXT2_FT_CHRDEV] = S_IFCHR,
  [EXT2_FT_BLKDEV] = S_IFBLK, [EXT2_FT_FIFO] = S_IFIFO,
  [EXT2_FT_SOCK] = S_IFSOCK, [EXT2_FT_SYMLINK] = S_IFLNK,
};

/* Attributes of every entry, read in inode order (neighbours share
 * inode table blocks).
 */
static int
stat_all (struct extfs *x, const struct extfs_dirents *l, struct info *info)
{
  const struct extfs_dirent **order = malloc ((l->len + 1) * sizeof *order);
  union extfs_inode in;
  char target[4096];
  struct info *f;
  size_t i;
  int r = 0;

  if (order == NULL)
    return -ENOMEM;
  for (i = 0; i < l->len; i++)
    order[i] = &l->ptr[i];
  if (l->len > 1)
    qsort (order, l->len, sizeof *order, by_ino);
  for (i = 0; r == 0 && i < l->len; i++) {
    r = extfs_read_inode (x, order[i]->ino, &in);
    if (r < 0)
      break;
    f = &info[order[i] - l->ptr];
    extfs_to_stat (x, order[i]->ino, &in, &f->st);
    if (LINUX_S_ISLNK (in.small.i_mode) &&
        extfs_read_link (x, order[i]->ino, &in, target, sizeof target) == 0)
      f->target = strdup (target);
    if (i % 1024 == 0)
      extfs_progress (x, "stat", i, l->len);
  }
  free (order);
  return r;
}

int
extfs_list (struct extfs *x, const char *path, bool stat, extfs_list_fn fn,
            void *opaque)
{
  struct extfs_dirents l = { 0 };
  struct info *info = NULL;
  union extfs_inode in;
  ext2_ino_t ino;
  size_t i;
  int r;

  r = extfs_find (x, path, true, &ino, &in);
  if (r == 0 && !LINUX_S_ISDIR (in.small.i_mode)) {
    s3vol_error (x->log, "%s: not a directory", path);
    r = -ENOTDIR;
  }
  if (r == 0)
    r = extfs_dir_list (x, ino, &l);
  if (r == 0 && l.len > 1)
    qsort (l.ptr, l.len, sizeof *l.ptr, by_name);
  if (r == 0 && (info = calloc (l.len + 1, sizeof *info)) == NULL)
    r = -ENOMEM;
  if (r == 0 && stat)
    r = stat_all (x, &l, info);
  for (i = 0; r == 0 && i < l.len; i++) {
    if (!stat) {
      info[i].st.ino = l.ptr[i].ino;
      info[i].st.mode = l.ptr[i].ftype < 8 ? type_bits[l.ptr[i].ftype] : 0;
    }
    r = fn (opaque, l.ptr[i].name, &info[i].st, info[i].target);
  }
  for (i = 0; info && i < l.len; i++)
    free (info[i].target);
  free (info);
  extfs_dirents_free (&l);
  return r;
}

/* ---- file contents ---- */

struct copy {
  struct extfs *x;
  int fd;
  bool sparse;                  /* fd is a fresh regular file */
  uint64_t size, pos;           /* file size, bytes written so far */
  uint64_t *done;               /* for progress */
  uint64_t total;
  char *buf;
  const char *path;
};

static int
write_all (int fd, const char *buf, size_t n, off_t off, bool at)
{
  ssize_t w;

  while (n > 0) {
    w = at ? pwrite (fd, buf, n, off) : write (fd, buf, n);
    if (w == -1 && errno == EINTR)
      continue;
    if (w <= 0)
      return w == 0 ? -EIO : -errno;
    buf += w;
    n -= w;
    off += w;
  }
  return 0;
}

static int
out_error (struct copy *c, int r)
{
  s3vol_error (c->x->log, "writing %s: %s", c->path, strerror (-r));
  return r;
}

/* Zeros up to file offset end (a hole): skipped when sparse. */
static int
fill_to (struct copy *c, uint64_t end)
{
  size_t n;
  int r;

  if (end > c->size)
    end = c->size;
  if (c->sparse || end <= c->pos) {
    if (end > c->pos)
      c->pos = end;
    return 0;
  }
  memset (c->buf, 0, PIECE);
  while (c->pos < end) {
    n = end - c->pos < PIECE ? end - c->pos : PIECE;
    r = write_all (c->fd, c->buf, n, 0, false);
    if (r < 0)
      return out_error (c, r);
    c->pos += n;
  }
  return 0;
}

static int
copy_run (void *opaque, const struct extfs_run *run)
{
  struct copy *c = opaque;
  struct extfs *x = c->x;
  uint64_t bs = x->fs->blocksize, k, n, end;
  errcode_t e;
  int r;

  /* Runs come in file order, each after the last (a corrupt extent
   * tree could have them overlap or go backwards).
   */
  if (run->lblk > UINT64_MAX / bs - run->len ||
      (run->lblk * bs < c->pos && run->lblk * bs < c->size) ||
      run->pblk > ext2fs_blocks_count (x->fs->super) ||
      run->len > ext2fs_blocks_count (x->fs->super) - run->pblk) {
    s3vol_error (x->log, "%s: corrupt block map (blocks %" PRIu64 "+%"
                 PRIu64 " at block %" PRIu64 ")", c->path, run->lblk,
                 run->len, run->pblk);
    return -EUCLEAN;
  }
  r = fill_to (c, run->lblk * bs);
  if (r < 0 || run->uninit)
    return r;
  for (k = 0; k < run->len && run->lblk * bs + k * bs < c->size; k += n) {
    n = run->len - k < PIECE / bs ? run->len - k : PIECE / bs;
    e = io_channel_read_blk64 (x->fs->io, run->pblk + k, n, c->buf);
    if (e)
      return extfs_fail (x, e, "read", c->path);
    end = (run->lblk + k + n) * bs;
    if (end > c->size)
      end = c->size;
    r = write_all (c->fd, c->buf, end - c->pos, c->pos, c->sparse);
    if (r < 0)
      return out_error (c, r);
    *c->done += end - c->pos;
    c->pos = end;
    extfs_progress (x, "get", *c->done, c->total);
  }
  return 0;
}

int
extfs_copy_out (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                int fd, bool sparse, const char *path, char *buf,
                uint64_t *done, uint64_t total)
{
  struct copy c = { .x = x, .fd = fd, .sparse = sparse, .done = done,
                    .total = total, .path = path, .buf = buf,
                    .size = EXT2_I_SIZE (&in->small) };
  size_t got = 0;
  errcode_t e;
  int r;

  if (in->small.i_flags & EXT4_ENCRYPT_FL) {
    s3vol_error (x->log, "%s: the file is encrypted", path);
    return -ENOTSUP;
  }
  if (in->small.i_flags & EXT4_INLINE_DATA_FL) {
    /* ext2fs_inline_data_get copies all the inline data, whatever the
     * file size says: check that it fits first.
     */
    e = ext2fs_inline_data_size (x->fs, ino, &got);
    if (e == 0 && got > PIECE) {
      s3vol_error (x->log, "%s: corrupt inline data (%zu bytes)", path,
                   got);
      return -EUCLEAN;
    }
    if (e == 0)
      e = ext2fs_inline_data_get (x->fs, ino, &in->small, c.buf, &got);
    r = e ? extfs_fail (x, e, "read", path) : 0;
    if (r == 0)
      r = write_all (fd, c.buf, got < c.size ? got : c.size, 0, sparse);
    c.pos = got < c.size ? got : c.size;
  }
  else
    r = extfs_each_run (x, ino, in, copy_run, &c);
  if (r == 0)
    r = fill_to (&c, c.size);
  if (r == 0 && sparse && ftruncate (fd, c.size) == -1)
    r = out_error (&c, -errno);
  return r;
}

int
extfs_find_file (struct extfs *x, const char *path, ext2_ino_t *ino,
                 union extfs_inode *in)
{
  int r = extfs_find (x, path, true, ino, in);

  if (r == 0 && !LINUX_S_ISREG (in->small.i_mode)) {
    s3vol_error (x->log, "%s: %s", path, LINUX_S_ISDIR (in->small.i_mode)
                 ? "is a directory" : "not a regular file");
    r = LINUX_S_ISDIR (in->small.i_mode) ? -EISDIR : -EINVAL;
  }
  return r;
}

int
extfs_cat (struct extfs *x, const char *path, int fd)
{
  union extfs_inode in;
  ext2_ino_t ino;
  uint64_t done = 0;
  char *buf;
  int r = extfs_find_file (x, path, &ino, &in);

  buf = r == 0 ? malloc (EXTFS_PIECE) : NULL;
  if (r == 0 && buf == NULL)
    r = -ENOMEM;
  if (r == 0)
    r = extfs_copy_out (x, ino, &in, fd, false, path, buf, &done,
                        EXT2_I_SIZE (&in.small));
  free (buf);
  return r;
}

/* ---- reads at an offset ---- */

struct span {
  struct extfs *x;
  const char *path;
  uint64_t off, end;            /* the bytes wanted, [off, end) */
  char *out;                    /* receives byte off at out[0] */
  char *bounce;                 /* PIECE bytes, whole blocks */
};

/* Copy the part of one run inside [off, end) to out. */
static int
span_run (void *opaque, const struct extfs_run *run)
{
  struct span *s = opaque;
  struct extfs *x = s->x;
  uint64_t bs = x->fs->blocksize, total = ext2fs_blocks_count (x->fs->super);
  uint64_t first, last, b, n, from, to;
  errcode_t e;

  if (run->lblk > UINT64_MAX / bs - run->len ||
      run->pblk > total || run->len > total - run->pblk) {
    s3vol_error (x->log, "%s: corrupt block map (blocks %" PRIu64 "+%"
                 PRIu64 " at block %" PRIu64 ")", s->path, run->lblk,
                 run->len, run->pblk);
    return -EUCLEAN;
  }
  if (run->lblk * bs >= s->end)
    return 1;                   /* runs come in file order: done */
  if ((run->lblk + run->len) * bs <= s->off || run->uninit)
    return 0;
  first = s->off > run->lblk * bs ? s->off / bs : run->lblk;
  last = (s->end + bs - 1) / bs;
  if (last > run->lblk + run->len)
    last = run->lblk + run->len;
  for (b = first; b < last; b += n) {
    n = last - b < PIECE / bs ? last - b : PIECE / bs;
    e = io_channel_read_blk64 (x->fs->io, run->pblk + (b - run->lblk), n,
                               s->bounce);
    if (e)
      return extfs_fail (x, e, "read", s->path);
    from = b * bs > s->off ? b * bs : s->off;
    to = (b + n) * bs < s->end ? (b + n) * bs : s->end;
    memcpy (s->out + (from - s->off), s->bounce + (from - b * bs),
            to - from);
  }
  return 0;
}

int
extfs_pread (struct extfs *x, const char *path, void *buf, size_t n,
             uint64_t off, size_t *got)
{
  union extfs_inode in;
  struct span s = { .x = x, .path = path, .off = off, .out = buf };
  uint64_t size;
  ext2_ino_t ino;
  size_t inl = 0;
  errcode_t e;
  int r = extfs_find_file (x, path, &ino, &in);

  *got = 0;
  if (r == 0 && (in.small.i_flags & EXT4_ENCRYPT_FL)) {
    s3vol_error (x->log, "%s: the file is encrypted", path);
    r = -ENOTSUP;
  }
  if (r < 0)
    return r;
  size = EXT2_I_SIZE (&in.small);
  if (off >= size || n == 0)
    return 0;
  s.end = n < size - off ? off + n : size;
  memset (buf, 0, s.end - off);
  s.bounce = malloc (PIECE);
  if (s.bounce == NULL)
    return -ENOMEM;
  if (in.small.i_flags & EXT4_INLINE_DATA_FL) {
    e = ext2fs_inline_data_size (x->fs, ino, &inl);
    if (e == 0 && inl > PIECE) {
      s3vol_error (x->log, "%s: corrupt inline data (%zu bytes)", path, inl);
      r = -EUCLEAN;
    }
    else if (e == 0)
      e = ext2fs_inline_data_get (x->fs, ino, &in.small, s.bounce, &inl);
    if (r == 0 && e)
      r = extfs_fail (x, e, "read", path);
    if (r == 0 && inl > off)
      memcpy (buf, s.bounce + off, (inl < s.end ? inl : s.end) - off);
  }
  else
    r = extfs_each_run (x, ino, &in, span_run, &s);
  free (s.bounce);
  if (r < 0)
    return r;
  *got = s.end - off;
  return 0;
}
