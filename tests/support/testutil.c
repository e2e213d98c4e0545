/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol unit tests: shared helpers. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/parallel.h"
#include "testutil.h"

static char tmpdir[256];
static char url[1100];

static void
rm_tree (void)
{
  char cmd[400];

  if (tmpdir[0]) {
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system (cmd) != 0)
      fprintf (stderr, "warning: could not remove %s\n", tmpdir);
    tmpdir[0] = '\0';
  }
}

const char *
test_store_url (void)
{
  const char *env = getenv ("S3VOL_TEST_STORE");

  if (url[0])
    return url;
  if (env && env[0]) {
    snprintf (url, sizeof url, "%s", env);
    return url;
  }
  snprintf (tmpdir, sizeof tmpdir, "%s/s3vol-test-XXXXXX",
            getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  if (mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    exit (1);
  }
  atexit (rm_tree);
  snprintf (url, sizeof url, "file://%s", tmpdir);
  return url;
}

static const struct s3vol_log stderr_log = {
  .fn = s3vol_log_stderr,
  .opaque = (void *) (intptr_t) S3VOL_LOG_WARNING,
};

static char chunk_cache[64];
static pid_t chunk_cache_pid;

static void
remove_chunk_cache (void)
{
  char cmd[128];

  if (getpid () != chunk_cache_pid)     /* a forked child exiting */
    return;
  snprintf (cmd, sizeof cmd, "rm -rf %s", chunk_cache);
  if (system (cmd) != 0)
    fprintf (stderr, "could not remove %s\n", chunk_cache);
}

const char *
test_chunk_cache (void)
{
  if (getenv ("S3VOL_CHUNK_CACHE"))
    return getenv ("S3VOL_CHUNK_CACHE");
  snprintf (chunk_cache, sizeof chunk_cache, "/tmp/s3vol-chunks-test-%d",
            (int) getpid ());
  setenv ("S3VOL_CHUNK_CACHE", chunk_cache, 1);
  chunk_cache_pid = getpid ();
  atexit (remove_chunk_cache);
  return chunk_cache;
}

struct objstore *
test_store_open (void)
{
  struct objstore_config cfg = { .log = &stderr_log };
  struct objstore *s = NULL;
  int r;

  test_chunk_cache ();
  r = objstore_open (test_store_url (), &cfg, &s);
  if (r < 0) {
    fprintf (stderr, "cannot open test store %s: %s\n", test_store_url (),
             strerror (-r));
    exit (1);
  }
  return s;
}

void
test_store_close (struct objstore *s)
{
  objstore_close (s);
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void
test_log_fn (void *opaque, enum s3vol_log_level level, const char *msg)
{
  struct test_log *tl = opaque;

  pthread_mutex_lock (&log_lock);
  if (level == S3VOL_LOG_ERROR) {
    tl->errors++;
    snprintf (tl->last_error, sizeof tl->last_error, "%s", msg);
  }
  else if (level == S3VOL_LOG_WARNING) {
    tl->warnings++;
    snprintf (tl->last_warning, sizeof tl->last_warning, "%s", msg);
  }
  else if (level == S3VOL_LOG_DEBUG && strstr (msg, "; try "))
    tl->retries++;
  else if (level == S3VOL_LOG_DEBUG && strstr (msg, "curl sent it again"))
    tl->resends++;
  pthread_mutex_unlock (&log_lock);
  if (getenv ("TEST_VERBOSE") &&
      (level <= S3VOL_LOG_WARNING || atoi (getenv ("TEST_VERBOSE")) > 1))
    fprintf (stderr, "log: %s\n", msg);
}

void
test_log_init (struct test_log *tl)
{
  memset (tl, 0, sizeof *tl);
  tl->log.fn = test_log_fn;
  tl->log.opaque = tl;
}

double
test_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t
test_rand (uint64_t *state)
{
  /* splitmix64 */
  uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t
test_du_bytes (const char *dir)
{
  char cmd[400];
  FILE *f;
  unsigned long long n = 0;

  snprintf (cmd, sizeof cmd, "find '%s' -mindepth 2 -type f -printf "
            "'%%s\\n' | awk '{ s += $1 } END { print s + 0 }'", dir);
  f = popen (cmd, "r");
  if (f == NULL || fscanf (f, "%llu", &n) != 1) {
    fprintf (stderr, "test_du_bytes: cannot measure %s\n", dir);
    abort ();
  }
  pclose (f);
  return n;
}

void
test_fill (void *buf, size_t len, uint64_t seed)
{
  unsigned char *p = buf;
  uint64_t st = seed, v = 0;
  size_t i;

  for (i = 0; i < len; i++) {
    if (i % 8 == 0)
      v = test_rand (&st);
    p[i] = v >> (8 * (i % 8));
  }
}

struct par_void {
  void (*fn) (size_t, void *);
  void *opaque;
};

static int
call_void (size_t i, void *opaque)
{
  struct par_void *pv = opaque;

  pv->fn (i, pv->opaque);
  return 0;
}

void
test_parallel (unsigned nthreads, size_t n,
               void (*fn) (size_t i, void *opaque), void *opaque)
{
  struct par_void pv = { fn, opaque };

  s3vol_parallel (nthreads, n, call_void, &pv);
}

void
test_put (struct objstore *s, const char *key, size_t len, uint64_t seed)
{
  void *data = malloc (len ? len : 1);

  assert_non_null (data);
  test_fill (data, len, seed);
  assert_int_equal (objstore_put (s, key, data, len, 0), 0);
  free (data);
}

struct keylist {
  char **keys;
  size_t n, cap;
  size_t plen;
};

static int
collect (void *opaque, const struct objstore_entry *e)
{
  struct keylist *kl = opaque;

  if (kl->n == kl->cap) {
    kl->cap = kl->cap ? kl->cap * 2 : 256;
    kl->keys = realloc (kl->keys, kl->cap * sizeof *kl->keys);
    assert_non_null (kl->keys);
  }
  kl->keys[kl->n] = strdup (e->key);
  assert_non_null (kl->keys[kl->n]);
  kl->n++;
  return 0;
}

void
test_clear_prefix (struct objstore *s, const char *prefix)
{
  struct keylist kl = { 0 };
  size_t i;

  assert_int_equal (objstore_list (s, prefix, NULL, collect, &kl), 0);
  if (kl.n)
    assert_int_equal (objstore_del_many (s, (const char *const *) kl.keys,
                                         kl.n), 0);
  for (i = 0; i < kl.n; i++)
    free (kl.keys[i]);
  free (kl.keys);
}

void
test_require_s3 (void)
{
  if (!getenv ("AWS_ENDPOINT_URL") || !getenv ("S3VOL_TEST_BUCKET")) {
    fprintf (stderr, "SKIP: no S3 server (AWS_ENDPOINT_URL / "
             "S3VOL_TEST_BUCKET unset; run under scripts/s3-server)\n");
    exit (TEST_SKIP);
  }
}
