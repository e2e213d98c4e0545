/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security tests: the S3 backend against a hostile endpoint.
 *
 * The store and the endpoint are not trusted.  tests/support/s3proxy.py
 * sits between the backend and the test S3 server and, when told to,
 * lies: it adds keys outside the requested prefix (and shorter than it)
 * to a listing, says every page is truncated with the same continuation
 * token, and answers a small GET with a huge body, with or without a
 * Content-Length.  The backend must deliver only keys under the prefix,
 * give up on a listing that does not advance, and never take in more
 * than it asked for.  Skips (exit 77) without the S3 environment; runs
 * from the repository root, as tests/run-all does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "proxy.h"
#include "testutil.h"

static char base_url[256];      /* s3://BUCKET/s3sec-PID */
static char store_prefix[128];  /* s3sec-PID/ */

static struct test_log tl;

/* ---- listings ---- */

struct seen {
  const char *prefix;
  size_t n, outside;
  char tails[16][64];
};

/* What lib/volume does with a listed key: skip the prefix's length. */
static int
on_key (void *opaque, const struct objstore_entry *e)
{
  struct seen *sn = opaque;
  size_t pl = strlen (sn->prefix);

  if (strncmp (e->key, sn->prefix, pl) != 0)
    sn->outside++;
  /* Reads past the key's end unless it is at least as long as the prefix
   * (ASan reports it).
   */
  if (sn->n < 16)
    snprintf (sn->tails[sn->n], sizeof sn->tails[0], "%s", e->key + pl);
  sn->n++;
  return sn->n > 1000 ? 1 : 0;  /* a loop: stop it here */
}

/* Keys outside the prefix, shorter than it, and out of order are never
 * delivered.
 */
static void
test_list_outside_prefix (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 2, 30);
  struct seen sn = { .prefix = "volumes/0123456789abcdef/versions/" };
  char key[256];

  (void) state;
  snprintf (key, sizeof key, "%s0000000000000002", sn.prefix);
  test_put (s, key, 10, 1);
  snprintf (key, sizeof key, "%s0000000000000003", sn.prefix);
  test_put (s, key, 10, 2);
  /* Injected: a key shorter than the prefix, one outside it, one that
   * sorts before the real ones (out of order after them), the store's
   * prefix alone.
   */
  proxy_fault ("{\"action\": \"list-keys\", \"op\": \"LIST\", \"count\": -1, "
               "\"keys\": [\"%sv\", \"%snames/x\", "
               "\"%svolumes/0123456789abcdef/versions/0000000000000009\", "
               "\"%svolumes/0123456789abcdef/versions/0000000000000001\"]}",
               store_prefix, store_prefix, store_prefix, store_prefix);
  assert_int_equal (objstore_list (s, sn.prefix, NULL, on_key, &sn), 0);
  assert_int_equal (sn.outside, 0);
  /* 9 came first, so 2 and 3 would be out of order after it; what the
   * backend must not do is deliver anything outside the prefix or go
   * backwards.
   */
  assert_true (sn.n >= 1 && sn.n <= 3);
  assert_true (tl.warnings + tl.errors >= 1);
  proxy_clear ();
  proxy_close_store (s);
}

/* A store that says "truncated" with the same token every time. */
static void
test_list_loop (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 2, 30);
  struct seen sn = { .prefix = "loop/" };
  double t0 = test_now ();
  int r;

  (void) state;
  test_put (s, "loop/a", 10, 1);
  test_put (s, "loop/b", 10, 2);
  proxy_fault ("{\"action\": \"list-loop\", \"op\": \"LIST\", \"count\": -1}");
  r = objstore_list (s, "loop/", NULL, on_key, &sn);
  fprintf (stderr, "list over a looping token: %d after %zu keys, %.1f s\n",
           r, sn.n, test_now () - t0);
  assert_int_equal (r, -EIO);
  assert_true (sn.n <= 2);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "continuation token"));
  proxy_clear ();
  proxy_close_store (s);
}

/* ---- bodies ---- */

static void
huge_get (bool no_length)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 2, 30);
  struct s3vol_buf b = S3VOL_BUF_INIT;
  double t0 = test_now ();
  int r;

  test_put (s, "rec/head", 24, 1);
  proxy_fault ("{\"action\": \"huge-body\", \"op\": \"GET\", "
               "\"key\": \"rec/head\", \"count\": -1, \"bytes\": %d, "
               "\"no_length\": %s}",
               256 << 20, no_length ? "true" : "false");
  /* A 24-byte record asked for with a cap of 41 bytes. */
  r = objstore_get (s, "rec/head", 0, 41, &b);
  fprintf (stderr, "GET of 41 bytes, served 256 MiB%s: %d, %zu bytes "
           "kept, %zu allocated, %.1f s\n",
           no_length ? " without a length" : "", r, b.len, b.cap,
           test_now () - t0);
  assert_int_equal (r, -EIO);
  assert_int_equal (b.len, 0);
  assert_true (b.cap < (1u << 20));
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "longer than"));
  s3vol_buf_free (&b);
  proxy_clear ();
  proxy_close_store (s);
}

static void
test_huge_body_length (void **state)
{
  (void) state;
  huge_get (false);
}

static void
test_huge_body_streamed (void **state)
{
  (void) state;
  huge_get (true);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_list_outside_prefix),
    cmocka_unit_test (test_list_loop),
    cmocka_unit_test (test_huge_body_length),
    cmocka_unit_test (test_huge_body_streamed),
  };
  int r;

  test_require_s3 ();
  snprintf (store_prefix, sizeof store_prefix, "s3sec-%d/", (int) getpid ());
  snprintf (base_url, sizeof base_url, "s3://%s/s3sec-%d",
            getenv ("S3VOL_TEST_BUCKET"), (int) getpid ());
  curl_global_init (CURL_GLOBAL_ALL);
  proxy_start ();
  r = cmocka_run_group_tests (tests, NULL, NULL);
  proxy_stop ();
  return r;
}
