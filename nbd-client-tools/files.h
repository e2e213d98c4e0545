/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: what the file verbs (files.c, files_put.c) share. */
#ifndef S3VOL_FILES_H
#define S3VOL_FILES_H

#include <limits.h>
#include <stdbool.h>

#include "cli.h"
#include "s3vol/extfs.h"

/* A volume's filesystem opened for one verb. */
struct files {
  const char *verb;
  const char *volume;
  struct objstore *os;
  struct volstore *vs;
  struct extfs *x;
  struct cli_progress pr;
  const char *phase;            /* what pr shows now */
  bool bytes;                   /* the phase counts bytes */
  char *tmp_local;              /* put -: stdin's copy, removed at close */
  unsigned exists;              /* EXTFS_EV_EXISTS told */
  char first_exists[CLI_ESC_SIZE (PATH_MAX)];   /* the first, escaped */
};

/* Open the store and volume name's filesystem: read-only at the version
 * a names (--version, --snapshot), or writable at the head.  Prints one
 * line and returns an exit code on failure.
 */
int files_open (struct files *f, const char *verb,
                const struct cli_global *g, const struct cli_args *a,
                const char *name, bool writable);
void files_close (struct files *f);

/* The exit code for a libs3vol error of a file verb (already printed). */
int files_exit (int err);

/* "drwxr-xr-x" for POSIX mode bits, as ls -l shows them. */
void files_mode_string (uint32_t mode, char out[11]);

/* Publish a writable handle's changes, print the version (or that
 * nothing changed).  Exit code.
 */
int files_commit (struct files *f, const char *message);

#endif
