/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: little-endian fields and hex digits (private to lib/). */
#ifndef S3VOL_BYTEORDER_H
#define S3VOL_BYTEORDER_H

#include <stddef.h>
#include <stdint.h>

static inline void
put_le16 (uint8_t *p, uint16_t v)
{
  p[0] = v; p[1] = v >> 8;
}

static inline void
put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static inline void
put_le64 (uint8_t *p, uint64_t v)
{
  put_le32 (p, (uint32_t) v);
  put_le32 (p + 4, (uint32_t) (v >> 32));
}

static inline uint16_t
get_le16 (const uint8_t *p)
{
  return p[0] | p[1] << 8;
}

static inline uint32_t
get_le32 (const uint8_t *p)
{
  return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t
get_le64 (const uint8_t *p)
{
  return get_le32 (p) | (uint64_t) get_le32 (p + 4) << 32;
}

static inline int
hex_digit (char c)
{
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
char *s3vol_hex_encode (const uint8_t *in, size_t n, char *out);

/* Decode 2n hex digits followed by NUL into n bytes: 0 or -EINVAL. */
int s3vol_hex_decode (const char *hex, uint8_t *out, size_t n);

#endif
