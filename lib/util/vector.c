/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: growth of the one growable array (vector.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "vector.h"

int
s3vol_vector_reserve (void **ptr, size_t *cap, size_t len, size_t n,
                      size_t elem)
{
  size_t want, c;
  void *p;

  if (elem == 0 || n > SIZE_MAX - len)
    return -ENOMEM;
  want = len + n;
  if (want <= *cap)
    return 0;
  c = *cap ? *cap : 8;
  while (c < want)
    c = c > SIZE_MAX / 2 ? want : c * 2;
  if (c > SIZE_MAX / elem)
    return -ENOMEM;
  p = realloc (*ptr, c * elem);
  if (p == NULL)
    return -ENOMEM;
  *ptr = p;
  *cap = c;
  return 0;
}
