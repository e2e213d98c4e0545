/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: formatting a new volume with ext4, without root.
 *
 * mkfs.ext4 runs on a sparse temporary file as large as the volume; the
 * few chunks it writes are imported as one version.  Lazy inode table
 * and journal initialisation keep a 1 TiB filesystem to a few MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"
#include "s3vol/import.h"
#include "s3vol/volume.h"

int
cli_format (struct volstore *vs, const char *name)
{
  const char *tmpdir = getenv ("TMPDIR");
  char path[PATH_MAX], label[17], err[2048];
  const char *mkfs[] = { "mkfs.ext4", "-q", "-F", "-b", "4096", "-m", "0",
                         "-E", "lazy_itable_init=1,lazy_journal_init=1,"
                         "nodiscard", "-L", label, path, NULL };
  struct import_progress ip;
  struct cli_progress pr;
  struct volume *v = NULL;
  uint64_t seq;
  int fd, r;

  snprintf (path, sizeof path, "%s/s3vol-mkfs-XXXXXX",
            tmpdir && tmpdir[0] ? tmpdir : "/tmp");
  snprintf (label, sizeof label, "%s", name);
  fd = mkstemp (path);
  if (fd == -1) {
    fprintf (stderr, "s3vol: cannot make a temporary file in %s: %s\n",
             tmpdir ? tmpdir : "/tmp", strerror (errno));
    return EXIT_FAIL;
  }
  r = volume_open (vs, name, NULL, &v);
  if (r == 0 && ftruncate (fd, volume_size (v)) == -1) {
    fprintf (stderr, "s3vol: cannot make a sparse file of the volume's "
             "size in %s: %s\n", path, strerror (errno));
    r = -errno;
  }
  if (r == 0 && proc_run (mkfs, NULL, 0, err, sizeof err) != 0) {
    err[strcspn (err, "\n")] = '\0';
    fprintf (stderr, "s3vol: mkfs.ext4 failed: %s\n", err);
    r = -EIO;
  }
  if (r == 0) {
    cli_progress_init (&pr, "formatting");
    ip.fn = cli_progress_cb;
    ip.opaque = &pr;
    r = volume_import_fd (v, vs, fd, 8, "mkfs.ext4", &ip, &seq);
    cli_progress_done (&pr);
  }
  volume_close (v);
  close (fd);
  unlink (path);
  return r < 0 ? (r == -EIO ? EXIT_FAIL : cli_exit_code (r)) : EXIT_OK;
}
