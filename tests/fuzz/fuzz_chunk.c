/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: chunk and page objects (s3vol_obj_decode and
 * s3vol_obj_decode_mode), plain and sealed.
 *
 * The input is an object as the store would return it.  It is decoded
 * in every mode a reader uses, under one fixed volume key: against the
 * hole id (every check but the id's fails it), and as a plain object
 * against the SHA-256 of its raw payload, so a well-formed raw object
 * decodes all the way.  Then the input, taken as plaintext, is encoded
 * plain and sealed: each must decode back to itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/buf.h"
#include "s3vol/chunk.h"
#include "s3vol/crypt.h"
#include "harness.h"

#define HDR 16

static struct s3vol_vkeys vk;

int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  struct s3vol_key k;

  (void) argc;
  (void) argv;
  memset (k.b, 0x5a, sizeof k.b);
  return s3vol_vkeys_derive (&k, &vk) == 0 ? 0 : -1;
}

static void
decode (const uint8_t *data, size_t size, const struct s3vol_id *want,
        enum s3vol_obj_mode mode)
{
  struct s3vol_buf out = { 0 };

  s3vol_obj_decode_mode (data, size, want, mode, &vk, "chunks/fuzz",
                         fz_log (), &out);
  s3vol_buf_free (&out);
}

static void
must_give_back (const struct s3vol_buf *obj, const struct s3vol_id *id,
                enum s3vol_obj_mode mode, const uint8_t *data, size_t size)
{
  struct s3vol_buf out = { 0 };

  if (s3vol_obj_decode_mode (obj->data, obj->len, id, mode, &vk,
                             "chunks/rt", fz_log (), &out) != 0 ||
      out.len != size || (size && memcmp (out.data, data, size) != 0)) {
    fprintf (stderr, "an object encoded in mode %d does not decode back\n",
             (int) mode);
    abort ();
  }
  s3vol_buf_free (&out);
}

/* Encode, decode, compare: a codec must give back what it was given. */
static void
round_trip (const uint8_t *data, size_t size)
{
  struct s3vol_buf obj = { 0 };
  struct s3vol_id id;

  s3vol_obj_id (NULL, data, size, &id);
  if (s3vol_obj_encode (data, size, 1, &obj) == 0)
    must_give_back (&obj, &id, S3VOL_OBJ_PLAIN, data, size);
  s3vol_buf_clear (&obj);
  s3vol_obj_id (&vk, data, size, &id);
  if (s3vol_obj_seal (data, size, 1, &vk, &id, &obj) == 0)
    must_give_back (&obj, &id, S3VOL_OBJ_SEALED, data, size);
  s3vol_buf_free (&obj);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const enum s3vol_obj_mode modes[] = {
    S3VOL_OBJ_PLAIN, S3VOL_OBJ_KEYED, S3VOL_OBJ_SEALED,
    S3VOL_OBJ_UNCHECKED, S3VOL_OBJ_SEALED_UNCHECKED,
  };
  struct s3vol_buf out = { 0 };
  struct s3vol_id id;
  size_t i;

  s3vol_obj_decode (data, size, &S3VOL_HOLE, "chunks/fuzz", fz_log (), &out);
  s3vol_buf_free (&out);
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++)
    decode (data, size, &S3VOL_HOLE, modes[i]);
  if (size >= HDR) {
    s3vol_hash (data + HDR, size - HDR, &id);
    decode (data, size, &id, S3VOL_OBJ_PLAIN);
  }
  /* s3vol never encodes nothing: a chunk of zeros is a hole. */
  if (size > 0 && size <= 64 << 10)
    round_trip (data, size);
  return 0;
}
