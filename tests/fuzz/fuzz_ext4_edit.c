/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: ext4 images through s3vol's edit path.
 *
 * The input is a raw ext4 image, opened writable the way `s3vol put`,
 * `mkdir`, `rm` and `cp` open it (bitmaps read, features checked).  On
 * an image that opens, a fixed script of changes runs against both new
 * paths and what the image already holds: the first few names in its
 * root are copied, moved (copy + remove, the nearest thing to a rename
 * the API offers), written into and removed.  Then the changes are
 * committed, which uploads them as a new version, and the result is
 * opened again read-only and listed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "s3vol/extfs.h"
#include "harness.h"

#define MAX_TARGETS 4           /* names of the root worked on */

int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  fz_workdir ();
  return 0;
}

struct names {
  char name[MAX_TARGETS][256];
  bool dir[MAX_TARGETS];
  unsigned n;
};

static int
pick (void *opaque, const char *name, const struct extfs_stat *st,
      const char *target)
{
  struct names *ns = opaque;

  (void) target;
  if (strcmp (name, "lost+found") == 0)
    return 0;
  snprintf (ns->name[ns->n], sizeof ns->name[0], "%s", name);
  ns->dir[ns->n] = S_ISDIR (st->mode);
  return ++ns->n == MAX_TARGETS;
}

static void
put_src (struct extfs *x, const char *name, const char *remote,
         unsigned flags)
{
  char local[PATH_MAX];
  const char *l[1] = { local };

  snprintf (local, sizeof local, "%s/%s", fz_srcdir (), name);
  extfs_put (x, l, 1, remote, flags);
}

/* New things: a tree, files of each kind, a copy of that. */
static void
make_new (struct extfs *x)
{
  extfs_mkdir (x, "/fz/a/b", EXTFS_PARENTS);
  put_src (x, "hello", "/fz/hello", 0);
  put_src (x, "sparse", "/fz/a/sparse", 0);
  put_src (x, "link", "/fz/a/b/", 0);
  put_src (x, "dir", "/fz/dir", 0);
  put_src (x, "many", "/fz/many", 0);
  put_src (x, "hello", "/fz/hello", EXTFS_FORCE);
  extfs_cp (x, "/fz/a", "/fz/a2", EXTFS_RECURSIVE);
  extfs_rm (x, "/fz/a", EXTFS_RECURSIVE);
}

/* What the image holds: copy, move, write into, remove. */
static void
change_old (struct extfs *x, const struct names *ns)
{
  char p[600], q[600];
  unsigned i;

  for (i = 0; i < ns->n; i++) {
    snprintf (p, sizeof p, "/%s", ns->name[i]);
    snprintf (q, sizeof q, "/fz/copy%u", i);
    extfs_cp (x, p, q, EXTFS_RECURSIVE);
    if (ns->dir[i]) {
      snprintf (q, sizeof q, "/%s/new/deeper", ns->name[i]);
      extfs_mkdir (x, q, EXTFS_PARENTS);
      snprintf (q, sizeof q, "/%s/", ns->name[i]);
      put_src (x, "hello", q, EXTFS_FORCE);
    }
    else
      put_src (x, "hello", p, EXTFS_FORCE);
    snprintf (q, sizeof q, "/fz/moved%u", i);
    if (extfs_cp (x, p, q, EXTFS_RECURSIVE) == 0)
      extfs_rm (x, p, EXTFS_RECURSIVE);
  }
}

static int
ignore (void *opaque, const char *name, const struct extfs_stat *st,
        const char *target)
{
  (void) opaque;
  (void) name;
  (void) st;
  (void) target;
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct extfs_commit_result res;
  struct names ns = { .n = 0 };
  struct fz_vol v;

  if (fz_vol_open (&v, data, size, true) < 0)
    return 0;
  extfs_list (v.x, "/", true, pick, &ns);
  make_new (v.x);
  change_old (v.x, &ns);
  if (extfs_commit (v.x, "fuzz", &res) == 0) {
    extfs_list (v.x, "/", true, ignore, NULL);
    extfs_list (v.x, "/fz", true, ignore, NULL);
  }
  fz_vol_close (&v);
  return 0;
}
