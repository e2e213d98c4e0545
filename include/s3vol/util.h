/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: small helpers shared by the library and its users. */
#ifndef S3VOL_UTIL_H
#define S3VOL_UTIL_H

#include <stdint.h>

/* The time now, CLOCK_REALTIME, in nanoseconds. */
int64_t s3vol_now_ns (void);

/* Parse sizes like "1T", "512M", "65536", "64K" (binary units; "1G",
 * "1GB" and "1GiB" are the same).  Returns 0 or -EINVAL (not logged).
 */
int s3vol_parse_size (const char *s, uint64_t *out);

#endif
