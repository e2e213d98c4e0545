/* s3vol CLI: store selection. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const struct s3vol_log cli_log = {
  .fn = s3vol_log_stderr,
  .opaque = (void *) (intptr_t) S3VOL_LOG_WARNING,
};

/* mkdir -p */
static int
make_dirs (char *path)
{
  char *p;

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

/* The default store: $XDG_DATA_HOME/s3vol/store, else
 * ~/.local/share/s3vol/store, created on first use.
 */
static int
default_store_url (char *url, size_t n)
{
  const char *xdg = getenv ("XDG_DATA_HOME"), *home = getenv ("HOME");
  char dir[PATH_MAX];
  int r;

  if (xdg && xdg[0] == '/')
    snprintf (dir, sizeof dir, "%s/s3vol/store", xdg);
  else if (home && home[0] == '/')
    snprintf (dir, sizeof dir, "%s/.local/share/s3vol/store", home);
  else {
    fprintf (stderr, "s3vol: no store given and neither XDG_DATA_HOME "
             "nor HOME is set: use --store URL or S3VOL_STORE\n");
    return -EINVAL;
  }
  r = make_dirs (dir);
  if (r < 0) {
    fprintf (stderr, "s3vol: cannot create the default store %s: %s\n",
             dir, strerror (-r));
    return r;
  }
  snprintf (url, n, "file://%s", dir);
  return 0;
}

int
cli_open_store (const struct cli_global *g, struct objstore **out)
{
  static const struct objstore_config defaults = { .log = &cli_log };
  const char *url = g->store_url;
  char buf[PATH_MAX + 16];
  int r;

  if (url == NULL || url[0] == '\0')
    url = getenv ("S3VOL_STORE");
  if (url == NULL || url[0] == '\0') {
    if (default_store_url (buf, sizeof buf) < 0)
      return EXIT_STORE;
    url = buf;
  }
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
  default: return EXIT_FAIL;
  }
}
