/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: default store and cache locations. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "s3vol/defaults.h"

/* mkdir -p, mode 0700 for what it creates. */
static int
make_dirs (const char *dir)
{
  char path[PATH_MAX];
  char *p;

  if (snprintf (path, sizeof path, "%s", dir) >= (int) sizeof path)
    return -ENAMETOOLONG;
  for (p = path + 1; ; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir (path, 0700) == -1 && errno != EEXIST)
        return -errno;
      *p = c;
      if (c == '\0')
        return 0;
    }
  }
}

/* $XDG_<kind> or ~/<fallback>, plus "/s3vol". */
static int
user_dir (const char *xdg_var, const char *fallback, char *out, size_t n,
          const struct s3vol_log *log)
{
  const char *xdg = getenv (xdg_var), *home = getenv ("HOME");

  if (xdg && xdg[0] == '/')
    snprintf (out, n, "%s/s3vol", xdg);
  else if (home && home[0] == '/')
    snprintf (out, n, "%s/%s/s3vol", home, fallback);
  else {
    s3vol_error (log, "neither %s nor HOME is set, so s3vol has no "
                 "default place for its files", xdg_var);
    return -EINVAL;
  }
  return 0;
}

int
s3vol_store_url (const char *url, char *out, size_t n,
                 const struct s3vol_log *log)
{
  char dir[PATH_MAX];
  int r;

  if (url == NULL || url[0] == '\0')
    url = getenv ("S3VOL_STORE");
  if (url && url[0]) {
    snprintf (out, n, "%s", url);
    return 0;
  }
  r = user_dir ("XDG_DATA_HOME", ".local/share", dir, sizeof dir - 8, log);
  if (r < 0)
    return r;
  strcat (dir, "/store");
  r = make_dirs (dir);
  if (r < 0) {
    s3vol_error (log, "cannot create the default store %s: %s", dir,
                 strerror (-r));
    return r;
  }
  snprintf (out, n, "file://%s", dir);
  return 0;
}

int
s3vol_cache_dir (const char *name, const char *suffix, char *out, size_t n,
                 const struct s3vol_log *log)
{
  char dir[PATH_MAX];
  int r;

  r = user_dir ("XDG_CACHE_HOME", ".cache", dir, sizeof dir, log);
  if (r < 0)
    return r;
  r = make_dirs (dir);
  if (r < 0) {
    s3vol_error (log, "cannot create %s: %s", dir, strerror (-r));
    return r;
  }
  snprintf (out, n, "%s/%s%s", dir, name, suffix ? suffix : "");
  return 0;
}
