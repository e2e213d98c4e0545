/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the wall clock, as stored in roots and records. */
#include <stdint.h>
#include <time.h>

#include "s3vol/util.h"

int64_t
s3vol_now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}
