/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol unit tests: the S3 backend touches nothing outside its prefix.
 *
 * An independent S3 client (libs3, SigV2, which RGW accepts) seeds the
 * test bucket with objects around the prefix "T-pfx": at the bucket root,
 * in sibling prefixes that share its first bytes ("T-pfx2/", "T-pfx-x/",
 * "T-pfx.x"), keys sorting just before and after "T-pfx/", and "T-pfx"
 * itself as a key.  Then s3vol works on s3://BUCKET/T-pfx: puts,
 * create-only puts, deletes, more than a page of keys, listing, the caps
 * probe, and del_many of everything it listed.  Finally libs3 checks
 * from outside that every seeded object is still there byte for byte and
 * that nothing is left under "T-pfx/".
 *
 * Skips (exit 77) without AWS_ENDPOINT_URL and S3VOL_TEST_BUCKET.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libs3.h>

#include "testutil.h"

#define MANY 2500               /* more than two list pages */

static char tag[64];            /* "s3o-PID": this run's key space */
static S3BucketContext bucket;

/* Seeded objects: name suffix after the tag, and size. */
static const struct seed {
  const char *name;
  size_t size;
} seeds[] = {
  { "-root", 100 },             /* at the bucket root */
  { "-pfx", 2000 },             /* the prefix itself, as a key */
  { "-pfx2/c", 300 },
  { "-pfx-sibling/b", 400 },
  { "-pfx.x", 500 },            /* '.' sorts just before '/' */
  { "-pfx!bang", 600 },
  { "-pfx0", 700 },             /* '0' sorts just after '/' */
  { "-pfw/z", 800 },
  { "-pfy", 900 },
  { "-other/a", 250000 },
};
#define NSEEDS (sizeof seeds / sizeof seeds[0])

/* ---- a small blocking libs3 client ---- */

struct call {
  S3Status status;
  const unsigned char *put;     /* upload source */
  size_t put_len, put_pos;
  struct s3vol_buf get;         /* download sink */
  char **keys;                  /* listing */
  size_t nkeys;
  char marker[1100];
  int truncated;
};

static S3Status
props_cb (const S3ResponseProperties *p, void *opaque)
{
  (void) p; (void) opaque;
  return S3StatusOK;
}

static void
done_cb (S3Status status, const S3ErrorDetails *err, void *opaque)
{
  struct call *c = opaque;

  c->status = status;
  if (status != S3StatusOK && err && err->message)
    fprintf (stderr, "libs3: %s: %s\n", S3_get_status_name (status),
             err->message);
}

static const S3ResponseHandler response = { props_cb, done_cb };

static int
put_cb (int size, char *buf, void *opaque)
{
  struct call *c = opaque;
  size_t n = c->put_len - c->put_pos;

  if (n > (size_t) size)
    n = size;
  memcpy (buf, c->put + c->put_pos, n);
  c->put_pos += n;
  return (int) n;
}

static S3Status
get_cb (int size, const char *buf, void *opaque)
{
  struct call *c = opaque;

  return s3vol_buf_append (&c->get, buf, size) == 0 ? S3StatusOK
                                                    : S3StatusAbortedByCallback;
}

static S3Status
list_cb (int truncated, const char *next, int n,
         const S3ListBucketContent *contents, int nprefixes,
         const char **prefixes, void *opaque)
{
  struct call *c = opaque;
  int i;

  (void) next; (void) nprefixes; (void) prefixes;
  c->truncated = truncated;
  c->keys = realloc (c->keys, (c->nkeys + n + 1) * sizeof *c->keys);
  assert_non_null (c->keys);
  for (i = 0; i < n; i++) {
    c->keys[c->nkeys++] = strdup (contents[i].key);
    snprintf (c->marker, sizeof c->marker, "%s", contents[i].key);
  }
  return S3StatusOK;
}

static void
outside_put (const char *key, const void *data, size_t len)
{
  S3PutObjectHandler h = { response, put_cb };
  struct call c = { .put = data, .put_len = len };

  S3_put_object (&bucket, key, len, NULL, NULL, &h, &c);
  assert_int_equal (c.status, S3StatusOK);
}

/* The object's bytes into *out; returns the libs3 status. */
static S3Status
outside_get (const char *key, struct s3vol_buf *out)
{
  S3GetObjectHandler h = { response, get_cb };
  struct call c = { .get = S3VOL_BUF_INIT };

  S3_get_object (&bucket, key, NULL, 0, 0, NULL, &h, &c);
  *out = c.get;
  return c.status;
}

static void
outside_del (const char *key)
{
  struct call c = { 0 };

  S3_delete_object (&bucket, key, NULL, &response, &c);
  assert_int_equal (c.status, S3StatusOK);
}

/* Every key starting with prefix, all pages; returns the count and the
 * keys in *keys (free each and the array).
 */
static size_t
outside_list (const char *prefix, char ***keys)
{
  S3ListBucketHandler h = { response, list_cb };
  struct call c = { 0 };

  do {
    c.truncated = 0;
    S3_list_bucket (&bucket, prefix, c.nkeys ? c.marker : NULL, NULL, 0,
                    NULL, &h, &c);
    assert_int_equal (c.status, S3StatusOK);
  } while (c.truncated);
  *keys = c.keys;
  return c.nkeys;
}

static void
free_keys (char **keys, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    free (keys[i]);
  free (keys);
}

/* ---- the test ---- */

static void
seed_key (size_t i, char *key, size_t n)
{
  snprintf (key, n, "%s%s", tag, seeds[i].name);
}

struct run {
  struct objstore *s;
  char **listed;
  size_t nlisted;
};

static void
put_many (size_t i, void *opaque)
{
  struct run *r = opaque;
  char key[64];

  snprintf (key, sizeof key, "many/%05zu", i);
  assert_int_equal (objstore_put (r->s, key, key, strlen (key), 0), 0);
}

static int
collect (void *opaque, const struct objstore_entry *e)
{
  struct run *r = opaque;

  r->listed = realloc (r->listed, (r->nlisted + 1) * sizeof *r->listed);
  assert_non_null (r->listed);
  r->listed[r->nlisted++] = strdup (e->key);
  return 0;
}

static void
test_stays_inside (void **state)
{
  struct test_log tl;
  struct objstore_config cfg = { .log = &tl.log };
  struct run r = { 0 };
  struct s3vol_buf b = S3VOL_BUF_INIT;
  char url[256], key[128], pfx[80], **keys;
  unsigned char *data;
  size_t i, n;

  (void) state;
  /* Seed from outside. */
  for (i = 0; i < NSEEDS; i++) {
    data = malloc (seeds[i].size);
    test_fill (data, seeds[i].size, i + 1);
    seed_key (i, key, sizeof key);
    outside_put (key, data, seeds[i].size);
    free (data);
  }

  /* Work through s3vol. */
  test_log_init (&tl);
  snprintf (url, sizeof url, "s3://%s/%s-pfx", bucket.bucketName, tag);
  assert_int_equal (objstore_open (url, &cfg, &r.s), 0);
  assert_int_equal (objstore_caps (r.s), OBJSTORE_CAP_CREATE_ONLY);
  assert_int_equal (objstore_put (r.s, "a", "A", 1, 0), 0);
  assert_int_equal (objstore_put (r.s, "pfx", "P", 1, 0), 0);
  assert_int_equal (objstore_put (r.s, "b/c", "BC", 2, 0), 0);
  assert_int_equal (objstore_put (r.s, "sp ace+plus%pct", "S", 1, 0), 0);
  assert_int_equal (objstore_put (r.s, "root/1", "R", 1,
                                  OBJSTORE_CREATE_ONLY), 0);
  assert_int_equal (objstore_put (r.s, "root/1", "X", 1,
                                  OBJSTORE_CREATE_ONLY), -EEXIST);
  assert_int_equal (objstore_del (r.s, "a"), 0);
  assert_int_equal (objstore_del (r.s, "a"), 0);
  test_parallel (8, MANY, put_many, &r);
  assert_int_equal (objstore_get (r.s, "root/1", 0, OBJSTORE_TO_END, &b), 0);
  assert_int_equal (b.len, 1);
  assert_memory_equal (b.data, "R", 1);
  s3vol_buf_free (&b);

  assert_int_equal (objstore_list (r.s, "", NULL, collect, &r), 0);
  assert_int_equal (r.nlisted, MANY + 4);
  for (i = 0; i < r.nlisted; i++)
    assert_int_equal (objstore_check_key (r.listed[i]), 0);
  assert_int_equal (objstore_del_many (r.s, (const char *const *) r.listed,
                                       r.nlisted), 0);
  free_keys (r.listed, r.nlisted);
  r.listed = NULL;
  r.nlisted = 0;
  assert_int_equal (objstore_list (r.s, "", NULL, collect, &r), 0);
  assert_int_equal (r.nlisted, 0);
  assert_int_equal (tl.errors, 0);
  assert_int_equal (tl.warnings, 0);
  objstore_close (r.s);

  /* Check from outside: the prefix is empty... */
  snprintf (pfx, sizeof pfx, "%s-pfx/", tag);
  n = outside_list (pfx, &keys);
  for (i = 0; i < n; i++)
    fprintf (stderr, "left inside the prefix: %s\n", keys[i]);
  assert_int_equal (n, 0);
  free_keys (keys, n);

  /* ...and every seed is there, unchanged, and nothing else. */
  for (i = 0; i < NSEEDS; i++) {
    seed_key (i, key, sizeof key);
    assert_int_equal (outside_get (key, &b), S3StatusOK);
    data = malloc (seeds[i].size);
    test_fill (data, seeds[i].size, i + 1);
    assert_int_equal (b.len, seeds[i].size);
    assert_memory_equal (b.data, data, seeds[i].size);
    free (data);
    s3vol_buf_free (&b);
  }
  n = outside_list (tag, &keys);
  assert_int_equal (n, NSEEDS);
  free_keys (keys, n);

  for (i = 0; i < NSEEDS; i++) {
    seed_key (i, key, sizeof key);
    outside_del (key);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_stays_inside),
  };
  const char *endpoint;
  static char host[256];
  S3Status st;
  int r;

  test_require_s3 ();
  endpoint = getenv ("AWS_ENDPOINT_URL");
  if (strncmp (endpoint, "http://", 7) != 0) {
    fprintf (stderr, "SKIP: this test speaks plain http to the test "
             "server; AWS_ENDPOINT_URL is %s\n", endpoint);
    return TEST_SKIP;
  }
  snprintf (host, sizeof host, "%s", endpoint + 7);
  host[strcspn (host, "/")] = '\0';
  snprintf (tag, sizeof tag, "s3o-%d", (int) getpid ());
  bucket.hostName = host;
  bucket.bucketName = getenv ("S3VOL_TEST_BUCKET");
  bucket.protocol = S3ProtocolHTTP;
  bucket.uriStyle = S3UriStylePath;
  bucket.accessKeyId = getenv ("AWS_ACCESS_KEY_ID");
  bucket.secretAccessKey = getenv ("AWS_SECRET_ACCESS_KEY");
  st = S3_initialize ("s3vol-test", S3_INIT_ALL, host);
  if (st != S3StatusOK) {
    fprintf (stderr, "S3_initialize: %s\n", S3_get_status_name (st));
    return 1;
  }
  r = cmocka_run_group_tests (tests, NULL, NULL);
  S3_deinitialize ();
  return r;
}
