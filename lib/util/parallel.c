/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: run a function over an index range on a few threads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "s3vol/parallel.h"

struct par {
  atomic_size_t next;
  atomic_int err;
  size_t n;
  int (*fn) (size_t, void *);
  void *opaque;
};

static void *
worker (void *arg)
{
  struct par *p = arg;
  size_t i;
  int r, zero;

  while (atomic_load (&p->err) == 0 &&
         (i = atomic_fetch_add (&p->next, 1)) < p->n) {
    r = p->fn (i, p->opaque);
    zero = 0;
    if (r < 0)
      atomic_compare_exchange_strong (&p->err, &zero, r);
  }
  return NULL;
}

int
s3vol_parallel (unsigned nthreads, size_t n,
                int (*fn) (size_t i, void *opaque), void *opaque)
{
  struct par p = { .n = n, .fn = fn, .opaque = opaque };
  pthread_t *t;
  unsigned i, started = 0;

  atomic_init (&p.next, 0);
  atomic_init (&p.err, 0);
  if (nthreads > n)
    nthreads = n;
  t = nthreads > 1 ? calloc (nthreads - 1, sizeof *t) : NULL;
  for (i = 0; t && i + 1 < nthreads; i++) {
    if (pthread_create (&t[i], NULL, worker, &p) != 0)
      break;
    started++;
  }
  worker (&p);
  for (i = 0; i < started; i++)
    pthread_join (t[i], NULL);
  free (t);
  return atomic_load (&p.err);
}
