/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: changing files of a volume without mounting it: put, rm,
 * mkdir, and cp NAME SRC DST.  Each run is one new version; a newer head
 * found when publishing is handled by extfs_commit (the changes are
 * redone on it).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
write_all (int fd, const char *p, size_t n)
{
  ssize_t w;

  while (n) {
    w = write (fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return -1;
    p += w;
    n -= w;
  }
  return 0;
}

/* put NAME - REMOTE: stdin into a private temporary file (a stream
 * need not fit in memory, and put reads a file twice), mode 0666 less
 * the umask, mtime now; *tmp gets its path.
 */
static int
stdin_to_file (char tmp[PATH_MAX])
{
  const char *dir = getenv ("TMPDIR");
  mode_t mask = umask (0);
  char buf[65536];
  ssize_t n;
  int fd;

  umask (mask);
  snprintf (tmp, PATH_MAX, "%s/s3vol-put-XXXXXX",
            dir && dir[0] ? dir : "/tmp");
  fd = mkstemp (tmp);
  if (fd < 0) {
    fprintf (stderr, "s3vol put: a temporary file in %s: %s\n",
             dir && dir[0] ? dir : "/tmp", strerror (errno));
    return EXIT_FAIL;
  }
  while ((n = read (STDIN_FILENO, buf, sizeof buf)) != 0) {
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || write_all (fd, buf, n) < 0) {
      fprintf (stderr, "s3vol put: %s: %s\n", n < 0 ? "reading stdin"
               : "writing a temporary file", strerror (errno));
      close (fd);
      unlink (tmp);
      return EXIT_FAIL;
    }
  }
  if (fchmod (fd, 0666 & ~mask) < 0 || close (fd) < 0) {
    fprintf (stderr, "s3vol put: %s: %s\n", tmp, strerror (errno));
    unlink (tmp);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static int
do_put (struct files *f, const struct cli_args *a)
{
  unsigned flags = a->force ? EXTFS_FORCE : 0;
  const char *remote = a->pos[a->npos - 1];
  char tmp[PATH_MAX];
  const char *one[1];
  struct extfs_stat st;
  int i, r;

  for (i = 1; i < a->npos - 1; i++)
    if (strcmp (a->pos[i], "-") == 0)
      break;
  if (i == a->npos - 1)
    return files_exit (extfs_put (f->x, (const char *const *) a->pos + 1,
                                  a->npos - 2, remote, flags));
  /* stdin: the only source, and REMOTE names the file. */
  if (a->npos != 3 || remote[0] == '\0' ||
      remote[strlen (remote) - 1] == '/') {
    fprintf (stderr, "s3vol put: with - (stdin), give one REMOTE file "
             "path, not a directory\n");
    return EXIT_USAGE;
  }
  if (extfs_stat (f->x, remote, &st) == 0 && S_ISDIR (st.mode)) {
    fprintf (stderr, "s3vol put: %s is a directory: with - (stdin), give "
             "the file's path\n", remote);
    return EXIT_USAGE;
  }
  r = stdin_to_file (tmp);
  if (r != EXIT_OK)
    return r;
  /* Kept until the commit (a redo on a newer version reads it again);
   * files_close removes it.
   */
  f->tmp_local = strdup (tmp);
  if (f->tmp_local == NULL) {
    unlink (tmp);
    return EXIT_FAIL;
  }
  one[0] = tmp;
  return files_exit (extfs_put (f->x, one, 1, remote, flags));
}

static int
put (const struct cli_global *g, int argc, char **argv)
{
  return with_changes (g, argc, argv, OPT_FORCE, 3,
                       "usage: s3vol put NAME LOCAL... REMOTE [--force] "
                       "[-m MESSAGE]\n"
                       "       s3vol put NAME - REMOTE [--force] [-m "
                       "MESSAGE]\n"
                       "Copy local files, symlinks and directories (whole "
                       "trees) into volume NAME's\nfilesystem without "
                       "mounting it, all as one new version.  If REMOTE "
                       "ends in /,\nis a directory, or several LOCALs are "
                       "given, they go into it; else LOCAL\nbecomes REMOTE.  "
                       "Missing directories are made.  Modes, mtimes, "
                       "owners,\nsymlinks, hard links and holes are kept.  "
                       "Existing files are not replaced\nunless --force "
                       "(each is named).  With -, stdin becomes the file "
                       "REMOTE.\nExit codes: 3 no such volume, 8 "
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
