/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: paths for extfs: resolving them (symlinks followed within the
 * volume), reading symlinks, and walking a directory's entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

#define MAX_SYMLINKS 40

/* A symlink's target (ino's inode in in), NUL-terminated. */
int
extfs_read_link (struct extfs *x, ext2_ino_t ino, union extfs_inode *in,
                 char *buf, size_t n)
{
  uint64_t size = EXT2_I_SIZE (&in->small);
  size_t got = 0;
  blk64_t pblk = 0;
  char *blk;
  errcode_t e = 0;

  if (size >= n)
    return -ERANGE;
  if (ext2fs_is_fast_symlink (&in->small)) {
    if (size > sizeof in->small.i_block)
      goto corrupt;
    memcpy (buf, in->small.i_block, size);
  }
  else if (in->small.i_flags & EXT4_INLINE_DATA_FL) {
    /* ext2fs_inline_data_get copies all the inline data (i_block and
     * the system.data xattr), whatever the file size says.
     */
    e = ext2fs_inline_data_size (x->fs, ino, &got);
    if (e == 0 && (got >= n || got < size))
      goto corrupt;
    if (e == 0)
      e = ext2fs_inline_data_get (x->fs, ino, &in->small, buf, &got);
  }
  else if (size > x->fs->blocksize)
    goto corrupt;
  else {
    e = ext2fs_bmap2 (x->fs, ino, &in->small, NULL, 0, 0, NULL, &pblk);
    blk = e ? NULL : malloc (x->fs->blocksize);
    if (e == 0 && blk == NULL)
      return -ENOMEM;
    if (e == 0)
      e = io_channel_read_blk64 (x->fs->io, pblk, 1, blk);
    if (e == 0)
      memcpy (buf, blk, size);
    free (blk);
  }
  if (e)
    return extfs_fail (x, e, "read", "a symlink");
  buf[size] = '\0';
  return 0;
 corrupt:
  s3vol_error (x->log, "inode %u: a corrupt symlink (size %" PRIu64
               ", %zu bytes of data)", (unsigned) ino, size, got);
  return -EUCLEAN;
}

bool
extfs_name_ok (const char *name, size_t len)
{
  return len > 0 && !(len == 1 && name[0] == '.') &&
    !(len == 2 && name[0] == '.' && name[1] == '.') &&
    memchr (name, '/', len) == NULL && memchr (name, '\0', len) == NULL;
}

void
extfs_name_escape (const char *name, size_t len, char *out, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  size_t i, o = 0;
  unsigned char c;

  for (i = 0; i < len && o + 5 < n; i++) {
    c = name[i];
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' ||
        (c == '.' && (len == 1 || (len == 2 && i < 2)))) {
      out[o++] = '\\';
      out[o++] = 'x';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
    else
      out[o++] = c;
  }
  out[o] = '\0';
}

/* ---- sets of inodes ---- */

static bool
ino_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return val == *(const uintptr_t *) key;
}

void
extfs_inoset_init (struct hashmap *m)
{
  *m = (struct hashmap) HASHMAP_INIT (ino_eq, NULL);
}

int
extfs_inoset_add (struct hashmap *m, ext2_ino_t ino)
{
  uintptr_t key = ino;
  uint64_t h = hashmap_hash_u64 (ino);

  if (ino == 0)
    return -EINVAL;
  if (hashmap_get (m, h, &key))
    return 0;
  return hashmap_put (m, h, key) < 0 ? -ENOMEM : 1;
}

int
extfs_next_name (struct extfs *x, const char *path, const char *p,
                 size_t *skip)
{
  size_t len;

  *skip = strspn (p, "/");
  len = strcspn (p + *skip, "/");
  if (len > EXT2_NAME_LEN) {
    s3vol_error (x->log, "%s: a name in it is longer than %d bytes",
                 path, EXT2_NAME_LEN);
    return -ENAMETOOLONG;
  }
  return len;
}

int
extfs_resolve (struct extfs *x, const char *path, bool follow,
               ext2_ino_t *parent, char last[EXT2_NAME_LEN + 1],
               ext2_ino_t *ino)
{
  char *work, *p, *comp, target[4096], *nw;
  ext2_ino_t cur = EXT2_ROOT_INO, child;
  union extfs_inode in;
  int links = 0, ftype, r = 0;
  size_t len, skip;

  *parent = EXT2_ROOT_INO;
  last[0] = '\0';
  work = strdup (path);
  if (work == NULL)
    return -ENOMEM;
  p = work;
  for (;;) {
    r = extfs_next_name (x, path, p, &skip);
    if (r <= 0)
      break;
    comp = p + skip;
    len = r;
    p = comp + len;
    if (*p)
      *p++ = '\0';
    while (*p == '/')
      p++;                      /* p: the rest, "" after the last */
    if (strcmp (comp, ".") == 0)
      continue;
    r = extfs_lookup (x, cur, comp, &child, &ftype);
    if (r == -ENOENT) {
      *parent = *p ? 0 : cur;
      memcpy (last, comp, len + 1);
      break;
    }
    if (r < 0)
      break;
    if (ftype == EXT2_FT_UNKNOWN || ftype == EXT2_FT_SYMLINK) {
      r = extfs_read_inode (x, child, &in);
      if (r < 0)
        break;
      ftype = extfs_ftype_of_mode (in.small.i_mode);
    }
    if (ftype == EXT2_FT_SYMLINK && (*p || follow)) {
      if (++links > MAX_SYMLINKS) {
        s3vol_error (x->log, "%s: too many levels of symbolic links", path);
        r = -ELOOP;
        break;
      }
      r = extfs_read_link (x, child, &in, target, sizeof target);
      if (r < 0)
        break;
      /* Go on with the target and what is left of the path. */
      nw = malloc (strlen (target) + strlen (p) + 2);
      if (nw == NULL) {
        r = -ENOMEM;
        break;
      }
      sprintf (nw, "%s/%s", target, p);
      free (work);
      work = p = nw;
      if (target[0] == '/')
        cur = EXT2_ROOT_INO;
      continue;
    }
    if (*p && ftype != EXT2_FT_DIR) {
      r = -ENOTDIR;
      break;
    }
    *parent = cur;
    memcpy (last, comp, len + 1);
    cur = child;
  }
  free (work);
  if (r == 0)
    *ino = cur;
  return r;
}

/* ---- iterating ---- */

struct each {
  int (*fn) (void *, const char *, size_t, ext2_ino_t, int);
  void *opaque;
  int r;
  unsigned calls;
};

/* libext2fs (1.47) hands over the ".." of an inline-data directory,
 * which it makes up from i_block[0], as an ordinary entry: always the
 * second.  Any other ".." is a real (hostile) entry, left to callers.
 */
static bool
made_up_dotdot (struct each *ea, struct ext2_dir_entry *de)
{
  return ++ea->calls == 2 && ext2fs_dirent_name_len (de) == 2 &&
    memcmp (de->name, "..", 2) == 0;
}

static int
each_entry (ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
            int offset, int blocksize, char *buf, void *priv)
{
  struct each *ea = priv;

  (void) dir;
  (void) offset;
  (void) blocksize;
  (void) buf;
  if (made_up_dotdot (ea, de) || entry == DIRENT_DOT_FILE ||
      entry == DIRENT_DOT_DOT_FILE || de->inode == 0)
    return 0;
  ea->r = ea->fn (ea->opaque, de->name, ext2fs_dirent_name_len (de),
                  de->inode, ext2fs_dirent_file_type (de));
  return ea->r ? DIRENT_ABORT : 0;
}

int
extfs_dir_each (struct extfs *x, ext2_ino_t dir,
                int (*fn) (void *, const char *, size_t, ext2_ino_t, int),
                void *opaque)
{
  struct each ea = { .fn = fn, .opaque = opaque };
  errcode_t e;

  e = ext2fs_dir_iterate2 (x->fs, dir, 0, NULL, each_entry, &ea);
  if (e == EXT2_ET_NO_DIRECTORY)
    return -ENOTDIR;
  if (e)
    return extfs_fail (x, e, "read", "a directory");
  return ea.r;
}

/* The whole name is kept, NUL bytes and all: len is its length on disk,
 * which extfs_name_ok checks.  (strndup stopped at a NUL, so a hostile
 * name "a\0b" left a 2-byte copy that was then read as 3 bytes: found by
 * fuzz_ext4_read.)
 */
static int
add_entry (void *opaque, const char *name, size_t len, ext2_ino_t ino,
           int ftype)
{
  struct extfs_dirent *d = extfs_dirents_grow (opaque);

  if (d == NULL || (d->name = malloc (len + 1)) == NULL)
    return -ENOMEM;
  memcpy (d->name, name, len);
  d->name[len] = '\0';
  d->len = len;
  d->ino = ino;
  d->ftype = ftype;
  return 0;
}

int
extfs_dir_list (struct extfs *x, ext2_ino_t dir, struct extfs_dirents *l)
{
  return extfs_dir_each (x, dir, add_entry, l);
}

void
extfs_dirents_free (struct extfs_dirents *l)
{
  size_t i;

  for (i = 0; i < l->len; i++)
    free (l->ptr[i].name);
  extfs_dirents_reset (l);
}

static int
any_entry (void *opaque, const char *name, size_t len, ext2_ino_t ino,
           int ftype)
{
  (void) opaque;
  (void) name;
  (void) len;
  (void) ino;
  (void) ftype;
  return 1;
}

int
extfs_dir_empty (struct extfs *x, ext2_ino_t dir)
{
  int r = extfs_dir_each (x, dir, any_entry, NULL);

  return r < 0 ? r : r == 0;
}
