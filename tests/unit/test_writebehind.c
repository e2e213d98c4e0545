/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: write-behind (lib/cache/writebehind.c): complete dirty chunks
 * are stored before the commit, which then only names them; an early
 * upload spoiled by a later write is never named; one older than half
 * the gc grace period is stored again; a crash mid-upload loses nothing
 * flushed and publishes nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "s3vol/cache.h"
#include "objstore_fault.h"
#include "testutil.h"

#define CS (64u << 10)
#define NCH 64u
#define VSIZE ((uint64_t) CS * NCH)

static struct objstore *inner, *os;   /* os: inner, counted */
static struct volstore *vs;
static struct test_log tlog;
static unsigned char *model;
static char dir[256], vname[32];
static int volno;

static int
setup (void **state)
{
  (void) state;
  inner = test_store_open ();
  test_log_init (&tlog);
  assert_int_equal (objstore_fault_wrap (inner, NULL, &os), 0);
  model = mmap (NULL, VSIZE, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true (model != MAP_FAILED);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[128];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf /tmp/s3vol-wb-test-%d-*",
            (int) getpid ());
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove the cache directories\n");
  objstore_close (os);
  test_store_close (inner);
  munmap (model, VSIZE);
  return 0;
}

/* A volstore with this grace period (0: the default), and a fresh
 * volume and cache directory.
 */
static void
new_volume (int64_t grace)
{
  struct volstore_config cfg = { .log = &tlog.log, .grace_seconds = grace };
  char cmd[300];

  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
  snprintf (vname, sizeof vname, "wb%d-%d", volno++, (int) getpid ());
  assert_int_equal (volstore_create (vs, vname, VSIZE, CS, NULL), 0);
  snprintf (dir, sizeof dir, "/tmp/s3vol-wb-test-%d-%d", (int) getpid (),
            volno);
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal (system (cmd), 0);
  memset (model, 0, VSIZE);
}

static struct cache *
open_cache (void)
{
  struct cache_config cfg = {
    .log = &tlog.log, .dir = dir, .volume = vname, .threads = 4,
  };
  struct cache *c = NULL;

  assert_int_equal (cache_open (vs, &cfg, &c), 0);
  assert_int_equal (cache_start (c), 0);
  return c;
}

static uint64_t
early_uploads (struct cache *c)
{
  struct cache_stats st;

  cache_stats (c, &st);
  return st.early_uploads;
}

/* Wait (at most 20 s) until write-behind stored n chunks. */
static void
wait_early (struct cache *c, uint64_t n)
{
  double t0 = test_now ();

  while (early_uploads (c) < n) {
    if (test_now () - t0 > 20)
      fail_msg ("write-behind stored %" PRIu64 " chunks, not %" PRIu64,
                early_uploads (c), n);
    usleep (20000);
  }
}

static void
write_chunk (struct cache *c, uint64_t i, uint64_t seed)
{
  test_fill (model + i * CS, CS, seed);
  assert_int_equal (cache_pwrite (c, model + i * CS, CS, i * CS, false), 0);
}

/* The head version, read through a fresh handle, equals the model. */
static void
check_store (void)
{
  unsigned char *buf = malloc (CS);
  struct volume *v;
  uint64_t i;

  assert_int_equal (volume_open (vs, vname, NULL, &v), 0);
  for (i = 0; i < NCH; i++) {
    assert_int_equal (volume_read_chunk (v, i, buf, NULL), 0);
    if (memcmp (buf, model + i * CS, CS) != 0)
      fail_msg ("store chunk %" PRIu64 " differs", i);
  }
  volume_close (v);
  free (buf);
}

static uint64_t
puts_since_armed (void)
{
  struct objstore_fault_counts n;

  objstore_fault_counts (os, &n);
  return n.puts;
}

/* Chunks written whole go up at once; the commit then stores only the
 * map page and the root (and names the chunks).
 */
static void
test_commit_names_early (void **state)
{
  struct vol_commit_result res;
  struct cache_stats st;
  struct cache *c;
  uint64_t i;

  (void) state;
  new_volume (0);
  c = open_cache ();
  for (i = 0; i < 16; i++)
    write_chunk (c, i, 100 + i);
  wait_early (c, 16);
  objstore_fault_arm (os, NULL);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  cache_stats (c, &st);
  assert_int_equal (st.early_named, 16);
  assert_int_equal (st.early_reputs, 0);
  if (puts_since_armed () > 4)
    fail_msg ("the commit put %" PRIu64 " objects for 16 chunks stored "
              "ahead", puts_since_armed ());
  check_store ();
  assert_int_equal (cache_close (c), 0);
  volstore_close (vs);
}

/* An early upload older than half the grace period (here 2 s) is
 * stored again before the commit names it: gc, which deletes what is
 * older than the grace period, could collect it before the version is
 * published.
 */
static void
test_stale_early_reput (void **state)
{
  struct vol_commit_result res;
  struct cache_stats st;
  struct cache *c;

  (void) state;
  new_volume (2);
  c = open_cache ();
  write_chunk (c, 3, 7);
  wait_early (c, 1);
  sleep (2);
  objstore_fault_arm (os, NULL);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  cache_stats (c, &st);
  assert_int_equal (st.early_reputs, 1);
  assert_int_equal (st.early_named, 0);
  /* The chunk, its page and the root at least. */
  assert_true (puts_since_armed () >= 3);
  check_store ();
  assert_int_equal (cache_close (c), 0);
  volstore_close (vs);
}

struct writer {
  struct cache *c;
  unsigned t;
  volatile bool *stop;
  unsigned rounds;
};

/* Writer t owns chunks [t * 16, t * 16 + 16): it rewrites them whole
 * (uploaded at once, then spoiled) and in pieces, as fast as it can.
 */
static void *
writer (void *arg)
{
  struct writer *w = arg;
  uint64_t rs = 1000 + w->t, i, off, len;

  while (!*w->stop) {
    i = w->t * 16 + test_rand (&rs) % 16;
    if (test_rand (&rs) % 3 == 0) {
      write_chunk (w->c, i, test_rand (&rs));
    }
    else {
      off = i * CS + (test_rand (&rs) % (CS / 4096)) * 4096;
      len = 4096 * (1 + test_rand (&rs) % 4);
      if (off + len > (i + 1) * CS)
        len = (i + 1) * CS - off;
      test_fill (model + off, len, test_rand (&rs));
      if (cache_pwrite (w->c, model + off, len, off, false) != 0)
        fail_msg ("write failed");
    }
    w->rounds++;
  }
  return NULL;
}

/* Four writers rewrite their chunks while commits run: every version
 * published must be what the device held at its cut, so the last, after
 * the writers stop, must equal the model: an early upload that a write
 * spoiled is never named.
 */
static void
test_concurrent_writers (void **state)
{
  struct vol_commit_result res;
  struct writer w[4];
  pthread_t th[4];
  volatile bool stop = false;
  struct cache *c;
  double t0;
  unsigned k, commits = 0;

  (void) state;
  new_volume (0);
  c = open_cache ();
  for (k = 0; k < 4; k++) {
    w[k] = (struct writer) { .c = c, .t = k, .stop = &stop };
    assert_int_equal (pthread_create (&th[k], NULL, writer, &w[k]), 0);
  }
  t0 = test_now ();
  while (test_now () - t0 < 4) {
    usleep (300000);
    assert_int_equal (cache_commit (c, NULL, &res), 0);
    commits++;
  }
  stop = true;
  for (k = 0; k < 4; k++)
    pthread_join (th[k], NULL);
  assert_int_equal (cache_flush (c), 0);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  check_store ();
  printf ("%u commits, %u writes, %" PRIu64 " early uploads\n", commits,
          w[0].rounds + w[1].rounds + w[2].rounds + w[3].rounds,
          early_uploads (c));
  assert_true (early_uploads (c) > 0);
  assert_int_equal (cache_close (c), 0);
  volstore_close (vs);
}

/* A process killed (here: _exit, with no close) while write-behind is
 * storing chunks: the restart shows every flushed write, the version is
 * the one before, and the next commit publishes the flushed bytes.
 */
static void
test_crash_mid_upload (void **state)
{
  struct objstore_fault_config slow = {
    .mode = OBJSTORE_FAULT_CRASH, .n = 5, .kinds = OBJSTORE_FAULT_PUT,
  };
  struct vol_commit_result res;
  struct volume *v;
  unsigned char *now = malloc (VSIZE);
  struct cache *c;
  uint64_t i, seq0;
  pid_t pid;
  int status;

  (void) state;
  new_volume (0);
  assert_int_equal (volume_open (vs, vname, NULL, &v), 0);
  seq0 = volume_seq (v);
  volume_close (v);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    /* After 5 chunk puts the store "dies": the rest fail. */
    objstore_fault_arm (os, &slow);
    c = open_cache ();
    for (i = 0; i < 32; i++)
      write_chunk (c, i, 500 + i);
    if (cache_flush (c) != 0)
      _exit (2);
    while (early_uploads (c) < 5)
      usleep (1000);
    _exit (0);
  }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  assert_int_equal (volume_open (vs, vname, NULL, &v), 0);
  assert_int_equal (volume_seq (v), seq0);     /* nothing published */
  volume_close (v);
  c = open_cache ();
  assert_int_equal (cache_pread (c, now, VSIZE, 0), 0);
  assert_memory_equal (now, model, VSIZE);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  check_store ();
  assert_int_equal (cache_close (c), 0);
  volstore_close (vs);
  free (now);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_commit_names_early),
    cmocka_unit_test (test_stale_early_reput),
    cmocka_unit_test (test_concurrent_writers),
    cmocka_unit_test (test_crash_mid_upload),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
