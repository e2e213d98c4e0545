/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: ext4 images through s3vol's read path.
 *
 * The input is a raw ext4 image (at most FZ_VOL_SIZE; the rest of the
 * volume reads as zeros).  It is imported as a volume on a fresh store
 * and opened read-only with extfs_open (the journal, if any, replayed
 * into the overlay), then used as `s3vol ls -lR`, `cat` and `get -r`
 * would use it: every directory listed with attributes, every symlink
 * read, every small file streamed, the whole tree copied out into a
 * private directory that is removed afterwards.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/extfs.h"
#include "harness.h"

#define MAX_DEPTH 8
#define MAX_VISITS 256
#define MAX_CAT (8u << 20)      /* bigger files are not streamed */
#define MAX_CATS 3              /* get -r reads the others: each cat
                                   costs a 4 MiB buffer, slow under ASan */

static int devnull = -1;

int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  devnull = open ("/dev/null", O_WRONLY | O_CLOEXEC);
  fz_workdir ();
  return devnull >= 0 ? 0 : -1;
}

struct walk {
  struct extfs *x;
  unsigned visits, cats;
  /* Names of one directory, collected before recursing. */
  char **names;
  size_t n, cap;
};

static int
collect (void *opaque, const char *name, const struct extfs_stat *st,
         const char *target)
{
  struct walk *w = opaque;
  char **nn;

  (void) st;
  (void) target;
  if (w->n == w->cap) {
    w->cap = w->cap ? 2 * w->cap : 16;
    nn = realloc (w->names, w->cap * sizeof *nn);
    if (nn == NULL)
      return -1;
    w->names = nn;
  }
  w->names[w->n] = strdup (name);
  if (w->names[w->n] == NULL)
    return -1;
  w->n++;
  return 0;
}

static void
free_names (char **names, size_t n)
{
  while (n > 0)
    free (names[--n]);
  free (names);
}

static void walk_dir (struct walk *w, const char *dir, unsigned depth);

/* Everything a reader may do to one path. */
static void
visit (struct walk *w, const char *path, unsigned depth)
{
  struct extfs_stat st, st2;
  char link[64];

  if (w->visits++ >= MAX_VISITS || extfs_lstat (w->x, path, &st) < 0)
    return;
  extfs_stat (w->x, path, &st2);
  if (S_ISLNK (st.mode)) {
    extfs_readlink (w->x, path, link, sizeof link);
    extfs_readlink (w->x, path, link, 2);         /* too small: -ERANGE */
  }
  else if (S_ISREG (st.mode) && st.size <= MAX_CAT && w->cats++ < MAX_CATS)
    extfs_cat (w->x, path, devnull);
  else if (S_ISDIR (st.mode) && depth < MAX_DEPTH)
    walk_dir (w, path, depth + 1);
}

static void
walk_dir (struct walk *w, const char *dir, unsigned depth)
{
  char path[PATH_MAX];
  char **names;
  size_t i, n;

  w->names = NULL;
  w->n = w->cap = 0;
  extfs_list (w->x, dir, true, collect, w);
  names = w->names;
  n = w->n;
  w->names = NULL;
  for (i = 0; i < n; i++) {
    snprintf (path, sizeof path, "%s/%s", strcmp (dir, "/") ? dir : "",
              names[i]);
    visit (w, path, depth);
  }
  free_names (names, n);
}

/* get -r of the whole volume, and of one path, into private dirs. */
static void
get_all (struct extfs *x)
{
  char dir[PATH_MAX], into[PATH_MAX + 8];

  fz_tmpdir (dir, sizeof dir, "get");
  snprintf (into, sizeof into, "%s/out", dir);
  if (extfs_get (x, "/", into, EXTFS_RECURSIVE) == 0)
    extfs_get (x, "/", dir, EXTFS_RECURSIVE | EXTFS_FORCE);
  fz_rmtree (dir);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fz_vol v;
  struct extfs_space sp;
  struct walk w = { 0 };

  if (fz_vol_open (&v, data, size, false) < 0)
    return 0;
  extfs_space (v.x, &sp);
  w.x = v.x;
  walk_dir (&w, "/", 0);
  extfs_cat (v.x, "/lost+found", devnull);      /* a directory: refused */
  get_all (v.x);
  fz_vol_close (&v);
  return 0;
}
