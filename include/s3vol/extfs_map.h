/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: where a volume file's data is (its holes, by omission), so that
 * a copy can keep them (the web view's tar stream: pax sparse files).
 * An addition beside extfs.h; same handle, errors and thread rule.
 */
#ifndef S3VOL_EXTFS_MAP_H
#define S3VOL_EXTFS_MAP_H

#include <stdint.h>

#include "s3vol/extfs.h"

/* Call fn for each run of regular file path's data (through symlinks):
 * byte offset and length, in file order, within the file's size,
 * adjacent runs merged.  What lies between runs (holes, unwritten
 * extents) reads as zeros.  A file stored inline is one run.  fn returns
 * nonzero to stop (extfs_data_runs then returns that value).  -EISDIR
 * for a directory, -EINVAL for other kinds, -EUCLEAN for a corrupt block
 * map, -ENOENT (logged) for no such path.
 */
int extfs_data_runs (struct extfs *x, const char *path,
                     int (*fn) (void *opaque, uint64_t off, uint64_t len),
                     void *opaque);

#endif /* S3VOL_EXTFS_MAP_H */
