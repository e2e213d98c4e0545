/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: map pages (page_decode), the plaintext of a page
 * object.  A page that decodes must encode to bytes that decode to the
 * same page: what a reader accepts, a writer can write back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/manifest.h"
#include "harness.h"

static bool
same_page (const struct page *a, const struct page *b)
{
  return a->n == b->n &&
    (a->n == 0 || memcmp (a->e, b->e, a->n * sizeof *a->e) == 0);
}

/* Look every entry up again: the decoder promised sorted slots. */
static void
check_sorted (const struct page *p)
{
  uint32_t i;

  for (i = 0; i < p->n; i++) {
    if (page_find (p, p->e[i].slot) != &p->e[i]) {
      fprintf (stderr, "page_find misses slot %u\n", p->e[i].slot);
      abort ();
    }
  }
}

static void
round_trip (const struct page *p)
{
  struct s3vol_buf enc = { 0 };
  struct page q;

  if (page_encode (p, &enc) == 0) {
    if (page_decode (enc.data, enc.len, "pages/rt", fz_log (), &q) != 0 ||
        !same_page (p, &q)) {
      fprintf (stderr, "a decoded page does not survive encoding\n");
      abort ();
    }
    page_free (&q);
  }
  s3vol_buf_free (&enc);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct page p;

  if (page_decode (data, size, "pages/fuzz", fz_log (), &p) == 0) {
    check_sorted (&p);
    round_trip (&p);
  }
  page_free (&p);
  return 0;
}
