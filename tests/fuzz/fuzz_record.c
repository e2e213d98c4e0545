/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: small records (record_decode): name records, head
 * hints and snapshot records.  Every input is tried as each kind; one
 * that decodes must encode back to exactly its bytes, but for the
 * header's reserved word, which readers do not check.  The other small
 * input s3vol parses, a key file (s3vol_key_parse), gets it too.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/crypt.h"
#include "s3vol/record.h"
#include "harness.h"

#define RESERVED_OFF 12         /* the header's u32 that is not checked */

static void
round_trip (const struct record *r, const uint8_t *data, size_t size)
{
  struct s3vol_buf enc = { 0 };

  if (record_encode (r, &enc) != 0)
    abort ();
  if (enc.len != size ||
      memcmp (enc.data, data, RESERVED_OFF) != 0 ||
      memcmp (enc.data + RESERVED_OFF + 4, data + RESERVED_OFF + 4,
              size - RESERVED_OFF - 4) != 0) {
    fprintf (stderr, "record kind %d does not encode back to its bytes\n",
             (int) r->kind);
    abort ();
  }
  s3vol_buf_free (&enc);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const enum record_kind kinds[] = {
    RECORD_NAME, RECORD_HEAD, RECORD_SNAPSHOT,
  };
  struct s3vol_key key;
  struct record r;
  size_t i;

  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    if (record_decode (data, size, kinds[i], "names/fuzz", fz_log (), &r)
        == 0)
      round_trip (&r, data, size);
  }
  s3vol_key_parse (data, size, &key);
  /* An unknown kind is refused without reading anything. */
  if (record_decode (data, size, (enum record_kind) 77, "x", fz_log (), &r)
      != -EINVAL)
    abort ();
  return 0;
}
