/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the chunk store entries a cache keeps open.
 *
 * A sequential reader reads each chunk in many requests (128 KiB through
 * the block path); opening the chunk store's entry for each (a path
 * lookup, fstat, the trailer's read, close) cost as much as the read.
 * The last few entries read stay open here, by id.  An entry's bytes
 * never change under its id, and a descriptor keeps reading them after
 * the store removes the file, so a kept descriptor is always right; it
 * is dropped after ENT_TTL_NS all the same, so that reads go through
 * chunkstore_get now and then, which moves the entry up the store's LRU
 * order, and as soon as the store has removed its file.
 *
 *   slots:  [id fd refs t][id fd refs t] ... ENT_SLOTS, the oldest
 *           replaced; a reference held by a reader keeps its descriptor
 *           open after the slot moves on (the last release closes it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_int.h"
#include "s3vol/util.h"

#define ENT_TTL_NS (30 * 1000000000ll)

struct cache_entry {
  struct s3vol_id id;
  int fd;
  unsigned refs;                /* the slot's, and each reader's */
  int64_t opened_ns;
};

/* Drop one reference (entlock held); the last closes. */
static void
unref (struct cache_entry *e)
{
  if (--e->refs == 0) {
    close (e->fd);
    free (e);
  }
}

/* Has the store evicted (or s3vol cache prune removed) the entry?  Then
 * it is not cached any more: reads go to the store again, as they
 * would without this table, and the disk space is given back.
 */
static bool
removed (int fd)
{
  struct stat st;

  return fstat (fd, &st) == -1 || st.st_nlink == 0;
}

struct cache_entry *
cache_entry_find (struct cache *c, const struct s3vol_id *id)
{
  struct cache_entry *e, *found = NULL;
  int64_t now = s3vol_now_ns ();
  unsigned k;

  pthread_mutex_lock (&c->entlock);
  for (k = 0; k < ENT_SLOTS && found == NULL; k++) {
    e = c->ent[k];
    if (e == NULL || memcmp (e->id.b, id->b, S3VOL_ID_LEN) != 0)
      continue;
    if (now - e->opened_ns > ENT_TTL_NS || removed (e->fd)) {
      c->ent[k] = NULL;         /* stale: let the store see a hit */
      unref (e);
    }
    else {
      e->refs++;
      found = e;
    }
  }
  pthread_mutex_unlock (&c->entlock);
  return found;
}

struct cache_entry *
cache_entry_keep (struct cache *c, const struct s3vol_id *id, int fd)
{
  struct cache_entry *e = malloc (sizeof *e);

  if (e == NULL)
    return NULL;                /* the caller closes fd */
  *e = (struct cache_entry) {
    .id = *id, .fd = fd, .refs = 2, .opened_ns = s3vol_now_ns (),
  };
  pthread_mutex_lock (&c->entlock);
  if (c->ent[c->ent_next])
    unref (c->ent[c->ent_next]);
  c->ent[c->ent_next] = e;
  c->ent_next = (c->ent_next + 1) % ENT_SLOTS;
  pthread_mutex_unlock (&c->entlock);
  return e;
}

int
cache_entry_fd (const struct cache_entry *e)
{
  return e->fd;
}

void
cache_entry_release (struct cache *c, struct cache_entry *e)
{
  pthread_mutex_lock (&c->entlock);
  unref (e);
  pthread_mutex_unlock (&c->entlock);
}

void
cache_entries_close (struct cache *c)
{
  unsigned k;

  for (k = 0; k < ENT_SLOTS; k++)
    if (c->ent[k]) {
      unref (c->ent[k]);
      c->ent[k] = NULL;
    }
}
