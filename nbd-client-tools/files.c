/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: reading files of a volume without mounting it: ls, get,
 * cat; and what every file verb shares (opening, progress, exit codes).
 * The work is libs3vol's extfs (lib/extfs*.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "s3vol/volume.h"

/* ---- shared ---- */

static void
notify (void *opaque, enum extfs_event ev, const char *path, uint64_t seq)
{
  struct files *f = opaque;
  char esc[CLI_ESC_SIZE (PATH_MAX)];

  /* path is in the volume: print it escaped (a bad name in it the
   * library has escaped already).
   */
  path = cli_esc (esc, sizeof esc, path,
                  ev == EXTFS_EV_BADNAME ? CLI_ESC_ESCAPED : 0);
  cli_progress_done (&f->pr);
  f->pr.shown = false;
  switch (ev) {
  case EXTFS_EV_EXISTS:
    /* The error that ends the verb names the first: the others are
     * listed from the second on, so that one is not told twice.
     */
    if (f->exists++ == 0)
      snprintf (f->first_exists, sizeof f->first_exists, "%s", path);
    else {
      if (f->exists == 2)
        fprintf (stderr, "s3vol %s: exists: %s\n", f->verb,
                 f->first_exists);
      fprintf (stderr, "s3vol %s: exists: %s\n", f->verb, path);
    }
    break;
  case EXTFS_EV_SKIPPED:
    fprintf (stderr, "s3vol %s: skipped %s (not a file, directory or "
             "symlink)\n", f->verb, path);
    break;
  case EXTFS_EV_OVERWROTE:
    fprintf (stderr, "s3vol %s: %s was changed by another writer (version "
             "%" PRIu64 "); yours replaces it (last write wins)\n", f->verb,
             path, seq);
    break;
  case EXTFS_EV_BADNAME:
    fprintf (stderr, "s3vol %s: skipped %s: its name cannot be a local "
             "name (an unsafe or corrupt entry)\n", f->verb, path);
    break;
  case EXTFS_EV_REBASED:
  case EXTFS_EV_REPLAYED:
    break;
  }
}

static void
progress (void *opaque, const char *what, uint64_t done, uint64_t total)
{
  struct files *f = opaque;

  if (strcmp (what, "put") && strcmp (what, "get") && strcmp (what, "upload"))
    return;                     /* counts of entries: not shown */
  if (f->phase == NULL || strcmp (f->phase, what)) {
    cli_progress_done (&f->pr);
    cli_progress_init (&f->pr, what);
    f->phase = what;
  }
  cli_progress_update (&f->pr, done, total);
}

int
files_exit (int err)
{
  switch (-err) {
  case 0: return EXIT_OK;
  case EEXIST: return EXIT_EXISTS;
  case ENOSPC: return EXIT_NOSPACE;
  case ENOTDIR: case EISDIR: case ENOTEMPTY: case ENAMETOOLONG: case ELOOP:
    return EXIT_USAGE;
  case EMEDIUMTYPE: case ENOTSUP: case EUCLEAN: case EROFS:
    return EXIT_FAIL;
  default: return cli_exit_code (err);
  }
}

int
files_open (struct files *f, const char *verb, const struct cli_global *g,
            const struct cli_args *a, const char *name, bool writable)
{
  struct extfs_config cfg = {
    .log = &cli_log, .volume = name, .writable = writable,
    .ref = { .seq = a->version, .snapshot = a->snapshot },
    .notify = { notify, f }, .progress = { progress, f },
  };
  int r;

  memset (f, 0, sizeof *f);
  f->verb = verb;
  f->volume = name;
  cli_progress_init (&f->pr, verb);
  r = cli_open_volstore (g, &f->os, &f->vs);
  if (r != EXIT_OK)
    return r;
  r = extfs_open (f->vs, &cfg, &f->x);
  if (r < 0) {
    cli_close_volstore (f->os, f->vs);
    f->vs = NULL;
    return r == -EEXIST ? EXIT_CONFLICT : files_exit (r);
  }
  return EXIT_OK;
}

void
files_close (struct files *f)
{
  cli_progress_done (&f->pr);
  extfs_close (f->x);
  if (f->vs)
    cli_close_volstore (f->os, f->vs);
  if (f->tmp_local)
    unlink (f->tmp_local);
  free (f->tmp_local);
}

int
files_commit (struct files *f, const char *message)
{
  struct extfs_commit_result res;
  char h[16];
  int r;

  r = extfs_commit (f->x, message, &res);
  cli_progress_done (&f->pr);
  f->pr.shown = false;
  if (r < 0)
    return r == -EEXIST ? EXIT_CONFLICT : files_exit (r);
  if (!res.changed)
    printf ("%s: nothing changed (version %" PRIu64 ")\n", f->volume,
            res.seq);
  else
    printf ("%s: version %" PRIu64 " (%s uploaded%s)\n", f->volume, res.seq,
            cli_human (res.bytes_uploaded, h),
            res.rebases ? ", redone on another writer's newer version"
            : "");
  return EXIT_OK;
}

/* Parse, answer --help; then open (read-only) and run fn. */
static int
with_files (const struct cli_global *g, int argc, char **argv,
            unsigned allowed, int minpos, int maxpos, const char *usage,
            int (*fn) (struct files *f, const struct cli_args *a))
{
  struct cli_args a;
  struct files f;
  int r;

  r = cli_parse (argc, argv, allowed, minpos, maxpos, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  r = files_open (&f, argv[0], g, &a, a.pos[0], false);
  if (r == EXIT_OK)
    r = fn (&f, &a);
  files_close (&f);
  return r;
}

/* ---- ls ---- */

/* The deepest tree ls -r walks (a corrupt filesystem may loop). */
#define LS_MAX_DEPTH 256

struct ls {
  const struct cli_args *a;
  int n;
  bool escape;                  /* names are entries ('/' escaped) */
  const char *prefix;           /* ls -r: the subdirectory, shown escaped */
  const char *raw;              /* ... and as it is (for --json) */
  char **subdirs;               /* ls -r: entries that are directories */
  size_t nsub, cap;
  int err;
};

static const char *
type_name (uint32_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return "file";
  case S_IFDIR: return "dir";
  case S_IFLNK: return "symlink";
  case S_IFIFO: return "fifo";
  case S_IFSOCK: return "socket";
  case S_IFCHR: return "chardev";
  case S_IFBLK: return "blockdev";
  default: return "unknown";
  }
}

void
files_mode_string (uint32_t mode, char out[11])
{
  static const char rwx[] = "rwxrwxrwx";
  int i;

  out[0] = S_ISDIR (mode) ? 'd' : S_ISLNK (mode) ? 'l' : S_ISCHR (mode)
    ? 'c' : S_ISBLK (mode) ? 'b' : S_ISFIFO (mode) ? 'p' : S_ISSOCK (mode)
    ? 's' : '-';
  for (i = 0; i < 9; i++)
    out[i + 1] = mode & (0400 >> i) ? rwx[i] : '-';
  if (mode & S_ISUID)
    out[3] = out[3] == 'x' ? 's' : 'S';
  if (mode & S_ISGID)
    out[6] = out[6] == 'x' ? 's' : 'S';
  if (mode & S_ISVTX)
    out[9] = out[9] == 'x' ? 't' : 'T';
  out[10] = '\0';
}

/* A name or symlink target from the volume (untrusted): escaped (see
 * text.c) so that it can neither drive the terminal nor pass for
 * another path.
 */
static void
put_escaped (const char *s, bool name)
{
  cli_put_esc (stdout, s, name ? CLI_ESC_NAME : 0);
}

/* An entry's name as listed: under ls -r, after its directory's path
 * (relative to the one listed).
 */
static void
put_name (const struct ls *l, const char *name)
{
  if (l->prefix) {
    fputs (l->prefix, stdout);
    putchar ('/');
  }
  put_escaped (name, l->escape);
}

static void
put_json_name (const struct ls *l, const char *name)
{
  char *full = NULL;

  if (l->raw && asprintf (&full, "%s/%s", l->raw, name) < 0)
    full = NULL;
  cli_json_str (full ? full : name);
  free (full);
}

/* ls -r: remember a directory to list after this one. */
static int
add_subdir (struct ls *l, const char *name)
{
  char **n;

  if (l->nsub == l->cap) {
    n = realloc (l->subdirs, (l->cap * 2 + 8) * sizeof *n);
    if (n == NULL)
      return -ENOMEM;
    l->subdirs = n;
    l->cap = l->cap * 2 + 8;
  }
  l->subdirs[l->nsub] = strdup (name);
  if (l->subdirs[l->nsub] == NULL)
    return -ENOMEM;
  l->nsub++;
  return 0;
}

static int
ls_one (void *opaque, const char *name, const struct extfs_stat *st,
        const char *target)
{
  struct ls *l = opaque;
  char m[11], t[32], h[16];

  if (l->a->json) {
    printf ("%s{\"name\":", l->n ? ",\n" : "");
    put_json_name (l, name);
    printf (",\"type\":\"%s\",\"size\":%" PRIu64 ",\"mode\":%" PRIu32
            ",\"nlink\":%" PRIu32 ",\"uid\":%" PRIu32 ",\"gid\":%" PRIu32
            ",\"mtime_ns\":%" PRId64 ",\"ino\":%" PRIu32,
            type_name (st->mode), st->size, st->mode & 07777, st->nlink,
            st->uid, st->gid, st->mtime_ns, st->ino);
    if (target) {
      printf (",\"target\":");
      cli_json_str (target);
    }
    putchar ('}');
  }
  else if (l->a->long_) {
    files_mode_string (st->mode, m);
    printf ("%s %3" PRIu32 " %5" PRIu32 " %5" PRIu32 " ", m, st->nlink,
            st->uid, st->gid);
    if (l->a->human)
      printf ("%10s", cli_human (st->size, h));
    else
      printf ("%12" PRIu64, st->size);
    printf (" %s ", cli_time (st->mtime_ns, t));
    put_name (l, name);
    if (target) {
      printf (" -> ");
      put_escaped (target, false);
    }
    putchar ('\n');
  }
  else {
    put_name (l, name);
    printf ("%s\n", S_ISDIR (st->mode) ? "/" : "");
  }
  l->n++;
  if (l->a->recursive && l->escape && S_ISDIR (st->mode))
    return l->err = add_subdir (l, name);
  return 0;
}

/* List directory path under top (shown as prefix, escaped; NULL at the
 * top), and
 * under ls -r the directories in it, depth first.
 */
static int
ls_dir (struct files *f, struct ls *l, const char *top, const char *path,
        const char *prefix, int depth)
{
  struct ls sub = *l;
  char esc[CLI_ESC_SIZE (256)];
  char *child, *shown;
  size_t i;
  int r;

  sub.prefix = prefix;
  sub.raw = prefix ? path + strlen (top) + (strcmp (top, "/") != 0) : NULL;
  sub.subdirs = NULL;
  sub.nsub = sub.cap = 0;
  sub.err = 0;
  r = extfs_list (f->x, path, l->a->long_ || l->a->json, ls_one, &sub);
  if (r == 0 && sub.err)
    r = sub.err;
  l->n = sub.n;
  if (r == 0 && sub.nsub && depth >= LS_MAX_DEPTH) {
    fprintf (stderr, "s3vol ls: %s: directories nested deeper than %d: "
             "not listed\n", path, LS_MAX_DEPTH);
    r = -ELOOP;
  }
  for (i = 0; r == 0 && i < sub.nsub; i++) {
    cli_esc (esc, sizeof esc, sub.subdirs[i], CLI_ESC_NAME);
    if (asprintf (&child, "%s/%s", strcmp (path, "/") ? path : "",
                  sub.subdirs[i]) < 0)
      return -ENOMEM;
    if (asprintf (&shown, "%s%s%s", prefix ? prefix : "", prefix ? "/" : "",
                  esc) < 0) {
      free (child);
      return -ENOMEM;
    }
    r = ls_dir (f, l, top, child, shown, depth + 1);
    free (child);
    free (shown);
  }
  for (i = 0; i < sub.nsub; i++)
    free (sub.subdirs[i]);
  free (sub.subdirs);
  return r;
}

static int
do_ls (struct files *f, const struct cli_args *a)
{
  const char *path = a->npos > 1 ? a->pos[1] : "/";
  struct ls l = { .a = a };
  struct extfs_stat st, dst;
  char target[4096];
  int r;

  r = extfs_lstat (f->x, path, &st);
  /* A symlink to a directory is listed, unless -l asks about the link. */
  if (r == 0 && S_ISLNK (st.mode) && !a->long_ && !a->json &&
      extfs_stat (f->x, path, &dst) == 0 && S_ISDIR (dst.mode))
    st = dst;
  if (a->json)
    putchar ('[');
  if (r == 0 && S_ISDIR (st.mode)) {
    l.escape = true;
    r = ls_dir (f, &l, path, path, NULL, 0);
  }
  else if (r == 0) {
    if (S_ISLNK (st.mode) && extfs_readlink (f->x, path, target,
                                             sizeof target) < 0)
      target[0] = '\0';
    r = ls_one (&l, path, &st, S_ISLNK (st.mode) ? target : NULL);
  }
  if (a->json)
    printf ("]\n");
  fflush (stdout);
  return files_exit (r);
}

static int
ls (const struct cli_global *g, int argc, char **argv)
{
  return with_files (g, argc, argv, OPT_LONG | OPT_JSON | OPT_VERSION |
                     OPT_SNAPSHOT | OPT_RECURSIVE | OPT_HUMAN, 1, 2,
                     "usage: s3vol ls NAME [PATH] [-l] [-h] [-r] [--json] "
                     "[--version N | --snapshot S]\n"
                     "List a directory (default /) of volume NAME's "
                     "filesystem, without mounting\nit: names (directories "
                     "end in /); -l: mode, links, owner, size, mtime;\n"
                     "-h: sizes as 1.5 MiB; -r: the whole tree, as paths "
                     "under PATH; --json: all\nof it as one array.  Exit "
                     "codes: 3 no such path or volume.\n", do_ls);
}

/* ---- get, cat ---- */

static int
do_get (struct files *f, const struct cli_args *a)
{
  const char *local = a->npos > 2 ? a->pos[2] : ".";
  unsigned flags = (a->recursive ? EXTFS_RECURSIVE : 0) |
    (a->force ? EXTFS_FORCE : 0);

  char e1[CLI_ESC_SIZE (256)], e2[CLI_ESC_SIZE (256)];
  int r;

  if (strcmp (local, "-") == 0)
    return files_exit (extfs_cat (f->x, a->pos[1], STDOUT_FILENO));
  r = extfs_get (f->x, a->pos[1], local, flags);
  cli_progress_done (&f->pr);
  if (r == 0)
    printf ("%s: copied %s (version %" PRIu64 ") to %s\n", f->volume,
            cli_esc (e1, sizeof e1, a->pos[1], 0),
            extfs_version (f->x), cli_esc (e2, sizeof e2, local, 0));
  return files_exit (r);
}

static int
get (const struct cli_global *g, int argc, char **argv)
{
  return with_files (g, argc, argv, OPT_RECURSIVE | OPT_FORCE |
                     OPT_VERSION | OPT_SNAPSHOT, 2, 3,
                     "usage: s3vol get NAME REMOTE [LOCAL | -] [-r] "
                     "[--force] [--version N | --snapshot S]\n"
                     "Copy REMOTE out of volume NAME's filesystem to LOCAL "
                     "(default .; into it if\nit is a directory), or with - "
                     "to stdout.  -r: directories.  Sizes, modes,\nmtimes, "
                     "symlinks, hard links and holes are kept.  Existing "
                     "local files are\nrefused unless --force.  Exit codes: "
                     "3 no such path, 8 exists.\n", do_get);
}

static int
do_cat (struct files *f, const struct cli_args *a)
{
  return files_exit (extfs_cat (f->x, a->pos[1], STDOUT_FILENO));
}

static int
cat (const struct cli_global *g, int argc, char **argv)
{
  return with_files (g, argc, argv, OPT_VERSION | OPT_SNAPSHOT, 2, 2,
                     "usage: s3vol cat NAME PATH [--version N | "
                     "--snapshot S]\n"
                     "Write a file of volume NAME's filesystem to stdout.\n",
                     do_cat);
}

const struct cli_verb verb_ls = { "ls", "list files in a volume", ls };
const struct cli_verb verb_get = { "get", "copy files out of a volume",
                                   get };
const struct cli_verb verb_cat = { "cat", "print a file of a volume", cat };
