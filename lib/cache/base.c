/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the base version's chunks, read by id through the host chunk
 * store (chunkstore.h), which fetches each from the object store once
 * for every attachment on the host.
 *
 * The id is looked up first (volume_chunk_id) and the store is asked
 * for that id: the bytes under an id never change, whatever version the
 * cache moves to meanwhile.  The store's fetch reads the object by id
 * (verified against it); its verify recomputes the id (keyed for an
 * encrypted volume) for entries written before a reboot.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_int.h"
#include "s3vol/chunk.h"

/* One request's view of the store's callbacks. */
struct source {
  struct cache *c;
  bool fetched;                 /* fetch was called */
  int err;                      /* and failed with this */
  const void *data;             /* cache_store_put: the bytes */
};

static int
fetch_cb (void *opaque, const struct s3vol_id *id, void *buf, size_t len)
{
  struct source *s = opaque;
  int r;

  s->fetched = true;
  s->c->misses++;
  r = volume_read_chunk_id (s->c->vol, id, buf, len);
  if (r == 0)
    s->c->fetched += len;
  s->err = r;
  return r;
}

static int
verify_cb (void *opaque, const struct s3vol_id *id, const void *data,
           size_t len)
{
  struct source *s = opaque;

  return volume_check_chunk (s->c->vol, id, data, len);
}

/* The bytes are at hand (just uploaded): no fetch. */
static int
copy_cb (void *opaque, const struct s3vol_id *id, void *buf, size_t len)
{
  struct source *s = opaque;

  (void) id;
  memcpy (buf, s->data, len);
  return 0;
}

static int
pread_all (int fd, void *buf, size_t n, off_t off)
{
  ssize_t r;

  while (n > 0) {
    r = pread (fd, buf, n, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0)
      return r == 0 ? -EIO : -errno;
    buf = (char *) buf + r;
    n -= r;
    off += r;
  }
  return 0;
}

/* The chunk store could not keep chunk id (a full or broken disk, logged
 * by it): read it straight from the object store, not from the host
 * cache.
 */
static int
read_around (struct cache *c, const struct s3vol_id *id, void *buf,
             uint32_t from, uint32_t to)
{
  uint8_t *chunk = malloc (c->chunk_size);
  int r;

  if (chunk == NULL)
    return -ENOMEM;
  c->misses++;
  r = volume_read_chunk_id (c->vol, id, chunk, c->chunk_size);
  if (r == 0) {
    c->fetched += c->chunk_size;
    memcpy (buf, chunk + from, to - from);
  }
  free (chunk);
  return r;
}

int
cache_read_base (struct cache *c, uint64_t i, void *buf, uint32_t from,
                 uint32_t to, bool *hole)
{
  struct source s = { .c = c };
  struct chunkstore_source src = {
    .fetch = fetch_cb, .verify = verify_cb, .opaque = &s,
  };
  struct cache_entry *e;
  struct s3vol_id id;
  int fd = -1, r;

  r = volume_chunk_id (c->vol, i, &id);
  if (r < 0)
    return r;
  if (hole)
    *hole = s3vol_id_is_hole (&id);
  if (s3vol_id_is_hole (&id)) {
    memset (buf, 0, to - from);
    c->hits++;
    return 0;
  }
  e = cache_entry_find (c, &id);
  if (e == NULL) {
    r = chunkstore_get (c->store, &id, c->chunk_size, &src, &fd);
    if (r < 0)
      return s.err || r == -ENOMEM ? r
        : read_around (c, &id, buf, from, to);
    e = cache_entry_keep (c, &id, fd);
  }
  r = pread_all (e ? cache_entry_fd (e) : fd, buf, to - from, from);
  if (e)
    cache_entry_release (c, e);
  else
    close (fd);
  if (r < 0)
    s3vol_error (c->log, "chunk store %s: read chunk %" PRIu64 ": %s",
                 chunkstore_dir (c->store), i, strerror (-r));
  else if (!s.fetched)
    c->hits++;
  return r;
}

int
cache_fetch_into (struct cache *c, uint64_t i, void *buf, bool *hole)
{
  return cache_read_base (c, i, buf, 0, c->chunk_size, hole);
}

void
cache_warm (struct cache *c, uint64_t i)
{
  struct source s = { .c = c };
  struct chunkstore_source src = {
    .fetch = fetch_cb, .verify = verify_cb, .opaque = &s,
  };
  struct s3vol_id id;
  int fd;

  if (volume_chunk_id (c->vol, i, &id) < 0 || s3vol_id_is_hole (&id))
    return;
  if (chunkstore_get (c->store, &id, c->chunk_size, &src, &fd) == 0)
    close (fd);
}

void
cache_store_put (struct cache *c, const struct s3vol_id *id,
                 const void *data)
{
  struct source s = { .c = c, .data = data };
  struct chunkstore_source src = {
    .fetch = copy_cb, .verify = verify_cb, .opaque = &s,
  };
  int fd;

  if (s3vol_id_is_hole (id))
    return;
  if (chunkstore_get (c->store, id, c->chunk_size, &src, &fd) == 0)
    close (fd);
}

bool
cache_make_room (struct cache *c)
{
  struct chunkstore_stats st;
  uint64_t freed = 0;

  chunkstore_stats (c->store, &st);
  if (st.bytes == 0)
    return false;
  s3vol_warn (c->log, "cache %s: the disk is full; pruning the host chunk "
              "store %s to half its size", c->dir, chunkstore_dir (c->store));
  chunkstore_prune (c->store, st.bytes / 2, &freed);
  return freed > 0;
}
