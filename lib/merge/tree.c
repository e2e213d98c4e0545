/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: directories merged entry by entry.
 *
 * Each directory L changed in place (an inode of B that H still has) is
 * diffed against B by name: a name whose target changed identity, was
 * added, or was removed is an op.  They are applied to the same
 * directory in H in phases, so that an inode moving from one name to
 * another is never freed on the way:
 *
 *   A  adds: the target is H's own inode when H still has L's (a
 *      relink: a rename or a hard link; a directory moves, its ".."
 *      and its parents' link counts follow), the inode made for it
 *      before (a hard link of a new inode), or a new copy of L's
 *      (recursively for a directory); a name H holds otherwise is
 *      replaced (L wins, reported if H had changed it) and its old
 *      target's link dropped in C; a directory H holds is replaced
 *      only in C, and two new directories of one name merge
 *   B  removals: a name whose target H still has as B had it goes; a
 *      directory L deleted goes with what B had in it, but one that
 *      H added entries to stays with them (reported)
 *   C  the links dropped by A, and the directories A deferred
 *   D  attributes, xattrs and data of the inodes L changed in place
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "merge_int.h"

/* A changed directory's ops; deferred replacements of directories. */
struct mdir {
  ext2_ino_t dir;
  struct mop_list ops;
};
DEFINE_VECTOR (mdir_list, struct mdir);

struct mdefer {
  ext2_ino_t dir, ldir;
  char *name;
  ext2_ino_t b, l;
};
DEFINE_VECTOR (mdefer_list, struct mdefer);

struct tree {
  struct merge *m;
  struct mdir_list dirs;
  struct mdefer_list deferred;
  bool deferring;               /* phase A: directories wait for C */
};

static int link_into (struct tree *t, ext2_ino_t hdir, const char *name,
                      ext2_ino_t l, ext2_ino_t b, ext2_ino_t ldir);

/* ---- paths, for reports ---- */

struct finder {
  ext2_ino_t ino;
  char *name;
};

static int
find_name (void *opaque, const char *name, size_t len, ext2_ino_t ino,
           int ftype)
{
  struct finder *f = opaque;

  (void) ftype;
  if (ino != f->ino || len > EXT2_NAME_LEN)
    return 0;
  memcpy (f->name, name, len);
  f->name[len] = '\0';
  return 1;
}

/* The name of dir's entry for ino (name: EXT2_NAME_LEN + 1 bytes). */
static int
name_in (struct extfs *x, ext2_ino_t dir, ext2_ino_t ino, char *name)
{
  struct finder f = { ino, name };
  int r = extfs_dir_each (x, dir, find_name, &f);

  return r == 1 ? 0 : r < 0 ? r : -ENOENT;
}

void
merge_path (struct merge *m, struct extfs *x, ext2_ino_t dir,
            const char *name, char out[PATH_MAX])
{
  char part[EXT2_NAME_LEN + 1], tmp[PATH_MAX];
  ext2_ino_t cur = dir, up;
  unsigned depth = 0;
  int ft;

  (void) m;
  snprintf (out, PATH_MAX, "%s%s", name ? "/" : "", name ? name : "");
  while (cur != EXT2_ROOT_INO) {
    if (depth++ > EXTFS_MAX_DEPTH || extfs_lookup (x, cur, "..", &up, &ft)
        || name_in (x, up, cur, part) < 0) {
      snprintf (tmp, sizeof tmp, "<inode %u>%s", (unsigned) cur, out);
      strcpy (out, tmp);
      return;
    }
    snprintf (tmp, sizeof tmp, "/%s%s", part, out);
    strcpy (out, tmp);
    cur = up;
  }
  if (out[0] == '\0')
    strcpy (out, "/");
}

/* Kept until the merge is published (a retry forgets them). */
static void
add_event (struct merge *m, enum merge_event ev, const char *path)
{
  struct mevent e = { .ev = ev, .seq = extfs_version (m->h) };

  e.path = strdup (path);
  if (e.path == NULL || mevent_list_append (&m->events, e) < 0)
    free (e.path);              /* a report lost to a lack of memory */
}

void
merge_tell (struct merge *m, enum merge_event ev, struct extfs *x,
            ext2_ino_t dir, const char *name)
{
  char path[PATH_MAX];

  if (m->cfg->notify.fn == NULL)
    return;
  merge_path (m, x, dir, name, path);
  add_event (m, ev, path);
}

/* Files changed in place have no way back to their names: reports
 * about them wait in a list, and one walk of L's tree (only when there
 * are some) finds a path of each.
 */
struct want {
  ext2_ino_t ino;
  enum merge_event ev;
  bool found;
};
DEFINE_VECTOR (want_list, struct want);

struct walk {
  struct merge *m;
  struct want_list *w;
  size_t left;
  struct hashmap seen;
};

static void
found (struct walk *wk, ext2_ino_t ino, const char *path)
{
  size_t i;

  for (i = 0; i < wk->w->len; i++)
    if (wk->w->ptr[i].ino == ino && !wk->w->ptr[i].found) {
      wk->w->ptr[i].found = true;
      wk->left--;
      add_event (wk->m, wk->w->ptr[i].ev, path);
    }
}

static int
walk_dir (struct walk *wk, ext2_ino_t dir, const char *path, unsigned depth)
{
  struct extfs_dirents l = { 0 };
  char *sub = malloc (PATH_MAX);
  size_t i;
  int r = sub ? extfs_dir_list (wk->m->l, dir, &l) : -ENOMEM;

  for (i = 0; r == 0 && wk->left && i < l.len; i++) {
    if (!extfs_name_ok (l.ptr[i].name, l.ptr[i].len) ||
        extfs_join (sub, path, l.ptr[i].name) < 0)
      continue;
    found (wk, l.ptr[i].ino, sub);
    if (l.ptr[i].ftype == EXT2_FT_DIR && depth < EXTFS_MAX_DEPTH &&
        extfs_inoset_add (&wk->seen, l.ptr[i].ino) == 1)
      r = walk_dir (wk, l.ptr[i].ino, sub, depth + 1);
  }
  extfs_dirents_free (&l);
  free (sub);
  return r;
}

static int
tell_wanted (struct merge *m, struct want_list *w)
{
  struct walk wk = { .m = m, .w = w, .left = w->len };
  size_t i;
  char name[32];
  int r;

  if (w->len == 0 || m->cfg->notify.fn == NULL)
    return 0;
  extfs_inoset_init (&wk.seen);
  r = walk_dir (&wk, EXT2_ROOT_INO, "/", 0);
  hashmap_free (&wk.seen);
  for (i = 0; r == 0 && i < w->len; i++)
    if (!w->ptr[i].found) {
      snprintf (name, sizeof name, "<inode %u>", (unsigned) w->ptr[i].ino);
      add_event (m, w->ptr[i].ev, name);
    }
  return r;
}

/* ---- small steps on H ---- */

static int
lookup_h (struct merge *m, ext2_ino_t dir, const char *name,
          ext2_ino_t *ino)
{
  int ft, r = extfs_lookup (m->h, dir, name, ino, &ft);

  if (r == -ENOENT) {
    *ino = 0;
    return 0;
  }
  return r;
}

static int
is_dir_h (struct merge *m, ext2_ino_t ino)
{
  union extfs_inode in;
  int r = extfs_read_inode (m->h, ino, &in);

  return r < 0 ? r : LINUX_S_ISDIR (in.small.i_mode);
}

static int
adjust_links (struct merge *m, ext2_ino_t ino, int delta)
{
  union extfs_inode in;
  int r = extfs_read_inode (m->h, ino, &in);

  if (r < 0)
    return r;
  if (delta > 0 && in.small.i_links_count >= EXT2_LINK_MAX)
    return 0;                   /* dir_nlink: "many" stays many */
  if (delta < 0 && in.small.i_links_count <= 1)
    return 0;
  in.small.i_links_count += delta;
  return extfs_write_inode (m->h, ino, &in);
}

struct dotdot {
  ext2_ino_t parent;
  bool done;
};

static int
set_dotdot_entry (ext2_ino_t dir, int entry, struct ext2_dir_entry *de,
                  int offset, int blocksize, char *buf, void *priv)
{
  struct dotdot *d = priv;

  (void) dir;
  (void) offset;
  (void) blocksize;
  (void) buf;
  if (entry != DIRENT_DOT_DOT_FILE)
    return 0;
  de->inode = d->parent;
  d->done = true;
  return DIRENT_CHANGED | DIRENT_ABORT;
}

/* Point directory dir's ".." at parent (belongs in lib/extfs). */
static int
set_dotdot (struct merge *m, ext2_ino_t dir, ext2_ino_t parent)
{
  struct dotdot d = { parent, false };
  errcode_t e;

  e = ext2fs_dir_iterate2 (m->h->fs, dir, DIRENT_FLAG_INCLUDE_EMPTY, NULL,
                           set_dotdot_entry, &d);
  if (e == 0 && !d.done)
    e = EXT2_ET_DIR_CORRUPTED;
  return e ? extfs_fail (m->h, e, "relink", "a moved directory") : 0;
}

/* Directory ino of H moves into hdir as name: out of the directory H
 * has it in (if that still lists it), ".." and link counts follow.
 */
static int
move_dir (struct merge *m, ext2_ino_t ino, ext2_ino_t hdir, const char *name)
{
  char old[EXT2_NAME_LEN + 1];
  ext2_ino_t q = 0, bq = 0;
  int ft, r;

  r = extfs_lookup (m->h, ino, "..", &q, &ft);
  if (r == 0 && name_in (m->h, q, ino, old) == 0) {
    if (extfs_lookup (m->b, ino, "..", &bq, &ft) == 0 && bq != q)
      merge_tell (m, MERGE_EV_OVERWROTE, m->l, hdir, name);
    r = extfs_dir_remove (m->h, q, old);
    if (r == 0)
      r = adjust_links (m, q, -1);
  }
  if (r < 0 && r != -ENOENT)
    return r;
  r = extfs_dir_add (m->h, hdir, name, ino, EXT2_FT_DIR);
  if (r == 0)
    r = adjust_links (m, hdir, +1);
  if (r == 0)
    r = set_dotdot (m, ino, hdir);
  return r;
}

/* ---- the table of inodes made for L's ---- */

static bool
lmap_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return (ext2_ino_t) (val >> 32) == *(const ext2_ino_t *) key;
}

static ext2_ino_t
lmap_get (struct merge *m, ext2_ino_t l)
{
  return (ext2_ino_t) hashmap_get (&m->lmap, hashmap_hash_u64 (l), &l);
}

static int
lmap_put (struct merge *m, ext2_ino_t l, ext2_ino_t h)
{
  m->lmap.eq = lmap_eq;
  return hashmap_put (&m->lmap, hashmap_hash_u64 (l),
                      (uintptr_t) l << 32 | h);
}

/* ---- removing ---- */

/* Remove name (target ino, a file) from H's dir and drop its link. */
static int
unlink_file (struct merge *m, ext2_ino_t dir, const char *name,
             ext2_ino_t ino)
{
  int r = extfs_dir_remove (m->h, dir, name);

  return r < 0 ? r : extfs_drop_link (m->h, ino, dir);
}

static int remove_tree (struct tree *t, ext2_ino_t hdir, const char *name,
                        ext2_ino_t d, bool *removed);

/* One name of B that L removed, as H has it now: 1 if it is gone. */
static int
remove_name (struct tree *t, ext2_ino_t hdir, const char *name,
             ext2_ino_t b, struct extfs *from, ext2_ino_t fromdir)
{
  struct merge *m = t->m;
  union extfs_inode in;
  ext2_ino_t cur;
  bool gone = false;
  int r, d;

  r = lookup_h (m, hdir, name, &cur);
  if (r < 0 || cur == 0)
    return r < 0 ? r : 1;
  d = is_dir_h (m, cur);
  if (d < 0)
    return d;
  r = cur == b ? merge_h_is_b (m, b) : 0;
  if (r < 0)
    return r;
  if (r == 0) {
    /* H put something else there: a directory of H's stays. */
    merge_tell (m, d ? MERGE_EV_KEPT : MERGE_EV_OVERWROTE, from, fromdir,
                name);
    r = d ? 0 : unlink_file (m, hdir, name, cur);
    return r < 0 ? r : !d;
  }
  if (merge_l_has (m, b)) {
    /* Moved elsewhere by L: directories were moved by A already. */
    r = extfs_read_inode (m->h, b, &in);
    if (r < 0 || d || in.small.i_links_count <= 1) {
      if (r == 0)
        merge_tell (m, MERGE_EV_LOST, from, fromdir, name);
      return r;
    }
    r = unlink_file (m, hdir, name, b);
    return r < 0 ? r : 1;
  }
  if (d) {
    r = remove_tree (t, hdir, name, b, &gone);
    return r < 0 ? r : gone;
  }
  r = merge_h_changed (m, b);
  if (r == 1)
    merge_tell (m, MERGE_EV_OVERWROTE, from, fromdir, name);
  r = r < 0 ? r : unlink_file (m, hdir, name, b);
  return r < 0 ? r : 1;
}

/* Call fn (t, hdir, entry, dir) for each entry of x's directory dir,
 * by name, one level deeper (bounded); stop at an error.
 */
typedef int each_fn (struct tree *t, ext2_ino_t hdir,
                     const struct extfs_dirent *e, ext2_ino_t dir);

static int
each_sorted (struct tree *t, struct extfs *x, ext2_ino_t dir,
             ext2_ino_t hdir, each_fn *fn)
{
  struct merge *m = t->m;
  struct extfs_dirents l = { 0 };
  size_t i;
  int r;

  if (m->depth++ > EXTFS_MAX_DEPTH) {
    s3vol_error (m->log, "directories nested too deep (a corrupt "
                 "filesystem)");
    return -EUCLEAN;
  }
  r = merge_sorted_list (m, x, dir, &l);
  for (i = 0; r >= 0 && i < l.len; i++)
    r = fn (t, hdir, &l.ptr[i], dir);
  extfs_dirents_free (&l);
  m->depth--;
  return r < 0 ? r : 0;
}

static int
remove_entry (struct tree *t, ext2_ino_t hdir, const struct extfs_dirent *e,
              ext2_ino_t bdir)
{
  return remove_name (t, hdir, e->name, e->ino, t->m->b, bdir);
}

/* Directory d of B (name in H's hdir), deleted by L: remove what B had
 * in it from H's, then it, unless something is left (H's additions).
 */
static int
remove_tree (struct tree *t, ext2_ino_t hdir, const char *name,
             ext2_ino_t d, bool *removed)
{
  struct merge *m = t->m;
  int r;

  *removed = false;
  r = each_sorted (t, m->b, d, d, remove_entry);
  if (r == 0)
    r = extfs_dir_empty (m->h, d);
  if (r == 0) {
    merge_tell (m, MERGE_EV_KEPT, m->h, hdir, name);
    return 0;
  }
  if (r < 0)
    return r;
  r = extfs_dir_remove (m->h, hdir, name);
  extfs_dc_forget (m->h, d);
  if (r == 0)
    r = extfs_drop_link (m->h, d, hdir);
  *removed = r == 0;
  return r;
}

/* ---- adding ---- */

static int
link_entry (struct tree *t, ext2_ino_t hdir, const struct extfs_dirent *e,
            ext2_ino_t ldir)
{
  return link_into (t, hdir, e->name, e->ino, 0, ldir);
}

/* Every entry of L's new directory ldir into H's hdir. */
static int
populate (struct tree *t, ext2_ino_t ldir, ext2_ino_t hdir)
{
  return each_sorted (t, t->m->l, ldir, hdir, link_entry);
}

/* Name is free in hdir: link L's inode l there. */
static int
place (struct tree *t, ext2_ino_t hdir, const char *name, ext2_ino_t l)
{
  struct merge *m = t->m;
  union extfs_inode in;
  ext2_ino_t h;
  int r, own;

  own = merge_h_has (m, l);
  if (own < 0)
    return own;
  r = extfs_read_inode (m->l, l, &in);
  if (r < 0)
    return r;
  h = own ? l : lmap_get (m, l);
  if (h && LINUX_S_ISDIR (in.small.i_mode))
    return own ? move_dir (m, h, hdir, name) : 0;
  if (h) {
    r = extfs_dir_add (m->h, hdir, name, h,
                       extfs_ftype_of_mode (in.small.i_mode));
    return r < 0 ? r : extfs_add_link_count (m->h, h);
  }
  r = merge_copy_new (m, l, hdir, name, &h);
  if (r == 0)
    r = lmap_put (m, l, h);
  if (r < 0 || !LINUX_S_ISDIR (in.small.i_mode))
    return r < 0 ? r : extfs_dir_add (m->h, hdir, name, h,
                                      extfs_ftype_of_mode (in.small.i_mode));
  r = populate (t, l, h);
  return r < 0 ? r : merge_copy_over (m, l, h);
}

static int
defer (struct tree *t, ext2_ino_t hdir, const char *name, ext2_ino_t b,
       ext2_ino_t l, ext2_ino_t ldir)
{
  struct mdefer d = { .dir = hdir, .ldir = ldir, .name = strdup (name),
                      .b = b, .l = l };

  if (d.name == NULL || mdefer_list_append (&t->deferred, d) < 0) {
    free (d.name);
    return -ENOMEM;
  }
  return 0;
}

/* L has name -> l in its directory ldir, where B had b (0: none):
 * make H's hdir say so.
 */
static int
link_into (struct tree *t, ext2_ino_t hdir, const char *name, ext2_ino_t l,
           ext2_ino_t b, ext2_ino_t ldir)
{
  struct merge *m = t->m;
  union extfs_inode li;
  ext2_ino_t cur, own;
  int r, d, hb;

  r = lookup_h (m, hdir, name, &cur);
  if (r < 0 || cur == 0)
    return r < 0 ? r : place (t, hdir, name, l);
  r = merge_h_has (m, l);
  if (r < 0)
    return r;
  own = r ? l : lmap_get (m, l);
  if (cur == own)
    return 0;                   /* already so */
  hb = cur == b ? merge_h_is_b (m, b) : 0;
  d = is_dir_h (m, cur);
  r = extfs_read_inode (m->l, l, &li);
  if (hb < 0 || d < 0 || r < 0)
    return hb < 0 ? hb : d < 0 ? d : r;
  if (d && !hb && !own && LINUX_S_ISDIR (li.small.i_mode)) {
    /* Both made a directory of this name: one directory. */
    r = lmap_put (m, l, cur);
    if (r == 0)
      r = populate (t, l, cur);
    return r < 0 ? r : merge_copy_over (m, l, cur);
  }
  if (d && t->deferring)
    return defer (t, hdir, name, b, l, ldir);
  if (!hb)
    merge_tell (m, MERGE_EV_OVERWROTE, m->l, ldir, name);
  if (d) {
    r = remove_name (t, hdir, name, cur, m->l, ldir);
    if (r == 0)
      merge_tell (m, MERGE_EV_LOST, m->l, ldir, name);
    return r <= 0 ? r : place (t, hdir, name, l);
  }
  r = extfs_dir_remove (m->h, hdir, name);
  if (r == 0)
    r = mdrop_list_append (&m->drops, (struct mdrop) { hdir, cur });
  return r < 0 ? r : place (t, hdir, name, l);
}

/* ---- the phases ---- */

static void
free_tree (struct tree *t)
{
  size_t i, j;

  for (i = 0; i < t->dirs.len; i++) {
    for (j = 0; j < t->dirs.ptr[i].ops.len; j++)
      free (t->dirs.ptr[i].ops.ptr[j].name);
    mop_list_reset (&t->dirs.ptr[i].ops);
  }
  mdir_list_reset (&t->dirs);
  for (i = 0; i < t->deferred.len; i++)
    free (t->deferred.ptr[i].name);
  mdefer_list_reset (&t->deferred);
}

/* The ops of every directory L changed in place that H has. */
static int
collect (struct tree *t)
{
  struct merge *m = t->m;
  const struct mchg *c;
  struct mdir d;
  size_t i;
  int r = 0;

  for (i = 0; r == 0 && i < m->chg.len; i++) {
    c = &m->chg.ptr[i];
    if (!c->same || !c->l_dir)
      continue;
    r = merge_h_is_b (m, c->ino);
    if (r == 0) {
      merge_tell (m, MERGE_EV_LOST, m->l, c->ino, NULL);
      continue;
    }
    d = (struct mdir) { .dir = c->ino };
    r = r < 0 ? r : merge_diff_dir (m, c->ino, &d.ops);
    if (r == 0 && mdir_list_append (&t->dirs, d) < 0)
      r = -ENOMEM;
    if (r < 0)
      mop_list_reset (&d.ops);
  }
  return r;
}

/* Before H changes: which inodes L changed did H change too? */
static int
note_h_changes (struct merge *m)
{
  struct mchg *c;
  size_t i;
  int r = 0;

  for (i = 0; r >= 0 && i < m->chg.len; i++) {
    c = &m->chg.ptr[i];
    if (!c->same || c->l_dir || !c->content)
      continue;
    r = merge_h_is_b (m, c->ino);
    if (r == 1)
      r = merge_h_changed (m, c->ino);
    c->h_changed = r == 1;
  }
  return r < 0 ? r : 0;
}

/* D: attributes and data of what L changed in place. */
static int
update_inodes (struct merge *m)
{
  struct want_list w = { 0 };
  const struct mchg *c;
  enum merge_event ev;
  size_t i;
  int r = 0;

  for (i = 0; r >= 0 && i < m->chg.len; i++) {
    c = &m->chg.ptr[i];
    if (!c->same || !c->content)
      continue;
    r = merge_h_is_b (m, c->ino);
    ev = r == 1 ? MERGE_EV_OVERWROTE : MERGE_EV_LOST;
    if ((r == 1 && c->h_changed) ||
        (r == 0 && !c->l_dir && lmap_get (m, c->ino) == 0))
      r = want_list_append (&w, (struct want) { c->ino, ev, false }) < 0
        ? -ENOMEM : r;
    if (r == 1)
      r = merge_copy_over (m, c->ino, c->ino);
  }
  if (r >= 0)
    r = tell_wanted (m, &w);
  want_list_reset (&w);
  return r < 0 ? r : 0;
}

int
merge_tree (struct merge *m)
{
  struct tree t = { .m = m, .deferring = true };
  const struct mop *op;
  const struct mdefer *df;
  size_t i, j;
  int r;

  m->h->now_ns = extfs_now ();
  r = note_h_changes (m);
  if (r == 0)
    r = collect (&t);
  for (i = 0; r == 0 && i < t.dirs.len; i++)
    for (j = 0; r == 0 && j < t.dirs.ptr[i].ops.len; j++) {
      op = &t.dirs.ptr[i].ops.ptr[j];
      if (op->l)
        r = link_into (&t, t.dirs.ptr[i].dir, op->name, op->l, op->b,
                       t.dirs.ptr[i].dir);
    }
  t.deferring = false;
  for (i = 0; r >= 0 && i < t.dirs.len; i++)
    for (j = 0; r >= 0 && j < t.dirs.ptr[i].ops.len; j++) {
      op = &t.dirs.ptr[i].ops.ptr[j];
      if (op->l == 0)
        r = remove_name (&t, t.dirs.ptr[i].dir, op->name, op->b, m->b,
                         t.dirs.ptr[i].dir);
    }
  for (i = 0; r >= 0 && i < m->drops.len; i++)
    r = extfs_drop_link (m->h, m->drops.ptr[i].ino, m->drops.ptr[i].dir);
  for (i = 0; r >= 0 && i < t.deferred.len; i++) {
    df = &t.deferred.ptr[i];
    r = link_into (&t, df->dir, df->name, df->l, df->b, df->ldir);
  }
  if (r >= 0)
    r = update_inodes (m);
  free_tree (&t);
  mdrop_list_reset (&m->drops);
  return r < 0 ? r : 0;
}
