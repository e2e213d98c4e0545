/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: what the libFuzzer targets share.
 *
 * The format and XML targets only need a log.  The ext4 targets open
 * each input as a volume the way a reader would meet it: a fresh
 * file:// store in a private directory (on tmpfs when there is one), a
 * volume created there, the input imported as its newest version, then
 * extfs_open on it.  fz_vol_close undoes all of it and checks that the
 * exec left nothing behind: no open descriptor, no file in the work
 * directory.  A leak aborts, so libFuzzer reports it as a crash.
 */
#ifndef S3VOL_FUZZ_HARNESS_H
#define S3VOL_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/extfs.h"
#include "s3vol/log.h"

/* Where messages go: nowhere, unless FUZZ_VERBOSE=1 (then stderr). */
const struct s3vol_log *fz_log (void);

/* Largest image the ext4 targets take (bigger inputs are ignored), and
 * the size of the volume it is imported into (the rest reads as zeros).
 */
#define FZ_VOL_SIZE (4u << 20)
#define FZ_CHUNK (64u << 10)

struct fz_vol {
  struct objstore *os;
  struct volstore *vs;
  struct extfs *x;
  char store[256];              /* this exec's store directory */
  int fds;                      /* descriptors open before the exec */
};

/* Make the work directory (once per process) and the local files the
 * edit target puts into volumes; returns its path.
 */
const char *fz_workdir (void);
/* A local tree for put: "WORK/src/..." (a file, a sparse file, a
 * symlink, a directory with a file and a hard link, a directory of 24
 * files).
 */
const char *fz_srcdir (void);

/* Open data as a volume: 0 with v->x set, or negative errno when the
 * image is refused (v is then closed already).  -E2BIG: too large.
 */
int fz_vol_open (struct fz_vol *v, const uint8_t *data, size_t size,
                 bool writable);
/* Close everything and check for leaks (aborts on one). */
void fz_vol_close (struct fz_vol *v);

/* A private directory under the work directory, for get; removed (with
 * what is in it) by fz_rmtree.
 */
void fz_tmpdir (char *out, size_t n, const char *tag);
void fz_rmtree (const char *path);

#endif
