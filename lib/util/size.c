/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: sizes written by people ("1T", "512M", "64K"). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/util.h"

int
s3vol_parse_size (const char *s, uint64_t *out)
{
  static const char units[] = "KMGTP";
  const char *u;
  char *end;
  unsigned long long v;
  int shift = 0;

  if (s == NULL || *s < '0' || *s > '9')
    return -EINVAL;
  errno = 0;
  v = strtoull (s, &end, 10);
  if (errno)
    return -EINVAL;
  if (*end) {
    u = strchr (units, end[0] >= 'a' ? end[0] - 32 : end[0]);
    if (u == NULL || end[0] == '\0')
      return -EINVAL;
    shift = 10 * (u - units + 1);
    end++;
    /* Accept "1G", "1GB", "1GiB". */
    if (strcmp (end, "") && strcmp (end, "B") && strcmp (end, "iB"))
      return -EINVAL;
  }
  if (shift && v > (UINT64_MAX >> shift))
    return -EINVAL;
  *out = (uint64_t) v << shift;
  return 0;
}
