/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a growable byte buffer. */
#ifndef S3VOL_BUF_H
#define S3VOL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct s3vol_buf {
  uint8_t *data;     /* NULL until something is reserved */
  size_t len;        /* bytes in use */
  size_t cap;        /* bytes allocated */
};

#define S3VOL_BUF_INIT { NULL, 0, 0 }

/* Make room for at least n more bytes beyond len.  Returns 0 or -ENOMEM;
 * on failure the buffer is unchanged.
 */
int s3vol_buf_reserve (struct s3vol_buf *b, size_t n);

/* Append n bytes.  Returns 0 or -ENOMEM (buffer unchanged). */
int s3vol_buf_append (struct s3vol_buf *b, const void *p, size_t n);

/* Forget the contents, keep the allocation. */
static inline void s3vol_buf_clear (struct s3vol_buf *b) { b->len = 0; }

/* Free the allocation and reset to the initial state. */
void s3vol_buf_free (struct s3vol_buf *b);

#endif /* S3VOL_BUF_H */
