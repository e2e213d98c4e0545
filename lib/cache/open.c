/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: opening, closing and inspecting a cache. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"

static void
init_locks (struct cache *c)
{
  unsigned i;

  for (i = 0; i < NSTRIPES; i++) {
    pthread_mutex_init (&c->stripe[i], NULL);
    pthread_cond_init (&c->cond[i], NULL);
  }
  pthread_mutex_init (&c->maplock, NULL);
  pthread_mutex_init (&c->commitlock, NULL);
  pthread_mutex_init (&c->pflock, NULL);
  pthread_mutex_init (&c->ralock, NULL);
  pthread_mutex_init (&c->entlock, NULL);
  pthread_mutex_init (&c->statlock, NULL);
  pthread_cond_init (&c->pfcond, NULL);
  pthread_rwlock_init (&c->cutlock, NULL);
  cache_wb_init (c);
}

static void
free_cache (struct cache *c)
{
  size_t i;

  cache_entries_close (c);
  cache_disk_close (c);
  volume_close (c->vol);
  if (c->own_store)
    chunkstore_close (c->store);
  chunkmap_free (&c->chunks);
  free (c->durable);
  free (c->cut);
  free (c->dir);
  for (i = 0; i < NSTRIPES; i++) {
    pthread_mutex_destroy (&c->stripe[i]);
    pthread_cond_destroy (&c->cond[i]);
  }
  pthread_mutex_destroy (&c->maplock);
  pthread_mutex_destroy (&c->commitlock);
  pthread_mutex_destroy (&c->pflock);
  pthread_mutex_destroy (&c->ralock);
  pthread_mutex_destroy (&c->entlock);
  pthread_mutex_destroy (&c->statlock);
  pthread_cond_destroy (&c->pfcond);
  pthread_rwlock_destroy (&c->cutlock);
  cache_wb_destroy (c);
  free (c);
}

/* The host chunk store: the caller's, or one of the cache's own. */
static int
open_store (struct cache *c, const struct cache_config *cfg)
{
  struct chunkstore_config scfg = {
    .log = cfg->log, .dir = cfg->store_dir,
    .max_bytes = cfg->max_clean_bytes,
  };
  int r;

  if (cfg->store) {
    c->store = cfg->store;
    return 0;
  }
  r = chunkstore_open (&scfg, &c->store);
  c->own_store = r == 0;
  return r;
}

int
cache_open (struct volstore *vs, const struct cache_config *cfg,
            struct cache **out)
{
  struct cache *c = calloc (1, sizeof *c);
  int r;

  if (c == NULL)
    return -ENOMEM;
  init_locks (c);
  chunkmap_init (&c->chunks);
  c->lockfd = c->datafd = c->mapfd = -1;
  c->vs = vs;
  c->log = cfg->log;
  c->io = cfg->fileio ? cfg->fileio : &s3vol_fileio_sys;
  c->readonly = cfg->readonly;
  c->overlay = cfg->readonly && cfg->overlay;
  c->force = cfg->force;
  c->threads = cfg->threads ? cfg->threads : 8;
  c->wb.disabled = cfg->no_write_behind;
  snprintf (c->name, sizeof c->name, "%s", cfg->volume);
  c->dir = strdup (cfg->dir);
  r = c->dir ? open_store (c, cfg) : -ENOMEM;
  if (r == 0)
    r = cache_disk_open (c, cfg);
  if (r < 0) {
    free_cache (c);
    return r;
  }
  *out = c;
  return 0;
}

int
cache_start (struct cache *c)
{
  int r = cache_disk_set_owner (c);

  if (r == 0)
    r = cache_prefetch_start (c);
  return r < 0 ? r : cache_wb_start (c);
}

int
cache_close (struct cache *c)
{
  int r;

  if (c == NULL)
    return 0;
  cache_wb_stop (c);
  cache_prefetch_stop (c);
  r = cache_complete_partials (c);
  if (r == 0)
    r = cache_disk_flush (c);
  if (r == 0)
    r = cache_save_state (c, true);
  free_cache (c);
  return r;
}

uint64_t cache_size (const struct cache *c) { return c->size; }
uint32_t cache_chunk_size (const struct cache *c) { return c->chunk_size; }
struct volume *cache_volume (struct cache *c) { return c->vol; }

bool
cache_is_dirty (struct cache *c)
{
  return c->chunks.ndirty > 0;
}

void
cache_stats (struct cache *c, struct cache_stats *st)
{
  pthread_mutex_lock (&c->statlock);
  *st = c->last;
  pthread_mutex_unlock (&c->statlock);
  st->base = volume_seq (c->vol);
  st->dirty_bytes = c->chunks.ndirty * c->chunk_size;
  chunkstore_stats (c->store, &st->store);
  st->store_dir = chunkstore_dir (c->store);
  st->cached_bytes = st->store.bytes;
  st->hits = c->hits;
  st->misses = c->misses;
  st->bytes_fetched = c->fetched;
  st->bytes_uploaded = c->uploaded;
  st->uploads_in_flight = c->inflight;
  st->early_uploads = c->wb.uploads;
  st->early_named = c->wb.claimed;
  st->early_reputs = c->wb.reputs;
  st->writers_throttled = c->wb.throttled;
}
