/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: version roots (root_decode, and for encrypted roots
 * root_check_mac and the unwrapping of the volume key they carry).
 *
 * A root ends in the SHA-256 of the bytes before it, which random
 * mutations almost never keep right; so every input is decoded as it
 * is and again with that checksum fixed, which lets the fuzzer reach
 * the field checks behind it.  A root that decodes must survive
 * encoding: decode (encode (r)) == r, and an encrypted one encoded
 * under a key must pass root_check_mac under it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/chunk.h"
#include "s3vol/crypt.h"
#include "s3vol/manifest.h"
#include "harness.h"

/* The user key of tests/golden (user.key), which wraps the volume key
 * of golden-root-encrypted in the seed corpus: that root and what the
 * fuzzer makes of it unwrap, and their HMACs are checked under the key
 * they carry.
 */
static const uint8_t golden_user[S3VOL_KEY_LEN] = {
  0x7e, 0x57, 0xa1, 0x1c, 0xe0, 0xdd, 0xba, 0x11, 0xc0, 0xff, 0xee, 0x00,
  0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0xfe, 0xdc, 0xba, 0x98,
  0x76, 0x54, 0x32, 0x10, 0x0b, 0xad, 0xf0, 0x0d,
};

/* The keys of an encrypted root r: those its wrapped key gives under
 * the golden user key, else keys derived from the user key itself.
 */
static void
keys_of (const struct root *r, struct s3vol_vkeys *vk)
{
  struct s3vol_key user, k;

  memcpy (user.b, golden_user, sizeof user.b);
  if (s3vol_key_unwrap (&user, r->wrap, r->volid.b, sizeof r->volid.b,
                        &k) != 0)
    k = user;
  if (s3vol_vkeys_derive (&k, vk) != 0)
    abort ();
}

static bool
same_root (const struct root *a, const struct root *b)
{
  return a->flags == b->flags && a->seq == b->seq &&
    a->parent == b->parent && a->overwrote == b->overwrote &&
    a->size == b->size && a->chunk_size == b->chunk_size &&
    a->page_entries == b->page_entries && a->time_ns == b->time_ns &&
    a->pid == b->pid && strcmp (a->host, b->host) == 0 &&
    strcmp (a->message ? a->message : "", b->message ? b->message : "")
      == 0 &&
    memcmp (&a->volid, &b->volid, sizeof a->volid) == 0 &&
    memcmp (&a->fork_of, &b->fork_of, sizeof a->fork_of) == 0 &&
    a->fork_seq == b->fork_seq && a->npages == b->npages &&
    memcmp (a->wrap, b->wrap, sizeof a->wrap) == 0 &&
    (a->npages == 0 ||
     memcmp (a->pages, b->pages, a->npages * sizeof *a->pages) == 0);
}

static void
round_trip (const struct root *r, const struct s3vol_vkeys *vk)
{
  bool keyed = r->flags & ROOT_FLAG_ENCRYPTED;
  struct s3vol_buf enc = { 0 };
  struct root q;
  int e;

  e = keyed ? root_encode_keyed (r, vk, &enc) : root_encode (r, &enc);
  if (e == 0) {
    if (root_decode (enc.data, enc.len, "versions/rt", fz_log (), &q) != 0
        || !same_root (r, &q) ||
        (keyed && root_check_mac (enc.data, enc.len, "versions/rt", vk,
                                  fz_log ()) != 0)) {
      fprintf (stderr, "a decoded root does not survive encoding\n");
      abort ();
    }
    root_free (&q);
  }
  s3vol_buf_free (&enc);
}

static void
decode (const uint8_t *data, size_t size)
{
  struct s3vol_vkeys vk;
  struct root r;

  if (root_decode (data, size, "versions/fuzz", fz_log (), &r) == 0) {
    root_chunks (&r);
    root_stored_bytes (&r);
    keys_of (&r, &vk);
    if (r.flags & ROOT_FLAG_ENCRYPTED)
      root_check_mac (data, size, "versions/fuzz", &vk, fz_log ());
    round_trip (&r, &vk);
  }
  root_free (&r);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct s3vol_id sum;
  uint8_t *fixed;

  decode (data, size);
  if (size < S3VOL_ID_LEN || size > S3VOL_ROOT_MAX)
    return 0;
  fixed = malloc (size);
  if (fixed == NULL)
    return 0;
  memcpy (fixed, data, size);
  s3vol_hash (fixed, size - S3VOL_ID_LEN, &sum);
  memcpy (fixed + size - S3VOL_ID_LEN, sum.b, S3VOL_ID_LEN);
  decode (fixed, size);
  free (fixed);
  return 0;
}
