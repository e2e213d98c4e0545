/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: run a function over an index range on a few threads. */
#ifndef S3VOL_PARALLEL_H
#define S3VOL_PARALLEL_H

#include <stddef.h>

/* Call fn(i, opaque) for every i in [0, n), on up to nthreads threads
 * (the caller's thread among them), and return when all calls have.
 * fn returns 0 or a negative errno; after the first failure no new calls
 * start, and that failure is returned.  Returns -errno if no thread could
 * be started (then it runs everything on the caller's thread).
 */
int s3vol_parallel (unsigned nthreads, size_t n,
                    int (*fn) (size_t i, void *opaque), void *opaque);

#endif
