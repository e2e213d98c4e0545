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

struct s3vol_vkeys;              /* s3vol/crypt.h */

/* Encode plaintext whose id (s3vol_obj_id under vk) is id as a sealed
 * object, format version 2: compressed as s3vol_obj_encode does, then
 * the payload encrypted with AES-256-GCM under HKDF(K_enc, id), the
 * header as associated data, and the 16-byte tag appended.  The same
 * plaintext always gives the same bytes.
 */
int s3vol_obj_seal (const void *plain, size_t len, int zstd_level,
                    const struct s3vol_vkeys *vk, const struct s3vol_id *id,
                    struct s3vol_buf *out);

/* How a reader checks an object against the id in its key. */
enum s3vol_obj_mode {
  S3VOL_OBJ_PLAIN,      /* version 1; id = SHA-256 of the plaintext */
  S3VOL_OBJ_KEYED,      /* version 1; id = HMAC(K_id, plaintext): the
                           pages of an encrypted volume */
  S3VOL_OBJ_SEALED,     /* version 2 (sealed); id = HMAC(K_id, plaintext):
                           the chunks of an encrypted volume */
  S3VOL_OBJ_UNCHECKED,  /* version 1, structure only: an encrypted
                           volume's pages read without its key */
  S3VOL_OBJ_SEALED_UNCHECKED,   /* version 2, header and lengths only
                                   (nothing is appended to out) */
};

/* As s3vol_obj_decode, checking as mode says (vk is needed for KEYED
 * and SEALED).  A sealed object that does not authenticate is -EBADMSG
 * like any other corruption.
 */
int s3vol_obj_decode_mode (const void *obj, size_t objlen,
                           const struct s3vol_id *want,
                           enum s3vol_obj_mode mode,
                           const struct s3vol_vkeys *vk, const char *key,
                           const struct s3vol_log *log,
                           struct s3vol_buf *out);

/* Largest plaintext an object may hold (the largest chunk size). */
#define S3VOL_OBJ_MAX_PLAIN (64u << 20)

/* Largest object (chunk or page) a reader takes in: the 16-byte header,
 * the plaintext stored raw (zstd is only kept when it is smaller) and,
 * sealed, the 16-byte tag.
 */
#define S3VOL_OBJ_MAX (S3VOL_OBJ_MAX_PLAIN + 16u + 16u)

#endif /* S3VOL_CHUNK_H */
