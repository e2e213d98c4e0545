/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the write-back cache against a model of the device's bytes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/cache.h"
#include "testutil.h"

#define CS (64u << 10)
#define NCH 64u
#define VSIZE ((uint64_t) CS * NCH)

static struct objstore *os;
static struct volstore *vs;
static struct test_log tlog;
static unsigned char *model;    /* the device's expected bytes */
static char dir[256];
static const char *store_dir;   /* NULL: the test's chunk store */
static int volno;
static char vname[32];

static int
setup (void **state)
{
  struct volstore_config cfg = { .log = &tlog.log };

  (void) state;
  os = test_store_open ();
  test_log_init (&tlog);
  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
  /* Shared, so that a forked child's writes show in the parent. */
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
  snprintf (cmd, sizeof cmd, "rm -rf /tmp/s3vol-cache-test-%d-*",
            (int) getpid ());
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove the cache directories\n");
  volstore_close (vs);
  test_store_close (os);
  munmap (model, VSIZE);
  return 0;
}

/* A fresh volume and cache directory for each test. */
static void
new_volume (void)
{
  char cmd[300];

  snprintf (vname, sizeof vname, "cache%d-%d", volno++, (int) getpid ());
  assert_int_equal (volstore_create (vs, vname, VSIZE, CS, NULL), 0);
  snprintf (dir, sizeof dir, "/tmp/s3vol-cache-test-%d-%d", (int) getpid (),
            volno);
  snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal (system (cmd), 0);
  memset (model, 0, VSIZE);
}

static struct cache *
open_cache (bool readonly, uint64_t max_clean)
{
  struct cache_config cfg = {
    .log = &tlog.log, .dir = dir, .volume = vname, .readonly = readonly,
    .max_clean_bytes = max_clean, .threads = 4, .store_dir = store_dir,
  };
  struct cache *c = NULL;

  assert_int_equal (cache_open (vs, &cfg, &c), 0);
  assert_int_equal (cache_start (c), 0);
  return c;
}

static void
check_all (struct cache *c)
{
  unsigned char *buf = malloc (VSIZE);

  assert_int_equal (cache_pread (c, buf, VSIZE, 0), 0);
  assert_memory_equal (buf, model, VSIZE);
  free (buf);
}

/* The volume's published head, read chunk by chunk, equals the model. */
static void
check_store (void)
{
  struct volume *v;
  unsigned char *buf = malloc (CS);
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

/* One random operation: write, zero or read, of random size and place
 * (often unaligned, often crossing chunks).
 */
static void
random_op (struct cache *c, uint64_t *rs)
{
  uint64_t r = test_rand (rs);
  uint64_t off = test_rand (rs) % VSIZE, len;
  unsigned char *buf;

  switch (r % 4) {
  case 0:
    off &= ~4095ull;            /* aligned, the common case */
    len = 4096 * (1 + test_rand (rs) % 40);
    break;
  case 1:
    len = 1 + test_rand (rs) % 9000;
    break;
  default:
    len = 1 + test_rand (rs) % (3 * CS);
  }
  if (len > VSIZE - off)
    len = VSIZE - off;
  buf = malloc (len);
  switch (r / 4 % 5) {
  case 0: case 1:
    test_fill (buf, len, test_rand (rs));
    assert_int_equal (cache_pwrite (c, buf, len, off, r % 7 == 0), 0);
    memcpy (model + off, buf, len);
    break;
  case 2:
    assert_int_equal (cache_zero (c, len, off, false), 0);
    memset (model + off, 0, len);
    break;
  default:
    assert_int_equal (cache_pread (c, buf, len, off), 0);
    if (memcmp (buf, model + off, len) != 0)
      fail_msg ("read at %" PRIu64 "+%" PRIu64 " differs", off, len);
  }
  free (buf);
}

static void
test_model (void **state)
{
  struct vol_commit_result res;
  struct cache *c;
  uint64_t rs = 42;
  int i, round;

  (void) state;
  new_volume ();
  c = open_cache (false, 0);
  for (round = 0; round < 4; round++) {
    for (i = 0; i < 300; i++)
      random_op (c, &rs);
    check_all (c);
    assert_int_equal (cache_commit (c, NULL, &res), 0);
    assert_int_equal (res.seq, 2 + round);
    assert_false (cache_is_dirty (c));
    check_store ();
  }
  /* Reopen: same bytes, nothing dirty. */
  assert_int_equal (cache_close (c), 0);
  c = open_cache (false, 0);
  check_all (c);
  assert_false (cache_is_dirty (c));
  assert_int_equal (cache_close (c), 0);
}

static void
test_reopen_dirty (void **state)
{
  struct vol_commit_result res;
  struct cache *c;
  uint64_t rs = 7;
  int i;

  (void) state;
  new_volume ();
  c = open_cache (false, 0);
  for (i = 0; i < 200; i++)
    random_op (c, &rs);
  assert_int_equal (cache_close (c), 0);
  /* Dirty data survives a clean close and commits later. */
  c = open_cache (false, 0);
  assert_true (cache_is_dirty (c));
  check_all (c);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 2);
  check_store ();
  assert_int_equal (cache_close (c), 0);

  /* A fresh cache directory sees the committed bytes. */
  snprintf (dir + strlen (dir), sizeof dir - strlen (dir), "-fresh");
  c = open_cache (true, 0);
  check_all (c);
  assert_int_equal (cache_pwrite (c, "x", 1, 0, false), -EROFS);
  assert_int_equal (cache_close (c), 0);
}

/* The overlay keeps only dirty chunks: a commit empties it (the data
 * file has no data left), and a map of the earlier format, which called
 * chunks clean (bits 01) over bytes of its own, reads them from the
 * store instead, and punches them.
 */
static void
test_overlay (void **state)
{
  struct vol_commit_result res;
  char path[300];
  unsigned char junk[4096], byte;
  struct stat st;
  struct cache *c;
  uint64_t rs = 13;
  int fd, i;

  (void) state;
  new_volume ();
  c = open_cache (false, 0);
  for (i = 0; i < 200; i++)
    random_op (c, &rs);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_false (cache_is_dirty (c));
  check_all (c);
  assert_int_equal (cache_close (c), 0);
  snprintf (path, sizeof path, "%s/data", dir);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_blocks, 0);

  /* An old map: chunks 0 and 3 "clean", over junk. */
  fd = open (path, O_WRONLY);
  assert_true (fd >= 0);
  memset (junk, 0xa5, sizeof junk);
  assert_int_equal (pwrite (fd, junk, sizeof junk, 0), sizeof junk);
  assert_int_equal (pwrite (fd, junk, sizeof junk, 3 * CS), sizeof junk);
  close (fd);
  snprintf (path, sizeof path, "%s/map", dir);
  fd = open (path, O_RDWR);
  assert_true (fd >= 0);
  byte = 1 | 1 << 6;
  assert_int_equal (pwrite (fd, &byte, 1, 0), 1);
  close (fd);
  c = open_cache (false, 0);
  assert_false (cache_is_dirty (c));
  check_all (c);
  assert_int_equal (cache_close (c), 0);
  snprintf (path, sizeof path, "%s/data", dir);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_blocks, 0);
}

static void
test_busy (void **state)
{
  struct cache_config cfg = { .log = &tlog.log, .dir = dir };
  struct cache *c, *c2;

  (void) state;
  new_volume ();
  cfg.volume = vname;
  c = open_cache (false, 0);
  tlog.errors = 0;
  assert_int_equal (cache_open (vs, &cfg, &c2), -EBUSY);
  assert_int_equal (tlog.errors, 1);
  assert_non_null (strstr (tlog.last_error, "in use"));
  assert_int_equal (cache_close (c), 0);
}

static void
test_eviction (void **state)
{
  char small[300], cmd[320];
  struct vol_commit_result res;
  struct cache_stats st;
  struct cache *c;
  uint64_t rs = 9;
  int i;

  (void) state;
  new_volume ();
  c = open_cache (false, 0);
  for (i = 0; i < 400; i++)
    random_op (c, &rs);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (cache_close (c), 0);
  /* Reading everything through a chunk store of 4 chunks keeps at most
   * 4 (give or take the inserts of read-ahead threads still running),
   * and fetches again what it evicted.
   */
  snprintf (dir + strlen (dir), sizeof dir - strlen (dir), "-small");
  snprintf (small, sizeof small, "%s-chunks", dir);
  store_dir = small;
  c = open_cache (false, 4 * CS);
  for (i = 0; i < 3; i++)
    check_all (c);
  cache_stats (c, &st);
  assert_true (st.store.max_bytes == 4 * CS);
  assert_true (st.misses > NCH);
  /* What is on disk once the read-ahead threads are stopped (the
   * counters may count an entry a prune's scan saw twice).
   */
  assert_int_equal (cache_close (c), 0);
  if (test_du_bytes (small) > 4 * CS + 5 * (CS + 64))
    fail_msg ("chunk store: %" PRIu64 " bytes on disk, limit %u",
              test_du_bytes (small), 4 * CS);
  c = open_cache (false, 4 * CS);
  for (i = 0; i < 300; i++)
    random_op (c, &rs);
  check_all (c);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  check_store ();
  assert_int_equal (cache_close (c), 0);
  store_dir = NULL;
  snprintf (cmd, sizeof cmd, "rm -rf %s", small);
  assert_int_equal (system (cmd), 0);
}

/* Writes during a commit's upload do not leak into the version being
 * published, and stay dirty for the next one.
 */
static void
test_cut (void **state)
{
  struct vol_commit_result res;
  unsigned char *at_cut = malloc (VSIZE), buf[8192];
  struct cache *c;
  uint64_t rs = 11;
  int i;

  (void) state;
  new_volume ();
  c = open_cache (false, 0);
  for (i = 0; i < 200; i++)
    random_op (c, &rs);
  memcpy (at_cut, model, VSIZE);
  assert_int_equal (cache_commit_cut (c), 0);
  for (i = 0; i < (int) NCH; i++) {
    test_fill (buf, sizeof buf, 1000 + i);
    assert_int_equal (cache_pwrite (c, buf, sizeof buf,
                                    (uint64_t) i * CS + 100, false), 0);
    memcpy (model + (uint64_t) i * CS + 100, buf, sizeof buf);
  }
  assert_int_equal (cache_commit_finish (c, NULL, &res), 0);
  check_all (c);
  assert_true (cache_is_dirty (c));
  {
    unsigned char *m = malloc (VSIZE);
    memcpy (m, model, VSIZE);
    memcpy (model, at_cut, VSIZE);
    check_store ();
    memcpy (model, m, VSIZE);
    free (m);
  }
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_false (cache_is_dirty (c));
  check_store ();
  assert_int_equal (cache_close (c), 0);
  free (at_cut);
}

/* A process that dies after a flush (here: _exit, no close): a restart
 * shows every flushed write; where later writes landed (disjoint blocks
 * here), each byte is the flushed one or the new one.  The model lives
 * in shared memory so the parent sees what the child did.
 */
static void
test_crash (void **state)
{
  unsigned char *flushed, *now = malloc (VSIZE), blk[4096];
  struct vol_commit_result res;
  struct cache *c;
  uint64_t rs, k, used[20];
  int round, i, j, status;
  pid_t pid;

  (void) state;
  flushed = mmap (NULL, VSIZE, PROT_READ | PROT_WRITE,
                  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true (flushed != MAP_FAILED);
  new_volume ();
  for (round = 0; round < 12; round++) {
    /* Each round its own operations (the child's changes to rs stay in
     * the child).
     */
    rs = 13 + round;
    pid = fork ();
    assert_true (pid >= 0);
    if (pid == 0) {
      c = open_cache (false, 2 * CS);
      for (i = 0; i < 100; i++)
        random_op (c, &rs);
      if (cache_flush (c) != 0)
        _exit (2);
      if (round % 3 == 0 && cache_commit (c, NULL, &res) != 0)
        _exit (3);
      memcpy (flushed, model, VSIZE);
      for (i = 0; i < 20; i++) {
        do {
          k = test_rand (&rs) % (VSIZE / 4096);
          for (j = 0; j < i && used[j] != k; j++)
            ;
        } while (j < i);
        used[i] = k;
        test_fill (blk, sizeof blk, test_rand (&rs));
        if (cache_pwrite (c, blk, sizeof blk, k * 4096, false) != 0)
          _exit (4);
        memcpy (model + k * 4096, blk, sizeof blk);
      }
      _exit (0);
    }
    assert_int_equal (waitpid (pid, &status, 0), pid);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    c = open_cache (false, 2 * CS);
    assert_int_equal (cache_pread (c, now, VSIZE, 0), 0);
    for (k = 0; k < VSIZE; k++)
      if (now[k] != flushed[k] && now[k] != model[k])
        fail_msg ("round %d: byte %" PRIu64 " is neither flushed nor "
                  "written", round, k);
    memcpy (model, now, VSIZE);
    if (round % 4 == 3) {
      assert_int_equal (cache_commit (c, NULL, &res), 0);
      check_store ();
    }
    assert_int_equal (cache_close (c), 0);
  }
  munmap (flushed, VSIZE);
  free (now);
}

/* A file table that stops the first write at offset gate_off (once
 * armed) until released: a fill of a chunk caught in the middle.
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static bool gate_armed, gate_entered, gate_open;
static off_t gate_off;

static ssize_t
gate_pwrite (void *opaque, int fd, const void *buf, size_t len, off_t off)
{
  pthread_mutex_lock (&gate_lock);
  if (gate_armed && off == gate_off) {
    gate_armed = false;
    gate_entered = true;
    pthread_cond_broadcast (&gate_cond);
    while (!gate_open)
      pthread_cond_wait (&gate_cond, &gate_lock);
  }
  pthread_mutex_unlock (&gate_lock);
  return s3vol_fileio_sys.pwrite (opaque, fd, buf, len, off);
}

static void *
flush_thread (void *arg)
{
  return (void *) (intptr_t) cache_flush (arg);
}

/* Wait (gate_lock held) until *flag, or ms milliseconds; is it set? */
static bool
gate_wait (bool *flag, int ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long) (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  while (!*flag)
    if (pthread_cond_timedwait (&gate_cond, &gate_lock, &ts) != 0)
      break;
  return *flag;
}

/* A fresh volume whose base has data (no hole) in chunks 1 and 2, and
 * a cache directory that holds nothing of them (committed, punched).
 */
static void
base_with_data (void)
{
  struct vol_commit_result res;
  unsigned char *buf = malloc (2 * CS);
  struct cache *c;

  new_volume ();
  c = open_cache (false, 0);
  test_fill (buf, 2 * CS, 71);
  assert_int_equal (cache_pwrite (c, buf, 2 * CS, CS, false), 0);
  memcpy (model + CS, buf, 2 * CS);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (cache_close (c), 0);
  free (buf);
}

struct whole_write {
  struct cache *c;
  unsigned char *buf;
};

static void *
whole_write_thread (void *arg)
{
  struct whole_write *w = arg;

  return (void *) (intptr_t) cache_pwrite (w->c, w->buf, CS, 2 * CS, false);
}

/* In a forked child: the cache, its file table gate_pwrite (exits 2 if
 * it cannot open).
 */
static struct cache *
open_gated (void)
{
  static struct s3vol_fileio io;
  struct cache_config cfg = {
    .log = &tlog.log, .dir = dir, .volume = vname, .threads = 4,
    .store_dir = store_dir, .no_write_behind = true, .fileio = &io,
  };
  struct cache *c = NULL;

  io = s3vol_fileio_sys;
  io.pwrite = gate_pwrite;
  if (cache_open (vs, &cfg, &c) != 0 || cache_start (c) != 0)
    _exit (2);
  return c;
}

/* base_with_data, then fork: in the child (0 returned), *c is the
 * cache with gate_pwrite as its file table (exits 2 if it cannot open);
 * the parent gets the child's pid.
 */
static pid_t
fork_gated (struct cache **c)
{
  pid_t pid;

  base_with_data ();
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0)
    *c = open_gated ();
  return pid;
}

/* In the child: run fn (arg) in thread *t; return once it is held at
 * its write at offset off of a file (exits 4 if it never gets there).
 */
static void
hold_at (off_t off, void *(*fn) (void *), void *arg, pthread_t *t)
{
  gate_off = off;
  gate_armed = true;
  if (pthread_create (t, NULL, fn, arg) != 0)
    _exit (4);
  pthread_mutex_lock (&gate_lock);
  if (!gate_wait (&gate_entered, 10000))
    _exit (4);
  pthread_mutex_unlock (&gate_lock);
}

/* The child "crashed" (exited 0, as it does when done), then the
 * cache reopens: chunk i must read as the model says.
 */
static void
check_after_crash (pid_t pid, uint64_t i, const char *what)
{
  unsigned char *now = malloc (CS);
  struct cache *c;
  int status;

  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  c = open_cache (false, 0);
  assert_int_equal (cache_pread (c, now, CS, i * CS), 0);
  if (memcmp (now, model + i * CS, CS) != 0)
    fail_msg ("chunk %" PRIu64 ": %s", i, what);
  assert_int_equal (cache_close (c), 0);
  free (now);
}

/* A write of a whole chunk the cache does not hold, held before its
 * bytes reach the data file, while a flush is answered: a crash then
 * must find the base's chunk (the write was never answered), not the
 * hole the commit punched there.
 */
static void
test_flush_during_whole_write (void **state)
{
  struct whole_write w = { .buf = malloc (CS) };
  pthread_t t;
  pid_t pid;

  (void) state;
  pid = fork_gated (&w.c);
  if (pid == 0) {
    test_fill (w.buf, CS, 73);
    hold_at (2 * CS, whole_write_thread, &w, &t);
    if (cache_flush (w.c) != 0)
      _exit (6);
    _exit (0);                  /* the crash, the write still held */
  }
  check_after_crash (pid, 2, "not the base's (the write never reached it)");
  free (w.buf);
}

/* Two flushes at once (two connections): the first is filling a
 * partial chunk from the store (FETCHING) when the second comes.  The
 * second must not be answered before that chunk is dirty in the map: a
 * crash right after it answered lost the partial chunk's acknowledged
 * blocks (seen as "older writes" by tests/integration/crash.sh).
 */
static void
test_flush_during_fill (void **state)
{
  unsigned char buf[4096];
  struct cache *c;
  pthread_t t1, t2;
  pid_t pid;

  (void) state;
  pid = fork_gated (&c);
  if (pid == 0) {
    test_fill (buf, sizeof buf, 72);
    if (cache_pwrite (c, buf, sizeof buf, CS + 8192, false) != 0)
      _exit (3);
    memcpy (model + CS + 8192, buf, sizeof buf);
    /* The first flush fills chunk 1's block 0 from the store: held. */
    hold_at (CS, flush_thread, c, &t1);
    /* The second flush: answered while the fill is held, it is a bug;
     * else it waits for the fill, which is then let go.
     */
    if (pthread_create (&t2, NULL, flush_thread, c) != 0)
      _exit (6);
    usleep (500000);
    if (pthread_tryjoin_np (t2, NULL) == 0)
      _exit (0);                /* the crash, with the fill still held */
    pthread_mutex_lock (&gate_lock);
    gate_open = true;
    pthread_cond_broadcast (&gate_cond);
    pthread_mutex_unlock (&gate_lock);
    pthread_join (t2, NULL);
    _exit (0);                  /* the crash, right after the answer */
  }
  check_after_crash (pid, 1, "a block written and flushed is lost");
}

/* A cache with nothing dirty, reopened after another writer committed:
 * the clean chunks the other writer changed are dropped (read again from
 * the new head), those it left alone are kept (served locally).
 */
static void
test_reopen_after_other_writer (void **state)
{
  static const unsigned changed[] = { 1, 5, 6, 40 }, zeroed = 9;
  struct vol_commit_result res;
  struct cache_stats st;
  unsigned char *buf = malloc (CS);
  char mine[sizeof dir];
  struct cache *c;
  uint64_t i, kept = 0;
  size_t k;

  (void) state;
  new_volume ();
  snprintf (mine, sizeof mine, "%s", dir);
  /* Every chunk non-zero and committed: all clean in this cache. */
  c = open_cache (false, 0);
  for (i = 0; i < NCH; i++) {
    test_fill (buf, CS, 500 + i);
    assert_int_equal (cache_pwrite (c, buf, CS, i * CS, false), 0);
    memcpy (model + i * CS, buf, CS);
  }
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 2);
  check_all (c);
  assert_int_equal (cache_close (c), 0);

  /* Another writer, with a cache of its own: rewrites some chunks
   * (whole or in part) and zeroes one.
   */
  snprintf (dir + strlen (dir), sizeof dir - strlen (dir), "-other");
  c = open_cache (false, 0);
  for (k = 0; k < sizeof changed / sizeof changed[0]; k++) {
    uint64_t off = changed[k] * (uint64_t) CS + (k % 2 ? 4096 : 0);
    size_t len = k % 2 ? 8192 : CS;

    test_fill (buf, len, 900 + k);
    assert_int_equal (cache_pwrite (c, buf, len, off, false), 0);
    memcpy (model + off, buf, len);
  }
  assert_int_equal (cache_zero (c, CS, zeroed * (uint64_t) CS, false), 0);
  memset (model + zeroed * (uint64_t) CS, 0, CS);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 3);
  assert_int_equal (cache_close (c), 0);
  check_store ();

  /* The first cache again: it moves to version 3 and reads the other
   * writer's bytes, not the ones it kept.
   */
  snprintf (dir, sizeof dir, "%s", mine);
  c = open_cache (false, 0);
  assert_false (cache_is_dirty (c));
  cache_stats (c, &st);
  assert_int_equal (st.base, 3);
  for (i = 0; i < NCH; i++) {
    assert_int_equal (cache_pread (c, buf, CS, i * CS), 0);
    if (memcmp (buf, model + i * CS, CS) != 0)
      fail_msg ("chunk %" PRIu64 " after the other writer's commit: the "
                "cache served what it held before", i);
  }
  /* The unchanged chunks were kept: only the changed ones (the zeroed
   * one needs no fetch) missed.
   */
  cache_stats (c, &st);
  fprintf (stderr, "after the other writer: %" PRIu64 " hits, %" PRIu64
           " misses\n", st.hits, st.misses);
  for (i = 0; i < NCH; i++) {
    for (k = 0; k < sizeof changed / sizeof changed[0]; k++)
      if (changed[k] == i)
        break;
    if (k == sizeof changed / sizeof changed[0] && i != zeroed)
      kept++;
  }
  if (st.hits < kept || st.misses > NCH - kept)
    fail_msg ("%" PRIu64 " hits, %" PRIu64 " misses: the %" PRIu64
              " unchanged chunks were not all kept", st.hits, st.misses,
              kept);
  assert_int_equal (cache_close (c), 0);
  free (buf);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_model),
    cmocka_unit_test (test_reopen_dirty),
    cmocka_unit_test (test_overlay),
    cmocka_unit_test (test_busy),
    cmocka_unit_test (test_eviction),
    cmocka_unit_test (test_cut),
    cmocka_unit_test (test_crash),
    cmocka_unit_test (test_flush_during_fill),
    cmocka_unit_test (test_flush_during_whole_write),
    cmocka_unit_test (test_reopen_after_other_writer),
  };

  fprintf (stderr, "cache on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
