/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: client-side encryption of volumes (docs/FORMAT.md, "Encrypted
 * volumes").
 *
 * A user key U (32 bytes, read from a key file the user keeps) wraps a
 * random per-volume key K with AES-256-GCM, the volume id as associated
 * data; every root of the volume carries the wrapped key.  Three keys
 * are derived from K with HKDF-SHA-256:
 *
 *   K_id    object ids: HMAC-SHA-256(K_id, plaintext), chunks and pages
 *   K_enc   chunk contents: AES-256-GCM under HKDF(K_enc, id), zero
 *           nonce (each key encrypts one plaintext only)
 *   K_root  the HMAC that ends every root of the volume
 *
 * These functions do no I/O and never log; key material they make is
 * wiped by s3vol_wipe when the caller is done with it.
 */
#ifndef S3VOL_CRYPT_H
#define S3VOL_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "s3vol/chunk.h"

#define S3VOL_KEY_LEN 32
#define S3VOL_TAG_LEN 16        /* AES-GCM tag */
/* A wrapped key: u32 algorithm (1: AES-256-GCM), 12-byte nonce, the
 * 32-byte key encrypted, 16-byte tag.
 */
#define S3VOL_WRAP_LEN 64
#define S3VOL_WRAP_AES_GCM 1u

struct s3vol_key {
  uint8_t b[S3VOL_KEY_LEN];
};

/* The keys derived from a volume key. */
struct s3vol_vkeys {
  uint8_t id[S3VOL_KEY_LEN];
  uint8_t enc[S3VOL_KEY_LEN];
  uint8_t root[S3VOL_KEY_LEN];
};

/* Parse a key file's contents: exactly 32 bytes, or 64 hex digits
 * optionally followed by one newline.  0 or -EINVAL.
 */
int s3vol_key_parse (const void *buf, size_t len, struct s3vol_key *out);

/* Read and parse a key from fd (at most 130 bytes are read; more is
 * -EINVAL).  Returns 0, -EINVAL or the read's -errno.
 */
int s3vol_key_read (int fd, struct s3vol_key *out);

/* Read the key file at path: it must be a file, FIFO or character
 * device, and a file must not be readable or writable by group or
 * others.  On failure *why says what is wrong ("cannot be opened", "is
 * readable or writable by other users", "is not a key") and the result
 * is -errno, -EACCES or -EINVAL.
 */
int s3vol_key_load (const char *path, struct s3vol_key *out,
                    const char **why);

/* A new random key.  0 or -EIO (no randomness). */
int s3vol_key_random (struct s3vol_key *out);

/* Wrap k under user with AES-256-GCM, aad as associated data, a random
 * nonce.  0 or -EIO.
 */
int s3vol_key_wrap (const struct s3vol_key *user, const struct s3vol_key *k,
                    const void *aad, size_t aadlen,
                    uint8_t out[S3VOL_WRAP_LEN]);

/* Unwrap: 0, -EKEYREJECTED if user is not the key that wrapped it (or
 * wrap or aad were changed), -EBADMSG for an unknown algorithm.
 */
int s3vol_key_unwrap (const struct s3vol_key *user,
                      const uint8_t wrap[S3VOL_WRAP_LEN],
                      const void *aad, size_t aadlen, struct s3vol_key *k);

/* K_id, K_enc and K_root from k.  0 or -EIO. */
int s3vol_vkeys_derive (const struct s3vol_key *k, struct s3vol_vkeys *out);

/* HMAC-SHA-256 of len bytes under a 32-byte key. */
void s3vol_mac (const uint8_t key[S3VOL_KEY_LEN], const void *data,
                size_t len, uint8_t out[32]);

/* An object's id: SHA-256 of data, or with vk HMAC-SHA-256(K_id, data). */
void s3vol_obj_id (const struct s3vol_vkeys *vk, const void *data,
                   size_t len, struct s3vol_id *out);

/* Encrypt len bytes in place under the key HKDF(K_enc, id) with a zero
 * nonce and aad, writing the 16-byte tag after them (buf holds len + 16
 * bytes).  0 or -EIO.
 */
int s3vol_seal (const struct s3vol_vkeys *vk, const struct s3vol_id *id,
                const void *aad, size_t aadlen, uint8_t *buf, size_t len);

/* Decrypt and authenticate what s3vol_seal made (len includes the tag)
 * in place.  0 or -EBADMSG (wrong key, or changed bytes).
 */
int s3vol_unseal (const struct s3vol_vkeys *vk, const struct s3vol_id *id,
                  const void *aad, size_t aadlen, uint8_t *buf, size_t len);

/* Compare n bytes in constant time: 0 if equal. */
int s3vol_memcmp_ct (const void *a, const void *b, size_t n);

/* Overwrite n bytes with zeros in a way the compiler keeps. */
void s3vol_wipe (void *p, size_t n);

#endif /* S3VOL_CRYPT_H */
