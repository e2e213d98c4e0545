/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: changing a volume's tree in place: mkdir, rm, cp.
 *
 * Each public call resolves its arguments once (cp into an existing
 * directory, say) and hands the change to extfs_apply (ops.c), which
 * runs the extfs_run_* function here and logs it as resolved; a replay
 * on a moved head runs it again with force: what the first run decided,
 * the replay does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "extfs_int.h"

#define PIECE (4u << 20)

int64_t
extfs_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
extfs_norm (struct extfs *x, const char *path, char out[PATH_MAX])
{
  char buf[PATH_MAX];
  size_t n = 0, len, skip;
  const char *p = path, *comp;
  int r;

  if (strlen (path) >= PATH_MAX)
    goto too_long;
  buf[0] = '\0';
  for (;;) {
    r = extfs_next_name (x, path, p, &skip);
    if (r < 0)
      return r;
    if (r == 0)
      break;
    comp = p + skip;
    len = r;
    p = comp + len;
    if (len == 1 && comp[0] == '.')
      continue;
    if (len == 2 && comp[0] == '.' && comp[1] == '.') {
      while (n > 0 && buf[n - 1] != '/')
        n--;
      if (n > 0)
        n--;
      buf[n] = '\0';
      continue;
    }
    if (n + 1 + len >= PATH_MAX)
      goto too_long;
    buf[n++] = '/';
    memcpy (buf + n, comp, len);
    n += len;
    buf[n] = '\0';
  }
  if (n == 0)
    strcpy (buf, "/");
  strcpy (out, buf);
  return 0;
 too_long:
  s3vol_error (x->log, "%.60s...: path too long", path);
  return -ENAMETOOLONG;
}

void
extfs_split (const char *path, char dir[PATH_MAX],
             char name[EXT2_NAME_LEN + 1])
{
  const char *slash = strrchr (path, '/');

  if (slash == NULL) {
    strcpy (dir, "/");
    snprintf (name, EXT2_NAME_LEN + 1, "%s", path);
    return;
  }
  snprintf (name, EXT2_NAME_LEN + 1, "%s", slash + 1);
  if (slash == path)
    strcpy (dir, "/");
  else
    snprintf (dir, PATH_MAX, "%.*s", (int) (slash - path), path);
}

/* Is ino a directory?  1, 0, or a negative errno. */
static int
is_dir (struct extfs *x, ext2_ino_t ino, int ftype)
{
  union extfs_inode in;
  int r;

  if (ftype != EXT2_FT_UNKNOWN && ftype != EXT2_FT_SYMLINK)
    return ftype == EXT2_FT_DIR;
  r = extfs_read_inode (x, ino, &in);
  return r < 0 ? r : LINUX_S_ISDIR (in.small.i_mode);
}

int
extfs_make_dirs (struct extfs *x, const char *path, ext2_ino_t *ino)
{
  char norm[PATH_MAX], prefix[PATH_MAX], last[EXT2_NAME_LEN + 1];
  ext2_ino_t cur = EXT2_ROOT_INO, child, parent;
  const char *p, *comp;
  int ftype, r;
  size_t len;

  r = extfs_norm (x, path, norm);
  if (r < 0)
    return r;
  for (p = norm; *p;) {
    while (*p == '/')
      p++;
    if (*p == '\0')
      break;
    comp = p;
    len = strcspn (p, "/");
    p += len;
    snprintf (last, sizeof last, "%.*s", (int) len, comp);
    snprintf (prefix, sizeof prefix, "%.*s", (int) (p - norm), norm);
    r = extfs_lookup (x, cur, last, &child, &ftype);
    if (r == -ENOENT) {
      r = extfs_new_dir (x, cur, last, 0755, getuid (), getgid (),
                         x->now_ns, &child);
      if (r == 0)
        r = extfs_touch_dir (x, cur);
      if (r < 0)
        return r;
      cur = child;
      continue;
    }
    if (r < 0)
      return r;
    if (ftype == EXT2_FT_SYMLINK || ftype == EXT2_FT_UNKNOWN)
      r = extfs_resolve (x, prefix, true, &parent, last, &child);
    if (r == 0)
      r = is_dir (x, child, EXT2_FT_UNKNOWN);
    if (r == 0) {
      s3vol_error (x->log, "%s exists and is not a directory", prefix);
      r = -ENOTDIR;
    }
    if (r < 0)
      return r;
    cur = child;
  }
  *ino = cur;
  return 0;
}

/* ---- mkdir ---- */

int
extfs_run_mkdir (struct extfs *x, const char *path, const char *unused,
                 unsigned flags)
{
  char last[EXT2_NAME_LEN + 1];
  ext2_ino_t parent, ino;
  int r;

  (void) unused;
  if (flags & EXTFS_PARENTS)
    return extfs_make_dirs (x, path, &ino);
  r = extfs_resolve (x, path, false, &parent, last, &ino);
  if (r == 0) {
    s3vol_error (x->log, "%s exists in volume %s", path, x->volume);
    return -EEXIST;
  }
  if (r == -ENOENT && parent == 0) {
    s3vol_error (x->log, "%s: the parent directory does not exist (use "
                 "-p)", path);
    return -ENOENT;
  }
  if (r == -ENOTDIR)
    s3vol_error (x->log, "%s: a part of the path is not a directory", path);
  if (r != -ENOENT)
    return r;
  r = extfs_new_dir (x, parent, last, 0755, getuid (), getgid (),
                     x->now_ns, &ino);
  return r < 0 ? r : extfs_touch_dir (x, parent);
}

/* mkdir and rm: one path, normalized, to extfs_apply. */
static int
apply_path (struct extfs *x, enum extfs_op_kind kind, const char *path,
            unsigned flags)
{
  char norm[PATH_MAX];
  int r = extfs_check_writable (x);

  if (r == 0)
    r = extfs_norm (x, path, norm);
  if (r == 0)
    r = extfs_apply (x, kind, norm, NULL, flags);
  return r;
}

int
extfs_mkdir (struct extfs *x, const char *path, unsigned flags)
{
  return apply_path (x, OP_MKDIR, path, flags);
}

/* ---- rm ---- */

/* Free everything under directory dir (its entries stay: it goes too).
 * A directory met again (an entry pointing at an ancestor, a loop, a
 * second link to a directory: all corruption, or hostile) is neither
 * walked nor unlinked again: its entry goes with dir.  seen holds the
 * directories walked, depth bounds the recursion.
 */
static int
remove_tree (struct extfs *x, ext2_ino_t dir, struct hashmap *seen,
             unsigned depth)
{
  struct extfs_dirents ks = { 0 };
  const struct extfs_dirent *k;
  size_t i;
  int r;

  if (depth > EXTFS_MAX_DEPTH) {
    s3vol_error (x->log, "directories nested too deep (a corrupt "
                 "filesystem)");
    return -EUCLEAN;
  }
  r = extfs_dir_list (x, dir, &ks);
  for (i = 0; r == 0 && i < ks.len; i++) {
    k = &ks.ptr[i];
    r = is_dir (x, k->ino, k->ftype);
    if (r == 1) {
      r = extfs_inoset_add (seen, k->ino);
      if (r == 0) {
        s3vol_warn (x->log, "directory inode %u is linked twice (a loop "
                    "in a corrupt filesystem): dropping the entry",
                    (unsigned) k->ino);
        continue;
      }
      if (r == 1)
        r = remove_tree (x, k->ino, seen, depth + 1);
      extfs_dc_forget (x, k->ino);
    }
    if (r == 0)
      r = extfs_drop_link (x, k->ino, dir);
    if (r == 0 && i % 256 == 0)
      extfs_progress (x, "rm", i, ks.len);
  }
  extfs_dirents_free (&ks);
  return r;
}

int
extfs_remove_path (struct extfs *x, const char *path, bool recursive)
{
  char last[EXT2_NAME_LEN + 1];
  ext2_ino_t parent, ino;
  int r;

  r = extfs_resolve (x, path, false, &parent, last, &ino);
  if (r < 0)
    return r;
  if (ino == EXT2_ROOT_INO) {
    s3vol_error (x->log, "will not remove the root directory of volume %s",
                 x->volume);
    return -EINVAL;
  }
  r = is_dir (x, ino, EXT2_FT_UNKNOWN);
  if (r == 1 && !recursive) {
    s3vol_error (x->log, "%s is a directory (use -r)", path);
    return -EISDIR;
  }
  if (r >= 0)
    r = extfs_touch (x, path);
  if (r == 0)
    r = extfs_dir_remove (x, parent, last);
  if (r == 0 && is_dir (x, ino, EXT2_FT_UNKNOWN) == 1) {
    struct hashmap seen;

    extfs_inoset_init (&seen);
    if (extfs_inoset_add (&seen, EXT2_ROOT_INO) < 0 ||
        extfs_inoset_add (&seen, parent) < 0 ||
        extfs_inoset_add (&seen, ino) < 0)
      r = -ENOMEM;
    if (r == 0)
      r = remove_tree (x, ino, &seen, 0);
    hashmap_free (&seen);
    extfs_dc_forget (x, ino);
  }
  if (r == 0)
    r = extfs_drop_link (x, ino, parent);
  if (r == 0)
    r = extfs_touch_dir (x, parent);
  return r;
}

int
extfs_run_rm (struct extfs *x, const char *path, const char *unused,
              unsigned flags)
{
  int r;

  (void) unused;
  r = extfs_remove_path (x, path, flags & EXTFS_RECURSIVE);
  if (r == -ENOENT && x->replaying)
    return 0;                   /* someone else removed it: fine */
  if (r == -ENOENT || r == -ENOTDIR)
    s3vol_error (x->log, "%s: no such file or directory in volume %s",
                 path, x->volume);
  return r;
}

int
extfs_rm (struct extfs *x, const char *path, unsigned flags)
{
  return apply_path (x, OP_RM, path, flags);
}

/* ---- cp ---- */

/* The data runs (not the unwritten ones). */
static int
add_run (void *opaque, const struct extfs_run *run)
{
  return run->uninit ? 0 : extfs_runs_append (opaque, *run);
}

/* Hard links: a source inode and its copy. */
struct link {
  ext2_ino_t from, to;
};
DEFINE_VECTOR (link_list, struct link);

struct cp {
  struct extfs *x;
  unsigned flags;
  struct link_list links;
  struct hashmap dirs_seen;     /* source directories walked */
  char *buf;
};

/* Copy the blocks of src (runs s) into dst's (allocated) blocks. */
static int
copy_blocks (struct cp *c, const struct extfs_runs *s, ext2_ino_t dst,
             union extfs_inode *din, const char *path)
{
  struct extfs *x = c->x;
  uint64_t bs = x->fs->blocksize, k, n, lblk;
  struct extfs_runs d = { 0 };
  size_t i, j = 0;
  errcode_t e;
  int r = 0;

  for (i = 0; r == 0 && i < s->len; i++)
    r = extfs_alloc_range (x, dst, din, s->ptr[i].lblk, s->ptr[i].len,
                           path);
  if (r == 0)
    r = extfs_write_inode (x, dst, din);
  if (r == 0)
    r = extfs_each_run (x, dst, din, add_run, &d);
  for (i = 0; r == 0 && i < s->len; i++)
    for (k = 0; r == 0 && k < s->ptr[i].len; k += n) {
      lblk = s->ptr[i].lblk + k;
      while (j < d.len && d.ptr[j].lblk + d.ptr[j].len <= lblk)
        j++;
      if (j == d.len || d.ptr[j].lblk > lblk) {
        r = extfs_fail (x, EXT2_ET_BAD_BLOCK_NUM, "copy to", path);
        break;
      }
      n = s->ptr[i].len - k;
      if (n > d.ptr[j].lblk + d.ptr[j].len - lblk)
        n = d.ptr[j].lblk + d.ptr[j].len - lblk;
      if (n > PIECE / bs)
        n = PIECE / bs;
      e = io_channel_read_blk64 (x->fs->io, s->ptr[i].pblk + k, n, c->buf);
      if (e == 0)
        e = io_channel_write_blk64 (x->fs->io,
                                    d.ptr[j].pblk + (lblk - d.ptr[j].lblk),
                                    n, c->buf);
      if (e)
        r = extfs_fail (x, e, "copy", path);
    }
  extfs_runs_reset (&d);
  return r;
}

/* A copy of inode sino (not linked yet) in *dino. */
static int
copy_inode (struct cp *c, ext2_ino_t sino, union extfs_inode *sin,
            ext2_ino_t parent, const char *path, ext2_ino_t *dino)
{
  struct extfs *x = c->x;
  uint32_t mode = sin->small.i_mode;
  int64_t mtime = extfs_get_time (sin, T_MTIME);
  struct extfs_runs s = { 0 };
  union extfs_inode din;
  char *target;
  int r;

  if (LINUX_S_ISLNK (mode)) {
    /* Not on the stack: copy_node recurses. */
    target = malloc (EXTFS_LINK_MAX);
    r = target ? extfs_read_link (x, sino, sin, target, EXTFS_LINK_MAX)
      : -ENOMEM;
    if (r == 0)
      r = extfs_new_symlink (x, parent, target, inode_uid (sin->small),
                             inode_gid (sin->small), mtime, dino);
    free (target);
    return r;
  }
  r = extfs_new_inode (x, parent, mode, inode_uid (sin->small),
                       inode_gid (sin->small), mtime, dino);
  if (r == 0)
    r = extfs_read_inode (x, *dino, &din);
  if (r < 0)
    return r;
  if (!LINUX_S_ISREG (mode)) {
    /* Devices keep their numbers in i_block; fifos and sockets: none. */
    memcpy (din.small.i_block, sin->small.i_block,
            sizeof din.small.i_block);
    return extfs_write_inode (x, *dino, &din);
  }
  if (sin->small.i_flags & (EXT4_INLINE_DATA_FL | EXT4_ENCRYPT_FL)) {
    s3vol_error (x->log, "%s: inline or encrypted files cannot be copied",
                 path);
    return -ENOTSUP;
  }
  ext2fs_inode_size_set (x->fs, &din.small, EXT2_I_SIZE (&sin->small));
  r = extfs_each_run (x, sino, sin, add_run, &s);
  if (r == 0)
    r = copy_blocks (c, &s, *dino, &din, path);
  if (r == 0)
    r = extfs_write_inode (x, *dino, &din);
  extfs_runs_reset (&s);
  return r;
}

static int
copy_node (struct cp *c, ext2_ino_t sino, ext2_ino_t parent,
           const char *name, const char *dpath, unsigned depth)
{
  struct extfs *x = c->x;
  char *path = NULL;
  union extfs_inode sin;
  struct extfs_dirents ks = { 0 };
  ext2_ino_t old, dino = 0;
  size_t i;
  int ftype, r, d;
  bool exists;

  r = extfs_read_inode (x, sino, &sin);
  if (r < 0)
    return r;
  r = extfs_lookup (x, parent, name, &old, &ftype);
  if (r < 0 && r != -ENOENT)
    return r;
  exists = r == 0;
  d = exists ? is_dir (x, old, ftype) : 0;
  if (d < 0)
    return d;
  if (LINUX_S_ISDIR (sin.small.i_mode)) {
    if (exists && !d) {
      s3vol_error (x->log, "%s exists and is not a directory", dpath);
      return -ENOTDIR;
    }
    r = extfs_inoset_add (&c->dirs_seen, sino);
    if (r == 0 || depth > EXTFS_MAX_DEPTH) {
      s3vol_error (x->log, "%s: %s (a corrupt filesystem)", dpath,
                   r == 0 ? "a directory seen before (a loop)"
                   : "directories nested too deep");
      return -EUCLEAN;
    }
    if (r < 0)
      return r;
    r = 0;
    path = malloc (PATH_MAX);
    if (path == NULL)
      return -ENOMEM;
    dino = old;
    if (!exists)
      r = extfs_new_dir (x, parent, name, sin.small.i_mode,
                         inode_uid (sin.small), inode_gid (sin.small),
                         extfs_get_time (&sin, T_MTIME), &dino);
    if (r == 0)
      r = extfs_dir_list (x, sino, &ks);
    for (i = 0; r == 0 && i < ks.len; i++) {
      if (!extfs_name_ok (ks.ptr[i].name, ks.ptr[i].len)) {
        s3vol_error (x->log, "%s: an entry with a corrupt name (a "
                     "corrupt filesystem)", dpath);
        r = -EUCLEAN;
        break;
      }
      r = extfs_join (path, dpath, ks.ptr[i].name);
      if (r == 0)
        r = copy_node (c, ks.ptr[i].ino, dino, ks.ptr[i].name, path,
                       depth + 1);
    }
    extfs_dirents_free (&ks);
    free (path);
    return r;
  }
  if (exists && d) {
    s3vol_error (x->log, "%s is a directory", dpath);
    return -EISDIR;
  }
  if (exists && !(c->flags & EXTFS_FORCE)) {
    return extfs_exists_error (x, 1, dpath, false);
  }
  r = extfs_touch (x, dpath);
  for (i = 0; r == 0 && i < c->links.len; i++)
    if (c->links.ptr[i].from == sino)
      dino = c->links.ptr[i].to;
  if (r == 0 && dino)
    r = extfs_add_link_count (x, dino);
  else if (r == 0) {
    r = copy_inode (c, sino, &sin, parent, dpath, &dino);
    if (r == 0 && sin.small.i_links_count > 1)
      r = link_list_append (&c->links, (struct link) { sino, dino });
  }
  ftype = extfs_ftype_of_mode (sin.small.i_mode);
  if (r == 0 && exists) {
    r = extfs_dir_set (x, parent, name, dino, ftype);
    if (r == 0)
      r = extfs_drop_link (x, old, parent);
  }
  else if (r == 0)
    r = extfs_dir_add (x, parent, name, dino, ftype);
  return r;
}

int
extfs_run_cp (struct extfs *x, const char *src, const char *dst,
              unsigned flags)
{
  struct cp c = { .x = x, .flags = flags };
  char dir[PATH_MAX], name[EXT2_NAME_LEN + 1], last[EXT2_NAME_LEN + 1];
  union extfs_inode sin;
  ext2_ino_t sino, sparent, parent;
  size_t len = strlen (src);
  int r;

  if (strncmp (dst, src, len) == 0 && (dst[len] == '/' || !dst[len] ||
                                       len == 1)) {
    s3vol_error (x->log, "cannot copy %s into itself (%s)", src, dst);
    return -EINVAL;
  }
  /* As cp does: -r copies a symlink src as a symlink, without -r its
   * target is copied.
   */
  r = extfs_resolve (x, src, !(flags & EXTFS_RECURSIVE), &sparent, last,
                     &sino);
  if (r == -ENOENT || r == -ENOTDIR) {
    s3vol_error (x->log, "%s: no such file or directory in volume %s "
                 "(version %" PRIu64 ")", src, x->volume, x->seq);
    return r;
  }
  if (r == 0 && !(flags & EXTFS_RECURSIVE)) {
    r = extfs_read_inode (x, sino, &sin);
    if (r == 0 && LINUX_S_ISDIR (sin.small.i_mode)) {
      s3vol_error (x->log, "%s is a directory (use -r)", src);
      return -EISDIR;
    }
  }
  extfs_split (dst, dir, name);
  c.buf = malloc (PIECE);
  if (c.buf == NULL)
    r = -ENOMEM;
  if (r == 0)
    r = extfs_make_dirs (x, dir, &parent);
  extfs_inoset_init (&c.dirs_seen);
  if (r == 0)
    r = copy_node (&c, sino, parent, name, dst, 0);
  if (r == 0)
    r = extfs_touch_dir (x, parent);
  hashmap_free (&c.dirs_seen);
  link_list_reset (&c.links);
  free (c.buf);
  return r;
}

int
extfs_cp (struct extfs *x, const char *src, const char *dst, unsigned flags)
{
  char s[PATH_MAX], d[PATH_MAX], dir[PATH_MAX], name[EXT2_NAME_LEN + 1];
  char into[PATH_MAX];
  char last[EXT2_NAME_LEN + 1];
  union extfs_inode in;
  ext2_ino_t parent, ino;
  size_t len = strlen (dst);
  int r = extfs_check_writable (x);

  if (r == 0)
    r = extfs_norm (x, src, s);
  if (r == 0)
    r = extfs_norm (x, dst, d);
  if (r < 0)
    return r;
  /* Into an existing directory (or one named with a trailing '/'). */
  if ((len && dst[len - 1] == '/') ||
      (extfs_resolve (x, d, true, &parent, last, &ino) == 0 &&
       extfs_read_inode (x, ino, &in) == 0 &&
       LINUX_S_ISDIR (in.small.i_mode))) {
    extfs_split (s, dir, name);
    if (extfs_join (into, d, name) < 0) {
      s3vol_error (x->log, "%s: path too long", dst);
      return -ENAMETOOLONG;
    }
    strcpy (d, into);
  }
  return extfs_apply (x, OP_CP, s, d, flags);
}
