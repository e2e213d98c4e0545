/* s3vol CLI: attachment records and the control socket client.
 *
 * Each attachment has a directory under the run directory holding the
 * plugin's sockets, its log, the FUSE mountpoint of nbdfuse, and "info":
 * key=value lines describing it.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "attach.h"
#include "cli.h"

const char *
att_run_dir (void)
{
  const char *d = getenv ("S3VOL_RUN_DIR");

  return d && d[0] == '/' ? d : "/run/s3vol";
}

/* FNV-1a, to name a directory after a path. */
static uint64_t
fnv (const char *s)
{
  uint64_t h = 0xcbf29ce484222325ull;

  for (; *s; s++)
    h = (h ^ (unsigned char) *s) * 0x100000001b3ull;
  return h;
}

/* The files in a's run directory. */
static void
set_paths (struct attachment *a)
{
  snprintf (a->sock, sizeof a->sock, "%s/nbd.sock", a->dir);
  snprintf (a->ctl, sizeof a->ctl, "%s/ctl.sock", a->dir);
  snprintf (a->log, sizeof a->log, "%s/nbdkit.log", a->dir);
  snprintf (a->fuse_dir, sizeof a->fuse_dir, "%s/fuse", a->dir);
}

int
att_make_dir (struct attachment *a, const char *key)
{
  snprintf (a->dir, sizeof a->dir, "%s", att_run_dir ());
  if (mkdir (a->dir, 0700) == -1 && errno != EEXIST)
    goto fail;
  snprintf (a->dir, sizeof a->dir, "%s/%016" PRIx64, att_run_dir (),
            fnv (key));
  if (mkdir (a->dir, 0700) == -1 && errno != EEXIST)
    goto fail;
  set_paths (a);
  return 0;
 fail:
  fprintf (stderr, "s3vol: cannot create %s: %s\n", a->dir,
           strerror (errno));
  return EXIT_FAIL;
}

int
att_save (const struct attachment *a)
{
  char path[PATH_MAX + 16], tmp[PATH_MAX + 16];
  FILE *fp;

  snprintf (path, sizeof path, "%s/info", a->dir);
  snprintf (tmp, sizeof tmp, "%s/info.tmp", a->dir);
  fp = fopen (tmp, "w");
  if (fp == NULL)
    return -errno;
  fprintf (fp, "mountpoint=%s\nvolume=%s\nstore=%s\ncache_dir=%s\n"
           "snapshot=%s\nversion=%" PRIu64 "\ncache_size=%" PRIu64 "\n"
           "readonly=%d\ncommit_interval=%u\ndevice=%s\nnbdkit_pid=%d\n"
           "nbdfuse_pid=%d\n", a->mountpoint, a->volume, a->store,
           a->cache_dir, a->snapshot, a->version, a->cache_size,
           a->readonly, a->commit_interval, a->device, (int) a->nbdkit_pid,
           (int) a->nbdfuse_pid);
  if (fclose (fp) != 0 || rename (tmp, path) == -1)
    return -errno;
  return 0;
}

#define FIELD(k, dst)                                                   \
  else if (strcmp (key, k) == 0)                                        \
    snprintf (dst, sizeof dst, "%s", val)

int
att_load (const char *dir, struct attachment *a)
{
  char path[PATH_MAX + 16], line[PATH_MAX + 64], *key, *val;
  FILE *fp;

  memset (a, 0, sizeof *a);
  snprintf (a->dir, sizeof a->dir, "%s", dir);
  set_paths (a);
  snprintf (path, sizeof path, "%s/info", dir);
  fp = fopen (path, "r");
  if (fp == NULL)
    return -errno;
  while (fgets (line, sizeof line, fp)) {
    line[strcspn (line, "\n")] = '\0';
    key = line;
    val = strchr (line, '=');
    if (val == NULL)
      continue;
    *val++ = '\0';
    if (0) ;
    FIELD ("mountpoint", a->mountpoint);
    FIELD ("volume", a->volume);
    FIELD ("store", a->store);
    FIELD ("cache_dir", a->cache_dir);
    FIELD ("snapshot", a->snapshot);
    FIELD ("device", a->device);
    else if (strcmp (key, "version") == 0)
      a->version = strtoull (val, NULL, 10);
    else if (strcmp (key, "cache_size") == 0)
      a->cache_size = strtoull (val, NULL, 10);
    else if (strcmp (key, "readonly") == 0)
      a->readonly = atoi (val);
    else if (strcmp (key, "commit_interval") == 0)
      a->commit_interval = atoi (val);
    else if (strcmp (key, "nbdkit_pid") == 0)
      a->nbdkit_pid = atoi (val);
    else if (strcmp (key, "nbdfuse_pid") == 0)
      a->nbdfuse_pid = atoi (val);
  }
  fclose (fp);
  return 0;
}

void
att_each (void (*fn) (struct attachment *, void *), void *opaque)
{
  char path[PATH_MAX];
  struct attachment a;
  struct dirent *de;
  DIR *d = opendir (att_run_dir ());

  if (d == NULL)
    return;
  while ((de = readdir (d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    snprintf (path, sizeof path, "%s/%s", att_run_dir (), de->d_name);
    if (att_load (path, &a) == 0)
      fn (&a, opaque);
  }
  closedir (d);
}

struct finder {
  const char *path;
  struct attachment *out;
  bool found;
};

static void
match (struct attachment *a, void *opaque)
{
  struct finder *f = opaque;

  if (!f->found && strcmp (a->mountpoint, f->path) == 0) {
    *f->out = *a;
    f->found = true;
  }
}

int
att_find (const char *path, struct attachment *a)
{
  char real[PATH_MAX];
  struct finder f = { .out = a };

  /* A mountpoint that is gone (or unreadable) is looked up as given. */
  f.path = realpath (path, real) ? real : path;
  att_each (match, &f);
  return f.found ? 0 : -ENOENT;
}

int
ctl_request (const char *sock, const char *req, char *reply, size_t n)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  FILE *fp;
  int fd, r = 0;

  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", sock);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 || connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1) {
    r = -errno;
    if (fd >= 0)
      close (fd);
    return r;
  }
  fp = fdopen (fd, "r+");
  if (fp == NULL) {
    close (fd);
    return -ENOMEM;
  }
  fprintf (fp, "%s\n", req);
  fflush (fp);
  if (fgets (reply, n, fp) == NULL)
    r = -EPIPE;
  else
    reply[strcspn (reply, "\n")] = '\0';
  fclose (fp);
  return r;
}

int
att_commit (struct attachment *a, const char *message, uint64_t *seq)
{
  char req[4200], reply[1024];
  int r;

  snprintf (req, sizeof req, "commit%s%s", message ? " " : "",
            message ? message : "");
  r = ctl_request (a->ctl, req, reply, sizeof reply);
  if (r < 0) {
    fprintf (stderr, "s3vol: cannot reach the plugin serving %s (%s): "
             "see %s\n", a->volume, strerror (-r), a->log);
    return EXIT_FAIL;
  }
  if (strncmp (reply, "ok", 2) == 0) {
    *seq = strtoull (reply + 2, NULL, 10);
    return EXIT_OK;
  }
  if (strncmp (reply, "error conflict", 14) == 0) {
    fprintf (stderr, "s3vol: commit of %s conflicts: another writer "
             "published a newer version; your changes are kept in %s "
             "(see %s)\n", a->volume, a->cache_dir, a->log);
    return EXIT_CONFLICT;
  }
  fprintf (stderr, "s3vol: commit of %s failed: %s; changes are kept in "
           "the cache and retried (see %s)\n", a->volume,
           reply + (strncmp (reply, "error ", 6) ? 0 : 6), a->log);
  return strncmp (reply, "error store", 11) == 0 ? EXIT_STORE : EXIT_FAIL;
}
