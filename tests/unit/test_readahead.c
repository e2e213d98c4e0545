/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: read-ahead (lib/cache/prefetch.c) and the chunk store entries a
 * cache keeps open (entries.c): what every reader reads is the volume's
 * bytes, with several sequential and random readers at once, requests
 * that cross chunk boundaries, two caches (attachments) sharing one
 * chunk store, and entries pruned from the store under the readers; and
 * interleaved or out-of-order sequential readers each get chunks fetched
 * ahead of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3vol/cache.h"
#include "s3vol/chunkstore.h"
#include "testutil.h"

#define CS (64u << 10)
#define NCH 256u
#define VSIZE ((uint64_t) CS * NCH)

static struct objstore *os;
static struct volstore *vs;
static struct test_log tlog;
static unsigned char *model;    /* the volume's bytes */
static char vname[32];
static char root[64];           /* cache and chunk store directories */
static int dirno;

/* A fresh directory under root. */
static void
new_dir (char *out, size_t n)
{
  snprintf (out, n, "%s/d%d", root, dirno++);
}

static struct cache *
open_cache (const char *store_dir, bool readonly)
{
  char dir[96];
  struct cache_config cfg = {
    .log = &tlog.log, .dir = dir, .volume = vname, .readonly = readonly,
    .threads = 4, .store_dir = store_dir,
  };
  struct cache *c = NULL;

  new_dir (dir, sizeof dir);
  assert_int_equal (cache_open (vs, &cfg, &c), 0);
  assert_int_equal (cache_start (c), 0);
  return c;
}

/* One volume of random bytes (a few chunks left holes), committed. */
static int
setup (void **state)
{
  struct volstore_config cfg = { .log = &tlog.log };
  struct vol_commit_result res;
  char sdir[96];
  struct cache *c;
  unsigned i;

  (void) state;
  os = test_store_open ();
  test_log_init (&tlog);
  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
  snprintf (root, sizeof root, "/tmp/s3vol-ra-test-%d", (int) getpid ());
  snprintf (vname, sizeof vname, "ra%d", (int) getpid ());
  assert_int_equal (volstore_create (vs, vname, VSIZE, CS, NULL), 0);
  model = malloc (VSIZE);
  assert_non_null (model);
  test_fill (model, VSIZE, 7);
  for (i = 0; i < NCH; i += 37)
    memset (model + (uint64_t) i * CS, 0, CS);
  new_dir (sdir, sizeof sdir);
  c = open_cache (sdir, false);
  assert_int_equal (cache_pwrite (c, model, VSIZE, 0, false), 0);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (cache_close (c), 0);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[128];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf %s", root);
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove %s\n", root);
  volstore_close (vs);
  test_clear_prefix (os, "");   /* an S3 store keeps what is not */
  test_store_close (os);
  free (model);
  return 0;
}

static void
read_check (struct cache *c, uint64_t off, uint32_t n)
{
  unsigned char *buf = malloc (n);

  assert_non_null (buf);
  assert_int_equal (cache_pread (c, buf, n, off), 0);
  if (memcmp (buf, model + off, n) != 0)
    fail_msg ("read of %" PRIu32 " bytes at %" PRIu64 " differs", n, off);
  free (buf);
}

/* The chunk store's entry count, waited for (read-ahead is
 * asynchronous): at least want within 10 s?
 */
static bool
entries_reach (struct cache *c, uint64_t want)
{
  struct cache_stats st;
  double end = test_now () + 10;

  do {
    cache_stats (c, &st);
    if (st.store.entries >= want)
      return true;
    usleep (10000);
  } while (test_now () < end);
  return false;
}

/* Readers of the mixed test: even ones sequential through a region of
 * their own in odd-sized requests that cross chunk boundaries, odd ones
 * at random places; one cache or the other.
 */
struct mixed {
  struct cache *c[2];
};

static void
reader (size_t k, void *opaque)
{
  struct mixed *m = opaque;
  struct cache *c = m->c[k % 2];
  uint64_t region = VSIZE / 4, off, rs = 1000 + k, n;
  unsigned j;

  if (k % 2 == 0) {
    off = (k / 2) * region + 5000;
    while (off < (k / 2 + 1) * region) {
      n = 12288 + 4096 * (off / 4096 % 5) + 512;
      if (off + n > VSIZE)
        n = VSIZE - off;
      read_check (c, off, n);
      off += n;
    }
    return;
  }
  for (j = 0; j < 300; j++) {
    n = 1 + test_rand (&rs) % (3 * CS);
    off = test_rand (&rs) % (VSIZE - n);
    read_check (c, off, n);
  }
}

/* Four sequential and four random readers on two caches sharing one
 * cold chunk store; then all of it again, warm.
 */
static void
test_mixed (void **state)
{
  struct mixed m;
  char sdir[96];

  (void) state;
  new_dir (sdir, sizeof sdir);
  m.c[0] = open_cache (sdir, true);
  m.c[1] = open_cache (sdir, true);
  test_parallel (8, 8, reader, &m);
  test_parallel (8, 8, reader, &m);
  read_check (m.c[0], 0, VSIZE);
  assert_int_equal (tlog.errors, 0);
  assert_int_equal (cache_close (m.c[0]), 0);
  assert_int_equal (cache_close (m.c[1]), 0);
}

/* Two sequential readers taking turns, one of them reading each pair of
 * requests in reverse order: both are followed, so chunks far ahead of
 * each are fetched (before, a read that did not start where the last
 * one ended reset the only stream: no read-ahead at all).
 */
static void
test_interleaved (void **state)
{
  uint64_t a = 0, b = VSIZE / 2, n = 16384;
  char sdir[96];
  struct cache *c;
  int k;

  (void) state;
  new_dir (sdir, sizeof sdir);
  c = open_cache (sdir, true);
  for (k = 0; k < 16; k++, a += n, b += 2 * n) {
    read_check (c, a, n);
    read_check (c, b + n, n);
    read_check (c, b, n);
  }
  /* Read: 4 chunks of a, 8 of b; ahead of both, at least as many more. */
  if (!entries_reach (c, 24))
    fail_msg ("no read-ahead for two interleaved streams");
  read_check (c, 0, VSIZE);
  assert_int_equal (cache_close (c), 0);
}

/* Entries kept open while the store prunes them: reads still give the
 * volume's bytes (from the kept descriptor, or fetched again).
 */
static void
test_pruned (void **state)
{
  struct chunkstore_config scfg = { .log = &tlog.log };
  char sdir[96];
  struct chunkstore *cs;
  struct cache *c;
  uint64_t freed;
  int round;

  (void) state;
  new_dir (sdir, sizeof sdir);
  scfg.dir = sdir;
  c = open_cache (sdir, true);
  assert_int_equal (chunkstore_open (&scfg, &cs), 0);
  for (round = 0; round < 3; round++) {
    read_check (c, 3 * CS - 100, 200);
    read_check (c, 0, VSIZE / 2 + 7);
    assert_int_equal (chunkstore_prune (cs, 0, &freed), 0);
    assert_true (freed > 0);
    read_check (c, 3 * CS - 100, 200);
    read_check (c, VSIZE / 4, VSIZE / 2);
  }
  chunkstore_close (cs);
  assert_int_equal (tlog.errors, 0);
  assert_int_equal (cache_close (c), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_mixed),
    cmocka_unit_test (test_interleaved),
    cmocka_unit_test (test_pruned),
  };

  fprintf (stderr, "read-ahead on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
