/* SPDX-License-Identifier: BSD-3-Clause */
/* chunkstore_bench: costs of the host-wide chunk store (no network: the
 * fetch copies from memory).
 *
 *   build/bench/chunkstore_bench [DIR]
 *
 * In a fresh store under DIR (default /var/tmp: a real disk, for the
 * cost of fsync), prints: misses of 1 MiB chunks without and with
 * cfg.sync (the price of fsync against the boot id), misses of 4 KiB
 * (the file operations alone), the scan of a prune over 4352 entries,
 * hits (get, read 1 MiB, close) on 1 and 2 threads, the lookup alone
 * (get and close).  Removes what it wrote.
 *
 * Not in tests/bench/run yet: make BUILD=build build/bench/chunkstore_bench
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/chunkstore.h"

#define MIB (1u << 20)
#define NMISS 256
#define NSCAN 4096
#define HIT_SECONDS 2.0

static unsigned char *pattern;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Ids need not be hashes here: the store never hashes. */
static struct s3vol_id
fake_id (unsigned set, unsigned i)
{
  struct s3vol_id id = { { 0 } };

  id.b[0] = i * 131 + set;      /* spread over the HH directories */
  memcpy (id.b + 1, &i, sizeof i);
  memcpy (id.b + 8, &set, sizeof set);
  id.b[31] = 1;
  return id;
}

static int
fetch (void *opaque, const struct s3vol_id *id, void *buf, size_t len)
{
  (void) opaque;
  (void) id;
  memcpy (buf, pattern, len);
  return 0;
}

static const struct chunkstore_source src = { .fetch = fetch };

static struct chunkstore *
open_store (const char *dir, bool sync)
{
  struct chunkstore_config cfg = { .dir = dir, .sync = sync,
                                   .max_bytes = 1ull << 40 };
  struct chunkstore *cs;
  int r = chunkstore_open (&cfg, &cs);

  if (r < 0) {
    fprintf (stderr, "chunkstore_open %s: %s\n", dir, strerror (-r));
    exit (1);
  }
  return cs;
}

static void
get_close (struct chunkstore *cs, const struct s3vol_id *id, size_t len,
           void *buf)
{
  int fd, r = chunkstore_get (cs, id, len, &src, &fd);

  if (r < 0) {
    fprintf (stderr, "chunkstore_get: %s\n", strerror (-r));
    exit (1);
  }
  if (buf && pread (fd, buf, len, 0) != (ssize_t) len) {
    fprintf (stderr, "pread failed\n");
    exit (1);
  }
  close (fd);
}

static void
misses (struct chunkstore *cs, unsigned set, const char *what)
{
  double t0 = now (), dt;
  unsigned i;

  for (i = 0; i < NMISS; i++) {
    struct s3vol_id id = fake_id (set, i);
    get_close (cs, &id, MIB, NULL);
  }
  dt = now () - t0;
  printf ("%-34s %8.0f MiB/s %8.1f us/op\n", what, NMISS / dt,
          dt / NMISS * 1e6);
}

struct hitter {
  struct chunkstore *cs;
  bool read;
  unsigned long ops;
};

static void *
hit_loop (void *opaque)
{
  struct hitter *h = opaque;
  unsigned char *buf = h->read ? malloc (MIB) : NULL;
  double end = now () + HIT_SECONDS;

  while (now () < end) {
    struct s3vol_id id = fake_id (0, h->ops % NMISS);
    get_close (h->cs, &id, MIB, buf);
    h->ops++;
  }
  free (buf);
  return NULL;
}

static void
hits (struct chunkstore *cs, unsigned nthreads, bool read)
{
  struct hitter h[8] = { { 0 } };
  pthread_t t[8];
  unsigned long ops = 0;
  unsigned i;

  for (i = 0; i < nthreads; i++) {
    h[i] = (struct hitter) { .cs = cs, .read = read };
    pthread_create (&t[i], NULL, hit_loop, &h[i]);
  }
  for (i = 0; i < nthreads; i++) {
    pthread_join (t[i], NULL);
    ops += h[i].ops;
  }
  printf ("%-20s %u thread%s   %8.0f %s %8.1f us/op\n",
          read ? "hit, read 1 MiB:" : "hit, lookup only:", nthreads,
          nthreads > 1 ? "s" : " ",
          read ? ops / HIT_SECONDS : ops / HIT_SECONDS / 1000,
          read ? "MiB/s" : "kop/s", HIT_SECONDS * 1e6 * nthreads / ops);
}

static void
scan (struct chunkstore *cs)
{
  double t0 = now ();
  unsigned i;

  for (i = 0; i < NSCAN; i++) {
    struct s3vol_id id = fake_id (2, i);
    get_close (cs, &id, 4096, NULL);
  }
  printf ("%-34s %8.1f us/op\n", "miss, 4 KiB, boot id:",
          (now () - t0) / NSCAN * 1e6);
  t0 = now ();
  if (chunkstore_prune (cs, 1ull << 40, NULL) < 0)
    exit (1);
  printf ("%-34s %8.1f ms (%u entries)\n", "prune scan, nothing evicted:",
          (now () - t0) * 1e3, NMISS + NSCAN);
}

int
main (int argc, char **argv)
{
  char dir[512], cmd[600];
  struct chunkstore *cs;
  double t0;
  int r;

  snprintf (dir, sizeof dir, "%s/s3vol-chunkstore-bench-XXXXXX",
            argc > 1 ? argv[1] : "/var/tmp");
  if (mkdtemp (dir) == NULL) {
    perror (dir);
    return 1;
  }
  pattern = malloc (MIB);
  memset (pattern, 0x5a, MIB);
  printf ("chunk store in %s\n", dir);
  cs = open_store (dir, false);
  misses (cs, 0, "miss, 1 MiB, boot id (default):");
  scan (cs);
  chunkstore_close (cs);
  cs = open_store (dir, true);
  misses (cs, 1, "miss, 1 MiB, cfg.sync (fsync):");
  hits (cs, 1, true);
  hits (cs, 2, true);
  hits (cs, 1, false);
  hits (cs, 2, false);
  chunkstore_close (cs);
  t0 = now ();
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  free (pattern);
  r = system (cmd);
  printf ("%-34s %8.1f s\n", "removing the store:", now () - t0);
  return r == 0 ? 0 : 1;
}
