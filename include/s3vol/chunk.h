/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: chunk objects.
 *
 * A chunk is a fixed-size run of a volume's bytes.  Its id is the SHA-256
 * of its plaintext; the object stored under chunks/HH/HEX (see
 * docs/FORMAT.md) is a 16-byte header and the bytes, zstd-compressed when
 * that helps.  All-zero chunks are never stored: their id in a map is the
 * all-zero id (S3VOL_HOLE).
 *
 * The same encoding wraps map pages, which are content-addressed too.
 */
#ifndef S3VOL_CHUNK_H
#define S3VOL_CHUNK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/buf.h"
#include "s3vol/log.h"

#define S3VOL_ID_LEN 32         /* SHA-256 */
#define S3VOL_ID_HEX (2 * S3VOL_ID_LEN)

struct s3vol_id {
  uint8_t b[S3VOL_ID_LEN];
};

/* The id of a hole: all zero bytes (no plaintext hashes to it). */
extern const struct s3vol_id S3VOL_HOLE;

static inline bool
s3vol_id_is_hole (const struct s3vol_id *id)
{
  static const uint8_t z[S3VOL_ID_LEN];
  return __builtin_memcmp (id->b, z, S3VOL_ID_LEN) == 0;
}

/* SHA-256 of len bytes. */
void s3vol_hash (const void *data, size_t len, struct s3vol_id *out);

/* Lowercase hex of id into out (S3VOL_ID_HEX + 1 bytes). */
char *s3vol_id_hex (const struct s3vol_id *id, char *out);

/* Parse 64 hex digits.  Returns 0 or -EINVAL. */
int s3vol_id_parse (const char *hex, struct s3vol_id *out);

/* Are all len bytes zero?  (Fast: compares words.) */
bool s3vol_is_zero (const void *data, size_t len);

/* Object codecs, in the header's codec byte. */
enum s3vol_codec { S3VOL_CODEC_RAW = 0, S3VOL_CODEC_ZSTD = 1 };

/* Encode plaintext into an object: header + payload, appended to out.
 * Uses zstd at the given level only if that saves more than 1/64 of the
 * size; else the bytes are stored raw.
 */
int s3vol_obj_encode (const void *plain, size_t len, int zstd_level,
                      struct s3vol_buf *out);

/* Decode an object into plaintext appended to out, and check that its
 * SHA-256 equals want.  Every failure (bad magic, unknown version or
 * codec, wrong lengths, decompression error, hash mismatch) returns
 * -EBADMSG and is logged once, naming key.
 */
int s3vol_obj_decode (const void *obj, size_t objlen,
                      const struct s3vol_id *want, const char *key,
                      const struct s3vol_log *log, struct s3vol_buf *out);

/* Largest plaintext an object may hold (the largest chunk size). */
#define S3VOL_OBJ_MAX_PLAIN (64u << 20)

/* Largest object (chunk or page) a reader takes in: the 16-byte header
 * and the plaintext stored raw (zstd is only kept when it is smaller).
 */
#define S3VOL_OBJ_MAX (S3VOL_OBJ_MAX_PLAIN + 16u)

#endif /* S3VOL_CHUNK_H */
