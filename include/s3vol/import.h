/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: copy a raw image file into a volume as one new version. */
#ifndef S3VOL_IMPORT_H
#define S3VOL_IMPORT_H

#include <stdint.h>

#include "s3vol/volume.h"

struct import_progress {
  /* Called now and then from one thread: bytes examined so far of total.
   * May be NULL.
   */
  void (*fn) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};

/* Make the volume v's head hold the bytes of fd (a raw image no larger
 * than the volume; the rest reads as zeros): chunks holding only holes or
 * zeros become holes, the others are stored in parallel on threads
 * threads, and one version is published with message.  Only the file's
 * data extents are read (SEEK_DATA), so a sparse image of a large,
 * mostly empty volume imports quickly.  On success *seq is the version.
 */
int volume_import_fd (struct volume *v, struct volstore *vs, int fd,
                      unsigned threads, const char *message,
                      const struct import_progress *progress,
                      uint64_t *seq);

#endif
