/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: key files, key wrapping, derived keys, keyed ids and sealing
 * (include/s3vol/crypt.h, docs/FORMAT.md "Encrypted volumes").
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "s3vol/crypt.h"
#include "byteorder.h"

#define NONCE_LEN 12

int
s3vol_key_parse (const void *buf, size_t len, struct s3vol_key *out)
{
  char hex[2 * S3VOL_KEY_LEN + 1];

  if (len == S3VOL_KEY_LEN) {
    memcpy (out->b, buf, S3VOL_KEY_LEN);
    return 0;
  }
  if (len == 2 * S3VOL_KEY_LEN + 1 &&
      ((const char *) buf)[2 * S3VOL_KEY_LEN] == '\n')
    len--;
  if (len != 2 * S3VOL_KEY_LEN)
    return -EINVAL;
  memcpy (hex, buf, len);
  hex[len] = '\0';
  if (s3vol_hex_decode (hex, out->b, S3VOL_KEY_LEN) < 0) {
    s3vol_wipe (hex, sizeof hex);
    return -EINVAL;
  }
  s3vol_wipe (hex, sizeof hex);
  return 0;
}

int
s3vol_key_read (int fd, struct s3vol_key *out)
{
  char buf[2 * S3VOL_KEY_LEN + 2];
  size_t len = 0;
  ssize_t n;
  int r;

  while (len < sizeof buf) {
    n = read (fd, buf + len, sizeof buf - len);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -errno;
    if (n == 0)
      break;
    len += n;
  }
  r = len == sizeof buf ? -EINVAL : s3vol_key_parse (buf, len, out);
  s3vol_wipe (buf, sizeof buf);
  return r;
}

int
s3vol_key_load (const char *path, struct s3vol_key *out, const char **why)
{
  struct stat st;
  int fd, r;

  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd == -1) {
    *why = "cannot be opened";
    return -errno;
  }
  if (fstat (fd, &st) == -1) {
    r = -errno;
    *why = "cannot be opened";
  }
  else if (S_ISREG (st.st_mode) && (st.st_mode & 077)) {
    r = -EACCES;
    *why = "is readable or writable by other users (chmod 600 it)";
  }
  else if (!S_ISREG (st.st_mode) && !S_ISFIFO (st.st_mode) &&
           !S_ISCHR (st.st_mode)) {
    r = -EINVAL;
    *why = "is not a file";
  }
  else {
    r = s3vol_key_read (fd, out);
    *why = r == -EINVAL ? "is not a key (32 bytes, or 64 hex digits)"
      : "cannot be read";
  }
  close (fd);
  return r;
}

int
s3vol_key_random (struct s3vol_key *out)
{
  return RAND_bytes (out->b, S3VOL_KEY_LEN) == 1 ? 0 : -EIO;
}

/* AES-256-GCM over buf in place; the tag is written (encrypting) or
 * checked (decrypting).  Returns 0, or -1 when the tag does not match
 * or OpenSSL fails.
 */
static int
gcm (bool enc, const uint8_t key[32], const uint8_t nonce[NONCE_LEN],
     const void *aad, size_t aadlen, uint8_t *buf, size_t len,
     uint8_t tag[S3VOL_TAG_LEN])
{
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new ();
  int n, ok;

  ok = c != NULL && len <= INT32_MAX && aadlen <= INT32_MAX &&
    EVP_CipherInit_ex (c, EVP_aes_256_gcm (), NULL, key, nonce, enc) == 1 &&
    (aadlen == 0 ||
     EVP_CipherUpdate (c, NULL, &n, aad, (int) aadlen) == 1) &&
    (len == 0 || EVP_CipherUpdate (c, buf, &n, buf, (int) len) == 1) &&
    (enc || EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_SET_TAG, S3VOL_TAG_LEN,
                                 tag) == 1) &&
    EVP_CipherFinal_ex (c, buf + len, &n) == 1 &&
    (!enc || EVP_CIPHER_CTX_ctrl (c, EVP_CTRL_GCM_GET_TAG, S3VOL_TAG_LEN,
                                  tag) == 1);
  EVP_CIPHER_CTX_free (c);
  return ok ? 0 : -1;
}

int
s3vol_key_wrap (const struct s3vol_key *user, const struct s3vol_key *k,
                const void *aad, size_t aadlen, uint8_t out[S3VOL_WRAP_LEN])
{
  put_le32 (out, S3VOL_WRAP_AES_GCM);
  if (RAND_bytes (out + 4, NONCE_LEN) != 1)
    return -EIO;
  memcpy (out + 4 + NONCE_LEN, k->b, S3VOL_KEY_LEN);
  if (gcm (true, user->b, out + 4, aad, aadlen, out + 4 + NONCE_LEN,
           S3VOL_KEY_LEN, out + 4 + NONCE_LEN + S3VOL_KEY_LEN) < 0) {
    s3vol_wipe (out, S3VOL_WRAP_LEN);
    return -EIO;
  }
  return 0;
}

int
s3vol_key_unwrap (const struct s3vol_key *user,
                  const uint8_t wrap[S3VOL_WRAP_LEN],
                  const void *aad, size_t aadlen, struct s3vol_key *k)
{
  uint8_t tag[S3VOL_TAG_LEN];

  if (get_le32 (wrap) != S3VOL_WRAP_AES_GCM)
    return -EBADMSG;
  memcpy (k->b, wrap + 4 + NONCE_LEN, S3VOL_KEY_LEN);
  memcpy (tag, wrap + 4 + NONCE_LEN + S3VOL_KEY_LEN, S3VOL_TAG_LEN);
  if (gcm (false, user->b, wrap + 4, aad, aadlen, k->b, S3VOL_KEY_LEN,
           tag) < 0) {
    s3vol_wipe (k, sizeof *k);
    return -EKEYREJECTED;
  }
  return 0;
}

/* HKDF-SHA-256 (no salt) of 32 bytes of key material with info. */
static int
hkdf (const uint8_t ikm[32], const void *info, size_t infolen,
      uint8_t out[32])
{
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id (EVP_PKEY_HKDF, NULL);
  size_t outlen = 32;
  int ok;

  ok = c != NULL && infolen <= INT32_MAX &&
    EVP_PKEY_derive_init (c) == 1 &&
    EVP_PKEY_CTX_set_hkdf_md (c, EVP_sha256 ()) == 1 &&
    EVP_PKEY_CTX_set1_hkdf_key (c, ikm, 32) == 1 &&
    EVP_PKEY_CTX_add1_hkdf_info (c, info, (int) infolen) == 1 &&
    EVP_PKEY_derive (c, out, &outlen) == 1 && outlen == 32;
  EVP_PKEY_CTX_free (c);
  return ok ? 0 : -EIO;
}

int
s3vol_vkeys_derive (const struct s3vol_key *k, struct s3vol_vkeys *out)
{
  if (hkdf (k->b, "s3vol id", 8, out->id) < 0 ||
      hkdf (k->b, "s3vol enc", 9, out->enc) < 0 ||
      hkdf (k->b, "s3vol root", 10, out->root) < 0) {
    s3vol_wipe (out, sizeof *out);
    return -EIO;
  }
  return 0;
}

void
s3vol_mac (const uint8_t key[S3VOL_KEY_LEN], const void *data, size_t len,
           uint8_t out[32])
{
  unsigned outlen = 32;

  HMAC (EVP_sha256 (), key, S3VOL_KEY_LEN, data, len, out, &outlen);
}

void
s3vol_obj_id (const struct s3vol_vkeys *vk, const void *data, size_t len,
              struct s3vol_id *out)
{
  if (vk)
    s3vol_mac (vk->id, data, len, out->b);
  else
    s3vol_hash (data, len, out);
}

/* The key that seals the object with this id: HKDF(K_enc, "s3vol obj"
 * || id).  Ids are HMACs of the plaintext, so one key never seals two
 * different plaintexts and the zero nonce never repeats under a key.
 */
static int
object_key (const struct s3vol_vkeys *vk, const struct s3vol_id *id,
            uint8_t out[32])
{
  uint8_t info[9 + S3VOL_ID_LEN];

  memcpy (info, "s3vol obj", 9);
  memcpy (info + 9, id->b, S3VOL_ID_LEN);
  return hkdf (vk->enc, info, sizeof info, out);
}

int
s3vol_seal (const struct s3vol_vkeys *vk, const struct s3vol_id *id,
            const void *aad, size_t aadlen, uint8_t *buf, size_t len)
{
  static const uint8_t nonce[NONCE_LEN];
  uint8_t key[32];
  int r;

  r = object_key (vk, id, key);
  if (r == 0 && gcm (true, key, nonce, aad, aadlen, buf, len,
                     buf + len) < 0)
    r = -EIO;
  s3vol_wipe (key, sizeof key);
  return r;
}

int
s3vol_unseal (const struct s3vol_vkeys *vk, const struct s3vol_id *id,
              const void *aad, size_t aadlen, uint8_t *buf, size_t len)
{
  static const uint8_t nonce[NONCE_LEN];
  uint8_t key[32], tag[S3VOL_TAG_LEN];
  int r;

  if (len < S3VOL_TAG_LEN)
    return -EBADMSG;
  len -= S3VOL_TAG_LEN;
  memcpy (tag, buf + len, S3VOL_TAG_LEN);
  r = object_key (vk, id, key);
  if (r == 0 && gcm (false, key, nonce, aad, aadlen, buf, len, tag) < 0)
    r = -EBADMSG;
  s3vol_wipe (key, sizeof key);
  return r;
}

int
s3vol_memcmp_ct (const void *a, const void *b, size_t n)
{
  return CRYPTO_memcmp (a, b, n) != 0;
}

void
s3vol_wipe (void *p, size_t n)
{
  OPENSSL_cleanse (p, n);
}
