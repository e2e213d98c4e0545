/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: store selection. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <inttypes.h>
#include <time.h>

#include "cli.h"
#include "s3vol/crypt.h"
#include "s3vol/defaults.h"
#include "s3vol/volume.h"

/* A file:// store that does not exist yet is made on first use (mode
 * 0700, as the default store), when its parent directory exists: a
 * typo in the parent's path still fails.
 */
static int
make_store_dir (const char *url)
{
  const char *path;
  char parent[PATH_MAX], *slash;
  struct stat st;

  if (strncmp (url, "file://", 7) != 0)
    return EXIT_OK;
  path = url + 7;
  if (path[0] != '/' || strlen (path) >= sizeof parent ||
      stat (path, &st) == 0 || errno != ENOENT)
    return EXIT_OK;             /* objstore_open says what is wrong */
  strcpy (parent, path);
  for (slash = parent + strlen (parent) - 1; slash > parent &&
       *slash == '/'; slash--)
    *slash = '\0';
  slash = strrchr (parent, '/');
  if (slash == NULL)
    return EXIT_OK;
  slash[slash == parent] = '\0';
  if (stat (parent, &st) != 0 || !S_ISDIR (st.st_mode)) {
    fprintf (stderr, "s3vol: store directory %s does not exist, nor does "
             "its parent %s (only the last directory is made)\n", path,
             parent);
    return EXIT_STORE;
  }
  if (mkdir (path, 0700) != 0 && errno != EEXIST) {
    fprintf (stderr, "s3vol: cannot make store directory %s: %s\n", path,
             strerror (errno));
    return EXIT_STORE;
  }
  return EXIT_OK;
}

int
cli_open_store (const struct cli_global *g, struct objstore **out)
{
  static const struct objstore_config defaults = { .log = &cli_log };
  char url[PATH_MAX + 16];
  int r;

  if (s3vol_store_url (g->store_url, url, sizeof url, &cli_log) < 0)
    return EXIT_STORE;
  r = make_store_dir (url);
  if (r != EXIT_OK)
    return r;
  r = objstore_open (url, &defaults, out);
  return r < 0 ? cli_exit_code (r) : EXIT_OK;
}

int
cli_exit_code (int err)
{
  switch (-err) {
  case 0: return EXIT_OK;
  case EINVAL: return EXIT_USAGE;
  case ENOENT: return EXIT_NOTFOUND;
  case EEXIST: return EXIT_CONFLICT;
  case EBUSY: return EXIT_BUSY;
  case EACCES: case ENXIO: case ETIMEDOUT: case ECONNREFUSED:
  case EHOSTUNREACH: case EIO:
    return EXIT_STORE;
  case ENOKEY: case EKEYREJECTED:
    return EXIT_KEY;
  default: return EXIT_FAIL;
  }
}

int
cli_give_key (struct volstore *vs)
{
  const char *f = getenv ("S3VOL_KEY_FILE"), *why;
  struct s3vol_key key;
  int r;

  if (f == NULL || f[0] == '\0')
    return EXIT_OK;
  r = s3vol_key_load (f, &key, &why);
  if (r == 0)
    r = volstore_add_key (vs, &key);
  s3vol_wipe (&key, sizeof key);
  if (r == -EACCES || r == -EINVAL)
    fprintf (stderr, "s3vol: key file %s %s\n", f, why);
  else if (r < 0)
    fprintf (stderr, "s3vol: key file %s %s: %s\n", f, why, strerror (-r));
  return r < 0 ? EXIT_KEY : EXIT_OK;
}

int
cli_open_volstore (const struct cli_global *g, struct objstore **os,
                   struct volstore **vs)
{
  struct volstore_config cfg = { .log = &cli_log };
  int r;

  r = cli_open_store (g, os);
  if (r != EXIT_OK)
    return r;
  r = volstore_open (*os, &cfg, vs);
  if (r < 0) {
    objstore_close (*os);
    *os = NULL;
    return cli_exit_code (r);
  }
  r = cli_give_key (*vs);
  if (r != EXIT_OK) {
    cli_close_volstore (*os, *vs);
    *os = NULL;
    *vs = NULL;
  }
  return r;
}

int
cli_check_key (struct volstore *vs, const char *name,
               const struct vol_info *info)
{
  struct volume *v;
  int r;

  if (!info->encrypted)
    return EXIT_OK;
  r = volume_open (vs, name, &(struct vol_ref) { 0 }, &v);
  if (r == 0)
    volume_close (v);
  return cli_exit_code (r);
}

void
cli_close_volstore (struct objstore *os, struct volstore *vs)
{
  volstore_close (vs);
  objstore_close (os);
}

char *
cli_human (uint64_t bytes, char *out)
{
  static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB",
                                      "PiB" };
  double v = bytes;
  int u = 0;

  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    sprintf (out, "%" PRIu64 " B", bytes);
  else
    sprintf (out, v < 10 ? "%.1f %s" : "%.0f %s", v, unit[u]);
  return out;
}

char *
cli_time (int64_t ns, char *out)
{
  time_t t = ns / 1000000000;
  struct tm tm;

  if (ns == 0 || localtime_r (&t, &tm) == NULL)
    strcpy (out, "-");
  else
    strftime (out, 32, "%Y-%m-%d %H:%M:%S", &tm);
  return out;
}

int
cli_usage (const char *usage, bool help)
{
  fputs (usage, help ? stdout : stderr);
  return help ? EXIT_OK : EXIT_USAGE;
}
