/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: store-check, a round trip through the object store.
 *
 * Writes one object under ".probe/", reads it back whole and in part,
 * finds it by listing, deletes it, and reports what the store supports.
 * Useful to check credentials and endpoints before creating volumes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct found {
  const char *key;
  int seen;
};

static int
find_key (void *opaque, const struct objstore_entry *e)
{
  struct found *f = opaque;

  if (strcmp (e->key, f->key) == 0)
    f->seen++;
  return 0;
}

static int
round_trip (struct objstore *s, const char *key)
{
  enum { LEN = 1 << 20 };
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct found f = { .key = key };
  struct objstore_stat st;
  unsigned char *data;
  size_t i;
  int r;

  data = malloc (LEN);
  if (data == NULL)
    return -ENOMEM;
  for (i = 0; i < LEN; i++)
    data[i] = (i * 2654435761u) >> 13;
  r = objstore_put (s, key, data, LEN, 0);
  if (r == 0)
    r = objstore_get (s, key, 0, OBJSTORE_TO_END, &b);
  if (r == 0 && (b.len != LEN || memcmp (b.data, data, LEN) != 0)) {
    fprintf (stderr, "s3vol: store-check: %s read back different bytes\n",
             key);
    r = -EIO;
  }
  s3vol_buf_clear (&b);
  if (r == 0)
    r = objstore_get (s, key, LEN - 100, 1000, &b);
  if (r == 0 && (b.len != 100 || memcmp (b.data, data + LEN - 100, 100))) {
    fprintf (stderr, "s3vol: store-check: ranged read of %s is wrong\n",
             key);
    r = -EIO;
  }
  if (r == 0)
    r = objstore_head (s, key, &st);
  if (r == 0 && st.size != LEN) {
    fprintf (stderr, "s3vol: store-check: %s has the wrong size\n", key);
    r = -EIO;
  }
  if (r == 0)
    r = objstore_list (s, ".probe/", NULL, find_key, &f);
  if (r == 0 && f.seen != 1) {
    fprintf (stderr, "s3vol: store-check: listing did not show %s\n", key);
    r = -EIO;
  }
  objstore_del (s, key);
  s3vol_buf_free (&b);
  free (data);
  return r;
}

static int
store_check (const struct cli_global *g, int argc, char **argv)
{
  struct objstore *s;
  char key[128];
  unsigned caps;
  int r;

  if (argc > 1) {
    printf ("usage: s3vol [--store URL] store-check\n"
            "Write, read, list and delete one object in the store.\n");
    return strcmp (argv[1], "--help") == 0 ? EXIT_OK : EXIT_USAGE;
  }
  r = cli_open_store (g, &s);
  if (r != EXIT_OK)
    return r;
  snprintf (key, sizeof key, ".probe/check-%ld-%d", (long) time (NULL),
            (int) getpid ());
  r = round_trip (s, key);
  if (r == 0) {
    caps = objstore_caps (s);
    printf ("store %s: ok (put, get, ranged get, head, list, delete)\n"
            "conditional create: %s\n", s->url,
            caps & OBJSTORE_CAP_CREATE_ONLY ? "yes"
            : "no (concurrent commits fall back to last-write-wins)");
  }
  objstore_close (s);
  return r < 0 ? cli_exit_code (r) : EXIT_OK;
}

const struct cli_verb verb_store_check = {
  .name = "store-check",
  .summary = "write, read, list and delete one object in the store",
  .run = store_check,
};
