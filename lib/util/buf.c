/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a growable byte buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/buf.h"

int
s3vol_buf_reserve (struct s3vol_buf *b, size_t n)
{
  size_t want, cap;
  uint8_t *p;

  if (n > SIZE_MAX - b->len)
    return -ENOMEM;
  want = b->len + n;
  if (want <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 4096;
  while (cap < want)
    cap = cap > SIZE_MAX / 2 ? want : cap * 2;
  p = realloc (b->data, cap);
  if (p == NULL)
    return -ENOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int
s3vol_buf_append (struct s3vol_buf *b, const void *p, size_t n)
{
  int r;

  if (n == 0)
    return 0;
  r = s3vol_buf_reserve (b, n);
  if (r < 0)
    return r;
  memcpy (b->data + b->len, p, n);
  b->len += n;
  return 0;
}

void
s3vol_buf_free (struct s3vol_buf *b)
{
  free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
