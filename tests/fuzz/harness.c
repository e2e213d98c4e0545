/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: the shared harness (see harness.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/import.h"
#include "s3vol/objstore.h"
#include "s3vol/volume.h"
#include "harness.h"

static void
stderr_fn (void *opaque, enum s3vol_log_level level, const char *msg)
{
  (void) opaque;
  fprintf (stderr, "s3vol[%d]: %s\n", (int) level, msg);
}

/* With FUZZ_VERBOSE=1, extfs's notes are shown too. */
static void
tell (void *opaque, enum extfs_event ev, const char *path, uint64_t seq)
{
  (void) opaque;
  if (fz_log ()->fn)
    fprintf (stderr, "extfs event %d: %s (%llu)\n", (int) ev, path,
             (unsigned long long) seq);
}

const struct s3vol_log *
fz_log (void)
{
  static struct s3vol_log quiet, loud = { stderr_fn, NULL };
  const char *v = getenv ("FUZZ_VERBOSE");

  return v && *v == '1' ? &loud : &quiet;
}

/* ---- the work directory ---- */

static char work[256];
static char src[300];
static unsigned execs;

static void
die (const char *what)
{
  fprintf (stderr, "fuzz harness: %s: %s\n", what, strerror (errno));
  abort ();
}

/* Remove name in directory dfd and all below it.  get -r gives
 * directories the modes the volume holds (0000 too): each is made
 * searchable first, so a run as a plain user can clean up as well.
 */
static void
rm_at (int dfd, const char *name)
{
  struct dirent *de;
  struct stat st;
  DIR *d;
  int fd;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
    return;
  if (S_ISDIR (st.st_mode)) {
    fchmodat (dfd, name, 0700, 0);
    fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                 O_CLOEXEC);
    d = fd >= 0 ? fdopendir (fd) : NULL;
    while (d && (de = readdir (d)) != NULL)
      if (strcmp (de->d_name, ".") && strcmp (de->d_name, ".."))
        rm_at (dirfd (d), de->d_name);
    if (d)
      closedir (d);
    else if (fd >= 0)
      close (fd);
  }
  if (unlinkat (dfd, name, S_ISDIR (st.st_mode) ? AT_REMOVEDIR : 0) == -1)
    fprintf (stderr, "fuzz harness: remove %s: %s\n", name,
             strerror (errno));
}

void
fz_rmtree (const char *path)
{
  rm_at (AT_FDCWD, path);
}

static void
remove_work (void)
{
  if (work[0])
    fz_rmtree (work);
}

static void
write_file (const char *path, const void *data, size_t len, off_t extend)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

  if (fd == -1 || write (fd, data, len) != (ssize_t) len ||
      (extend && ftruncate (fd, extend) == -1) || close (fd) == -1)
    die (path);
}

/* A directory whose entries overflow one 1 KiB block: putting it makes
 * extfs index a directory (htree.c).
 */
static void
make_many (void)
{
  char p[400];
  int i;

  snprintf (p, sizeof p, "%s/many", src);
  if (mkdir (p, 0755) == -1)
    die (p);
  for (i = 0; i < 24; i++) {
    snprintf (p, sizeof p, "%s/many/%s-%02d", src,
              "a-file-name-of-some-forty-characters", i);
    write_file (p, "", 0, 0);
  }
}

/* The tree the edit target puts into volumes. */
static void
make_src (void)
{
  char p[400];

  snprintf (src, sizeof src, "%s/src", work);
  if (mkdir (src, 0755) == -1)
    die (src);
  snprintf (p, sizeof p, "%s/hello", src);
  write_file (p, "hello, volume\n", 14, 0);
  /* A file with a hole: a block, 96 KiB of nothing, a block. */
  snprintf (p, sizeof p, "%s/sparse", src);
  write_file (p, "head", 4, 100 << 10);
  snprintf (p, sizeof p, "%s/link", src);
  if (symlink ("hello", p) == -1)
    die (p);
  snprintf (p, sizeof p, "%s/dir", src);
  if (mkdir (p, 0750) == -1)
    die (p);
  snprintf (p, sizeof p, "%s/dir/a", src);
  write_file (p, "a\n", 2, 0);
  {
    char q[400];
    snprintf (q, sizeof q, "%s/dir/hard", src);
    if (link (p, q) == -1)
      die (q);
  }
  make_many ();
}

/* The work directory goes on tmpfs when there is one: every exec makes
 * and removes a store there.
 */
const char *
fz_workdir (void)
{
  const char *base = getenv ("TMPDIR");
  char p[400];

  if (work[0])
    return work;
  if (base == NULL || base[0] == '\0')
    base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf (work, sizeof work, "%s/s3vol-fuzz-XXXXXX", base);
  if (mkdtemp (work) == NULL)
    die (work);
  atexit (remove_work);
  make_src ();
  snprintf (p, sizeof p, "%s/tmp", work);
  if (mkdir (p, 0700) == -1)
    die (p);
  return work;
}

const char *
fz_srcdir (void)
{
  fz_workdir ();
  return src;
}

void
fz_tmpdir (char *out, size_t n, const char *tag)
{
  snprintf (out, n, "%s/%s-XXXXXX", fz_workdir (), tag);
  if (mkdtemp (out) == NULL)
    die (out);
}

/* ---- leak checks ---- */

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *de;
  int n = 0;

  if (d == NULL)
    die ("/proc/self/fd");
  while ((de = readdir (d)) != NULL)
    n += de->d_name[0] != '.';
  closedir (d);
  return n - 1;                 /* d's own */
}

/* What an exec may leave in the work directory: src and an empty tmp. */
static void
check_work_clean (void)
{
  DIR *d = opendir (work);
  struct dirent *de;
  char p[400];

  if (d == NULL)
    die (work);
  while ((de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") && strcmp (de->d_name, "..") &&
        strcmp (de->d_name, "src") && strcmp (de->d_name, "tmp")) {
      fprintf (stderr, "fuzz harness: %s/%s left behind\n", work,
               de->d_name);
      abort ();
    }
  }
  closedir (d);
  snprintf (p, sizeof p, "%s/tmp", work);
  if (rmdir (p) == -1 || mkdir (p, 0700) == -1) {
    fprintf (stderr, "fuzz harness: %s not empty: a cache directory "
             "was left behind\n", p);
    abort ();
  }
}

/* ---- a volume per exec ---- */

static int
open_store (struct fz_vol *v)
{
  struct objstore_config oc = { .log = fz_log () };
  struct volstore_config vc = { .log = fz_log (), .zstd_level = 1 };
  char url[300];
  int r;

  snprintf (v->store, sizeof v->store, "%s/store-%u", fz_workdir (),
            execs++);
  if (mkdir (v->store, 0700) == -1)
    die (v->store);
  snprintf (url, sizeof url, "file://%s", v->store);
  r = objstore_open (url, &oc, &v->os);
  if (r == 0)
    r = volstore_open (v->os, &vc, &v->vs);
  return r;
}

/* The image as a file to import: in memory, no path to clean up. */
static int
image_fd (const uint8_t *data, size_t size)
{
  int fd = memfd_create ("fuzz-image", MFD_CLOEXEC);

  if (fd == -1 || (size && write (fd, data, size) != (ssize_t) size))
    die ("memfd");
  return fd;
}

static int
import (struct fz_vol *v, const uint8_t *data, size_t size)
{
  struct volume *vol;
  uint64_t seq;
  int fd, r;

  r = volstore_create (v->vs, "fuzz", FZ_VOL_SIZE, FZ_CHUNK, NULL);
  if (r < 0)
    return r;
  r = volume_open (v->vs, "fuzz", NULL, &vol);
  if (r < 0)
    return r;
  fd = image_fd (data, size);
  r = volume_import_fd (vol, v->vs, fd, 1, "fuzz input", NULL, &seq);
  close (fd);
  volume_close (vol);
  return r;
}

int
fz_vol_open (struct fz_vol *v, const uint8_t *data, size_t size,
             bool writable)
{
  char tmp[300];
  struct extfs_config cfg = {
    .log = fz_log (), .volume = "fuzz", .writable = writable,
    .threads = 1, .cache_bytes = 8u << 20, .notify = { tell, NULL },
  };
  int r;

  memset (v, 0, sizeof *v);
  if (size > FZ_VOL_SIZE)
    return -E2BIG;
  snprintf (tmp, sizeof tmp, "%s/tmp", fz_workdir ());
  cfg.tmpdir = tmp;
  v->fds = count_fds ();
  r = open_store (v);
  if (r == 0)
    r = import (v, data, size);
  if (r == 0)
    r = extfs_open (v->vs, &cfg, &v->x);
  if (r < 0)
    fz_vol_close (v);
  return r;
}

void
fz_vol_close (struct fz_vol *v)
{
  int fds;

  if (v->x)
    extfs_close (v->x);
  if (v->vs)
    volstore_close (v->vs);
  if (v->os)
    objstore_close (v->os);
  if (v->store[0])
    fz_rmtree (v->store);
  v->x = NULL;
  v->vs = NULL;
  v->os = NULL;
  v->store[0] = '\0';
  fds = count_fds ();
  if (fds != v->fds) {
    fprintf (stderr, "fuzz harness: %d descriptors open after the exec, "
             "%d before\n", fds, v->fds);
    abort ();
  }
  check_work_clean ();
}
