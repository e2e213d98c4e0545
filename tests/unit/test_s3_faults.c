/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol unit tests: the S3 backend meets failures on the wire.
 *
 * tests/support/s3proxy.py sits between the backend and the test S3
 * server and injects faults when told to: 5xx and SlowDown replies,
 * connection resets before and after the server acted, replies cut
 * short, stalls past the timeout, 409 and 412 on conditional puts, and a
 * store that ignores If-None-Match.  Each test checks what a caller of
 * the objstore sees: the result and the bytes, one error line for a
 * failure and a debug line for each retry, the requests the proxy saw,
 * and the time taken.  Skips (exit 77) without the S3 environment; runs
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

#define OBJ_LEN 100000

static char base_url[256];      /* s3://BUCKET/s3faults-PID */
static unsigned char obj[OBJ_LEN], other[OBJ_LEN];

/* ---- the proxy ---- */

/* Lines of the proxy's log (a line a request, then a line a rule) that
 * contain a and, unless NULL, b.
 */
static int
seen (const char *a, const char *b)
{
  struct s3vol_buf log = S3VOL_BUF_INIT;
  char *line, *save;
  int n = 0;

  proxy_ctl ("log", NULL, &log);
  for (line = strtok_r ((char *) log.data, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save))
    if (strstr (line, a) && (b == NULL || strstr (line, b)))
      n++;
  s3vol_buf_free (&log);
  return n;
}

/* ---- stores through the proxy ---- */

static struct test_log tl;

/* A store through the proxy, with fast retries; the log counts start
 * after the open, and the proxy has no rules.
 */
static void
expect_content (struct objstore *s, const char *key, const void *data)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;

  assert_int_equal (objstore_get (s, key, 0, OBJSTORE_TO_END, &b), 0);
  assert_int_equal (b.len, OBJ_LEN);
  assert_memory_equal (b.data, data, OBJ_LEN);
  s3vol_buf_free (&b);
}

/* ---- the operations, each as a caller sees it ---- */

static int
run_get (struct objstore *s)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  int r = objstore_get (s, "ops/obj", 0, OBJSTORE_TO_END, &b);

  if (r == 0) {
    assert_int_equal (b.len, OBJ_LEN);
    assert_memory_equal (b.data, other, OBJ_LEN);
  }
  else
    assert_int_equal (b.len, 0);
  s3vol_buf_free (&b);
  return r;
}

static int
run_put (struct objstore *s)
{
  int r = objstore_put (s, "ops/obj", obj, OBJ_LEN, 0);

  if (r == 0)
    expect_content (s, "ops/obj", obj);
  return r;
}

static int
run_create (struct objstore *s)
{
  int r = objstore_put (s, "ops/new", obj, OBJ_LEN, OBJSTORE_CREATE_ONLY);

  if (r == 0)
    expect_content (s, "ops/new", obj);
  return r;
}

static int
run_head (struct objstore *s)
{
  struct objstore_stat st;
  int r = objstore_head (s, "ops/obj", &st);

  if (r == 0)
    assert_int_equal (st.size, OBJ_LEN);
  return r;
}

static int
count_key (void *opaque, const struct objstore_entry *e)
{
  if (strcmp (e->key, "ops/obj") == 0 && e->st.size == OBJ_LEN)
    ++*(int *) opaque;
  return 0;
}

static int
run_list (struct objstore *s)
{
  int found = 0, r = objstore_list (s, "ops/", NULL, count_key, &found);

  if (r == 0)
    assert_int_equal (found, 1);
  return r;
}

static int
run_del (struct objstore *s)
{
  struct objstore_stat st;
  int r = objstore_del (s, "ops/gone1");

  if (r == 0)
    assert_int_equal (objstore_head (s, "ops/gone1", &st), -ENOENT);
  return r;
}

static int
run_del_many (struct objstore *s)
{
  static const char *const keys[] = { "ops/gone1", "ops/gone2" };
  struct objstore_stat st;
  int r = objstore_del_many (s, keys, 2);

  if (r == 0) {
    assert_int_equal (objstore_head (s, keys[0], &st), -ENOENT);
    assert_int_equal (objstore_head (s, keys[1], &st), -ENOENT);
  }
  return r;
}

/* Start a case: no rules, the log counts at zero, and in the store
 * what each operation expects: ops/obj holds other bytes, ops/gone1 and
 * ops/gone2 exist, and ops/new is missing (or, if taken, holds other
 * bytes).
 */
static void
fresh_case (struct objstore *s, bool taken)
{
  proxy_clear ();
  assert_int_equal (objstore_put (s, "ops/obj", other, OBJ_LEN, 0), 0);
  if (taken)
    assert_int_equal (objstore_put (s, "ops/new", other, OBJ_LEN, 0), 0);
  else
    assert_int_equal (objstore_del (s, "ops/new"), 0);
  assert_int_equal (objstore_put (s, "ops/gone1", "1", 1, 0), 0);
  assert_int_equal (objstore_put (s, "ops/gone2", "2", 1, 0), 0);
  proxy_clear ();
  test_log_init (&tl);
}

struct op {
  const char *name;             /* ours */
  const char *match;            /* the proxy's rule fields for it */
  int (*run) (struct objstore *s);
};

static const struct op ops[] = {
  { "GET", "\"op\": \"GET\"", run_get },
  { "PUT", "\"op\": \"PUT\"", run_put },
  { "CREATE", "\"op\": \"PUT\", \"conditional\": true", run_create },
  { "HEAD", "\"op\": \"HEAD\"", run_head },
  { "LIST", "\"op\": \"LIST\"", run_list },
  { "DELETE", "\"op\": \"DELETE\"", run_del },
  { "DELETE-MANY", "\"op\": \"DELETE-MANY\"", run_del_many },
};

static const struct op *
op_named (const char *name)
{
  size_t i;

  for (i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp (ops[i].name, name) == 0)
      return &ops[i];
  fail_msg ("no op %s", name);
  return NULL;
}

/* Arm what (rule fields) for op, count times, and run op: returns its
 * result, with the time taken in *secs.
 */
static int
run_faulty (struct objstore *s, const struct op *op, const char *what,
            int count, double *secs)
{
  double t0;
  int r;

  fresh_case (s, false);
  proxy_fault ("{%s, %s, \"count\": %d}", what, op->match, count);
  t0 = test_now ();
  r = op->run (s);
  *secs = test_now () - t0;
  fprintf (stderr, "%-11s {%s} x%d: %s, %d retries, %d resent by curl, "
           "%d errors, %.2f s\n", op->name, what, count,
           r ? strerror (-r) : "ok", tl.retries, tl.resends, tl.errors,
           *secs);
  return r;
}

/* ---- (a) transient failures are ridden out ---- */

struct transient_fault {
  const char *what;
  const char *only;             /* the ops it applies to, or NULL: all */
};

static const struct transient_fault transient_faults[] = {
  { "\"action\": \"error\", \"status\": 500", NULL },
  { "\"action\": \"error\", \"status\": 502", NULL },
  { "\"action\": \"error\", \"status\": 503", NULL },
  { "\"action\": \"error\", \"status\": 503, \"code\": \"SlowDown\"", NULL },
  { "\"action\": \"error\", \"status\": 504", NULL },
  /* Only requests with a body time out that way (and HEAD has no body
   * to carry the code).
   */
  { "\"action\": \"error\", \"status\": 400, \"code\": \"RequestTimeout\"",
    " PUT CREATE DELETE-MANY " },
  { "\"action\": \"reset\"", NULL },
  { "\"action\": \"lost-reply\"", NULL },
  { "\"action\": \"cut\"", " GET LIST DELETE-MANY " },
};

/* Every operation, every transient fault, twice in a row: the operation
 * succeeds, with its bytes, no error, both faults used up, and a debug
 * line for each: a retry, or curl's own second send (when a reused
 * connection dies before any reply, curl sends the request again on a
 * new one by itself).
 */
static void
test_transient (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 8, 0);
  char name[32];
  double secs;
  size_t i, j;

  (void) state;
  for (i = 0; i < sizeof ops / sizeof ops[0]; i++) {
    for (j = 0; j < sizeof transient_faults / sizeof transient_faults[0];
         j++) {
      const struct transient_fault *f = &transient_faults[j];

      snprintf (name, sizeof name, " %s ", ops[i].name);
      if (f->only && !strstr (f->only, name))
        continue;
      assert_int_equal (run_faulty (s, &ops[i], f->what, 2, &secs), 0);
      assert_int_equal (tl.retries + tl.resends, 2);
      assert_int_equal (tl.errors, 0);
      assert_int_equal (seen ("rule ", "left 0"), 1);
      assert_true (secs < 5.0);
    }
  }
  proxy_close_store (s);
}

/* The default schedule (8 tries, backoff from 100 ms, full jitter):
 * three SlowDowns cost well under a second of waiting.
 */
static void
test_default_backoff (void **state)
{
  struct objstore_config cfg = { .log = &tl.log };
  struct objstore *s = NULL;
  double secs;

  (void) state;
  test_log_init (&tl);
  assert_int_equal (objstore_open (base_url, &cfg, &s), 0);
  test_log_init (&tl);
  assert_int_equal (run_faulty (s, op_named ("GET"), "\"action\": "
                                "\"error\", \"status\": 503, \"code\": "
                                "\"SlowDown\"", 3, &secs), 0);
  assert_int_equal (tl.retries, 3);
  assert_int_equal (tl.errors, 0);
  assert_true (secs < 3.0);
  proxy_close_store (s);
}

/* A failure that lasts: every try is made, then one error line says
 * what happened, how often, and with what.
 */
static void
test_persistent (void **state)
{
  static const struct {
    const char *op, *what;
    int e;
    const char *want;
  } cases[] = {
    { "GET", "\"action\": \"error\", \"status\": 503, \"code\": "
      "\"SlowDown\"", -EIO, "GET ops/obj: store error 503 SlowDown after 4 "
      "tries: injected by s3proxy" },
    { "HEAD", "\"action\": \"error\", \"status\": 500", -EIO,
      "HEAD ops/obj: store error 500 after 4 tries" },
    { "PUT", "\"action\": \"reset\"", -EIO, "PUT ops/obj: transfer with " },
    { "LIST", "\"action\": \"cut\"", -EIO, "list: transfer with " },
  };
  struct objstore *s = proxy_open_store (base_url, &tl, 4, 0);
  double secs;
  size_t i;

  (void) state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    assert_int_equal (run_faulty (s, op_named (cases[i].op), cases[i].what,
                                  -1, &secs), cases[i].e);
    fprintf (stderr, "  error line: %s\n", tl.last_error);
    assert_int_equal (tl.errors, 1);
    assert_non_null (strstr (tl.last_error, cases[i].want));
    assert_non_null (strstr (tl.last_error, "after 4 tries"));
    assert_int_equal (tl.retries, 3);
    assert_int_equal (seen ("rule ", "applied 4 "), 1);
    assert_true (secs < 5.0);
  }
  proxy_close_store (s);
}

/* ---- (b) stalls past the timeout ---- */

static void
test_stall (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 3, 2);
  double secs;

  (void) state;
  /* Once: abandoned after the timeout, then retried. */
  assert_int_equal (run_faulty (s, op_named ("GET"), "\"action\": "
                                "\"stall\"", 1, &secs), 0);
  assert_true (tl.retries >= 1);
  assert_int_equal (tl.errors, 0);
  assert_true (secs >= 1.5 && secs < 10.0);
  assert_int_equal (run_faulty (s, op_named ("PUT"), "\"action\": "
                                "\"stall\"", 1, &secs), 0);
  assert_true (tl.retries >= 1);
  assert_int_equal (tl.errors, 0);

  /* For good: every try times out, and one line says so. */
  assert_int_equal (run_faulty (s, op_named ("GET"), "\"action\": "
                                "\"stall\"", -1, &secs), -ETIMEDOUT);
  fprintf (stderr, "  error line: %s\n", tl.last_error);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "GET ops/obj: "));
  assert_non_null (strstr (tl.last_error, "after 3 tries"));
  assert_int_equal (tl.retries, 2);
  assert_int_equal (seen ("GET ", "ops/obj -> stalled"), 3);
  assert_true (secs >= 4.5 && secs < 20.0);
  proxy_close_store (s);
}

/* ---- (c) create-only puts whose reply was lost, 409, 412 ---- */

static void
test_lost_reply_create (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 8, 0);
  const struct op *create = op_named ("CREATE");
  double secs;

  (void) state;
  /* The put landed, the reply did not: the retry's 412 is our own
   * object (same bytes), so the put succeeded.
   */
  assert_int_equal (run_faulty (s, create, "\"action\": \"lost-reply\"", 1,
                                &secs), 0);
  assert_int_equal (tl.retries, 1);
  assert_int_equal (tl.errors, 0);
  assert_int_equal (seen ("ops/new (if-none-match)",
                          "forwarded (200), then reset"), 1);
  assert_int_equal (seen ("ops/new (if-none-match)", "-> 412"), 1);

  /* The same through a server that does not answer "Expect:
   * 100-continue" (curl sends the body after a second): curl itself
   * sends the put again on a new connection when a reused one dies
   * before any reply, so the 412 comes on what s3vol counts as its
   * first try (regression: that was taken for a conflict).
   */
  fresh_case (s, false);
  proxy_fault ("{\"action\": \"no-continue\", %s, \"count\": 2}",
               create->match);
  proxy_fault ("{\"action\": \"lost-reply\", %s}", create->match);
  assert_int_equal (create->run (s), 0);
  assert_int_equal (tl.errors, 0);
  assert_int_equal (tl.retries, 0);
  assert_int_equal (tl.resends, 1);
  assert_int_equal (seen ("ops/new (if-none-match)", "-> 412"), 1);

  /* Another writer's object is there: the retried put lost, and the
   * object is untouched.
   */
  fresh_case (s, true);
  proxy_fault ("{\"action\": \"lost-reply\", %s}", create->match);
  assert_int_equal (create->run (s), -EEXIST);
  assert_int_equal (tl.retries, 1);
  assert_int_equal (tl.errors, 0);
  expect_content (s, "ops/new", other);
  proxy_close_store (s);
}

/* After a lost reply and a 412, the store cannot say whose object it
 * holds: that is a store failure, not a conflict (regression: it was
 * -EEXIST, and a commit reported a conflict with its own version).
 */
static void
test_lost_reply_unknown_owner (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 3, 0);
  const struct op *create = op_named ("CREATE");

  (void) state;
  fresh_case (s, false);
  proxy_fault ("{\"action\": \"lost-reply\", %s}", create->match);
  proxy_fault ("{\"action\": \"error\", \"status\": 503, \"op\": \"HEAD\", "
               "\"key\": \"ops/new\", \"count\": -1}");
  assert_int_equal (create->run (s), -EIO);
  fprintf (stderr, "  error line: %s\n", tl.last_error);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "HEAD ops/new: store error 503"));
  proxy_clear ();
  expect_content (s, "ops/new", obj);
  proxy_close_store (s);
}

static void
test_conditional_statuses (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 5, 0);
  const struct op *create = op_named ("CREATE");
  const char *aborted = "\"action\": \"error\", \"status\": 409, "
    "\"code\": \"OperationAborted\"";
  double secs;

  (void) state;
  /* 409 while another conditional write is in flight: retried until
   * the store decides; a fresh key is then ours...
   */
  assert_int_equal (run_faulty (s, create, aborted, 2, &secs), 0);
  assert_int_equal (tl.retries, 2);
  assert_int_equal (tl.errors, 0);
  assert_int_equal (run_faulty (s, create, "\"action\": \"error\", "
                                "\"status\": 409, \"code\": "
                                "\"ConditionalRequestConflict\"", 1, &secs),
                    0);
  assert_int_equal (tl.retries, 1);

  /* ... and a taken one resolves to 412: -EEXIST, silently. */
  fresh_case (s, true);
  proxy_fault ("{%s, %s, \"count\": 2}", aborted, create->match);
  assert_int_equal (create->run (s), -EEXIST);
  assert_int_equal (tl.retries, 2);
  assert_int_equal (tl.errors, 0);
  expect_content (s, "ops/new", other);

  /* A 409 that never resolves is a store failure. */
  assert_int_equal (run_faulty (s, create, aborted, -1, &secs), -EIO);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "store error 409 "
                           "OperationAborted after 5 tries"));

  /* A plain 412 on the only send: -EEXIST at once, nothing logged, no
   * look at the object (no earlier send can have written it).
   */
  assert_int_equal (run_faulty (s, create, "\"action\": \"error\", "
                                "\"status\": 412", 1, &secs), -EEXIST);
  assert_int_equal (tl.retries, 0);
  assert_int_equal (tl.errors, 0);
  assert_int_equal (seen ("HEAD ", NULL), 0);
  proxy_close_store (s);
}

/* ---- (d) the conditional-create probe ---- */

/* A store that ignores If-None-Match: one warning, the answer is
 * remembered, and create-only puts are last-write-wins.
 */
static void
test_ignores_if_none_match (void **state)
{
  struct objstore *s = proxy_open_store (base_url, &tl, 8, 0);

  (void) state;
  proxy_fault ("{\"action\": \"strip-inm\", \"count\": -1}");
  assert_int_equal (objstore_caps (s), 0);
  fprintf (stderr, "  warning: %s\n", tl.last_warning);
  assert_int_equal (tl.warnings, 1);
  assert_int_equal (tl.errors, 0);
  assert_non_null (strstr (tl.last_warning, "If-None-Match"));
  assert_non_null (strstr (tl.last_warning, "last-write-wins"));
  assert_int_equal (seen (".probe/", "If-None-Match stripped"), 2);
  assert_int_equal (objstore_caps (s), 0);
  assert_int_equal (seen (".probe/", NULL), 3);   /* not probed again */
  assert_int_equal (tl.warnings, 1);

  assert_int_equal (objstore_put (s, "lww", obj, OBJ_LEN,
                                  OBJSTORE_CREATE_ONLY), 0);
  assert_int_equal (objstore_put (s, "lww", other, OBJ_LEN,
                                  OBJSTORE_CREATE_ONLY), 0);
  expect_content (s, "lww", other);
  objstore_close (s);

  /* The same store without the proxy's meddling honours it. */
  s = proxy_open_store (base_url, &tl, 8, 0);
  assert_int_equal (objstore_caps (s), OBJSTORE_CAP_CREATE_ONLY);
  assert_int_equal (objstore_put (s, "lww", obj, OBJ_LEN,
                                  OBJSTORE_CREATE_ONLY), -EEXIST);
  assert_int_equal (tl.warnings, 0);
  proxy_close_store (s);
}

/* The probe meets failures.  A store that honours If-None-Match but
 * fails while probed is not taken for one that ignores it (regression:
 * a store overloaded for the probe's puts was, for good): nothing is
 * remembered, and the next call probes again.  One transient failure of
 * the second put, whose retry meets the first put's object, changes
 * nothing (regression: both puts wrote the same bytes, so the retry
 * took the object for its own, and the store for one that ignores
 * If-None-Match).
 */
static void
test_probe_faults (void **state)
{
  static const struct {
    const char *what;
    unsigned caps;              /* the first call's answer */
    int errors;
  } cases[] = {
    { "\"action\": \"error\", \"status\": 503, \"code\": \"SlowDown\", "
      "\"count\": -1", 0, 1 },
    { "\"action\": \"reset\", \"count\": -1", 0, 1 },
    { "\"action\": \"error\", \"status\": 500, \"after\": 1",
      OBJSTORE_CAP_CREATE_ONLY, 0 },
    { "\"action\": \"reset\", \"after\": 1", OBJSTORE_CAP_CREATE_ONLY, 0 },
    { "\"action\": \"lost-reply\", \"after\": 1", OBJSTORE_CAP_CREATE_ONLY,
      0 },
  };
  struct objstore *s;
  size_t i;

  (void) state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    s = proxy_open_store (base_url, &tl, 3, 0);
    proxy_fault ("{%s, \"op\": \"PUT\", \"key\": \"^[^/]*/\\\\.probe/\"}",
                 cases[i].what);
    assert_int_equal (objstore_caps (s), cases[i].caps);
    fprintf (stderr, "{%s}: caps %u, %d errors, %d warnings %s\n",
             cases[i].what, cases[i].caps, tl.errors, tl.warnings,
             tl.last_warning);
    assert_int_equal (tl.warnings, 0);
    assert_int_equal (tl.errors, cases[i].errors);
    proxy_clear ();
    assert_int_equal (objstore_caps (s), OBJSTORE_CAP_CREATE_ONLY);
    assert_int_equal (seen ("PUT ", ".probe/"), cases[i].caps ? 0 : 2);
    assert_int_equal (tl.warnings, 0);
    objstore_close (s);
  }
}

/* ---- (e) what is not retried ---- */

static void
test_not_retried (void **state)
{
  static const struct {
    const char *op;
    int status;
    const char *code;
    int e;
    const char *want;           /* in the one error line; NULL: none */
  } cases[] = {
    { "GET", 403, "AccessDenied", -EACCES, "GET ops/obj: access denied "
      "(AccessDenied)" },
    { "PUT", 403, "AccessDenied", -EACCES, "PUT ops/obj: access denied" },
    { "DELETE", 403, "AccessDenied", -EACCES, "DELETE ops/gone1: access "
      "denied" },
    { "LIST", 404, "NoSuchBucket", -ENXIO, "does not exist" },
    { "GET", 404, "NoSuchBucket", -ENXIO, "does not exist" },
    { "GET", 404, "NoSuchKey", -ENOENT, NULL },
    { "PUT", 400, "InvalidArgument", -EIO, "PUT ops/obj: store error 400 "
      "InvalidArgument: injected by s3proxy" },
    { "HEAD", 501, "NotImplemented", -EIO, "HEAD ops/obj: store error 501" },
  };
  struct objstore *s = proxy_open_store (base_url, &tl, 8, 0);
  char what[128];
  double secs;
  size_t i;

  (void) state;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf (what, sizeof what, "\"action\": \"error\", \"status\": %d, "
              "\"code\": \"%s\"", cases[i].status, cases[i].code);
    assert_int_equal (run_faulty (s, op_named (cases[i].op), what, -1,
                                  &secs), cases[i].e);
    assert_int_equal (tl.retries, 0);
    assert_int_equal (seen ("rule ", "applied 1 "), 1);
    assert_int_equal (tl.errors, cases[i].want ? 1 : 0);
    if (cases[i].want)
      assert_non_null (strstr (tl.last_error, cases[i].want));
    assert_true (secs < 1.0);
  }
  proxy_close_store (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_transient),
    cmocka_unit_test (test_default_backoff),
    cmocka_unit_test (test_persistent),
    cmocka_unit_test (test_stall),
    cmocka_unit_test (test_lost_reply_create),
    cmocka_unit_test (test_lost_reply_unknown_owner),
    cmocka_unit_test (test_conditional_statuses),
    cmocka_unit_test (test_ignores_if_none_match),
    cmocka_unit_test (test_probe_faults),
    cmocka_unit_test (test_not_retried),
  };
  int r;

  test_require_s3 ();
  snprintf (base_url, sizeof base_url, "s3://%s/s3faults-%d",
            getenv ("S3VOL_TEST_BUCKET"), (int) getpid ());
  test_fill (obj, sizeof obj, 1);
  test_fill (other, sizeof other, 2);
  curl_global_init (CURL_GLOBAL_ALL);
  proxy_start ();
  r = cmocka_run_group_tests (tests, NULL, NULL);
  proxy_stop ();
  return r;
}
