/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: what must survive a crash of the host, on a simulated disk
 * with a volatile write cache (tests/support/powerfail.h).
 *
 *   store    rounds of random puts (create-only and replacing) and
 *            deletes on a directory store, of objects of 0 to 20000
 *            bytes in keys one to three directories deep (directories
 *            come and go), then a power cut, at a random call of the
 *            file I/O or after the last operation, a reboot that keeps
 *            none or a random part of what was not synced, and a
 *            reopen.  Every put and delete that returned 0 must be
 *            durable; the operation the power cut interrupted shows
 *            whole or not at all; no other key and no partial object
 *            may be visible.
 *   cache    rounds of random writes (some with fua), zeroes, reads
 *            (which fetch and evict), flushes and commits on a cache
 *            directory, then a power cut as above, a reboot and a
 *            reopen.  The device must show, byte by byte, the value of
 *            the last completed flush (or fua write) or of a write
 *            after it, nothing else; what it shows is then taken as
 *            the device's content, and every commit must store exactly
 *            that.  Every few rounds the test moves to the other of two
 *            cache directories (new the first time, later behind by
 *            some versions), and the power may go while it opens.
 *
 * Each test stops starting rounds after 20 s.  The trees live in
 * /dev/shm when it is writable (the simulation needs no real disk).
 *
 * Environment: S3VOL_TEST_SEED (default: the time; printed; a failing
 * round names its seed too; the run repeats with S3VOL_TEST_SEED),
 * S3VOL_POWERFAIL_ROUNDS (default 500),
 * S3VOL_POWERFAIL_DIR (where the trees go).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "powerfail.h"
#include "s3vol/cache.h"
#include "s3vol/objstore.h"
#include "testutil.h"

static uint64_t seed0;
static unsigned rounds;

/* Make a fresh temporary directory into dir: in memory if possible,
 * since the simulated disk needs no real one, and a busy real one makes
 * each round slow.
 */
static void
make_tmpdir (char *dir, size_t n, const char *what)
{
  const char *base = getenv ("S3VOL_POWERFAIL_DIR");

  if (base == NULL)
    base = access ("/dev/shm", W_OK) == 0 ? "/dev/shm"
           : getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
  snprintf (dir, n, "%s/s3vol-powerfail-%s-XXXXXX", base, what);
  assert_non_null (mkdtemp (dir));
}

static void
remove_tmpdir (const char *dir)
{
  char cmd[512];

  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove %s\n", dir);
}

/* ---- the directory store ---- */

#define NKEYS 16
#define OPS_PER_ROUND 16
#define MAXLEN 20000
#define BUDGET_S 20.0           /* stop starting rounds after this */

/* What a key holds: absent, or test_fill (len, seed). */
struct obj {
  bool present;
  size_t len;
  uint64_t seed;
};

struct key_state {
  char key[64];
  struct obj now;               /* as the operations that returned 0 left
                                   it */
  struct obj alt;               /* the interrupted operation's result */
  bool has_alt;
};

static void
key_name (char *out, size_t n, unsigned i)
{
  switch (i % 3) {
  case 0:
    snprintf (out, n, "flat%u", i);
    break;
  case 1:
    snprintf (out, n, "d%u/k%u", i % 4, i);
    break;
  default:
    snprintf (out, n, "deep/d%u/x%%@/k%u", i % 5, i);
    break;
  }
}

static struct objstore *
open_store (const char *root, struct powerfail *pf)
{
  struct objstore_config cfg = { .fileio = powerfail_fileio (pf) };
  struct objstore *s;
  char url[600];

  snprintf (url, sizeof url, "file://%s", root);
  assert_int_equal (objstore_open (url, &cfg, &s), 0);
  return s;
}

static bool
obj_matches (const struct obj *o, const struct s3vol_buf *b, bool found)
{
  unsigned char *want;
  bool ok;

  if (!o->present || !found)
    return o->present == found;
  if (b->len != o->len)
    return false;
  want = malloc (o->len + 1);
  assert_non_null (want);
  test_fill (want, o->len, o->seed);
  ok = memcmp (want, b->data, o->len) == 0;
  free (want);
  return ok;
}

struct listed {
  struct key_state *ks;
  unsigned count;
  int unknown;
};

static int
count_key (void *opaque, const struct objstore_entry *e)
{
  struct listed *l = opaque;
  unsigned i;

  for (i = 0; i < NKEYS; i++)
    if (strcmp (l->ks[i].key, e->key) == 0) {
      l->count++;
      return 0;
    }
  fprintf (stderr, "store: unexpected key %s after the crash\n", e->key);
  l->unknown++;
  return 0;
}

/* Check every key after a reboot, and settle its state. */
static void
check_store (struct objstore *s, struct key_state *ks, uint64_t rseed)
{
  struct s3vol_buf b = { 0 };
  struct listed l = { .ks = ks };
  unsigned i, present = 0;
  int r;

  for (i = 0; i < NKEYS; i++) {
    b.len = 0;
    r = objstore_get (s, ks[i].key, 0, OBJSTORE_TO_END, &b);
    assert_true (r == 0 || r == -ENOENT);
    if (obj_matches (&ks[i].now, &b, r == 0))
      ;
    else if (ks[i].has_alt && obj_matches (&ks[i].alt, &b, r == 0))
      ks[i].now = ks[i].alt;
    else {
      fprintf (stderr, "store: round seed %" PRIu64 ": key %s: %s, "
               "%zu bytes, expected %s%zu bytes%s\n", rseed, ks[i].key,
               r == 0 ? "present" : "missing", r == 0 ? b.len : 0,
               ks[i].now.present ? "" : "absent, not ",
               ks[i].now.len, ks[i].has_alt ? " (or the interrupted "
               "operation's result)" : "");
      fail ();
    }
    ks[i].has_alt = false;
    present += ks[i].now.present;
  }
  assert_int_equal (objstore_list (s, "", NULL, count_key, &l), 0);
  assert_int_equal (l.unknown, 0);
  assert_int_equal (l.count, present);
  s3vol_buf_free (&b);
}

/* One operation on key k; returns false once the power is off. */
static bool
store_op (struct objstore *s, struct powerfail *pf, struct key_state *k,
          uint64_t *rng)
{
  unsigned what = test_rand (rng) % 8;
  struct obj next = { .present = true, .len = test_rand (rng) % MAXLEN,
                      .seed = test_rand (rng) | 1 };
  unsigned char *data;
  int r;

  if (what >= 6) {
    r = objstore_del (s, k->key);
    next.present = false;
  }
  else {
    data = malloc (next.len + 1);
    assert_non_null (data);
    test_fill (data, next.len, next.seed);
    r = objstore_put (s, k->key, data, next.len,
                      what < 3 ? OBJSTORE_CREATE_ONLY : 0);
    free (data);
    if (r == -EEXIST && !powerfail_crashed (pf)) {
      if (!k->now.present)
        fprintf (stderr, "store: create-only put of %s, which should be "
                 "absent, found it\n", k->key);
      assert_true (k->now.present);
      return true;
    }
  }
  if (r == 0) {
    k->now = next;
    return true;
  }
  /* Only a power cut makes an operation fail here. */
  assert_true (powerfail_crashed (pf));
  if (what < 3 && k->now.present)
    next = k->now;              /* create-only never replaces */
  k->alt = next;
  k->has_alt = true;
  return false;
}

static void
test_store (void **state)
{
  struct key_state ks[NKEYS];
  struct powerfail *pf;
  struct objstore *s;
  char root[256];
  uint64_t rng = seed0, rseed, pending = 0, cuts = 0;
  unsigned round, i, n;
  bool keep;
  double t0 = test_now ();

  (void) state;
  memset (ks, 0, sizeof ks);
  for (i = 0; i < NKEYS; i++)
    key_name (ks[i].key, sizeof ks[i].key, i);
  make_tmpdir (root, sizeof root, "store");
  assert_int_equal (powerfail_new (root, &pf), 0);
  for (round = 0; round < rounds && test_now () - t0 < BUDGET_S; round++) {
    rseed = test_rand (&rng);
    uint64_t r2 = rseed;
    s = open_store (root, pf);
    /* About 6 calls a put: cut anywhere in the round, or after it. */
    if (test_rand (&r2) % 4)
      powerfail_arm (pf, 1 + test_rand (&r2) % (OPS_PER_ROUND * 6));
    for (n = 0; n < OPS_PER_ROUND; n++)
      if (!store_op (s, pf, &ks[test_rand (&r2) % NKEYS], &r2))
        break;
    cuts += powerfail_crashed (pf);
    powerfail_crash (pf);
    objstore_close (s);
    pending += powerfail_pending (pf);
    keep = test_rand (&r2) % 2;
    assert_int_equal (powerfail_reboot (pf, keep, test_rand (&r2)), 0);
    s = open_store (root, pf);
    check_store (s, ks, rseed);
    objstore_close (s);
  }
  fprintf (stderr, "store: %u rounds, %" PRIu64 " cut in an operation, "
           "%" PRIu64 " changes not synced at the cuts, %.1f s\n",
           round, cuts, pending, test_now () - t0);
  /* The simulation did drop something. */
  assert_true (pending > 0);
  powerfail_free (pf);
  remove_tmpdir (root);
}

/* ---- the cache ---- */

#define CS (64u << 10)
#define NCH 32u
#define VSIZE ((uint64_t) CS * NCH)
#define CACHE_OPS 12
#define LIFE 12                 /* rounds on one cache directory */

/* A write not yet flushed: it may or may not show after a crash. */
struct pending {
  uint32_t seq;
  uint64_t off, len;
  unsigned char *data;
};

struct cmodel {
  unsigned char *cur;           /* acknowledged writes */
  unsigned char *flushed;       /* what must survive */
  uint32_t *durseq;             /* seq of the write durable at a byte */
  struct pending *p;
  size_t np;
  uint32_t seq;
};

static struct volstore *cvs;
static struct test_log ctlog;
static char cvname[32];

/* Open the cache at cdir; NULL if the power went meanwhile (must_open:
 * it must not fail).
 */
static struct cache *
try_open_cache (const char *cdir, struct powerfail *pf, bool must_open)
{
  struct cache_config cfg = {
    .log = &ctlog.log, .dir = cdir, .volume = cvname,
    .max_clean_bytes = 4 * CS, .threads = 2,
    .fileio = powerfail_fileio (pf),
  };
  struct cache *c = NULL;
  int r = cache_open (cvs, &cfg, &c);

  if (r == 0)
    r = cache_start (c);
  if (r == 0)
    return c;
  if (must_open)
    fail_msg ("cache: open of %s (after a crash): %s (%s)", cdir,
              strerror (-r), ctlog.last_error);
  assert_true (powerfail_crashed (pf));
  if (c)
    cache_close (c);
  return NULL;
}

static void
drop_pending (struct cmodel *m)
{
  size_t i;

  for (i = 0; i < m->np; i++)
    free (m->p[i].data);
  m->np = 0;
}

/* Write (data NULL: zero) [off, off+len), fua or not; false when the
 * power is off.
 */
static bool
cache_write_op (struct cache *c, struct cmodel *m, struct powerfail *pf,
                uint64_t off, uint64_t len, const unsigned char *data,
                bool fua)
{
  struct pending *w;
  int r;

  m->p = realloc (m->p, (m->np + 1) * sizeof *m->p);
  assert_non_null (m->p);
  w = &m->p[m->np++];
  w->seq = ++m->seq;
  w->off = off;
  w->len = len;
  w->data = calloc (1, len);
  assert_non_null (w->data);
  if (data)
    memcpy (w->data, data, len);
  r = data ? cache_pwrite (c, data, len, off, fua)
           : cache_zero (c, len, off, fua);
  if (r < 0) {
    assert_true (powerfail_crashed (pf));
    return false;
  }
  memcpy (m->cur + off, w->data, len);
  if (fua) {
    memcpy (m->flushed + off, w->data, len);
    for (uint64_t b = off; b < off + len; b++)
      m->durseq[b] = w->seq;
  }
  return true;
}

/* The published head equals the model. */
static void
check_head (const struct cmodel *m)
{
  unsigned char *buf = malloc (CS);
  struct volume *v;
  uint64_t i;

  assert_non_null (buf);
  assert_int_equal (volume_open (cvs, cvname, NULL, &v), 0);
  for (i = 0; i < NCH; i++) {
    assert_int_equal (volume_read_chunk (v, i, buf, NULL), 0);
    if (memcmp (buf, m->cur + i * CS, CS) != 0)
      fail_msg ("cache: the committed chunk %" PRIu64 " is not what the "
                "device showed", i);
  }
  volume_close (v);
  free (buf);
}

/* One random operation; false when the power is off. */
static bool
cache_op (struct cache *c, struct cmodel *m, struct powerfail *pf,
          uint64_t *rs)
{
  unsigned what = test_rand (rs) % 16;
  uint64_t off = test_rand (rs) % VSIZE, len = 0;
  unsigned char *buf;
  struct vol_commit_result res;
  bool ok = true;
  int r;

  if (what < 8) {
    if (what < 4)
      off &= ~4095ull;
    len = what < 4 ? 4096 * (1 + test_rand (rs) % 24)
                   : 1 + test_rand (rs) % (2 * CS);
    if (off + len > VSIZE)
      len = VSIZE - off;
    buf = malloc (len);
    assert_non_null (buf);
    test_fill (buf, len, test_rand (rs));
    ok = cache_write_op (c, m, pf, off, len, buf, what == 0);
    free (buf);
  }
  else if (what < 9) {
    off = off / CS * CS;
    len = CS * (1 + test_rand (rs) % 3);
    if (off + len > VSIZE)
      len = VSIZE - off;
    ok = cache_write_op (c, m, pf, off, len, NULL, false);
  }
  else if (what < 12) {
    len = 1 + test_rand (rs) % (4 * CS);
    if (off + len > VSIZE)
      len = VSIZE - off;
    buf = malloc (len);
    assert_non_null (buf);
    r = cache_pread (c, buf, len, off);
    if (r < 0)
      ok = false;
    else
      assert_memory_equal (buf, m->cur + off, len);
    free (buf);
  }
  else if (what < 15) {
    ok = cache_flush (c) == 0;
    if (ok) {
      memcpy (m->flushed, m->cur, VSIZE);
      drop_pending (m);
    }
  }
  else {
    ok = cache_commit (c, NULL, &res) == 0;
    if (ok) {
      /* The cut flushed. */
      memcpy (m->flushed, m->cur, VSIZE);
      drop_pending (m);
      check_head (m);
    }
  }
  if (!ok)
    assert_true (powerfail_crashed (pf));
  return ok;
}

/* After the reboot: every byte shows the flushed value or a later
 * write's; then that is the device.
 */
static void
check_device (struct cache *c, struct cmodel *m, uint64_t rseed)
{
  unsigned char *dev = malloc (VSIZE);
  uint64_t b;
  size_t i;

  assert_non_null (dev);
  assert_int_equal (cache_pread (c, dev, VSIZE, 0), 0);
  for (b = 0; b < VSIZE; b++) {
    if (dev[b] == m->flushed[b])
      continue;
    for (i = 0; i < m->np; i++) {
      const struct pending *w = &m->p[i];
      if (w->seq > m->durseq[b] && b >= w->off && b < w->off + w->len &&
          w->data[b - w->off] == dev[b])
        break;
    }
    if (i == m->np)
      fail_msg ("cache: round seed %" PRIu64 ": byte %" PRIu64
                " (chunk %" PRIu64 ") reads %u after the crash, which "
                "neither the last flush (%u) nor a write after it left",
                rseed, b, b / CS, dev[b], m->flushed[b]);
  }
  memcpy (m->cur, dev, VSIZE);
  memcpy (m->flushed, dev, VSIZE);
  memset (m->durseq, 0, VSIZE * sizeof *m->durseq);
  drop_pending (m);
  free (dev);
}

static void
test_cache (void **state)
{
  struct volstore_config vcfg = { .log = &ctlog.log };
  struct cmodel m = { 0 };
  struct vol_commit_result res;
  struct objstore *os;
  struct powerfail *pf;
  struct cache *c;
  char root[256], cdir[300];
  uint64_t rng = seed0 ^ 0x5eed, rseed, r2, pending = 0, cuts = 0;
  uint64_t calls = 0, unarmed = 0, before;
  unsigned round, n, life = 0;
  bool keep;
  double t0 = test_now ();

  (void) state;
  test_log_init (&ctlog);
  os = test_store_open ();
  assert_int_equal (volstore_open (os, &vcfg, &cvs), 0);
  snprintf (cvname, sizeof cvname, "powerfail-%d", (int) getpid ());
  assert_int_equal (volstore_create (cvs, cvname, VSIZE, CS, NULL), 0);
  m.cur = calloc (1, VSIZE);
  m.flushed = calloc (1, VSIZE);
  m.durseq = calloc (VSIZE, sizeof *m.durseq);
  assert_true (m.cur && m.flushed && m.durseq);
  make_tmpdir (root, sizeof root, "cache");
  assert_int_equal (powerfail_new (root, &pf), 0);
  snprintf (cdir, sizeof cdir, "%s/cache%u", root, life);
  c = try_open_cache (cdir, pf, true);
  /* Something in the store to start from. */
  for (n = 0; n < NCH; n += 2) {
    unsigned char *buf = malloc (CS);
    test_fill (buf, CS, test_rand (&rng));
    assert_true (cache_write_op (c, &m, pf, (uint64_t) n * CS, CS, buf,
                                 false));
    free (buf);
  }
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  memcpy (m.flushed, m.cur, VSIZE);
  drop_pending (&m);
  for (round = 0; round < rounds && test_now () - t0 < BUDGET_S; round++) {
    rseed = test_rand (&rng);
    r2 = rseed;
    n = 0;
    if (round && round % LIFE == 0) {
      /* The other cache directory, on what this one committed: new the
       * first time, then behind by a few versions (it drops the chunks
       * that changed); the power may go while it opens.
       */
      assert_int_equal (cache_commit (c, NULL, &res), 0);
      check_head (&m);
      assert_int_equal (cache_close (c), 0);
      snprintf (cdir, sizeof cdir, "%s/cache%u", root, ++life % 2);
      if (test_rand (&r2) % 2)
        powerfail_arm (pf, 1 + test_rand (&r2) % 80);
      c = try_open_cache (cdir, pf, false);
    }
    before = powerfail_calls (pf);
    if (c && unarmed && test_rand (&r2) % 4)
      powerfail_arm (pf, 1 + test_rand (&r2) % (calls / unarmed + 1));
    for (; c && n < CACHE_OPS; n++)
      if (!cache_op (c, &m, pf, &r2))
        break;
    if (!powerfail_crashed (pf)) {
      calls += powerfail_calls (pf) - before;
      unarmed++;
    }
    cuts += powerfail_crashed (pf);
    powerfail_crash (pf);
    if (c)
      cache_close (c);          /* fails: the disk is gone */
    pending += powerfail_pending (pf);
    keep = test_rand (&r2) % 2;
    assert_int_equal (powerfail_reboot (pf, keep, test_rand (&r2)), 0);
    c = try_open_cache (cdir, pf, true);
    check_device (c, &m, rseed);
  }
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  check_head (&m);
  assert_int_equal (cache_close (c), 0);
  fprintf (stderr, "cache: %u rounds, %u changes of directory, %" PRIu64
           " cut in an operation, %" PRIu64 " changes not synced at the "
           "cuts, %.1f s\n", round, life, cuts, pending,
           test_now () - t0);
  assert_true (pending > 0);
  drop_pending (&m);
  free (m.p);
  free (m.cur);
  free (m.flushed);
  free (m.durseq);
  powerfail_free (pf);
  remove_tmpdir (root);
  volstore_close (cvs);
  test_store_close (os);
}

int
main (void)
{
  const char *env_seed = getenv ("S3VOL_TEST_SEED");
  const char *env_rounds = getenv ("S3VOL_POWERFAIL_ROUNDS");
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_store),
    cmocka_unit_test (test_cache),
  };

  seed0 = env_seed ? strtoull (env_seed, NULL, 0) : (uint64_t) time (NULL);
  rounds = env_rounds ? (unsigned) atoi (env_rounds) : 500;
  fprintf (stderr, "seed %" PRIu64 " (S3VOL_TEST_SEED), %u rounds "
           "(S3VOL_POWERFAIL_ROUNDS)\n", seed0, rounds);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
