/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the growable array (vector.h) and the hash map (hashmap.h).
 *
 * The map runs against a reference model (an array indexed by key) in
 * randomized loops, with a good hash, a constant hash (every key
 * collides, so every removal shifts a probe chain back) and a hash with
 * a few homes at the end of the table (chains wrap around).
 *
 * Environment: S3VOL_TEST_SEED (default: the time; printed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hashmap.h"
#include "testutil.h"
#include "vector.h"

DEFINE_VECTOR (ints, int);

struct pair {
  uint64_t a, b;
};
DEFINE_VECTOR (pairs, struct pair);

static uint64_t seed;

/* ---- vector ---- */

static void
test_vector_append (void **state)
{
  struct ints v = { 0 };
  int i;

  (void) state;
  for (i = 0; i < 10000; i++) {
    assert_int_equal (ints_append (&v, i * 3), 0);
    assert_int_equal (v.len, i + 1);
    assert_true (v.cap >= v.len);
  }
  /* Doubling: the capacity stays within twice the length. */
  assert_true (v.cap < 2 * v.len);
  for (i = 0; i < 10000; i++)
    assert_int_equal (v.ptr[i], i * 3);
  ints_reset (&v);
  assert_null (v.ptr);
  assert_int_equal (v.len, 0);
  assert_int_equal (v.cap, 0);
  /* Usable again after a reset. */
  assert_int_equal (ints_append (&v, 7), 0);
  assert_int_equal (v.ptr[0], 7);
  ints_reset (&v);
}

static void
test_vector_grow (void **state)
{
  struct pairs v = { 0 };
  struct pair *p;
  uint64_t i;

  (void) state;
  for (i = 0; i < 1000; i++) {
    /* Dirty the room past len, so that grow must zero it. */
    if (v.cap > v.len)
      memset (&v.ptr[v.len], 0xff, (v.cap - v.len) * sizeof *v.ptr);
    p = pairs_grow (&v);
    assert_non_null (p);
    assert_ptr_equal (p, &v.ptr[i]);
    assert_int_equal (p->a, 0);
    assert_int_equal (p->b, 0);
    p->a = i;
    p->b = ~i;
  }
  assert_int_equal (v.len, 1000);
  for (i = 0; i < 1000; i++) {
    assert_int_equal (v.ptr[i].a, i);
    assert_int_equal (v.ptr[i].b, ~i);
  }
  pairs_reset (&v);
}

static void
test_vector_reserve (void **state)
{
  struct ints v = { 0 };
  int *ptr, i;

  (void) state;
  assert_int_equal (ints_reserve (&v, 0), 0);
  assert_int_equal (ints_reserve (&v, 1000), 0);
  assert_int_equal (v.len, 0);
  assert_true (v.cap >= 1000);
  /* Appends within the reserved room do not move the array. */
  ptr = v.ptr;
  for (i = 0; i < 1000; i++)
    assert_int_equal (ints_append (&v, i), 0);
  assert_ptr_equal (v.ptr, ptr);
  /* Reserving what is there already changes nothing. */
  assert_int_equal (ints_reserve (&v, v.cap - v.len), 0);
  assert_ptr_equal (v.ptr, ptr);
  ints_reset (&v);
}

/* Reserve of SIZE_MAX (and any count that overflows) fails with -ENOMEM
 * and leaves the vector as it was.
 */
static void
test_vector_overflow (void **state)
{
  struct ints v = { 0 }, fake;
  struct pairs pv = { 0 };
  int *ptr;
  size_t cap;
  int i;

  (void) state;
  assert_int_equal (ints_reserve (&v, SIZE_MAX), -ENOMEM);
  assert_null (v.ptr);
  assert_int_equal (v.len, 0);
  assert_int_equal (v.cap, 0);
  assert_int_equal (pairs_reserve (&pv, SIZE_MAX), -ENOMEM);
  assert_int_equal (pairs_reserve (&pv, SIZE_MAX / sizeof (struct pair)),
                    -ENOMEM);
  assert_null (pv.ptr);

  for (i = 0; i < 5; i++)
    assert_int_equal (ints_append (&v, i), 0);
  ptr = v.ptr;
  cap = v.cap;
  assert_int_equal (ints_reserve (&v, SIZE_MAX), -ENOMEM);
  assert_int_equal (ints_reserve (&v, SIZE_MAX - 4), -ENOMEM);
  assert_int_equal (ints_reserve (&v, SIZE_MAX / 8), -ENOMEM);
  assert_ptr_equal (v.ptr, ptr);
  assert_int_equal (v.len, 5);
  assert_int_equal (v.cap, cap);
  for (i = 0; i < 5; i++)
    assert_int_equal (v.ptr[i], i);

  /* A vector that cannot count one more: append and grow fail. */
  fake = (struct ints) { .ptr = ptr, .len = SIZE_MAX, .cap = SIZE_MAX };
  assert_int_equal (ints_append (&fake, 1), -ENOMEM);
  errno = 0;
  assert_null (ints_grow (&fake));
  assert_int_equal (errno, ENOMEM);
  assert_ptr_equal (fake.ptr, ptr);
  assert_int_equal (fake.len, SIZE_MAX);
  assert_int_equal (fake.cap, SIZE_MAX);
  ints_reset (&v);
}

/* ---- hash map ---- */

/* Values carry their key: key << 8 | a nonzero tag. */
#define VAL(key, tag) ((uintptr_t) (key) << 8 | (tag))
#define KEY_OF(val) ((uint64_t) (val) >> 8)

static bool
key_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return KEY_OF (val) == *(const uint64_t *) key;
}

enum hash_kind { HASH_GOOD, HASH_CONSTANT, HASH_WRAP };

static uint64_t
hash_of (enum hash_kind kind, uint64_t key)
{
  switch (kind) {
  case HASH_GOOD:
    return hashmap_hash_u64 (key);
  case HASH_CONSTANT:
    return 42;
  case HASH_WRAP:
    return UINT64_MAX - key % 5;  /* the last slots of any table */
  }
  return 0;
}

/* Every value in the map is in the model. */
struct each_check {
  const uintptr_t *model;
  size_t seen;
};

static int
each_check (void *opaque, uintptr_t val)
{
  struct each_check *c = opaque;

  assert_int_equal (c->model[KEY_OF (val)], val);
  c->seen++;
  return 0;
}

static void
check_all (const struct hashmap *m, const uintptr_t *model, size_t nkeys,
           size_t n, enum hash_kind kind)
{
  struct each_check c = { model, 0 };
  uint64_t k;

  assert_int_equal (m->n, n);
  assert_true (m->n <= m->cap / 2);
  for (k = 0; k < nkeys; k++)
    assert_int_equal (hashmap_get (m, hash_of (kind, k), &k), model[k]);
  assert_int_equal (hashmap_each (m, each_check, &c), 0);
  assert_int_equal (c.seen, n);
}

static void
model_run (enum hash_kind kind, size_t nkeys, unsigned ops)
{
  struct hashmap m = HASHMAP_INIT (key_eq, NULL);
  uintptr_t *model = calloc (nkeys, sizeof *model), v;
  uint64_t rng = seed ^ (kind * 0x9e3779b97f4a7c15ull), k, r;
  size_t n = 0;
  unsigned op, tag = 0;

  assert_non_null (model);
  for (op = 0; op < ops; op++) {
    r = test_rand (&rng);
    k = (r >> 8) % nkeys;
    switch (r % 8) {
    case 0: case 1: case 2: case 3:   /* put if absent, as callers do */
      if (hashmap_get (&m, hash_of (kind, k), &k) == 0) {
        v = VAL (k, 1 + tag++ % 255);
        assert_int_equal (hashmap_put (&m, hash_of (kind, k), v), 0);
        model[k] = v;
        n++;
      }
      break;
    case 4: case 5: case 6:
      v = hashmap_remove (&m, hash_of (kind, k), &k);
      assert_int_equal (v, model[k]);
      if (v) {
        model[k] = 0;
        n--;
      }
      break;
    case 7:
      assert_int_equal (hashmap_get (&m, hash_of (kind, k), &k), model[k]);
      break;
    }
    assert_int_equal (m.n, n);
    if (op % 1024 == 0 || kind != HASH_GOOD)
      check_all (&m, model, nkeys, n, kind);
  }
  check_all (&m, model, nkeys, n, kind);
  /* Remove everything, in key order. */
  for (k = 0; k < nkeys; k++)
    assert_int_equal (hashmap_remove (&m, hash_of (kind, k), &k), model[k]);
  assert_int_equal (m.n, 0);
  memset (model, 0, nkeys * sizeof *model);
  check_all (&m, model, nkeys, 0, kind);
  hashmap_free (&m);
  free (model);
}

static void
test_hashmap_model (void **state)
{
  (void) state;
  model_run (HASH_GOOD, 5000, 200000);
}

static void
test_hashmap_collide (void **state)
{
  (void) state;
  model_run (HASH_CONSTANT, 100, 20000);
}

static void
test_hashmap_wrap (void **state)
{
  (void) state;
  model_run (HASH_WRAP, 100, 20000);
}

static void
test_hashmap_growth (void **state)
{
  struct hashmap m = HASHMAP_INIT (key_eq, NULL);
  const uint64_t N = 100000;
  struct hashmap_slot *slot;
  size_t cap;
  uint64_t k;

  (void) state;
  assert_int_equal (hashmap_get (&m, 1, &N), 0);
  assert_int_equal (hashmap_remove (&m, 1, &N), 0);
  assert_int_equal (hashmap_put (&m, 1, 0), -EINVAL);
  assert_int_equal (m.n, 0);
  for (k = 0; k < N; k++) {
    assert_int_equal (hashmap_put (&m, hashmap_hash_u64 (k), VAL (k, 1)), 0);
    assert_true (m.n <= m.cap / 2);
    assert_int_equal (m.cap & (m.cap - 1), 0);
  }
  for (k = 0; k < N; k++)
    assert_int_equal (hashmap_get (&m, hashmap_hash_u64 (k), &k),
                      VAL (k, 1));
  k = N;
  assert_int_equal (hashmap_get (&m, hashmap_hash_u64 (k), &k), 0);
  hashmap_free (&m);
  assert_null (m.slot);
  assert_int_equal (m.n, 0);
  assert_int_equal (m.cap, 0);

  /* After a reserve, puts up to that many do not move the slots. */
  assert_int_equal (hashmap_reserve (&m, 1000), 0);
  slot = m.slot;
  cap = m.cap;
  assert_true (cap >= 2000);
  for (k = 0; k < 1000; k++)
    assert_int_equal (hashmap_put (&m, hashmap_hash_u64 (k), VAL (k, 2)), 0);
  assert_ptr_equal (m.slot, slot);
  assert_int_equal (m.cap, cap);
  /* A reserve that cannot be met fails and changes nothing. */
  assert_int_equal (hashmap_reserve (&m, SIZE_MAX), -ENOMEM);
  assert_ptr_equal (m.slot, slot);
  assert_int_equal (m.cap, cap);
  assert_int_equal (m.n, 1000);
  for (k = 0; k < 1000; k++)
    assert_int_equal (hashmap_get (&m, hashmap_hash_u64 (k), &k),
                      VAL (k, 2));
  hashmap_free (&m);
}

struct each_sum {
  uint64_t sum;
  size_t calls, stop_after;
};

static int
each_sum (void *opaque, uintptr_t val)
{
  struct each_sum *s = opaque;

  s->sum += KEY_OF (val);
  return ++s->calls == s->stop_after ? 17 : 0;
}

static void
test_hashmap_each (void **state)
{
  struct hashmap m = HASHMAP_INIT (key_eq, NULL);
  struct each_sum s = { 0 };
  uint64_t k;

  (void) state;
  assert_int_equal (hashmap_each (&m, each_sum, &s), 0);
  assert_int_equal (s.calls, 0);
  for (k = 1; k <= 500; k++)
    assert_int_equal (hashmap_put (&m, hashmap_hash_u64 (k), VAL (k, 3)), 0);
  assert_int_equal (hashmap_each (&m, each_sum, &s), 0);
  assert_int_equal (s.calls, 500);
  assert_int_equal (s.sum, 500 * 501 / 2);
  /* A non-zero return stops the walk and is returned. */
  s = (struct each_sum) { .stop_after = 10 };
  assert_int_equal (hashmap_each (&m, each_sum, &s), 17);
  assert_int_equal (s.calls, 10);
  hashmap_free (&m);
}

static void
test_hashmap_clear (void **state)
{
  struct hashmap m = HASHMAP_INIT (key_eq, NULL);
  struct each_sum s = { 0 };
  size_t cap;
  uint64_t k;

  (void) state;
  hashmap_clear (&m);                   /* empty: harmless */
  for (k = 0; k < 300; k++)
    assert_int_equal (hashmap_put (&m, hashmap_hash_u64 (k), VAL (k, 4)), 0);
  cap = m.cap;
  hashmap_clear (&m);
  assert_int_equal (m.n, 0);
  assert_int_equal (m.cap, cap);        /* keeps the room */
  for (k = 0; k < 300; k++)
    assert_int_equal (hashmap_get (&m, hashmap_hash_u64 (k), &k), 0);
  assert_int_equal (hashmap_each (&m, each_sum, &s), 0);
  assert_int_equal (s.calls, 0);
  /* Usable again. */
  for (k = 0; k < 300; k++)
    assert_int_equal (hashmap_put (&m, hashmap_hash_u64 (k), VAL (k, 5)), 0);
  for (k = 0; k < 300; k++)
    assert_int_equal (hashmap_get (&m, hashmap_hash_u64 (k), &k),
                      VAL (k, 5));
  assert_int_equal (m.cap, cap);
  hashmap_free (&m);
}

static void
test_hash_bytes (void **state)
{
  char a[] = "chunk id 0123456789abcdef", b[sizeof a];

  (void) state;
  memcpy (b, a, sizeof a);
  assert_int_equal (hashmap_hash_bytes (a, sizeof a),
                    hashmap_hash_bytes (b, sizeof b));
  b[sizeof b - 2] ^= 1;
  assert_int_not_equal (hashmap_hash_bytes (a, sizeof a),
                        hashmap_hash_bytes (b, sizeof b));
  assert_int_not_equal (hashmap_hash_bytes (a, 3),
                        hashmap_hash_bytes (a, 4));
  assert_int_not_equal (hashmap_hash_u64 (1), hashmap_hash_u64 (2));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_vector_append),
    cmocka_unit_test (test_vector_grow),
    cmocka_unit_test (test_vector_reserve),
    cmocka_unit_test (test_vector_overflow),
    cmocka_unit_test (test_hashmap_model),
    cmocka_unit_test (test_hashmap_collide),
    cmocka_unit_test (test_hashmap_wrap),
    cmocka_unit_test (test_hashmap_growth),
    cmocka_unit_test (test_hashmap_each),
    cmocka_unit_test (test_hashmap_clear),
    cmocka_unit_test (test_hash_bytes),
  };
  const char *s = getenv ("S3VOL_TEST_SEED");

  seed = s && *s ? strtoull (s, NULL, 0) : (uint64_t) time (NULL);
  fprintf (stderr, "vector and hashmap: seed %" PRIu64 " (set "
           "S3VOL_TEST_SEED to repeat)\n", seed);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
