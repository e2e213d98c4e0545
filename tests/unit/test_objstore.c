/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the object store contract, run against any backend.
 *
 * The store comes from $S3VOL_TEST_STORE (e.g. s3://bucket/prefix), or is
 * a fresh temporary directory.  Every test works under its own key prefix
 * and leaves it empty.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"

static struct objstore *store;

/* Collect a listing. */
struct listing {
  char **keys;
  struct objstore_stat *st;
  size_t n, cap;
  size_t stop_after;            /* 0: never stop */
};

static int
on_entry (void *opaque, const struct objstore_entry *e)
{
  struct listing *l = opaque;

  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 64;
    l->keys = realloc (l->keys, l->cap * sizeof *l->keys);
    l->st = realloc (l->st, l->cap * sizeof *l->st);
    assert_true (l->keys && l->st);
  }
  l->keys[l->n] = strdup (e->key);
  l->st[l->n] = e->st;
  l->n++;
  if (l->stop_after && l->n == l->stop_after)
    return 42;
  return 0;
}

static void
listing_free (struct listing *l)
{
  size_t i;

  for (i = 0; i < l->n; i++)
    free (l->keys[i]);
  free (l->keys);
  free (l->st);
  memset (l, 0, sizeof *l);
}

static void
list_into (const char *prefix, const char *after, struct listing *l)
{
  assert_int_equal (objstore_list (store, prefix, after, on_entry, l), 0);
}

/* Get whole key and compare with test_fill (len, seed). */
static void
check_content (const char *key, size_t len, uint64_t seed)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  unsigned char *want = malloc (len ? len : 1);

  test_fill (want, len, seed);
  assert_int_equal (objstore_get (store, key, 0, OBJSTORE_TO_END, &b), 0);
  assert_int_equal (b.len, len);
  if (len)
    assert_memory_equal (b.data, want, len);
  s3vol_buf_free (&b);
  free (want);
}

static void
test_round_trip (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore_stat st1, st2;

  (void) state;
  test_put (store, "rt/one", 5000, 1);
  check_content ("rt/one", 5000, 1);
  assert_int_equal (objstore_head (store, "rt/one", &st1), 0);
  assert_int_equal (st1.size, 5000);
  assert_true (st1.mtime > time (NULL) - 86400 &&
               st1.mtime < time (NULL) + 86400);
  assert_true (st1.etag[0] != '\0');

  /* Overwrite with other content and size. */
  test_put (store, "rt/one", 7001, 2);
  check_content ("rt/one", 7001, 2);
  assert_int_equal (objstore_head (store, "rt/one", &st2), 0);
  assert_int_equal (st2.size, 7001);
  assert_string_not_equal (st1.etag, st2.etag);

  /* get appends to what the buffer holds. */
  assert_int_equal (s3vol_buf_append (&b, "xy", 2), 0);
  assert_int_equal (objstore_get (store, "rt/one", 0, 10, &b), 0);
  assert_int_equal (b.len, 12);
  assert_memory_equal (b.data, "xy", 2);
  s3vol_buf_free (&b);

  assert_int_equal (objstore_del (store, "rt/one"), 0);
  assert_int_equal (objstore_head (store, "rt/one", &st1), -ENOENT);
}

static void
test_missing (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore_stat st;

  (void) state;
  assert_int_equal (s3vol_buf_append (&b, "abc", 3), 0);
  assert_int_equal (objstore_get (store, "missing/key", 0, OBJSTORE_TO_END,
                                  &b), -ENOENT);
  assert_int_equal (b.len, 3);
  assert_int_equal (objstore_get (store, "missing/key", 10, 10, &b),
                    -ENOENT);
  assert_int_equal (objstore_head (store, "missing/key", &st), -ENOENT);
  /* Deleting what is not there succeeds. */
  assert_int_equal (objstore_del (store, "missing/key"), 0);
  s3vol_buf_free (&b);
}

static void
check_range (const unsigned char *all, size_t size, uint64_t off,
             uint64_t len)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  uint64_t end, want;

  assert_int_equal (objstore_get (store, "rng/obj", off, len, &b), 0);
  end = len == OBJSTORE_TO_END || off + len > size ? size : off + len;
  want = off >= size ? 0 : end - off;
  if (b.len != want)
    fail_msg ("range off=%llu len=%llu: got %zu bytes, want %llu",
              (unsigned long long) off, (unsigned long long) len, b.len,
              (unsigned long long) want);
  if (want)
    assert_memory_equal (b.data, all + off, want);
  s3vol_buf_free (&b);
}

static void
test_ranges (void **state)
{
  enum { SIZE = 100000 };
  unsigned char *all = malloc (SIZE);
  const uint64_t offs[] = { 0, 1, 4095, 4096, SIZE / 2, SIZE - 1, SIZE,
                            SIZE + 1, 1ull << 40 };
  const uint64_t lens[] = { 0, 1, 2, 4096, SIZE - 1, SIZE, SIZE + 7,
                            OBJSTORE_TO_END };
  size_t i, j;

  (void) state;
  test_fill (all, SIZE, 3);
  test_put (store, "rng/obj", SIZE, 3);
  for (i = 0; i < sizeof offs / sizeof offs[0]; i++)
    for (j = 0; j < sizeof lens / sizeof lens[0]; j++)
      check_range (all, SIZE, offs[i], lens[j]);
  assert_int_equal (objstore_del (store, "rng/obj"), 0);
  free (all);
}

static void
test_empty_object (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore_stat st;
  struct listing l = { 0 };

  (void) state;
  assert_int_equal (objstore_put (store, "empty/obj", "", 0, 0), 0);
  assert_int_equal (objstore_head (store, "empty/obj", &st), 0);
  assert_int_equal (st.size, 0);
  assert_int_equal (objstore_get (store, "empty/obj", 0, OBJSTORE_TO_END,
                                  &b), 0);
  assert_int_equal (b.len, 0);
  assert_int_equal (objstore_get (store, "empty/obj", 0, 10, &b), 0);
  assert_int_equal (objstore_get (store, "empty/obj", 5, 10, &b), 0);
  assert_int_equal (b.len, 0);
  list_into ("empty/", NULL, &l);
  assert_int_equal (l.n, 1);
  assert_string_equal (l.keys[0], "empty/obj");
  assert_int_equal (l.st[0].size, 0);
  listing_free (&l);
  /* Create-only of an empty object over an existing one loses. */
  assert_int_equal (objstore_put (store, "empty/obj", "", 0,
                                  OBJSTORE_CREATE_ONLY), -EEXIST);
  assert_int_equal (objstore_del (store, "empty/obj"), 0);
  s3vol_buf_free (&b);
}

static void
test_large_object (void **state)
{
  const size_t size = (64u << 20) + 12345;  /* just over 64 MiB */
  unsigned char *all = malloc (size);
  struct objstore_stat st;

  (void) state;
  assert_non_null (all);
  test_fill (all, size, 4);
  assert_int_equal (objstore_put (store, "large/obj", all, size, 0), 0);
  assert_int_equal (objstore_head (store, "large/obj", &st), 0);
  assert_int_equal (st.size, size);
  check_content ("large/obj", size, 4);
  /* Ranges inside the large object. */
  {
    struct s3vol_buf b = S3VOL_BUF_INIT;
    assert_int_equal (objstore_get (store, "large/obj", 33u << 20, 8u << 20,
                                    &b), 0);
    assert_int_equal (b.len, 8u << 20);
    assert_memory_equal (b.data, all + (33u << 20), 8u << 20);
    s3vol_buf_clear (&b);
    assert_int_equal (objstore_get (store, "large/obj", size - 10,
                                    OBJSTORE_TO_END, &b), 0);
    assert_int_equal (b.len, 10);
    assert_memory_equal (b.data, all + size - 10, 10);
    s3vol_buf_free (&b);
  }
  assert_int_equal (objstore_del (store, "large/obj"), 0);
  free (all);
}

static const char *const odd_keys[] = {
  "odd/with space",
  "odd/plus+sign",
  "odd/percent%41%zz",
  "odd/at@sign@",
  "odd/unicode-\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
  "odd/q?a=1&b=2#frag",
  "odd/!$'()*,;:=~",
  "odd/brackets[]{}<>|\\^`\"",
  "odd/.hidden",
  "odd/...",
  "odd/trailing-dot.",
  "odd/-dash",
  "odd/a/b/c/d/e/f/g/h/deep",
};

static void
test_odd_keys (void **state)
{
  const size_t n = sizeof odd_keys / sizeof odd_keys[0];
  struct listing l = { 0 };
  char longkey[OBJSTORE_KEY_MAX + 1];
  size_t i, j;

  (void) state;
  for (i = 0; i < n; i++)
    test_put (store, odd_keys[i], 100 + i, 100 + i);
  /* A long key: 900 bytes in segments of 200 (S3 limits the whole key,
   * the store's prefix included, to 1024).
   */
  strcpy (longkey, "odd/long");
  for (i = strlen (longkey); i < 900; i++)
    longkey[i] = i % 200 == 0 ? '/' : 'a' + i % 26;
  longkey[900] = '\0';
  test_put (store, longkey, 77, 77);

  for (i = 0; i < n; i++)
    check_content (odd_keys[i], 100 + i, 100 + i);
  check_content (longkey, 77, 77);

  list_into ("odd/", NULL, &l);
  assert_int_equal (l.n, n + 1);
  for (i = 0; i < n; i++) {
    for (j = 0; j < l.n; j++)
      if (strcmp (l.keys[j], odd_keys[i]) == 0)
        break;
    if (j == l.n)
      fail_msg ("listing lacks key \"%s\"", odd_keys[i]);
    assert_int_equal (l.st[j].size, 100 + i);
  }
  for (j = 1; j < l.n; j++)
    assert_true (strcmp (l.keys[j - 1], l.keys[j]) < 0);
  listing_free (&l);

  for (i = 0; i < n; i++)
    assert_int_equal (objstore_del (store, odd_keys[i]), 0);
  assert_int_equal (objstore_del (store, longkey), 0);
  list_into ("odd/", NULL, &l);
  assert_int_equal (l.n, 0);
  listing_free (&l);
}

static void
test_invalid_keys (void **state)
{
  const char *bad[] = { "", "/abs", "a//b", "a/", "a/./b", "a/../b", "..",
                        ".", "ctl\nchar", "tab\tchar", "del\x7f" };
  char toolong[OBJSTORE_KEY_MAX + 2];
  struct s3vol_buf b = S3VOL_BUF_INIT;
  size_t i;

  (void) state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal (objstore_check_key (bad[i]), -EINVAL);
    assert_int_equal (objstore_put (store, bad[i], "x", 1, 0), -EINVAL);
    assert_int_equal (objstore_get (store, bad[i], 0, 1, &b), -EINVAL);
  }
  memset (toolong, 'k', sizeof toolong - 1);
  toolong[sizeof toolong - 1] = '\0';
  assert_int_equal (objstore_check_key (toolong), -EINVAL);
  assert_int_equal (objstore_check_key ("fine/key.txt"), 0);
  s3vol_buf_free (&b);
}

/* Many keys, written in parallel. */
struct many {
  const char *fmt;
  size_t len;
};

static void
put_one (size_t i, void *opaque)
{
  struct many *m = opaque;
  char key[128];

  snprintf (key, sizeof key, m->fmt, i);
  test_put (store, key, m->len, i);
}

static void
put_many (const char *fmt, size_t n, size_t len)
{
  struct many m = { .fmt = fmt, .len = len };

  test_parallel (16, n, put_one, &m);
}

static void
test_paging (void **state)
{
  enum { N = 1100 };
  struct listing l = { 0 };
  char key[64];
  size_t i;

  (void) state;
  put_many ("page/k%05zu", N, 10);
  test_put (store, "page-sibling", 1, 1);
  test_put (store, "pagf/x", 1, 1);

  list_into ("page/", NULL, &l);
  assert_int_equal (l.n, N);
  for (i = 0; i < N; i++) {
    snprintf (key, sizeof key, "page/k%05zu", i);
    assert_string_equal (l.keys[i], key);
    assert_int_equal (l.st[i].size, 10);
  }
  listing_free (&l);

  /* start_after in the middle, across a page boundary. */
  list_into ("page/", "page/k00499", &l);
  assert_int_equal (l.n, N - 500);
  assert_string_equal (l.keys[0], "page/k00500");
  listing_free (&l);

  /* start_after that is not itself a key. */
  list_into ("page/", "page/k01000x", &l);
  assert_int_equal (l.n, N - 1001);
  assert_string_equal (l.keys[0], "page/k01001");
  listing_free (&l);

  /* Prefix "page" also matches the sibling keys "page-sibling", not
   * "pagf/x".
   */
  list_into ("page", NULL, &l);
  assert_int_equal (l.n, N + 1);
  assert_string_equal (l.keys[0], "page-sibling");
  listing_free (&l);

  /* The callback stops the listing, and its value comes back. */
  l.stop_after = 1050;
  assert_int_equal (objstore_list (store, "page/", NULL, on_entry, &l), 42);
  assert_int_equal (l.n, 1050);
  listing_free (&l);

  test_clear_prefix (store, "page");
  test_clear_prefix (store, "pagf");
  list_into ("pag", NULL, &l);
  assert_int_equal (l.n, 0);
  listing_free (&l);
}

static void
test_list_order (void **state)
{
  /* Keys whose bytewise order interleaves "directories" and files. */
  const char *keys[] = { "ord/a", "ord/a-", "ord/a/b", "ord/a/b/c",
                         "ord/a0", "ord/a\xc3\xa9", "ord/b", "ord/b/a" };
  const size_t n = sizeof keys / sizeof keys[0];
  struct listing l = { 0 };
  size_t i;

  (void) state;
  for (i = n; i-- > 0;)
    test_put (store, keys[i], 1, i);
  list_into ("ord/", NULL, &l);
  assert_int_equal (l.n, n);
  for (i = 0; i < n; i++)
    assert_string_equal (l.keys[i], keys[i]);
  listing_free (&l);

  list_into ("ord/a/", NULL, &l);
  assert_int_equal (l.n, 2);
  listing_free (&l);

  list_into ("ord/", "ord/a/b", &l);
  assert_int_equal (l.n, n - 3);
  assert_string_equal (l.keys[0], "ord/a/b/c");
  listing_free (&l);

  list_into ("ord/a", "ord/a0", &l);
  assert_int_equal (l.n, 1);
  listing_free (&l);

  test_clear_prefix (store, "ord/");
}

static void
test_del_many (void **state)
{
  enum { N = 2500 };
  struct listing l = { 0 };
  char **keys = calloc (N + 1, sizeof *keys);
  size_t i;

  (void) state;
  put_many ("dm/k%05zu", N, 1);
  for (i = 0; i < N; i++)
    assert_int_equal (asprintf (&keys[i], "dm/k%05zu", i) > 0, 1);
  keys[N] = strdup ("dm/never-existed");
  test_put (store, "dm-keep", 3, 3);
  assert_int_equal (objstore_del_many (store, (const char *const *) keys,
                                       N + 1), 0);
  list_into ("dm", NULL, &l);
  assert_int_equal (l.n, 1);
  assert_string_equal (l.keys[0], "dm-keep");
  listing_free (&l);
  check_content ("dm-keep", 3, 3);
  assert_int_equal (objstore_del (store, "dm-keep"), 0);
  for (i = 0; i <= N; i++)
    free (keys[i]);
  free (keys);
}

static void
test_create_only (void **state)
{
  unsigned char a[100], b[200];

  (void) state;
  test_fill (a, sizeof a, 5);
  test_fill (b, sizeof b, 6);
  assert_true (objstore_caps (store) & OBJSTORE_CAP_CREATE_ONLY);
  assert_int_equal (objstore_put (store, "co/k", a, sizeof a,
                                  OBJSTORE_CREATE_ONLY), 0);
  assert_int_equal (objstore_put (store, "co/k", b, sizeof b,
                                  OBJSTORE_CREATE_ONLY), -EEXIST);
  check_content ("co/k", sizeof a, 5);
  /* A plain put still replaces. */
  assert_int_equal (objstore_put (store, "co/k", b, sizeof b, 0), 0);
  check_content ("co/k", sizeof b, 6);
  /* After a delete the key can be created again. */
  assert_int_equal (objstore_del (store, "co/k"), 0);
  assert_int_equal (objstore_put (store, "co/k", a, sizeof a,
                                  OBJSTORE_CREATE_ONLY), 0);
  check_content ("co/k", sizeof a, 5);
  assert_int_equal (objstore_del (store, "co/k"), 0);
}

/* Many threads race to create one key: exactly one wins. */
struct race {
  char key[64];
  atomic_int wins, losses, errors;
  atomic_int winner;
};

static void
race_one (size_t i, void *opaque)
{
  struct race *r = opaque;
  unsigned char data[3000];
  int ret;

  test_fill (data, sizeof data, 1000 + i);
  ret = objstore_put (store, r->key, data, sizeof data,
                      OBJSTORE_CREATE_ONLY);
  if (ret == 0) {
    atomic_fetch_add (&r->wins, 1);
    atomic_store (&r->winner, (int) i);
  }
  else if (ret == -EEXIST)
    atomic_fetch_add (&r->losses, 1);
  else
    atomic_fetch_add (&r->errors, 1);
}

static void
test_create_only_race (void **state)
{
  enum { ROUNDS = 10, THREADS = 16 };
  struct race r;
  int round;

  (void) state;
  for (round = 0; round < ROUNDS; round++) {
    memset (&r, 0, sizeof r);
    snprintf (r.key, sizeof r.key, "race/r%02d", round);
    test_parallel (THREADS, THREADS, race_one, &r);
    assert_int_equal (r.errors, 0);
    assert_int_equal (r.wins, 1);
    assert_int_equal (r.losses, THREADS - 1);
    check_content (r.key, 3000, 1000 + r.winner);
  }
  test_clear_prefix (store, "race/");
}

/* Threads write, overwrite and read their own keys and a few shared
 * ones; every read sees a whole object that some thread wrote.
 */
enum { CC_THREADS = 16, CC_ITERS = 30, CC_SHARED = 4 };

static void
cc_one (size_t t, void *opaque)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  unsigned char want[20000], again[20000];
  uint64_t rs = t;
  char key[64];
  int i, r;

  (void) opaque;
  for (i = 0; i < CC_ITERS; i++) {
    size_t len = 1000 + test_rand (&rs) % 19000;
    snprintf (key, sizeof key, "cc/own-%zu", t);
    test_put (store, key, len, t * 1000 + i);
    check_content (key, len, t * 1000 + i);

    /* Shared keys: the content must be one whole write, whose size and
     * seed are recorded in its first bytes.
     */
    snprintf (key, sizeof key, "cc/shared-%d", i % CC_SHARED);
    {
      uint64_t hdr[2] = { len, t * 1000 + i };

      test_fill (want, len, hdr[1]);
      memcpy (want, hdr, sizeof hdr);
    }
    assert_int_equal (objstore_put (store, key, want, len, 0), 0);
    s3vol_buf_clear (&b);
    r = objstore_get (store, key, 0, OBJSTORE_TO_END, &b);
    assert_int_equal (r, 0);
    {
      uint64_t got[2];

      assert_true (b.len >= sizeof got);
      memcpy (got, b.data, sizeof got);
      assert_int_equal (got[0], b.len);
      assert_true (got[0] <= sizeof again);
      /* The rest is that writer's bytes, whole: not a mix of writes. */
      test_fill (again, got[0], got[1]);
      memcpy (again, got, sizeof got);
      if (memcmp (b.data, again, got[0]) != 0)
        fail_msg ("%s: %zu bytes, not the ones written with seed %"
                  PRIu64, key, b.len, got[1]);
    }
  }
  s3vol_buf_free (&b);
}

static void
test_concurrent (void **state)
{
  (void) state;
  test_parallel (CC_THREADS, CC_THREADS, cc_one, NULL);
  test_clear_prefix (store, "cc/");
}

static int
setup (void **state)
{
  (void) state;
  store = test_store_open ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  test_store_close (store);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_missing),
    cmocka_unit_test (test_ranges),
    cmocka_unit_test (test_empty_object),
    cmocka_unit_test (test_large_object),
    cmocka_unit_test (test_odd_keys),
    cmocka_unit_test (test_invalid_keys),
    cmocka_unit_test (test_paging),
    cmocka_unit_test (test_list_order),
    cmocka_unit_test (test_del_many),
    cmocka_unit_test (test_create_only),
    cmocka_unit_test (test_create_only_race),
    cmocka_unit_test (test_concurrent),
  };

  fprintf (stderr, "objstore contract on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
