/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol benchmark: what commits cost and how fast versions read, for a
 * few chunk sizes.  Prints a table; asserts nothing.
 *
 *   volume_bench URL [CHUNK_SIZES...]     (default 256K 1M 4M 8M)
 *
 * For each chunk size:
 *   one-chunk   commit changing 1 chunk of a 1 TiB volume
 *   seq-1GiB    commit of a 1 GiB file of random data (16 threads)
 *   scattered   10,000 4 KiB writes over 1 GiB through the cache, commit
 *   read-1GiB   cold read of that 1 GiB version, 16 parallel fetches
 * with objects and bytes written (from listing the store before and
 * after), and time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/cache.h"
#include "s3vol/parallel.h"
#include "s3vol/volume.h"

#define GiB (1ull << 30)

static const struct s3vol_log errlog = {
  .fn = s3vol_log_stderr, .opaque = (void *) (intptr_t) S3VOL_LOG_WARNING,
};

static struct objstore *os;
static struct volstore *vs;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct tally {
  uint64_t objects, bytes;
};

static int
add (void *opaque, const struct objstore_entry *e)
{
  struct tally *t = opaque;

  t->objects++;
  t->bytes += e->st.size;
  return 0;
}

static struct tally
tally (void)
{
  struct tally t = { 0, 0 };

  if (objstore_list (os, "", NULL, add, &t) < 0)
    exit (1);
  return t;
}

static void
row (const char *what, uint32_t cs, struct tally before, double secs,
     uint64_t bytes_moved)
{
  struct tally after = tally ();

  printf ("%-10s %6" PRIu32 "K %8" PRIu64 " objs %10.1f MiB %8.2f s",
          what, cs >> 10, after.objects - before.objects,
          (after.bytes - before.bytes) / 1048576.0, secs);
  if (bytes_moved)
    printf (" %8.1f MiB/s", bytes_moved / 1048576.0 / secs);
  printf ("\n");
  fflush (stdout);
}

static void
rnd (uint64_t *s, uint8_t *buf, size_t n)
{
  size_t i;

  for (i = 0; i + 8 <= n; i += 8) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    memcpy (buf + i, s, 8);
  }
}

struct seq {
  uint32_t cs;
  struct vol_change *ch;
};

static int
put_random (size_t i, void *opaque)
{
  struct seq *q = opaque;
  uint8_t *buf = malloc (q->cs);
  uint64_t s = 0x9e3779b97f4a7c15ull * (i + 1) + q->cs;
  int r;

  if (buf == NULL)
    return -ENOMEM;
  rnd (&s, buf, q->cs);
  q->ch[i].index = i;
  r = volstore_put_chunk (vs, buf, q->cs, &q->ch[i].id, &q->ch[i].stored_len);
  free (buf);
  return r;
}

struct rd {
  struct volume *v;
  uint32_t cs;
};

static int
read_one (size_t i, void *opaque)
{
  struct rd *rd = opaque;
  uint8_t *buf = malloc (rd->cs);
  int r;

  if (buf == NULL)
    return -ENOMEM;
  r = volume_read_chunk (rd->v, i, buf, NULL);
  free (buf);
  return r;
}

static void
bench (uint32_t cs)
{
  char name[64], dir[128], cmd[160];
  struct vol_commit_result res;
  struct vol_change ch;
  struct tally t;
  struct volume *v;
  struct cache *c;
  uint8_t *buf = malloc (cs), blk[4096];
  uint64_t s = 42, n = GiB / cs, k;
  double t0;

  snprintf (name, sizeof name, "bench-%u-%d", cs >> 10, (int) getpid ());
  if (volstore_create (vs, name, 1ull << 40, cs, NULL) < 0 ||
      volume_open (vs, name, NULL, &v) < 0)
    exit (1);

  /* One chunk of a 1 TiB volume. */
  t = tally ();
  t0 = now ();
  rnd (&s, buf, cs);
  ch.index = (1ull << 40) / cs / 2;
  if (volstore_put_chunk (vs, buf, cs, &ch.id, &ch.stored_len) < 0 ||
      volume_commit (v, &ch, 1, NULL, &res) < 0)
    exit (1);
  row ("one-chunk", cs, t, now () - t0, 0);

  /* A 1 GiB file of random data. */
  {
    struct seq q = { cs, calloc (n, sizeof (struct vol_change)) };
    t = tally ();
    t0 = now ();
    if (s3vol_parallel (16, n, put_random, &q) < 0 ||
        volume_commit (v, q.ch, n, NULL, &res) < 0)
      exit (1);
    row ("seq-1GiB", cs, t, now () - t0, GiB);
    free (q.ch);
  }

  /* 10,000 scattered 4 KiB writes through the cache. */
  snprintf (dir, sizeof dir, "/tmp/s3vol-bench-cache-%d", (int) getpid ());
  {
    struct cache_config cfg = { .log = &errlog, .dir = dir, .volume = name,
                                .threads = 16 };
    if (cache_open (vs, &cfg, &c) < 0 || cache_start (c) < 0)
      exit (1);
    t = tally ();
    t0 = now ();
    for (k = 0; k < 10000; k++) {
      rnd (&s, blk, sizeof blk);
      if (cache_pwrite (c, blk, sizeof blk, (s % (GiB / 4096)) * 4096,
                        false) < 0)
        exit (1);
    }
    if (cache_commit (c, NULL, &res) < 0)
      exit (1);
    row ("scattered", cs, t, now () - t0, 0);
    cache_close (c);
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    if (system (cmd) != 0)
      fprintf (stderr, "could not remove %s\n", dir);
  }
  volume_close (v);

  /* Cold read of the 1 GiB, 16 parallel fetches. */
  if (volume_open (vs, name, NULL, &v) < 0)
    exit (1);
  {
    struct rd rd = { v, cs };
    t = tally ();
    t0 = now ();
    if (s3vol_parallel (16, n, read_one, &rd) < 0)
      exit (1);
    row ("read-1GiB", cs, t, now () - t0, GiB);
  }
  volume_close (v);
  volstore_delete (vs, name);
  free (buf);
}

int
main (int argc, char **argv)
{
  struct objstore_config ocfg = { .log = &errlog };
  struct volstore_config vcfg = { .log = &errlog };
  static const char *defaults[] = { "256K", "1M", "4M", "8M" };
  uint64_t cs;
  int i;

  if (argc < 2) {
    fprintf (stderr, "usage: volume_bench URL [CHUNK_SIZES...]\n");
    return 2;
  }
  if (objstore_open (argv[1], &ocfg, &os) < 0 ||
      volstore_open (os, &vcfg, &vs) < 0)
    return 1;
  printf ("%-10s %7s %13s %14s %10s %14s\n", "case", "chunk", "objects",
          "bytes written", "time", "rate");
  for (i = 0; i < (argc > 2 ? argc - 2 : 4); i++) {
    if (s3vol_parse_size (argc > 2 ? argv[i + 2] : defaults[i], &cs) < 0)
      return 2;
    bench (cs);
  }
  volstore_close (vs);
  objstore_close (os);
  return 0;
}
