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
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "testutil.h"

#define PROXY "tests/support/s3proxy.py"

static pid_t proxy_pid;
static int proxy_port;
static char base_url[256];      /* s3://BUCKET/s3sec-PID */
static char store_prefix[128];  /* s3sec-PID/ */

/* ---- the proxy (as in tests/unit/test_s3_faults.c) ---- */

static void
proxy_start (void)
{
  char line[32], endpoint[64];
  int fds[2];
  FILE *f;

  if (access (PROXY, R_OK) != 0 || pipe (fds) == -1) {
    fprintf (stderr, "cannot start %s (run from the repository root)\n",
             PROXY);
    exit (1);
  }
  proxy_pid = fork ();
  if (proxy_pid == 0) {
    dup2 (fds[1], STDOUT_FILENO);
    close (fds[0]);
    close (fds[1]);
    execlp ("python3", "python3", PROXY, "serve", "--upstream",
            getenv ("AWS_ENDPOINT_URL"), "--lifetime", "900", (char *) NULL);
    perror ("python3");
    _exit (127);
  }
  close (fds[1]);
  f = fdopen (fds[0], "r");
  if (proxy_pid == -1 || f == NULL || fgets (line, sizeof line, f) == NULL ||
      atoi (line) <= 0) {
    fprintf (stderr, "the proxy did not start\n");
    exit (1);
  }
  fclose (f);
  proxy_port = atoi (line);
  snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", proxy_port);
  setenv ("AWS_ENDPOINT_URL", endpoint, 1);
}

static void
proxy_stop (void)
{
  if (proxy_pid > 0) {
    kill (proxy_pid, SIGTERM);
    waitpid (proxy_pid, NULL, 0);
  }
}

static size_t
append_cb (char *p, size_t size, size_t n, void *opaque)
{
  return s3vol_buf_append (opaque, p, size * n) == 0 ? size * n : 0;
}

static void
proxy_ctl (const char *what, const char *json)
{
  struct s3vol_buf out = S3VOL_BUF_INIT;
  CURL *h = curl_easy_init ();
  char url[128];
  long status = 0;

  assert_non_null (h);
  snprintf (url, sizeof url, "http://127.0.0.1:%d/__proxy/%s", proxy_port,
            what);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, &out);
  curl_easy_setopt (h, CURLOPT_POSTFIELDS, json);
  assert_int_equal (curl_easy_perform (h), CURLE_OK);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (h);
  if (status != 200)
    fprintf (stderr, "proxy %s %s: %ld %.*s\n", what, json, status,
             (int) out.len, (char *) out.data);
  s3vol_buf_free (&out);
  assert_int_equal (status, 200);
}

static void
fault (const char *fmt, ...)
{
  char rule[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (rule, sizeof rule, fmt, ap);
  va_end (ap);
  proxy_ctl ("fault", rule);
}

static struct test_log tl;

static struct objstore *
open_proxied (void)
{
  struct objstore_config cfg = { .log = &tl.log, .attempts = 2,
                                 .retry_base_ms = 10, .timeout_s = 30 };
  struct objstore *s = NULL;

  test_log_init (&tl);
  assert_int_equal (objstore_open (base_url, &cfg, &s), 0);
  proxy_ctl ("clear", "");
  test_log_init (&tl);
  return s;
}

static void
close_proxied (struct objstore *s)
{
  proxy_ctl ("clear", "");
  test_clear_prefix (s, "");
  objstore_close (s);
}

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
  struct objstore *s = open_proxied ();
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
  fault ("{\"action\": \"list-keys\", \"op\": \"LIST\", \"count\": -1, "
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
  proxy_ctl ("clear", "");
  close_proxied (s);
}

/* A store that says "truncated" with the same token every time. */
static void
test_list_loop (void **state)
{
  struct objstore *s = open_proxied ();
  struct seen sn = { .prefix = "loop/" };
  double t0 = test_now ();
  int r;

  (void) state;
  test_put (s, "loop/a", 10, 1);
  test_put (s, "loop/b", 10, 2);
  fault ("{\"action\": \"list-loop\", \"op\": \"LIST\", \"count\": -1}");
  r = objstore_list (s, "loop/", NULL, on_key, &sn);
  fprintf (stderr, "list over a looping token: %d after %zu keys, %.1f s\n",
           r, sn.n, test_now () - t0);
  assert_int_equal (r, -EIO);
  assert_true (sn.n <= 2);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "continuation token"));
  proxy_ctl ("clear", "");
  close_proxied (s);
}

/* ---- bodies ---- */

static void
huge_get (bool no_length)
{
  struct objstore *s = open_proxied ();
  struct s3vol_buf b = S3VOL_BUF_INIT;
  double t0 = test_now ();
  int r;

  test_put (s, "rec/head", 24, 1);
  fault ("{\"action\": \"huge-body\", \"op\": \"GET\", \"key\": \"rec/head\", "
         "\"count\": -1, \"bytes\": %d, \"no_length\": %s}",
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
  proxy_ctl ("clear", "");
  close_proxied (s);
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
