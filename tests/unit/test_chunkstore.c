/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the host-wide chunk store (s3vol/chunkstore.h).
 *
 *   hit_miss          a miss fetches once, a hit never; counters are
 *                     host-wide (a second opener sees them); a failed
 *                     fetch leaves nothing; bad arguments
 *   threads           N threads asking for one id at once: one fetch
 *   processes         N processes asking for one id at once: one fetch
 *   killed_holder     a process killed (SIGKILL) while it fetches frees
 *                     the lock; the waiter behind it then fetches
 *   torn_temp         a process killed halfway through writing leaves a
 *                     torn temporary file that never shows as an entry
 *   eviction          inserts keep the total under the limit, least
 *                     recently used first; a reader's descriptor keeps
 *                     reading after its entry is evicted; prune
 *   shared_limit      two processes inserting at once stay near the
 *                     limit; a prune makes the counters exact again
 *   stale             prune removes the temporary and lock files of dead
 *                     fetchers, not those of a live one
 *   unsafe_dir        a symlink, a directory open to others or owned by
 *                     another user is refused
 *   reboot            entries of another boot are verified once (or
 *                     dropped without verify, or when wrong); synced
 *                     entries are trusted
 *   powerfail         power cuts at random calls, a reboot keeping a
 *                     random part of what was not synced: no entry with
 *                     wrong bytes is ever served
 *
 * Environment: S3VOL_TEST_SEED (default: the time; printed),
 * S3VOL_POWERFAIL_ROUNDS (default 300; the test stops after 15 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "powerfail.h"
#include "s3vol/chunkstore.h"
#include "s3vol/volume.h"
#include "testutil.h"

#define LEN (64u << 10)
#define ENT (LEN + 32u)         /* an entry's size on disk */
#define NIDS 32

/* Counters shared with forked children. */
struct counts {
  int fetches, verifies;
};

static struct counts *cnt;
static struct test_log tlog;
static struct s3vol_id ids[NIDS];
static char base[256];
static char pfroot[300];        /* the powerfail tree, if any */
static int dirno;
static uint64_t seed0;

static void
content (unsigned k, void *buf, size_t len)
{
  test_fill (buf, len, 1000 + k);
}

/* How fetch behaves. */
struct src {
  size_t len;
  int sleep_ms;                 /* before returning */
  int fail;                     /* nonzero: return it */
  int notify_fd;                /* >= 0: write a byte when called */
  bool hang;                    /* then sleep until killed */
  bool with_verify;
};

static int
find_id (const struct s3vol_id *id)
{
  int k;

  for (k = 0; k < NIDS; k++)
    if (memcmp (id->b, ids[k].b, S3VOL_ID_LEN) == 0)
      return k;
  return -1;
}

static int
fetch (void *opaque, const struct s3vol_id *id, void *buf, size_t len)
{
  struct src *s = opaque;
  int k = find_id (id);

  __atomic_add_fetch (&cnt->fetches, 1, __ATOMIC_SEQ_CST);
  if (s->notify_fd >= 0 && write (s->notify_fd, "x", 1) != 1)
    abort ();
  while (s->hang)
    pause ();
  if (s->sleep_ms)
    usleep (s->sleep_ms * 1000);
  if (s->fail || k < 0)
    return s->fail ? s->fail : -EIO;
  content (k, buf, len);
  return 0;
}

static int
verify (void *opaque, const struct s3vol_id *id, const void *data,
        size_t len)
{
  struct s3vol_id h;

  (void) opaque;
  __atomic_add_fetch (&cnt->verifies, 1, __ATOMIC_SEQ_CST);
  s3vol_hash (data, len, &h);
  return memcmp (h.b, id->b, S3VOL_ID_LEN) == 0 ? 0 : -EBADMSG;
}

static struct chunkstore_source
source (struct src *s)
{
  return (struct chunkstore_source) {
    .fetch = fetch, .verify = s->with_verify ? verify : NULL, .opaque = s,
  };
}

static void
make_ids (size_t len)
{
  unsigned char *buf = malloc (len);
  unsigned k;

  assert_non_null (buf);
  for (k = 0; k < NIDS; k++) {
    content (k, buf, len);
    s3vol_hash (buf, len, &ids[k]);
  }
  free (buf);
}

static int
setup (void **state)
{
  const char *e = getenv ("S3VOL_TEST_SEED");

  (void) state;
  seed0 = e ? strtoull (e, NULL, 0) : (uint64_t) time (NULL);
  fprintf (stderr, "chunkstore: S3VOL_TEST_SEED=%" PRIu64 "\n", seed0);
  cnt = mmap (NULL, sizeof *cnt, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  assert_true (cnt != MAP_FAILED);
  snprintf (base, sizeof base, "/tmp/s3vol-chunkstore-test-%d",
            (int) getpid ());
  assert_int_equal (mkdir (base, 0700), 0);
  test_log_init (&tlog);
  make_ids (LEN);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[300];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf '%s' %s%s%s", base,
            pfroot[0] ? "'" : "", pfroot, pfroot[0] ? "'" : "");
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove %s\n", base);
  munmap (cnt, sizeof *cnt);
  return 0;
}

/* A fresh store directory name (not created) for each test. */
static void
new_dir (char *dir, size_t n)
{
  snprintf (dir, n, "%s/store%d", base, dirno++);
  memset (cnt, 0, sizeof *cnt);
  test_log_init (&tlog);
}

static struct chunkstore *
open_store (const char *dir, uint64_t max, const char *boot)
{
  struct chunkstore_config cfg = {
    .log = &tlog.log, .dir = dir, .max_bytes = max, .boot_id = boot,
    .touch_interval_ms = 1,
  };
  struct chunkstore *cs = NULL;

  assert_int_equal (chunkstore_open (&cfg, &cs), 0);
  return cs;
}

static void
entry_path (const char *dir, unsigned k, const char *suffix, char *out,
            size_t n)
{
  char hex[S3VOL_ID_HEX + 1];

  s3vol_id_hex (&ids[k], hex);
  snprintf (out, n, "%s/%.2s/%s%s", dir, hex, hex, suffix);
}

static bool
exists (const char *path)
{
  struct stat st;

  return lstat (path, &st) == 0;
}

/* Read id k through the store and check its bytes. */
static void
read_check (struct chunkstore *cs, unsigned k, struct src *s)
{
  struct chunkstore_source src = source (s);
  unsigned char *buf = malloc (LEN), *want = malloc (LEN);

  assert_non_null (buf);
  assert_non_null (want);
  assert_int_equal (chunkstore_read (cs, &ids[k], LEN, &src, buf), 0);
  content (k, want, LEN);
  if (memcmp (buf, want, LEN) != 0)
    fail_msg ("id %u: wrong bytes", k);
  free (buf);
  free (want);
}

/* ---- hit and miss ---- */

static void
test_hit_miss (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  struct chunkstore_source src = source (&s);
  struct chunkstore *cs, *cs2;
  struct chunkstore_stats st;
  char dir[300], path[400];
  struct stat sb;
  int fd;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 0, "b1");
  assert_int_equal (stat (dir, &sb), 0);
  assert_int_equal (sb.st_mode & 0777, 0700);

  read_check (cs, 0, &s);
  assert_int_equal (cnt->fetches, 1);
  read_check (cs, 0, &s);
  assert_int_equal (cnt->fetches, 1);
  entry_path (dir, 0, "", path, sizeof path);
  assert_int_equal (stat (path, &sb), 0);
  assert_int_equal (sb.st_mode & 0777, 0600);
  assert_int_equal (sb.st_size, ENT);
  entry_path (dir, 0, ".tmp", path, sizeof path);
  assert_false (exists (path));
  entry_path (dir, 0, ".lock", path, sizeof path);
  assert_false (exists (path));

  /* The descriptor is read-only. */
  assert_int_equal (chunkstore_get (cs, &ids[0], LEN, &src, &fd), 0);
  assert_int_equal (write (fd, "x", 1), -1);
  close (fd);

  /* Another opener (as another process would) shares the entries and
   * the counters.
   */
  cs2 = open_store (dir, 0, "b1");
  read_check (cs2, 0, &s);
  assert_int_equal (cnt->fetches, 1);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.hits, 3);
  assert_int_equal (st.misses, 1);
  assert_int_equal (st.entries, 1);
  assert_int_equal (st.bytes, ENT);
  assert_true (st.max_bytes > 0 && st.max_bytes <= CHUNKSTORE_MAX_DEFAULT);

  /* A failed fetch stores nothing, and is not remembered. */
  s.fail = -EIO;
  assert_int_equal (chunkstore_get (cs2, &ids[1], LEN, &src, &fd), -EIO);
  entry_path (dir, 1, "", path, sizeof path);
  assert_false (exists (path));
  s.fail = 0;
  read_check (cs2, 1, &s);
  assert_int_equal (cnt->fetches, 3);

  /* Bad arguments. */
  assert_int_equal (chunkstore_get (cs, &ids[2], 0, &src, &fd), -EINVAL);
  assert_int_equal (chunkstore_get (cs, &ids[2], S3VOL_CHUNK_MAX + 1, &src,
                                    &fd), -EINVAL);
  assert_int_equal (chunkstore_get (cs, &S3VOL_HOLE, LEN, &src, &fd),
                    -EINVAL);
  assert_int_equal (cnt->fetches, 3);
  chunkstore_close (cs2);
  chunkstore_close (cs);
}

/* ---- one fetch for many threads ---- */

struct par {
  struct chunkstore *cs;
  struct src *s;
  unsigned k;
  int bad;
};

static void
par_read (size_t i, void *opaque)
{
  struct par *p = opaque;
  struct chunkstore_source src = source (p->s);
  unsigned char *buf = malloc (LEN), *want = malloc (LEN);

  (void) i;
  content (p->k, want, LEN);
  if (chunkstore_read (p->cs, &ids[p->k], LEN, &src, buf) != 0 ||
      memcmp (buf, want, LEN) != 0)
    __atomic_add_fetch (&p->bad, 1, __ATOMIC_SEQ_CST);
  free (buf);
  free (want);
}

static void
test_threads (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1, .sleep_ms = 200 };
  struct par p = { .s = &s };
  char dir[300];
  unsigned k;

  (void) state;
  new_dir (dir, sizeof dir);
  p.cs = open_store (dir, 0, "b1");
  for (k = 0; k < 3; k++) {
    p.k = k;
    test_parallel (8, 8, par_read, &p);
    assert_int_equal (p.bad, 0);
    assert_int_equal (cnt->fetches, k + 1);
  }
  chunkstore_close (p.cs);
}

/* ---- one fetch for many processes ---- */

#define NPROC 4

/* A child: open the store, wait for the go, read id k; exit 0 if the
 * bytes are right.
 */
static void
child_read (const char *dir, int go, unsigned k, int sleep_ms)
{
  struct src s = { .len = LEN, .notify_fd = -1, .sleep_ms = sleep_ms };
  struct chunkstore_source src = source (&s);
  struct chunkstore_config cfg = { .dir = dir, .boot_id = "b1" };
  struct chunkstore *cs;
  unsigned char *buf = malloc (LEN), *want = malloc (LEN);
  char c;
  int ok;

  if (chunkstore_open (&cfg, &cs) != 0 || read (go, &c, 1) != 1)
    _exit (2);
  content (k, want, LEN);
  ok = chunkstore_read (cs, &ids[k], LEN, &src, buf) == 0 &&
       memcmp (buf, want, LEN) == 0;
  chunkstore_close (cs);
  _exit (ok ? 0 : 1);
}

static void
test_processes (void **state)
{
  struct chunkstore_stats st;
  struct chunkstore *cs;
  pid_t pids[NPROC];
  char dir[300];
  int go[2], i, status;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 0, "b1");
  assert_int_equal (pipe (go), 0);
  for (i = 0; i < NPROC; i++) {
    pids[i] = fork ();
    assert_true (pids[i] >= 0);
    if (pids[i] == 0)
      child_read (dir, go[0], 5, 300);
  }
  /* All at once. */
  for (i = 0; i < NPROC; i++)
    assert_int_equal (write (go[1], "g", 1), 1);
  for (i = 0; i < NPROC; i++) {
    assert_int_equal (waitpid (pids[i], &status, 0), pids[i]);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
  }
  close (go[0]);
  close (go[1]);
  assert_int_equal (cnt->fetches, 1);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.misses, 1);
  assert_int_equal (st.hits, NPROC - 1);
  chunkstore_close (cs);
}

/* ---- a fetcher killed ---- */

struct waiter {
  struct chunkstore *cs;
  struct src *s;
  int r;
  bool done;
  unsigned char *buf;
};

static void *
wait_read (void *opaque)
{
  struct waiter *w = opaque;
  struct chunkstore_source src = source (w->s);

  w->r = chunkstore_read (w->cs, &ids[6], LEN, &src, w->buf);
  __atomic_store_n (&w->done, true, __ATOMIC_SEQ_CST);
  return NULL;
}

static void
test_killed_holder (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  struct waiter w = { .s = &s, .buf = malloc (LEN) };
  unsigned char *want = malloc (LEN);
  char dir[300], path[400], c;
  pthread_t t;
  pid_t pid;
  bool waited;
  int started[2], status;

  (void) state;
  new_dir (dir, sizeof dir);
  w.cs = open_store (dir, 0, "b1");
  assert_int_equal (pipe (started), 0);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    struct src hs = { .len = LEN, .notify_fd = started[1], .hang = true };
    struct chunkstore_source src = source (&hs);
    struct chunkstore_config cfg = { .dir = dir, .boot_id = "b1" };
    struct chunkstore *cs;
    int fd;

    if (chunkstore_open (&cfg, &cs) == 0)
      chunkstore_get (cs, &ids[6], LEN, &src, &fd);
    _exit (2);
  }
  /* The child is inside its fetch, holding the lock. */
  assert_int_equal (read (started[0], &c, 1), 1);
  assert_int_equal (pthread_create (&t, NULL, wait_read, &w), 0);
  usleep (300 * 1000);
  waited = !__atomic_load_n (&w.done, __ATOMIC_SEQ_CST);
  kill (pid, SIGKILL);
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_int_equal (pthread_join (t, NULL), 0);
  if (!waited)
    fail_msg ("a second asker did not wait for the fetch in progress");
  assert_int_equal (w.r, 0);
  content (6, want, LEN);
  assert_memory_equal (w.buf, want, LEN);
  assert_int_equal (cnt->fetches, 2);
  entry_path (dir, 6, ".lock", path, sizeof path);
  assert_false (exists (path));
  close (started[0]);
  close (started[1]);
  chunkstore_close (w.cs);
  free (w.buf);
  free (want);
}

/* ---- a torn temporary file ---- */

/* The system calls, except that a big pwrite writes half and the
 * process dies.
 */
static ssize_t
dying_pwrite (void *opaque, int fd, const void *buf, size_t len, off_t off)
{
  (void) opaque;
  if (len >= LEN) {
    if (pwrite (fd, buf, len / 2, off) != (ssize_t) (len / 2))
      _exit (3);
    raise (SIGKILL);
  }
  return pwrite (fd, buf, len, off);
}

static void
test_torn_temp (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  char dir[300], entry[400], tmp[400];
  struct chunkstore *cs;
  struct stat st;
  pid_t pid;
  int status;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 0, "b1");
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    struct s3vol_fileio io = s3vol_fileio_sys;
    struct chunkstore_source src = source (&s);
    struct chunkstore_config cfg = { .dir = dir, .boot_id = "b1",
                                     .fileio = &io };
    struct chunkstore *c;
    int fd;

    io.pwrite = dying_pwrite;
    if (chunkstore_open (&cfg, &c) == 0)
      chunkstore_get (c, &ids[7], LEN, &src, &fd);
    _exit (2);
  }
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
  /* The torn file is there, under its temporary name only. */
  entry_path (dir, 7, "", entry, sizeof entry);
  entry_path (dir, 7, ".tmp", tmp, sizeof tmp);
  assert_int_equal (stat (tmp, &st), 0);
  assert_int_equal (st.st_size, ENT / 2);
  assert_false (exists (entry));
  /* The next asker fetches, and the bytes are right. */
  read_check (cs, 7, &s);
  assert_int_equal (cnt->fetches, 2);
  assert_false (exists (tmp));
  chunkstore_close (cs);
}

/* ---- eviction ---- */

/* Bytes of regular files under dir/HH (what is really stored). */
static void
test_eviction (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  struct chunkstore_source src = source (&s);
  struct chunkstore_stats st;
  struct chunkstore *cs;
  unsigned char *buf = malloc (LEN), *want = malloc (LEN);
  char dir[300], path[400];
  uint64_t freed;
  unsigned k;
  int fd;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 8 * ENT, "b1");
  for (k = 0; k < 8; k++) {
    read_check (cs, k, &s);
    usleep (20 * 1000);         /* distinct mtimes */
  }
  assert_int_equal (test_du_bytes (dir), 8 * ENT);
  /* Use 0 again: 1 and 2 are now the least recently used. */
  read_check (cs, 0, &s);
  usleep (20 * 1000);
  read_check (cs, 8, &s);       /* over the limit: down to 7/8 */
  for (k = 0; k <= 8; k++) {
    entry_path (dir, k, "", path, sizeof path);
    if (exists (path) != (k != 1 && k != 2))
      fail_msg ("id %u: %s after eviction", k,
                exists (path) ? "kept" : "evicted");
  }
  assert_int_equal (test_du_bytes (dir), 7 * ENT);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.bytes, 7 * ENT);
  assert_int_equal (st.entries, 7);
  assert_int_equal (st.evictions, 2);

  /* Many more inserts: never over the limit. */
  for (k = 9; k < NIDS; k++) {
    read_check (cs, k, &s);
    if (test_du_bytes (dir) > 8 * ENT)
      fail_msg ("after id %u: %" PRIu64 " bytes stored, limit %u", k,
                test_du_bytes (dir), 8 * ENT);
  }

  /* A reader keeps its bytes when its entry goes. */
  assert_int_equal (chunkstore_get (cs, &ids[NIDS - 1], LEN, &src, &fd), 0);
  assert_int_equal (chunkstore_prune (cs, 0, &freed), 0);
  assert_true (freed > 0);
  assert_int_equal (test_du_bytes (dir), 0);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.bytes, 0);
  assert_int_equal (st.entries, 0);
  entry_path (dir, NIDS - 1, "", path, sizeof path);
  assert_false (exists (path));
  assert_int_equal (pread (fd, buf, LEN, 0), LEN);
  content (NIDS - 1, want, LEN);
  assert_memory_equal (buf, want, LEN);
  close (fd);
  chunkstore_close (cs);
  free (buf);
  free (want);
}

/* ---- two processes, one limit ---- */

static void
child_insert (const char *dir, int go, unsigned first, unsigned n)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  struct chunkstore_config cfg = { .dir = dir, .boot_id = "b1",
                                   .max_bytes = 8 * ENT };
  struct chunkstore_source src = source (&s);
  struct chunkstore *cs;
  unsigned char *buf = malloc (LEN);
  unsigned k;
  char c;

  if (chunkstore_open (&cfg, &cs) != 0 || read (go, &c, 1) != 1)
    _exit (2);
  for (k = first; k < first + n; k++)
    if (chunkstore_read (cs, &ids[k], LEN, &src, buf) != 0)
      _exit (1);
  chunkstore_close (cs);
  _exit (0);
}

static void
test_shared_limit (void **state)
{
  struct chunkstore_stats st;
  struct chunkstore *cs;
  char dir[300];
  pid_t pids[2];
  int go[2], i, status;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 8 * ENT, "b1");
  assert_int_equal (pipe (go), 0);
  for (i = 0; i < 2; i++) {
    pids[i] = fork ();
    assert_true (pids[i] >= 0);
    if (pids[i] == 0)
      child_insert (dir, go[0], i * (NIDS / 2), NIDS / 2);
  }
  assert_int_equal (write (go[1], "gg", 2), 2);
  for (i = 0; i < 2; i++) {
    assert_int_equal (waitpid (pids[i], &status, 0), pids[i]);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
  }
  close (go[0]);
  close (go[1]);
  assert_int_equal (cnt->fetches, NIDS);
  /* Each process may have inserted one entry while the other pruned. */
  if (test_du_bytes (dir) > 10 * ENT)
    fail_msg ("%" PRIu64 " bytes stored, limit %u", test_du_bytes (dir), 8 * ENT);
  assert_int_equal (chunkstore_prune (cs, 8 * ENT, NULL), 0);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.bytes, test_du_bytes (dir));
  assert_true (st.bytes <= 8 * ENT);
  assert_int_equal (st.entries, st.bytes / ENT);
  chunkstore_close (cs);
}

/* ---- leftovers of dead fetchers ---- */

/* Make path, dated an hour ago. */
static void
make_old (const char *path)
{
  struct timespec t[2];
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);

  assert_true (fd >= 0);
  assert_int_equal (write (fd, "junk", 4), 4);
  clock_gettime (CLOCK_REALTIME, &t[0]);
  t[0].tv_sec -= 3600;
  t[1] = t[0];
  assert_int_equal (futimens (fd, t), 0);
  close (fd);
}

static void
test_stale (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1 };
  char dir[300], path[400], sub[400];
  struct chunkstore *cs;
  unsigned k;
  int held;

  (void) state;
  new_dir (dir, sizeof dir);
  cs = open_store (dir, 0, "b1");
  for (k = 20; k < 22; k++) {
    entry_path (dir, k, "", sub, sizeof sub);
    *strrchr (sub, '/') = '\0';
    assert_true (mkdir (sub, 0700) == 0 || errno == EEXIST);
    entry_path (dir, k, ".tmp", path, sizeof path);
    make_old (path);
    entry_path (dir, k, ".lock", path, sizeof path);
    make_old (path);
  }
  /* 21's fetcher is alive (it holds the lock). */
  held = open (path, O_RDWR);
  assert_true (held >= 0);
  assert_int_equal (flock (held, LOCK_EX), 0);
  assert_int_equal (chunkstore_prune (cs, 1ull << 40, NULL), 0);
  entry_path (dir, 20, ".tmp", path, sizeof path);
  assert_false (exists (path));
  entry_path (dir, 20, ".lock", path, sizeof path);
  assert_false (exists (path));
  entry_path (dir, 21, ".tmp", path, sizeof path);
  assert_true (exists (path));
  entry_path (dir, 21, ".lock", path, sizeof path);
  assert_true (exists (path));
  close (held);
  /* The entries themselves work as usual. */
  read_check (cs, 20, &s);
  read_check (cs, 21, &s);
  assert_int_equal (cnt->fetches, 2);
  chunkstore_close (cs);
}

/* ---- unsafe directories ---- */

static void
refused (const char *dir, const char *why)
{
  struct chunkstore_config cfg = { .log = &tlog.log, .dir = dir };
  struct chunkstore *cs = NULL;

  tlog.last_error[0] = '\0';
  assert_int_equal (chunkstore_open (&cfg, &cs), -EPERM);
  assert_null (cs);
  if (strstr (tlog.last_error, why) == NULL)
    fail_msg ("refusing %s: \"%s\" does not say \"%s\"", dir,
              tlog.last_error, why);
}

static void
test_unsafe_dir (void **state)
{
  char real[300], link[320];
  struct chunkstore *cs;

  (void) state;
  new_dir (real, sizeof real);
  assert_int_equal (mkdir (real, 0700), 0);
  snprintf (link, sizeof link, "%s-link", real);
  assert_int_equal (symlink (real, link), 0);
  refused (link, "symbolic link");

  assert_int_equal (chmod (real, 0777), 0);
  refused (real, "0700");
  assert_int_equal (chmod (real, 0750), 0);
  refused (real, "0700");
  assert_int_equal (chmod (real, 0700), 0);
  if (geteuid () == 0) {
    assert_int_equal (chown (real, 65534, 65534), 0);
    refused (real, "not owned");
    assert_int_equal (chown (real, 0, 0), 0);
  }
  cs = open_store (real, 0, "b1");
  chunkstore_close (cs);
}

/* ---- after a reboot ---- */

static void
reopen (struct chunkstore **cs, const char *dir, const char *boot,
        bool sync)
{
  struct chunkstore_config cfg = {
    .log = &tlog.log, .dir = dir, .boot_id = boot, .sync = sync,
  };

  chunkstore_close (*cs);
  assert_int_equal (chunkstore_open (&cfg, cs), 0);
}

static void
test_reboot (void **state)
{
  struct src s = { .len = LEN, .notify_fd = -1, .with_verify = true };
  struct chunkstore_stats st;
  struct chunkstore *cs = NULL;
  char dir[300], path[400];
  unsigned k;
  int fd;

  (void) state;
  new_dir (dir, sizeof dir);
  reopen (&cs, dir, "A", false);
  for (k = 0; k < 4; k++)
    read_check (cs, k, &s);
  assert_int_equal (cnt->fetches, 4);

  /* Same boot: trusted as they are. */
  reopen (&cs, dir, "A", false);
  read_check (cs, 0, &s);
  assert_int_equal (cnt->verifies, 0);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.entries, 4);

  /* Another boot: verified once, then marked. */
  reopen (&cs, dir, "B", false);
  read_check (cs, 0, &s);
  assert_int_equal (cnt->verifies, 1);
  read_check (cs, 0, &s);
  reopen (&cs, dir, "B", false);
  read_check (cs, 0, &s);
  assert_int_equal (cnt->verifies, 1);
  assert_int_equal (cnt->fetches, 4);

  /* Torn bytes (as a power loss leaves them): fetched again. */
  entry_path (dir, 1, "", path, sizeof path);
  fd = open (path, O_WRONLY);
  assert_true (fd >= 0);
  assert_int_equal (pwrite (fd, "torn", 4, 4096), 4);
  close (fd);
  reopen (&cs, dir, "C", false);
  read_check (cs, 1, &s);
  assert_int_equal (cnt->verifies, 2);
  assert_int_equal (cnt->fetches, 5);
  chunkstore_stats (cs, &st);
  assert_int_equal (st.dropped, 1);

  /* No verify: dropped and fetched. */
  s.with_verify = false;
  reopen (&cs, dir, "D", false);
  read_check (cs, 2, &s);
  assert_int_equal (cnt->fetches, 6);
  read_check (cs, 2, &s);
  assert_int_equal (cnt->fetches, 6);

  /* Synced entries need no verification after a crash. */
  reopen (&cs, dir, "E", true);
  read_check (cs, 9, &s);
  reopen (&cs, dir, "F", false);
  read_check (cs, 9, &s);
  assert_int_equal (cnt->fetches, 7);
  assert_int_equal (cnt->verifies, 2);
  chunkstore_close (cs);
}

/* ---- power loss ---- */

#define PF_LEN 8192u
#define PF_IDS 12
#define PF_BUDGET_S 15.0

struct pf_totals {
  unsigned rounds, served, fetched, crashed_open;
};

static struct chunkstore *
pf_open (const char *dir, struct powerfail *pf, const char *boot, bool sync)
{
  struct chunkstore_config cfg = {
    .log = &tlog.log, .dir = dir, .boot_id = boot, .sync = sync,
    .max_bytes = 8 * (PF_LEN + 32), .touch_interval_ms = 1,
    .fileio = pf ? powerfail_fileio (pf) : NULL,
  };
  struct chunkstore *cs = NULL;

  if (chunkstore_open (&cfg, &cs) < 0)
    return NULL;
  return cs;
}

/* Random gets and prunes until the power goes. */
static void
pf_work (struct chunkstore *cs, struct powerfail *pf, uint64_t *rng)
{
  struct src s = { .len = PF_LEN, .notify_fd = -1 };
  struct chunkstore_source src = source (&s);
  unsigned char buf[PF_LEN];
  unsigned i;
  int r;

  for (i = 0; i < 40 && !powerfail_crashed (pf); i++) {
    if (test_rand (rng) % 10 == 0)
      r = chunkstore_prune (cs, test_rand (rng) % (6 * PF_LEN), NULL);
    else
      r = chunkstore_read (cs, &ids[test_rand (rng) % PF_IDS], PF_LEN,
                           &src, buf);
    if (r < 0 && !powerfail_crashed (pf))
      fail_msg ("error %d with the power on", r);
  }
  powerfail_crash (pf);
}

/* After the reboot: every id reads right, whether kept or fetched. */
static void
pf_check (struct chunkstore *cs, bool with_verify, uint64_t rseed,
          struct pf_totals *t)
{
  struct src s = { .len = PF_LEN, .notify_fd = -1,
                   .with_verify = with_verify };
  unsigned char buf[PF_LEN], want[PF_LEN];
  unsigned k;
  int before;

  for (k = 0; k < PF_IDS; k++) {
    struct chunkstore_source src = source (&s);
    before = cnt->fetches;
    assert_int_equal (chunkstore_read (cs, &ids[k], PF_LEN, &src, buf), 0);
    content (k, want, PF_LEN);
    if (memcmp (buf, want, PF_LEN) != 0)
      fail_msg ("round seed %" PRIu64 ": id %u served wrong bytes after "
                "the power cut", rseed, k);
    if (cnt->fetches == before)
      t->served++;
    else
      t->fetched++;
  }
}

static void
pf_round (const char *root, uint64_t rseed, struct pf_totals *t)
{
  uint64_t rng = rseed;
  bool sync = test_rand (&rng) % 2, keep = test_rand (&rng) % 4 != 0;
  bool with_verify = test_rand (&rng) % 2;
  char dir[300], sub[320], boot0[64], boot1[64], cmd[400];
  const struct s3vol_fileio *io;
  struct powerfail *pf;
  struct chunkstore *cs;
  int fd;

  snprintf (dir, sizeof dir, "%s/store", root);
  snprintf (boot0, sizeof boot0, "boot-%" PRIu64 "-0", rseed);
  /* A real crash of the host changes the boot id; synced entries must
   * not need that, so sync rounds keep it.
   */
  snprintf (boot1, sizeof boot1, "boot-%" PRIu64 "-%d", rseed, !sync);
  /* The store's directories are durable (more entries can survive);
   * what is in them is not.
   */
  assert_int_equal (mkdir (dir, 0700), 0);
  for (fd = 0; fd < 256; fd++) {
    snprintf (sub, sizeof sub, "%s/%02x", dir, fd);
    assert_int_equal (mkdir (sub, 0700), 0);
  }
  assert_int_equal (powerfail_new (root, &pf), 0);
  /* powerfail_reboot needs one descriptor seen first (it clears its
   * table of them, which exists only after one).
   */
  io = powerfail_fileio (pf);
  fd = io->open_dir (io->opaque, root);
  assert_true (fd >= 0);
  io->close (io->opaque, fd);
  powerfail_arm (pf, 1 + test_rand (&rng) % 400);
  cs = pf_open (dir, pf, boot0, sync);
  if (cs == NULL) {
    assert_true (powerfail_crashed (pf));
    t->crashed_open++;
  }
  else {
    pf_work (cs, pf, &rng);
    chunkstore_close (cs);
  }
  assert_int_equal (powerfail_reboot (pf, keep, test_rand (&rng)), 0);
  powerfail_free (pf);
  /* The simulated disk does not keep modes: it rewrites 0755. */
  if (chmod (dir, 0700) == -1)
    assert_int_equal (errno, ENOENT);
  cs = pf_open (dir, NULL, boot1, sync);
  assert_non_null (cs);
  pf_check (cs, with_verify, rseed, t);
  chunkstore_close (cs);
  snprintf (cmd, sizeof cmd, "rm -rf '%s'/*", root);
  assert_int_equal (system (cmd), 0);
}

static void
test_powerfail (void **state)
{
  const char *e = getenv ("S3VOL_POWERFAIL_ROUNDS");
  unsigned rounds = e ? atoi (e) : 300, i;
  const char *tmp = access ("/dev/shm", W_OK) == 0 ? "/dev/shm" : base;
  struct pf_totals t = { 0 };
  char *root = pfroot, cmd[400];
  double t0 = test_now ();

  (void) state;
  new_dir (root, sizeof pfroot);
  make_ids (PF_LEN);
  snprintf (root, sizeof pfroot, "%s/s3vol-chunkstore-pf-XXXXXX", tmp);
  assert_non_null (mkdtemp (root));
  for (i = 0; i < rounds && test_now () - t0 < PF_BUDGET_S; i++, t.rounds++)
    pf_round (root, seed0 * 1000003 + i, &t);
  fprintf (stderr, "powerfail: %u rounds, %u ids served from the store "
           "after the cut, %u fetched again, %u cuts while opening\n",
           t.rounds, t.served, t.fetched, t.crashed_open);
  /* Not vacuous: entries did survive cuts, and some did not. */
  if (t.rounds >= 20) {
    assert_true (t.served > 0);
    assert_true (t.fetched > 0);
  }
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
  assert_int_equal (system (cmd), 0);
  root[0] = '\0';
  make_ids (LEN);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_hit_miss),
    cmocka_unit_test (test_threads),
    cmocka_unit_test (test_processes),
    cmocka_unit_test (test_killed_holder),
    cmocka_unit_test (test_torn_temp),
    cmocka_unit_test (test_eviction),
    cmocka_unit_test (test_shared_limit),
    cmocka_unit_test (test_stale),
    cmocka_unit_test (test_unsafe_dir),
    cmocka_unit_test (test_reboot),
    cmocka_unit_test (test_powerfail),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
