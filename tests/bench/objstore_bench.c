/* SPDX-License-Identifier: BSD-3-Clause */
/* objstore_bench: throughput of whole-object puts and gets.
 *
 *   build/bench/objstore_bench URL [MIB_PER_CELL]
 *
 * For objects of 1 MiB and 8 MiB and 1, 4 and 16 threads, puts then gets
 * about MIB_PER_CELL MiB (default 128 for 1 MiB objects, 256 for 8 MiB)
 * under a fresh key prefix, prints one table row per cell, and deletes
 * what it wrote.  A cell stops early after 30 s, so a slow store bounds
 * the run.  With an s3:// URL the S3 settings come from the usual AWS_*
 * variables.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/objstore.h"

#define CELL_SECONDS 30.0

struct cell {
  struct objstore *s;
  const char *tag;              /* key prefix of this run */
  const uint8_t *data;
  size_t size;
  unsigned nops;
  bool get;
  atomic_uint next;             /* next op to claim */
  atomic_uint done;
  atomic_int err;
  double deadline;
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
key_of (const struct cell *c, unsigned i, char *key, size_t n)
{
  snprintf (key, n, "%s/%zu/%u", c->tag, c->size >> 20, i);
}

static void *
worker (void *opaque)
{
  struct cell *c = opaque;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  char key[128];
  unsigned i;
  int r;

  while ((i = atomic_fetch_add (&c->next, 1)) < c->nops &&
         atomic_load (&c->err) == 0 && now () < c->deadline) {
    key_of (c, i, key, sizeof key);
    if (c->get) {
      s3vol_buf_clear (&b);
      r = objstore_get (c->s, key, 0, OBJSTORE_TO_END, &b);
      if (r == 0 && b.len != c->size)
        r = -EIO;
    }
    else
      r = objstore_put (c->s, key, c->data, c->size, 0);
    if (r < 0) {
      atomic_store (&c->err, r);
      break;
    }
    atomic_fetch_add (&c->done, 1);
  }
  s3vol_buf_free (&b);
  return NULL;
}

/* Run one direction of a cell; returns ops done, or a negative errno. */
static int
run (struct cell *c, unsigned threads, double *secs)
{
  pthread_t tid[16];
  double t0 = now ();
  unsigned i;

  atomic_store (&c->next, 0);
  atomic_store (&c->done, 0);
  atomic_store (&c->err, 0);
  c->deadline = t0 + CELL_SECONDS;
  for (i = 0; i < threads; i++)
    pthread_create (&tid[i], NULL, worker, c);
  for (i = 0; i < threads; i++)
    pthread_join (tid[i], NULL);
  *secs = now () - t0;
  return atomic_load (&c->err) ? atomic_load (&c->err)
                               : (int) atomic_load (&c->done);
}

static int
cleanup (struct cell *c, unsigned n)
{
  char **keys = calloc (n, sizeof *keys);
  unsigned i;
  int r = -ENOMEM;

  if (keys == NULL)
    return r;
  for (i = 0; i < n; i++) {
    keys[i] = malloc (128);
    if (keys[i] == NULL)
      goto out;
    key_of (c, i, keys[i], 128);
  }
  r = objstore_del_many (c->s, (const char *const *) keys, n);
 out:
  for (i = 0; i < n; i++)
    free (keys[i]);
  free (keys);
  return r;
}

int
main (int argc, char **argv)
{
  static const size_t sizes[] = { 1u << 20, 8u << 20 };
  static const unsigned nthreads[] = { 1, 4, 16 };
  struct s3vol_log log = { s3vol_log_stderr, (void *) (intptr_t) 1 };
  struct objstore_config cfg = { .log = &log };
  struct cell c = { 0 };
  char tag[64];
  uint8_t *data;
  size_t si, ti, i;
  int status = 0;

  if (argc < 2 || argc > 3) {
    fprintf (stderr, "usage: %s URL [MIB_PER_CELL]\n", argv[0]);
    return 2;
  }
  if (objstore_open (argv[1], &cfg, &c.s) < 0)
    return 1;
  data = malloc (sizes[1]);
  if (data == NULL)
    return 1;
  /* Incompressible, so no layer can cheat. */
  srandom (getpid ());
  for (i = 0; i < sizes[1]; i++)
    data[i] = random () >> 7;
  snprintf (tag, sizeof tag, "bench-%d", (int) getpid ());
  c.tag = tag;
  c.data = data;

  printf ("%-6s %7s %4s %9s %9s\n", "size", "threads", "op", "MiB/s",
          "ops/s");
  for (si = 0; si < 2; si++) {
    for (ti = 0; ti < 3; ti++) {
      unsigned mib = argc == 3 ? atoi (argv[2]) : si == 0 ? 128 : 256;
      double secs;
      int n, put_n;

      c.size = sizes[si];
      c.nops = mib / (c.size >> 20);
      if (c.nops < nthreads[ti])
        c.nops = nthreads[ti];
      for (c.get = false; ; c.get = true) {
        n = run (&c, nthreads[ti], &secs);
        if (n < 0) {
          fprintf (stderr, "objstore_bench: %s failed: %s\n",
                   c.get ? "get" : "put", strerror (-n));
          status = 1;
          break;
        }
        printf ("%3zuMiB %7u %4s %9.1f %9.1f\n", c.size >> 20,
                nthreads[ti], c.get ? "get" : "put",
                n * (double) (c.size >> 20) / secs, n / secs);
        fflush (stdout);
        if (c.get)
          break;
        put_n = n;
        c.nops = put_n;         /* get only what was put */
      }
      if (cleanup (&c, c.nops) < 0)
        status = 1;
      if (status)
        goto out;
    }
  }
 out:
  objstore_close (c.s);
  free (data);
  return status;
}
