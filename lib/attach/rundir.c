/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the run directory and the attachments' directories in it:
 * making one, going through them, finding one by mountpoint, removing
 * one.  What a record holds is records.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "s3vol/attach.h"
#include "attach_int.h"

const char *
att_run_dir (void)
{
  const char *d = getenv ("S3VOL_RUN_DIR");

  return d && d[0] == '/' ? d : "/run/s3vol";
}

/* FNV-1a, to name a directory after a key. */
static uint64_t
fnv (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;

  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 0x100000001b3ull;
  return h;
}

int
att_set_paths (struct attachment *a)
{
  snprintf (a->sock, sizeof a->sock, "%s/nbd.sock", a->dir);
  snprintf (a->ctl, sizeof a->ctl, "%s/ctl.sock", a->dir);
  snprintf (a->log, sizeof a->log, "%s/nbdkit.log", a->dir);
  snprintf (a->fuse_dir, sizeof a->fuse_dir, "%s/fuse", a->dir);
  return strlen (a->ctl) < sizeof ((struct sockaddr_un *) 0)->sun_path &&
    strlen (a->sock) < sizeof ((struct sockaddr_un *) 0)->sun_path
    ? 0 : -ENAMETOOLONG;
}

bool
att_trusted (const struct stat *st)
{
  return (st->st_uid == geteuid () || st->st_uid == 0) &&
    (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

/* The run directory itself: created if missing, not a symlink, and no
 * other user may rename or replace what is in it (owned by this user or
 * root, not writable by others unless sticky, as /tmp is).
 */
static int
check_run_dir (const char *run, const struct s3vol_log *log)
{
  struct stat st;

  if (mkdir (run, 0700) == -1 && errno != EEXIST) {
    s3vol_error (log, "cannot create %s: %s", run, strerror (errno));
    return -errno;
  }
  if (lstat (run, &st) == -1) {
    s3vol_error (log, "cannot create %s: %s", run, strerror (errno));
    return -errno;
  }
  if (!S_ISDIR (st.st_mode) ||
      (st.st_uid != geteuid () && st.st_uid != 0) ||
      ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))) {
    s3vol_error (log, "run directory %s is a symbolic link, not a "
                 "directory or not this user's own; not using it", run);
    return -EPERM;
  }
  return 0;
}

/* Set a->dir to run/name and the paths in it. */
static int
set_dir (struct attachment *a, const char *run, const char *name,
         const struct s3vol_log *log)
{
  if ((size_t) snprintf (a->dir, sizeof a->dir, "%s/%s", run, name)
      >= sizeof a->dir || att_set_paths (a) < 0) {
    s3vol_error (log, "run directory %s is too long a path for the "
                 "sockets of an attachment (set S3VOL_RUN_DIR to a "
                 "shorter one)", run);
    return -ENAMETOOLONG;
  }
  return 0;
}

/* a->dir, made or found: a directory of this user's own.  One that
 * exists already is reused only if it is: in a run directory others may
 * write to, it could have been put there.
 */
static int
check_own_dir (const struct attachment *a, const struct s3vol_log *log)
{
  struct stat st;

  if (lstat (a->dir, &st) == -1) {
    s3vol_error (log, "cannot create %s: %s", a->dir, strerror (errno));
    return -errno;
  }
  if (!S_ISDIR (st.st_mode) || st.st_uid != geteuid () ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    s3vol_error (log, "%s exists and is not a directory of this user's "
                 "own; not using it", a->dir);
    return -EPERM;
  }
  return 0;
}

int
att_make_dir (struct attachment *a, const char *key,
              const struct s3vol_log *log)
{
  const char *run = att_run_dir ();
  char name[32];
  int r;

  snprintf (name, sizeof name, "%016" PRIx64, fnv (key));
  r = set_dir (a, run, name, log);
  if (r == 0)
    r = check_run_dir (run, log);
  if (r < 0)
    return r;
  if (mkdir (a->dir, 0700) == -1 && errno != EEXIST) {
    s3vol_error (log, "cannot create %s: %s", a->dir, strerror (errno));
    return -errno;
  }
  return check_own_dir (a, log);
}

int
att_make_new_dir (struct attachment *a, const struct s3vol_log *log)
{
  const char *run = att_run_dir ();
  uint64_t id;
  char name[32];
  int r, tries;

  r = check_run_dir (run, log);
  for (tries = 0; r == 0; tries++) {
    if (getrandom (&id, sizeof id, 0) != sizeof id) {
      r = -errno;
      s3vol_error (log, "cannot make an attachment id: %s", strerror (-r));
      return r;
    }
    snprintf (name, sizeof name, "%016" PRIx64, id);
    r = set_dir (a, run, name, log);
    if (r < 0)
      return r;
    if (mkdir (a->dir, 0700) == 0)
      return check_own_dir (a, log);
    r = -errno;
    if (r != -EEXIST || tries == 8) {
      s3vol_error (log, "cannot create %s: %s", a->dir, strerror (-r));
      return r;
    }
    r = 0;                      /* taken: another id */
  }
  return r;
}

const char *
att_id (const struct attachment *a)
{
  const char *slash = strrchr (a->dir, '/');

  return slash ? slash + 1 : a->dir;
}

uint64_t
att_self_mntns (void)
{
  struct stat st;

  return stat ("/proc/self/ns/mnt", &st) == 0 ? (uint64_t) st.st_ino : 0;
}

int
att_each (int (*fn) (void *opaque, const struct attachment *a),
          void *opaque, const struct s3vol_log *log)
{
  const char *run = att_run_dir ();
  char path[sizeof ((struct attachment *) 0)->dir];
  struct attachment *a;
  struct dirent *de;
  DIR *d;
  int r = 0;

  d = opendir (run);
  if (d == NULL && errno == ENOENT)
    return 0;                   /* nothing was ever attached */
  if (d == NULL) {
    r = -errno;
    s3vol_error (log, "cannot read %s: %s", run, strerror (-r));
    return r;
  }
  a = malloc (sizeof *a);       /* large for a thread's stack */
  if (a == NULL) {
    s3vol_error (log, "cannot read %s: %s", run, strerror (ENOMEM));
    closedir (d);
    return -ENOMEM;
  }
  while (r == 0 && (de = readdir (d)) != NULL) {
    if (de->d_name[0] == '.' ||
        (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN) ||
        (size_t) snprintf (path, sizeof path, "%s/%s", run, de->d_name)
        >= sizeof path)
      continue;
    if (att_load_at (path, a, log, S3VOL_LOG_WARNING) == 0)
      r = fn (opaque, a);
  }
  closedir (d);
  free (a);
  return r;
}

struct finder {
  const char *path;
  uint64_t mntns;               /* the caller's */
  bool found;                   /* one seen from everywhere, in out */
  struct attachment *out;
};

/* A record in the caller's own mount namespace wins; one seen from
 * everywhere (mntns 0) is kept in case there is none.
 */
static int
match (void *opaque, const struct attachment *a)
{
  struct finder *f = opaque;

  if (strcmp (a->mountpoint, f->path) != 0)
    return 0;
  if (a->mntns != 0 && a->mntns != f->mntns)
    return 0;
  if (a->mntns == 0) {
    if (!f->found)
      *f->out = *a;
    f->found = true;
    return 0;
  }
  *f->out = *a;
  return 1;
}

int
att_find (const char *path, struct attachment *a,
          const struct s3vol_log *log)
{
  char real[PATH_MAX];
  struct finder f = { .out = a, .mntns = att_self_mntns () };
  int r;

  /* Records of attachments without a mountpoint have "": never those. */
  if (path == NULL || path[0] == '\0')
    return -ENOENT;
  /* A mountpoint that is gone (or unreadable) is looked up as given. */
  f.path = realpath (path, real) ? real : path;
  r = att_each (match, &f, log);
  return r < 0 ? r : r > 0 || f.found ? 0 : -ENOENT;
}

/* Remove what dfd holds: files, sockets, links and empty directories. */
static void
empty_dir (int dfd)
{
  struct dirent *de;
  DIR *d;

  dfd = dup (dfd);
  d = dfd == -1 ? NULL : fdopendir (dfd);
  if (d == NULL) {
    if (dfd >= 0)
      close (dfd);
    return;
  }
  while ((de = readdir (d)) != NULL) {
    if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
      continue;
    if (unlinkat (dirfd (d), de->d_name, 0) == -1 && errno == EISDIR)
      unlinkat (dirfd (d), de->d_name, AT_REMOVEDIR);
  }
  closedir (d);
}

int
att_remove_dir (const struct attachment *a)
{
  struct stat st;
  int dfd, pass, r = 0;

  dfd = open (a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd == -1)
    return errno == ENOENT ? 0 : -errno;
  /* Only this user's own, as att_make_dir makes them. */
  if (fstat (dfd, &st) == -1)
    r = -errno;
  else if (st.st_uid != geteuid ())
    r = -EPERM;
  if (r < 0) {
    close (dfd);
    return r;
  }
  /* A second pass for entries a directory listing may skip while it is
   * being emptied.
   */
  for (pass = 0; pass < 2; pass++) {
    empty_dir (dfd);
    r = rmdir (a->dir) == 0 ? 0 : -errno;
    if (r != -ENOTEMPTY && r != -EEXIST)
      break;
  }
  close (dfd);
  return r;
}

uint64_t
att_proc_start (pid_t pid)
{
  char path[64], buf[1024], *p;
  unsigned long long start = 0;
  FILE *fp;
  int field;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fp = fopen (path, "re");
  if (fp == NULL)
    return 0;
  /* After the command's ")", field 3 is the state; 22 the start time. */
  if (fgets (buf, sizeof buf, fp) && (p = strrchr (buf, ')')) != NULL &&
      p[1] == ' ' && p[2] != 'Z' && p[2] != 'X')
    for (field = 3, p += 2; *p && field < 22; field++) {
      p = strchr (p, ' ');
      if (p == NULL)
        break;
      p++;
      if (field == 21 && sscanf (p, "%llu", &start) != 1)
        start = 0;
    }
  fclose (fp);
  return start;
}
