/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: changing files of a volume without mounting it: put, rm,
 * mkdir, and cp NAME SRC DST.  Each run is one new version; a newer head
 * found when publishing is handled by extfs_commit (the changes are
 * redone on it).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "files.h"
#include "s3vol/volume.h"

/* Parse, answer --help, open the head writable, run fn, commit. */
static int
with_changes (const struct cli_global *g, int argc, char **argv,
              unsigned allowed, int minpos, const char *usage,
              int (*fn) (struct files *f, const struct cli_args *a),
              const char *what)
{
  struct cli_args a;
  struct files f;
  char msg[256];
  int r, i;

  r = cli_parse (argc, argv, allowed | OPT_MESSAGE, minpos, 1 << 20, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  r = files_open (&f, argv[0], g, &a, a.pos[0], true);
  if (r == EXIT_OK)
    r = fn (&f, &a);
  if (r == EXIT_OK) {
    if (a.message == NULL) {
      snprintf (msg, sizeof msg, "%s", what);
      for (i = 1; i < a.npos && strlen (msg) < 200; i++)
        snprintf (msg + strlen (msg), sizeof msg - strlen (msg), " %s",
                  a.pos[i]);
    }
    r = files_commit (&f, a.message ? a.message : msg);
  }
  files_close (&f);
  return r;
}

static int
do_put (struct files *f, const struct cli_args *a)
{
  unsigned flags = a->force ? EXTFS_FORCE : 0;

  return files_exit (extfs_put (f->x, (const char *const *) a->pos + 1,
                                a->npos - 2, a->pos[a->npos - 1], flags));
}

static int
put (const struct cli_global *g, int argc, char **argv)
{
  return with_changes (g, argc, argv, OPT_FORCE, 3,
                       "usage: s3vol put NAME LOCAL... REMOTE [--force] "
                       "[-m MESSAGE]\n"
                       "Copy local files, symlinks and directories (whole "
                       "trees) into volume NAME's\nfilesystem without "
                       "mounting it, all as one new version.  If REMOTE "
                       "ends in /,\nis a directory, or several LOCALs are "
                       "given, they go into it; else LOCAL\nbecomes REMOTE.  "
                       "Missing directories are made.  Modes, mtimes, "
                       "owners,\nsymlinks, hard links and holes are kept.  "
                       "Existing files are not replaced\nunless --force "
                       "(each is named).  Exit codes: 3 no such volume, 8 "
                       "exists,\n9 volume full, 4 other writers kept "
                       "publishing first.\n", do_put, "put");
}

static int
do_rm (struct files *f, const struct cli_args *a)
{
  unsigned flags = a->recursive ? EXTFS_RECURSIVE : 0;
  int i, r = 0;

  for (i = 1; r == 0 && i < a->npos; i++)
    r = extfs_rm (f->x, a->pos[i], flags);
  return files_exit (r);
}

static int
rm (const struct cli_global *g, int argc, char **argv)
{
  return with_changes (g, argc, argv, OPT_RECURSIVE, 2,
                       "usage: s3vol rm NAME PATH... [-r] [-m MESSAGE]\n"
                       "Remove files or symlinks (with -r, directory trees) "
                       "from volume NAME's\nfilesystem, as one new version.  "
                       "Exit codes: 3 no such path, 2 a directory\n"
                       "without -r.\n", do_rm, "rm");
}

static int
do_mkdir (struct files *f, const struct cli_args *a)
{
  unsigned flags = a->parents ? EXTFS_PARENTS : 0;
  int i, r = 0;

  for (i = 1; r == 0 && i < a->npos; i++)
    r = extfs_mkdir (f->x, a->pos[i], flags);
  return files_exit (r);
}

static int
mkdir_ (const struct cli_global *g, int argc, char **argv)
{
  return with_changes (g, argc, argv, OPT_PARENTS, 2,
                       "usage: s3vol mkdir NAME PATH... [-p] [-m MESSAGE]\n"
                       "Make directories in volume NAME's filesystem, as one "
                       "new version.  -p: make\nmissing parents, and an "
                       "existing directory is fine.  Exit codes: 3 no "
                       "parent,\n8 exists.\n", do_mkdir, "mkdir");
}

static int
do_cp (struct files *f, const struct cli_args *a)
{
  unsigned flags = (a->recursive ? EXTFS_RECURSIVE : 0) |
    (a->force ? EXTFS_FORCE : 0);

  return files_exit (extfs_cp (f->x, a->pos[1], a->pos[2], flags));
}

int
cli_files_cp (const struct cli_global *g, int argc, char **argv)
{
  return with_changes (g, argc, argv, OPT_RECURSIVE | OPT_FORCE, 3,
                       "usage: s3vol cp NAME SRC DST [-r] [--force] "
                       "[-m MESSAGE]\n", do_cp, "cp");
}

const struct cli_verb verb_put = { "put", "copy files into a volume", put };
const struct cli_verb verb_rm = { "rm", "remove files from a volume", rm };
const struct cli_verb verb_mkdir = { "mkdir", "make directories in a volume",
                                     mkdir_ };
