/* SPDX-License-Identifier: BSD-3-Clause */
/* files_raw: the reference for the files benchmark (tests/bench/files.sh).
 *
 *   build/bench/files_raw URL raw MIB [THREADS]
 *       put MIB MiB of random bytes as 1 MiB objects on THREADS threads
 *       (default 8, the cache's), then get them back; print both rates
 *       as "put MIB/S" and "get MIB/S" lines; delete them
 *   build/bench/files_raw URL count
 *       print "OBJECTS BYTES" under the store
 *
 * Plain object puts and gets of the bytes s3vol put/get move, without
 * the filesystem, the cache or the chunk encoding: what a put or get of
 * a big file can at best approach.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/objstore.h"

#define OBJ (1u << 20)

struct job {
  struct objstore *s;
  char tag[64];
  uint8_t *data;
  unsigned n;
  bool get;
  atomic_uint next;
  atomic_int err;
};

static const struct s3vol_log log_stderr = {
  .fn = s3vol_log_stderr, .opaque = (void *) (intptr_t) S3VOL_LOG_WARNING,
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
worker (void *opaque)
{
  struct job *j = opaque;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  char key[128];
  unsigned i;
  int r;

  while ((i = atomic_fetch_add (&j->next, 1)) < j->n && !j->err) {
    snprintf (key, sizeof key, "%s/%u", j->tag, i);
    b.len = 0;
    r = j->get ? objstore_get (j->s, key, 0, OBJSTORE_TO_END, &b)
      : objstore_put (j->s, key, j->data + (size_t) (i % 64) * OBJ, OBJ, 0);
    if (r < 0)
      atomic_store (&j->err, r);
  }
  s3vol_buf_free (&b);
  return NULL;
}

static double
run (struct job *j, bool get, unsigned threads)
{
  pthread_t t[64];
  double t0 = now ();
  unsigned k;

  j->get = get;
  atomic_store (&j->next, 0);
  for (k = 0; k < threads; k++)
    pthread_create (&t[k], NULL, worker, j);
  for (k = 0; k < threads; k++)
    pthread_join (t[k], NULL);
  return now () - t0;
}

static int
count_one (void *opaque, const struct objstore_entry *e)
{
  uint64_t *c = opaque;

  c[0]++;
  c[1] += e->st.size;
  return 0;
}

int
main (int argc, char **argv)
{
  struct objstore_config cfg = { .log = &log_stderr };
  struct job j = { 0 };
  uint64_t c[2] = { 0, 0 };
  unsigned threads, i;
  double t;
  char **keys;

  if (argc < 3 || (strcmp (argv[2], "raw") && strcmp (argv[2], "count")) ||
      (strcmp (argv[2], "raw") == 0 && argc < 4)) {
    fprintf (stderr, "usage: files_raw URL raw MIB [THREADS] | URL count\n");
    return 2;
  }
  if (objstore_open (argv[1], &cfg, &j.s) < 0)
    return 1;
  if (strcmp (argv[2], "count") == 0) {
    if (objstore_list (j.s, "", NULL, count_one, c) < 0)
      return 1;
    printf ("%" PRIu64 " %" PRIu64 "\n", c[0], c[1]);
    objstore_close (j.s);
    return 0;
  }
  j.n = atoi (argv[3]);
  threads = argc > 4 ? (unsigned) atoi (argv[4]) : 8;
  if (threads < 1 || threads > 64 || j.n == 0)
    return 2;
  snprintf (j.tag, sizeof j.tag, "files-raw-%d", (int) getpid ());
  j.data = malloc ((size_t) 64 * OBJ);
  for (i = 0; i < 64u * OBJ / 4; i++)
    ((uint32_t *) j.data)[i] = rand () * 2654435761u + i;
  t = run (&j, false, threads);
  printf ("put %.1f\n", j.n / t);
  t = run (&j, true, threads);
  printf ("get %.1f\n", j.n / t);
  keys = malloc (j.n * sizeof *keys);
  for (i = 0; i < j.n; i++) {
    keys[i] = malloc (128);
    snprintf (keys[i], 128, "%s/%u", j.tag, i);
  }
  objstore_del_many (j.s, (const char *const *) keys, j.n);
  for (i = 0; i < j.n; i++)
    free (keys[i]);
  free (keys);
  free (j.data);
  objstore_close (j.s);
  return j.err ? 1 : 0;
}
