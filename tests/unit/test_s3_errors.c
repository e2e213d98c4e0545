/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol unit tests: how the S3 backend fails.
 *
 * Against a real S3 server (scripts/s3-server): wrong credentials,
 * missing buckets, bad URLs and settings, an unreachable endpoint, and a
 * server that stops mid-run.  Each failure must give its errno, exactly
 * one error line that says what to do, quickly, and never a secret.
 * Skips (exit 77) without AWS_ENDPOINT_URL and S3VOL_TEST_BUCKET.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- a log that keeps every message ---- */

#define MAX_MSGS 256

struct capture {
  struct s3vol_log log;
  pthread_mutex_t lock;
  int n[4];                     /* per level */
  int retries;                  /* debug lines announcing another try */
  char first_error[1024];
  char *all[MAX_MSGS];
  int nall;
};

static void
capture_fn (void *opaque, enum s3vol_log_level level, const char *msg)
{
  struct capture *c = opaque;

  pthread_mutex_lock (&c->lock);
  c->n[level]++;
  if (level == S3VOL_LOG_ERROR && c->n[level] == 1)
    snprintf (c->first_error, sizeof c->first_error, "%s", msg);
  if (level == S3VOL_LOG_DEBUG && strstr (msg, "; try "))
    c->retries++;
  if (c->nall < MAX_MSGS)
    c->all[c->nall++] = strdup (msg);
  pthread_mutex_unlock (&c->lock);
  if (getenv ("TEST_VERBOSE"))
    fprintf (stderr, "log %d: %s\n", (int) level, msg);
}

static void
capture_init (struct capture *c)
{
  memset (c, 0, sizeof *c);
  pthread_mutex_init (&c->lock, NULL);
  c->log.fn = capture_fn;
  c->log.opaque = c;
}

static void
capture_free (struct capture *c)
{
  int i;

  for (i = 0; i < c->nall; i++)
    free (c->all[i]);
  pthread_mutex_destroy (&c->lock);
}

/* No message may contain s. */
static void
assert_never_logged (const struct capture *c, const char *s)
{
  int i;

  for (i = 0; i < c->nall; i++) {
    if (strstr (c->all[i], s)) {
      fprintf (stderr, "secret leaked in: %s\n", c->all[i]);
      fail ();
    }
  }
}

/* ---- helpers ---- */

static char bucket[128];
static char base_url[256];      /* s3://BUCKET/s3errors-PID */
static char *saved_env[16][2];

static const char *const aws_vars[] = {
  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE",
  "AWS_CONFIG_FILE", NULL,
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "Quickly": a failure that neither retries nor waits on a timeout.  The
 * bound is what a loaded 2-core machine needs for a handful of requests
 * to a local server (the tests run next to builds and other tests), and
 * it stays below what it guards against: the connect timeout (10 s), the
 * stall timeout (30 s) and the default schedule of 8 tries (up to 12.7 s
 * of backoff).  How many tries were made is checked exactly, apart from
 * this bound.
 */
#define QUICK_S 8.0

static void
assert_quick (double secs, const char *what)
{
  if (secs >= QUICK_S) {
    fprintf (stderr, "%s took %.2f s (the bound is %.0f s)\n", what, secs,
             QUICK_S);
    fail ();
  }
}

static void
save_env (void)
{
  int i;

  for (i = 0; aws_vars[i]; i++) {
    const char *v = getenv (aws_vars[i]);

    saved_env[i][0] = (char *) aws_vars[i];
    saved_env[i][1] = v ? strdup (v) : NULL;
  }
}

/* Each test starts from the server's settings, with no stray files. */
static int
restore_env (void **state)
{
  int i;

  (void) state;
  for (i = 0; aws_vars[i]; i++) {
    if (saved_env[i][1])
      setenv (aws_vars[i], saved_env[i][1], 1);
    else
      unsetenv (aws_vars[i]);
  }
  setenv ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
  setenv ("AWS_CONFIG_FILE", "/nonexistent/config", 1);
  return 0;
}

/* Open url with cfg's tries and delays; returns the result, with the
 * log in *c and the time taken in *secs.
 */
static int
open_store (const char *url, unsigned attempts, unsigned base_ms,
            struct capture *c, double *secs, struct objstore **out)
{
  struct objstore_config cfg = { .log = &c->log, .attempts = attempts,
                                 .retry_base_ms = base_ms };
  struct objstore *s = NULL;
  double t0 = now ();
  int r;

  r = objstore_open (url, &cfg, &s);
  *secs = now () - t0;
  if (out)
    *out = s;
  else
    objstore_close (s);
  return r;
}

/* A failed open: errno e, exactly one error line containing want, and
 * no retries.
 */
static void
expect_open_fails (const char *url, int e, const char *want)
{
  struct capture c;
  double secs;
  int r;

  capture_init (&c);
  r = open_store (url, 0, 0, &c, &secs, NULL);
  if (r != e || c.n[S3VOL_LOG_ERROR] != 1 ||
      (want && !strstr (c.first_error, want)))
    fprintf (stderr, "%s: got %d (%s), %d errors, first: %s\n", url, r,
             strerror (-r), c.n[S3VOL_LOG_ERROR], c.first_error);
  assert_int_equal (r, e);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 1);
  if (want)
    assert_non_null (strstr (c.first_error, want));
  assert_int_equal (c.retries, 0);
  assert_quick (secs, url);
  capture_free (&c);
}

/* A TCP port on 127.0.0.1 with nothing listening. */
static int
free_port (void)
{
  struct sockaddr_in a = { .sin_family = AF_INET };
  socklen_t len = sizeof a;
  int fd = socket (AF_INET, SOCK_STREAM, 0), port;

  assert_true (fd >= 0);
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  assert_int_equal (bind (fd, (struct sockaddr *) &a, sizeof a), 0);
  assert_int_equal (getsockname (fd, (struct sockaddr *) &a, &len), 0);
  port = ntohs (a.sin_port);
  close (fd);
  return port;
}

/* ---- credentials ---- */

static void
test_wrong_secret (void **state)
{
  struct capture c;
  const char *bad = "wrongsecretwrongsecretwrongsecret0123456";
  const char *real = getenv ("AWS_SECRET_ACCESS_KEY");
  double secs;

  (void) state;
  setenv ("AWS_SECRET_ACCESS_KEY", bad, 1);
  capture_init (&c);
  assert_int_equal (open_store (base_url, 0, 0, &c, &secs, NULL), -EACCES);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 1);
  assert_non_null (strstr (c.first_error, "AWS_SECRET_ACCESS_KEY"));
  assert_non_null (strstr (c.first_error, "access denied"));
  assert_int_equal (c.retries, 0);          /* no retry storm */
  assert_quick (secs, "an open with a wrong secret");
  assert_never_logged (&c, bad);
  if (real)
    assert_never_logged (&c, real);
  capture_free (&c);
}

static void
test_wrong_access_key (void **state)
{
  (void) state;
  setenv ("AWS_ACCESS_KEY_ID", "S3VOLNOSUCHKEY000000", 1);
  expect_open_fails (base_url, -EACCES, "AWS_ACCESS_KEY_ID");
}

static void
test_missing_credentials (void **state)
{
  (void) state;
  unsetenv ("AWS_ACCESS_KEY_ID");
  unsetenv ("AWS_SECRET_ACCESS_KEY");
  expect_open_fails (base_url, -EACCES, "AWS_ACCESS_KEY_ID");
  setenv ("AWS_ACCESS_KEY_ID", "S3VOLNOSUCHKEY000000", 1);
  expect_open_fails (base_url, -EACCES, "AWS_SECRET_ACCESS_KEY is not");
}

/* Keys, region and endpoint from AWS_PROFILE's files, none from the
 * environment.
 */
static void
test_profile_files (void **state)
{
  char dir[] = "/tmp/s3vol-aws-XXXXXX", cred[300], conf[300];
  const char *id = getenv ("AWS_ACCESS_KEY_ID");
  const char *secret = getenv ("AWS_SECRET_ACCESS_KEY");
  const char *endpoint = getenv ("AWS_ENDPOINT_URL");
  struct capture c;
  double secs;
  FILE *f;

  (void) state;
  assert_non_null (mkdtemp (dir));
  snprintf (cred, sizeof cred, "%s/credentials", dir);
  snprintf (conf, sizeof conf, "%s/config", dir);
  f = fopen (cred, "w");
  assert_non_null (f);
  fprintf (f, "# test\n[default]\naws_access_key_id = WRONG\n"
           "aws_secret_access_key = WRONG\n\n[s3voltest]\n"
           "aws_access_key_id = %s\naws_secret_access_key=%s\n", id, secret);
  fclose (f);
  f = fopen (conf, "w");
  assert_non_null (f);
  fprintf (f, "[profile s3voltest]\nregion = us-east-1\ns3 =\n"
           "  addressing_style = path\nendpoint_url = %s\n", endpoint);
  fclose (f);
  setenv ("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
  setenv ("AWS_CONFIG_FILE", conf, 1);
  unsetenv ("AWS_ACCESS_KEY_ID");
  unsetenv ("AWS_SECRET_ACCESS_KEY");
  unsetenv ("AWS_ENDPOINT_URL");
  unsetenv ("AWS_REGION");
  unsetenv ("AWS_DEFAULT_REGION");

  setenv ("AWS_PROFILE", "s3voltest", 1);
  capture_init (&c);
  assert_int_equal (open_store (base_url, 0, 0, &c, &secs, NULL), 0);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 0);
  capture_free (&c);

  /* The default profile's wrong keys: the message names the profile. */
  unsetenv ("AWS_PROFILE");
  setenv ("AWS_ENDPOINT_URL", endpoint, 1);
  expect_open_fails (base_url, -EACCES, "profile default");

  setenv ("AWS_PROFILE", "nosuchprofile", 1);
  expect_open_fails (base_url, -EINVAL, "nosuchprofile");

  unlink (cred);
  unlink (conf);
  rmdir (dir);
}

/* ---- bucket, URL and settings ---- */

static void
test_missing_bucket (void **state)
{
  char url[128];

  (void) state;
  snprintf (url, sizeof url, "s3://s3vol-no-such-bucket-%d/p", getpid ());
  expect_open_fails (url, -ENXIO, "does not exist");
}

static void
test_bad_urls (void **state)
{
  static const char *const bad[] = {
    "s3://", "s3:///prefix", "s3://ab", "s3://Upper", "s3://under_score",
    "s3://-dash", "s3://dots..dots", "s3://dot.", "s3://bucket?x=1",
    "s3://bucket//double", "s3://bucket/a/../b", "s3://bucket/./a",
    "s3://bucket/ctl\x01x", "s3:bucket", "s3:/bucket", "bucket",
    "s4://bucket",
    "s3://a-very-long-bucket-name-that-goes-well-past-sixty-three-characters",
    NULL,
  };
  int i;

  (void) state;
  for (i = 0; bad[i]; i++)
    expect_open_fails (bad[i], -EINVAL, NULL);
}

static void
test_bad_settings (void **state)
{
  static const char *const endpoints[] = {
    "ftp://127.0.0.1:1", "http://", "localhost:9000", "not a url",
    "http://127.0.0.1:1/?q=1", "http://user:pw@127.0.0.1:1", NULL,
  };
  int i;

  (void) state;
  for (i = 0; endpoints[i]; i++) {
    setenv ("AWS_ENDPOINT_URL", endpoints[i], 1);
    expect_open_fails (base_url, -EINVAL, "AWS_ENDPOINT_URL");
  }
  restore_env (NULL);
  setenv ("AWS_ENDPOINT_URL_S3", "gopher://x", 1);
  expect_open_fails (base_url, -EINVAL, "AWS_ENDPOINT_URL_S3");
  restore_env (NULL);
  setenv ("AWS_REGION", "us east:1", 1);
  expect_open_fails (base_url, -EINVAL, "AWS_REGION");
}

/* ---- an unreachable store ---- */

static void
test_unreachable (void **state)
{
  char endpoint[64], want[128];
  struct capture c;
  double secs;

  (void) state;
  snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", free_port ());
  setenv ("AWS_ENDPOINT_URL", endpoint, 1);
  snprintf (want, sizeof want, "store unreachable at %s", endpoint);

  /* Defaults: open tries a few times only, so it fails fast. */
  capture_init (&c);
  assert_int_equal (open_store (base_url, 0, 0, &c, &secs, NULL),
                    -ECONNREFUSED);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 1);
  assert_non_null (strstr (c.first_error, want));
  assert_non_null (strstr (c.first_error, "Connection refused"));
  assert_int_equal (c.retries, 2);          /* open's 3 tries, not 8 */
  assert_quick (secs, "an open of an unreachable store");
  capture_free (&c);

  capture_init (&c);
  assert_int_equal (open_store (base_url, 2, 10, &c, &secs, NULL),
                    -ECONNREFUSED);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 1);
  assert_non_null (strstr (c.first_error, "after 2 tries"));
  assert_int_equal (c.retries, 1);
  assert_quick (secs, "an open of an unreachable store, 2 tries");
  capture_free (&c);
}

/* ---- S3-specific results ---- */

static void
test_ranges_and_results (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore_stat st;
  struct objstore *s;
  struct capture c;
  double secs;

  (void) state;
  capture_init (&c);
  assert_int_equal (open_store (base_url, 0, 0, &c, &secs, &s), 0);
  assert_int_equal (objstore_put (s, "r/ten", "0123456789", 10, 0), 0);
  assert_int_equal (objstore_put (s, "r/empty", "", 0, 0), 0);
  /* RGW answers these with 416: no bytes, success. */
  assert_int_equal (objstore_get (s, "r/ten", 10, 5, &b), 0);
  assert_int_equal (objstore_get (s, "r/ten", 1000, OBJSTORE_TO_END, &b), 0);
  assert_int_equal (objstore_get (s, "r/empty", 0, 5, &b), 0);
  assert_int_equal (objstore_get (s, "r/empty", 3, OBJSTORE_TO_END, &b), 0);
  assert_int_equal (b.len, 0);
  assert_int_equal (objstore_get (s, "r/ten", 8, 100, &b), 0);
  assert_int_equal (b.len, 2);
  assert_memory_equal (b.data, "89", 2);
  assert_int_equal (objstore_head (s, "r/ten", &st), 0);
  assert_int_equal (st.size, 10);
  assert_string_equal (st.etag, "781e5e245d69b566979b86e28d23f2c7");
  assert_true (st.mtime > time (NULL) - 600 && st.mtime < time (NULL) + 600);
  assert_int_equal (objstore_get (s, "r/none", 0, 1, &b), -ENOENT);
  assert_int_equal (objstore_head (s, "r/none", &st), -ENOENT);
  assert_int_equal (objstore_del (s, "r/none"), 0);
  assert_int_equal (objstore_put (s, "r/ten", "x", 1, OBJSTORE_CREATE_ONLY),
                    -EEXIST);
  assert_int_equal (objstore_caps (s), OBJSTORE_CAP_CREATE_ONLY);
  test_clear_prefix (s, "");
  /* Expected results are not errors; the probe cleaned up after itself. */
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 0);
  assert_int_equal (c.n[S3VOL_LOG_WARNING], 0);
  objstore_close (s);
  s3vol_buf_free (&b);
  capture_free (&c);
}

struct race {
  struct objstore *s;
  int wins, losses, others;
  pthread_mutex_t lock;
};

static void
race_one (size_t i, void *opaque)
{
  struct race *r = opaque;
  char body[32];
  int e;

  snprintf (body, sizeof body, "writer %zu", i);
  e = objstore_put (r->s, "race/root", body, strlen (body),
                    OBJSTORE_CREATE_ONLY);
  pthread_mutex_lock (&r->lock);
  if (e == 0)
    r->wins++;
  else if (e == -EEXIST)
    r->losses++;
  else
    r->others++;
  pthread_mutex_unlock (&r->lock);
}

/* Concurrent create-only puts of one key: exactly one wins. */
static void
test_create_only_race (void **state)
{
  struct race r = { .lock = PTHREAD_MUTEX_INITIALIZER };
  struct capture c;
  double secs;
  int round;

  (void) state;
  capture_init (&c);
  assert_int_equal (open_store (base_url, 0, 0, &c, &secs, &r.s), 0);
  for (round = 0; round < 5; round++) {
    r.wins = r.losses = r.others = 0;
    objstore_del (r.s, "race/root");
    test_parallel (16, 16, race_one, &r);
    assert_int_equal (r.wins, 1);
    assert_int_equal (r.losses, 15);
    assert_int_equal (r.others, 0);
  }
  objstore_del (r.s, "race/root");
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 0);
  objstore_close (r.s);
  capture_free (&c);
}

/* ---- the server stops mid-run ---- */

/* Run scripts/s3-server VERB (the tests run from the repository root,
 * with the environment that names the server).
 */
static int
server (const char *verb)
{
  char cmd[64];

  snprintf (cmd, sizeof cmd, "scripts/s3-server %s >&2", verb);
  return system (cmd);
}

/* Stop radosgw, keeping the cluster: the store is down. */
static void
pause_server (void)
{
  if (access ("scripts/s3-server", X_OK) != 0) {
    fprintf (stderr, "SKIP: no scripts/s3-server here (run from the "
             "repository root)\n");
    skip ();
  }
  assert_int_equal (server ("pause"), 0);
}

static int
resume_server (void **state)
{
  (void) state;
  if (server ("status") != 0 && server ("resume") != 0)
    fprintf (stderr, "warning: could not resume the S3 server\n");
  return restore_env (NULL);
}

struct getter {
  struct objstore *s;
  struct s3vol_buf b;
  int r;
};

static void *
get_thread (void *opaque)
{
  struct getter *g = opaque;

  g->r = objstore_get (g->s, "pause/obj", 0, OBJSTORE_TO_END, &g->b);
  return NULL;
}

/* Pause the server, start a get, resume once the get has failed and is
 * waiting to try again: the get is retried until it succeeds, and
 * nothing is logged as an error.
 */
static void
test_server_paused_then_back (void **state)
{
  struct getter g = { .b = S3VOL_BUF_INIT };
  unsigned char data[100000];
  struct capture c;
  pthread_t tid;
  double secs, t0;

  (void) state;
  capture_init (&c);
  /* 150 tries, backoff capped at 3 s: the get keeps trying for several
   * minutes, longer than radosgw takes to come back on a loaded machine
   * (60 s seen with other test suites running beside this one).
   */
  assert_int_equal (open_store (base_url, 150, 100, &c, &secs, &g.s), 0);
  test_fill (data, sizeof data, 42);
  assert_int_equal (objstore_put (g.s, "pause/obj", data, sizeof data, 0), 0);
  pause_server ();
  t0 = now ();
  assert_int_equal (pthread_create (&tid, NULL, get_thread, &g), 0);
  /* Resume only after a try has failed (a retry is announced): resuming
   * on a timer could let the first try reach the server.
   */
  for (;;) {
    int retries;

    pthread_mutex_lock (&c.lock);
    retries = c.retries;
    pthread_mutex_unlock (&c.lock);
    if (retries >= 1)
      break;
    if (now () - t0 > 60) {
      fprintf (stderr, "the get made no retry in 60 s with the server "
               "paused\n");
      fail ();
    }
    usleep (20000);
  }
  assert_int_equal (server ("resume"), 0);
  pthread_join (tid, NULL);
  fprintf (stderr, "get completed %.1f s after the pause, %d retries\n",
           now () - t0, c.retries);
  assert_int_equal (g.r, 0);
  assert_int_equal (g.b.len, sizeof data);
  assert_memory_equal (g.b.data, data, sizeof data);
  assert_true (c.retries >= 1);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 0);
  assert_never_logged (&c, getenv ("AWS_SECRET_ACCESS_KEY"));
  assert_int_equal (objstore_del (g.s, "pause/obj"), 0);
  objstore_close (g.s);
  s3vol_buf_free (&g.b);
  capture_free (&c);
}

/* The server stays down: a few quick tries, then one clear line. */
static void
test_server_stays_down (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore *s;
  struct capture c;
  double secs, t0;
  char want[128];

  (void) state;
  capture_init (&c);
  assert_int_equal (open_store (base_url, 4, 50, &c, &secs, &s), 0);
  pause_server ();
  t0 = now ();
  assert_int_equal (objstore_get (s, "pause/none", 0, OBJSTORE_TO_END, &b),
                    -ECONNREFUSED);
  secs = now () - t0;
  snprintf (want, sizeof want, "GET pause/none: store unreachable at %s "
            "after 4 tries: Connection refused", getenv ("AWS_ENDPOINT_URL"));
  fprintf (stderr, "error line: %s\n", c.first_error);
  assert_int_equal (c.n[S3VOL_LOG_ERROR], 1);
  assert_non_null (strstr (c.first_error, want));
  assert_int_equal (c.retries, 3);
  assert_quick (secs, "a get with the server down, 4 tries");
  assert_int_equal (b.len, 0);
  objstore_close (s);
  capture_free (&c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown (test_wrong_secret, restore_env),
    cmocka_unit_test_teardown (test_wrong_access_key, restore_env),
    cmocka_unit_test_teardown (test_missing_credentials, restore_env),
    cmocka_unit_test_teardown (test_profile_files, restore_env),
    cmocka_unit_test_teardown (test_missing_bucket, restore_env),
    cmocka_unit_test_teardown (test_bad_urls, restore_env),
    cmocka_unit_test_teardown (test_bad_settings, restore_env),
    cmocka_unit_test_teardown (test_unreachable, restore_env),
    cmocka_unit_test_teardown (test_ranges_and_results, restore_env),
    cmocka_unit_test_teardown (test_create_only_race, restore_env),
    cmocka_unit_test_teardown (test_server_paused_then_back, resume_server),
    cmocka_unit_test_teardown (test_server_stays_down, resume_server),
  };

  test_require_s3 ();
  snprintf (bucket, sizeof bucket, "%s", getenv ("S3VOL_TEST_BUCKET"));
  snprintf (base_url, sizeof base_url, "s3://%s/s3errors-%d", bucket,
            (int) getpid ());
  save_env ();
  restore_env (NULL);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
