/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: chunk objects: ids, hashing, and the object encoding.
 *
 * Object layout (little-endian, docs/FORMAT.md):
 *
 *   offset  size  field
 *   0       4     magic "S3VC"
 *   4       1     format version (1; 2: sealed, docs/FORMAT.md)
 *   5       1     codec: 0 raw, 1 zstd
 *   6       2     reserved, 0
 *   8       4     plaintext length
 *   12      4     payload length (bytes that follow)
 *   16      ...   payload (sealed: encrypted, then a 16-byte tag)
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zstd.h>

#include "s3vol/chunk.h"
#include "s3vol/crypt.h"
#include "byteorder.h"

#define OBJ_MAGIC "S3VC"
#define OBJ_VERSION 1
#define OBJ_VERSION_SEALED 2
#define OBJ_HDR 16

const struct s3vol_id S3VOL_HOLE;

/* SHA-256 through OpenSSL's EVP interface, with the algorithm fetched
 * once and one digest context per thread, reused: the one-shot SHA256()
 * fetches the algorithm and makes a context on every call.  Both use
 * the CPU's SHA extensions where it has them.
 */
static pthread_key_t mdctx_key;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void
free_mdctx (void *p)
{
  EVP_MD_CTX_free (p);
}

static void
init_md (void)
{
  pthread_key_create (&mdctx_key, free_mdctx);
  sha256_md = EVP_MD_fetch (NULL, "SHA256", NULL);
}

static EVP_MD_CTX *
thread_mdctx (void)
{
  EVP_MD_CTX *m;

  pthread_once (&md_once, init_md);
  m = pthread_getspecific (mdctx_key);
  if (m == NULL) {
    m = EVP_MD_CTX_new ();
    if (m != NULL && pthread_setspecific (mdctx_key, m) != 0) {
      EVP_MD_CTX_free (m);
      m = NULL;
    }
  }
  return m;
}

void
s3vol_hash (const void *data, size_t len, struct s3vol_id *out)
{
  EVP_MD_CTX *m = thread_mdctx ();
  unsigned n = 0;

  if (m == NULL || sha256_md == NULL ||
      EVP_DigestInit_ex (m, sha256_md, NULL) != 1 ||
      EVP_DigestUpdate (m, data, len) != 1 ||
      EVP_DigestFinal_ex (m, out->b, &n) != 1 || n != S3VOL_ID_LEN)
    /* Out of memory for a context: the one-shot path, which has its own
     * ways; it fails only where the id could not be computed at all.
     */
    EVP_Digest (data, len, out->b, NULL, EVP_sha256 (), NULL);
}

char *
s3vol_hex_encode (const uint8_t *in, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
  return out;
}

char *
s3vol_id_hex (const struct s3vol_id *id, char *out)
{
  return s3vol_hex_encode (id->b, S3VOL_ID_LEN, out);
}

int
s3vol_hex_decode (const char *hex, uint8_t *out, size_t n)
{
  size_t i;
  int hi, lo;

  for (i = 0; i < n; i++) {
    hi = hex_digit (hex[2 * i]);
    lo = hi < 0 ? -1 : hex_digit (hex[2 * i + 1]);
    if (lo < 0)
      return -EINVAL;
    out[i] = hi << 4 | lo;
  }
  return hex[2 * n] == '\0' ? 0 : -EINVAL;
}

int
s3vol_id_parse (const char *hex, struct s3vol_id *out)
{
  return s3vol_hex_decode (hex, out->b, S3VOL_ID_LEN);
}

bool
s3vol_is_zero (const void *data, size_t len)
{
  const unsigned char *p = data;

  /* Check the first 16 bytes, then compare the buffer with itself
   * shifted by 16: equal and starting with zeros means all zeros.
   */
  if (len <= 16) {
    while (len--)
      if (*p++)
        return false;
    return true;
  }
  return s3vol_is_zero (p, 16) && memcmp (p, p + 16, len - 16) == 0;
}

/* One compression context per thread, freed when the thread exits. */
static pthread_key_t cctx_key;
static pthread_once_t cctx_once = PTHREAD_ONCE_INIT;

static void
free_cctx (void *p)
{
  ZSTD_freeCCtx (p);
}

static void
make_cctx_key (void)
{
  pthread_key_create (&cctx_key, free_cctx);
}

static ZSTD_CCtx *
thread_cctx (void)
{
  ZSTD_CCtx *c;

  pthread_once (&cctx_once, make_cctx_key);
  c = pthread_getspecific (cctx_key);
  if (c == NULL) {
    c = ZSTD_createCCtx ();
    if (c != NULL)
      pthread_setspecific (cctx_key, c);
  }
  return c;
}

static void
put_header (uint8_t *h, enum s3vol_codec codec, size_t plain, size_t payload)
{
  memcpy (h, OBJ_MAGIC, 4);
  h[4] = OBJ_VERSION;
  h[5] = codec;
  put_le16 (h + 6, 0);
  put_le32 (h + 8, plain);
  put_le32 (h + 12, payload);
}

/* Sampling: before a large plaintext is compressed, SAMPLES slices of
 * SAMPLE_BYTES spread over it are; if they do not shrink by 1/32, the
 * whole is stored raw without trying (random or already compressed data:
 * model weights, media, archives), which costs that much less CPU.
 */
#define SAMPLE_MIN (128u << 10)
#define SAMPLES 4u
#define SAMPLE_BYTES (4u << 10)

static bool
worth_compressing (ZSTD_CCtx *cctx, const uint8_t *plain, size_t len,
                   int zstd_level)
{
  uint8_t sample[SAMPLES * SAMPLE_BYTES];
  uint8_t packed[SAMPLES * SAMPLE_BYTES + 512];
  size_t k, n;

  if (len < SAMPLE_MIN)
    return true;
  for (k = 0; k < SAMPLES; k++)
    memcpy (sample + k * SAMPLE_BYTES,
            plain + (len - SAMPLE_BYTES) / (SAMPLES - 1) * k, SAMPLE_BYTES);
  n = ZSTD_compressCCtx (cctx, packed, sizeof packed, sample, sizeof sample,
                         zstd_level);
  return !ZSTD_isError (n) && n + sizeof sample / 32 < sizeof sample;
}

int
s3vol_obj_encode (const void *plain, size_t len, int zstd_level,
                  struct s3vol_buf *out)
{
  size_t bound = ZSTD_compressBound (len), n = 0;
  size_t start = out->len;
  ZSTD_CCtx *cctx;
  int r;

  if (len > S3VOL_OBJ_MAX_PLAIN)
    return -EINVAL;
  r = s3vol_buf_reserve (out, OBJ_HDR + (bound > len ? bound : len));
  if (r < 0)
    return r;
  cctx = thread_cctx ();
  if (cctx == NULL)
    return -ENOMEM;
  if (len > 0 && !worth_compressing (cctx, plain, len, zstd_level))
    n = len;                    /* store raw */
  else if (len > 0) {
    n = ZSTD_compressCCtx (cctx, out->data + start + OBJ_HDR, bound,
                           plain, len, zstd_level);
    if (ZSTD_isError (n))
      n = len;                  /* store raw */
  }
  /* Keep zstd only when it saves at least 1/64: decoding raw is free. */
  if (len == 0 || n + len / 64 >= len) {
    memcpy (out->data + start + OBJ_HDR, plain, len);
    put_header (out->data + start, S3VOL_CODEC_RAW, len, len);
    out->len = start + OBJ_HDR + len;
  }
  else {
    put_header (out->data + start, S3VOL_CODEC_ZSTD, len, n);
    out->len = start + OBJ_HDR + n;
  }
  return 0;
}

int
s3vol_obj_seal (const void *plain, size_t len, int zstd_level,
                const struct s3vol_vkeys *vk, const struct s3vol_id *id,
                struct s3vol_buf *out)
{
  size_t start = out->len, payload;
  uint8_t *h;
  int r;

  r = s3vol_obj_encode (plain, len, zstd_level, out);
  if (r == 0)
    r = s3vol_buf_reserve (out, S3VOL_TAG_LEN);
  if (r < 0) {
    out->len = start;
    return r;
  }
  h = out->data + start;
  payload = get_le32 (h + 12);
  h[4] = OBJ_VERSION_SEALED;
  put_le32 (h + 12, payload + S3VOL_TAG_LEN);
  r = s3vol_seal (vk, id, h, OBJ_HDR, h + OBJ_HDR, payload);
  out->len = r == 0 ? start + OBJ_HDR + payload + S3VOL_TAG_LEN : start;
  return r;
}

static int
bad_object (const struct s3vol_log *log, const char *key, const char *why)
{
  s3vol_error (log, "corrupt object %s: %s", key, why);
  return -EBADMSG;
}

/* The payload, decompressed, appended to out (plain bytes exactly). */
static int
unpack (const uint8_t *h, const uint8_t *payload, size_t len, size_t plain,
        const char *key, const struct s3vol_log *log, struct s3vol_buf *out)
{
  size_t n;
  int r;

  r = s3vol_buf_reserve (out, plain);
  if (r < 0)
    return r;
  switch (h[5]) {
  case S3VOL_CODEC_RAW:
    if (len != plain)
      return bad_object (log, key, "raw payload length mismatch");
    memcpy (out->data + out->len, payload, plain);
    return 0;
  case S3VOL_CODEC_ZSTD:
    n = ZSTD_decompress (out->data + out->len, plain, payload, len);
    if (ZSTD_isError (n) || n != plain)
      return bad_object (log, key, "zstd payload does not decode");
    return 0;
  default:
    return bad_object (log, key, "unknown codec");
  }
}

/* A sealed payload decrypted into a buffer of its own. */
static int
unseal (const uint8_t *h, size_t payload, const struct s3vol_id *want,
        const struct s3vol_vkeys *vk, const char *key,
        const struct s3vol_log *log, struct s3vol_buf *clear)
{
  int r;

  r = s3vol_buf_reserve (clear, payload);
  if (r < 0)
    return r;
  memcpy (clear->data, h + OBJ_HDR, payload);
  clear->len = payload;
  if (s3vol_unseal (vk, want, h, OBJ_HDR, clear->data, payload) < 0)
    return bad_object (log, key, "does not decrypt under this volume's "
                       "key (changed, or from another volume)");
  clear->len = payload - S3VOL_TAG_LEN;
  return 0;
}

int
s3vol_obj_decode_mode (const void *obj, size_t objlen,
                       const struct s3vol_id *want, enum s3vol_obj_mode mode,
                       const struct s3vol_vkeys *vk, const char *key,
                       const struct s3vol_log *log, struct s3vol_buf *out)
{
  const uint8_t *h = obj;
  struct s3vol_buf clear = S3VOL_BUF_INIT;
  bool sealed = mode == S3VOL_OBJ_SEALED ||
    mode == S3VOL_OBJ_SEALED_UNCHECKED;
  const uint8_t *payload;
  size_t plain, len, start = out->len;
  struct s3vol_id got;
  int r;

  if (objlen < OBJ_HDR || memcmp (h, OBJ_MAGIC, 4) != 0)
    return bad_object (log, key, "not an s3vol object (bad magic)");
  if (h[4] != (sealed ? OBJ_VERSION_SEALED : OBJ_VERSION))
    return bad_object (log, key, h[4] == OBJ_VERSION_SEALED || sealed ?
                       "sealed where plain is expected, or plain where "
                       "sealed is expected" : "unknown format version");
  plain = get_le32 (h + 8);
  len = get_le32 (h + 12);
  /* Nothing empty is ever stored: all-zero chunks and empty pages are
   * holes.
   */
  if (len != objlen - OBJ_HDR || plain == 0 || plain > S3VOL_OBJ_MAX_PLAIN
      || (sealed && len < S3VOL_TAG_LEN))
    return bad_object (log, key, "truncated or wrong lengths");
  if (mode == S3VOL_OBJ_SEALED_UNCHECKED)
    return 0;                   /* without the key, that is all */
  payload = h + OBJ_HDR;
  if (mode == S3VOL_OBJ_SEALED) {
    r = unseal (h, len, want, vk, key, log, &clear);
    if (r < 0)
      goto out;
    payload = clear.data;
    len = clear.len;
  }
  r = unpack (h, payload, len, plain, key, log, out);
  if (r < 0 || mode == S3VOL_OBJ_UNCHECKED)
    goto out;
  s3vol_obj_id (mode == S3VOL_OBJ_PLAIN ? NULL : vk, out->data + start,
                plain, &got);
  if (s3vol_memcmp_ct (got.b, want->b, S3VOL_ID_LEN) != 0)
    r = bad_object (log, key, mode == S3VOL_OBJ_PLAIN ?
                    "SHA-256 of the content does not match" :
                    "keyed hash of the content does not match");
 out:
  s3vol_buf_free (&clear);
  if (r == 0)
    out->len = start + plain;
  return r;
}

int
s3vol_obj_decode (const void *obj, size_t objlen,
                  const struct s3vol_id *want, const char *key,
                  const struct s3vol_log *log, struct s3vol_buf *out)
{
  return s3vol_obj_decode_mode (obj, objlen, want, S3VOL_OBJ_PLAIN, NULL,
                                key, log, out);
}
