/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol keygen: a new key file for encrypted volumes. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "s3vol/crypt.h"

/* Write all of buf to fd. */
static int
write_all (int fd, const char *buf, size_t len)
{
  ssize_t n;

  while (len > 0) {
    n = write (fd, buf, len);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    buf += n;
    len -= n;
  }
  return 0;
}

/* 64 hex digits and a newline, never an existing file or a symlink. */
static int
keygen (const char *path)
{
  static const char digits[] = "0123456789abcdef";
  char hex[2 * S3VOL_KEY_LEN + 1];
  struct s3vol_key k;
  int fd, r, i;

  if (s3vol_key_random (&k) < 0) {
    fprintf (stderr, "s3vol keygen: no randomness\n");
    return EXIT_FAIL;
  }
  for (i = 0; i < S3VOL_KEY_LEN; i++) {
    hex[2 * i] = digits[k.b[i] >> 4];
    hex[2 * i + 1] = digits[k.b[i] & 15];
  }
  hex[2 * S3VOL_KEY_LEN] = '\n';
  s3vol_wipe (&k, sizeof k);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
             0600);
  r = fd == -1 || write_all (fd, hex, sizeof hex) == -1 || fsync (fd) == -1;
  s3vol_wipe (hex, sizeof hex);
  if (r) {
    fprintf (stderr, "s3vol keygen: %s: %s\n", path, strerror (errno));
    if (fd != -1) {
      close (fd);
      unlink (path);
    }
    return errno == EEXIST ? EXIT_EXISTS : EXIT_FAIL;
  }
  if (close (fd) == -1) {
    fprintf (stderr, "s3vol keygen: %s: %s\n", path, strerror (errno));
    unlink (path);
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static int
run (const struct cli_global *g, int argc, char **argv)
{
  struct cli_args a;
  int r;

  (void) g;
  r = cli_parse (argc, argv, 0, 1, 1, &a);
  if (r != EXIT_OK)
    return r;
  if (a.help)
    return cli_usage ("usage: s3vol keygen FILE\n"
                      "Write a new random key to FILE (created, mode 0600; "
                      "an existing FILE is\nleft alone).  Keep it: without "
                      "it the volumes it encrypts cannot be read.\n", true);
  return keygen (a.pos[0]);
}

const struct cli_verb verb_keygen = {
  "keygen", "make a key file for encrypted volumes", run,
};
