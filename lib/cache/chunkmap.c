/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the state of each chunk of a cache (see chunkmap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "chunkmap.h"

/* ---- ptrmap: open addressing, chunk index -> pointer ---- */

static size_t
pm_slot (uint64_t key, size_t cap)
{
  return (key * 0x9e3779b97f4a7c15ull) >> 7 & (cap - 1);
}

static void *
ptrmap_get (const struct ptrmap *m, uint64_t key)
{
  size_t i;

  if (m->cap == 0)
    return NULL;
  for (i = pm_slot (key, m->cap); m->vals[i]; i = (i + 1) & (m->cap - 1))
    if (m->keys[i] == key)
      return m->vals[i];
  return NULL;
}

static void
ptrmap_free (struct ptrmap *m)
{
  free (m->keys);
  free (m->vals);
  memset (m, 0, sizeof *m);
}

static int
ptrmap_put (struct ptrmap *m, uint64_t key, void *val)
{
  size_t i;

  if ((m->n + 1) * 2 > m->cap) {
    struct ptrmap big = { 0 };
    big.cap = m->cap ? 2 * m->cap : 64;
    big.keys = calloc (big.cap, sizeof *big.keys);
    big.vals = calloc (big.cap, sizeof *big.vals);
    if (big.keys == NULL || big.vals == NULL) {
      ptrmap_free (&big);
      return -ENOMEM;
    }
    for (i = 0; i < m->cap; i++)
      if (m->vals[i])
        ptrmap_put (&big, m->keys[i], m->vals[i]);
    free (m->keys);
    free (m->vals);
    *m = big;
  }
  for (i = pm_slot (key, m->cap); m->vals[i]; i = (i + 1) & (m->cap - 1))
    if (m->keys[i] == key)
      break;
  if (m->vals[i] == NULL)
    m->n++;
  m->keys[i] = key;
  m->vals[i] = val;
  return 0;
}

static void *
ptrmap_take (struct ptrmap *m, uint64_t key)
{
  size_t i, j;
  void *val;

  if (m->cap == 0)
    return NULL;
  for (i = pm_slot (key, m->cap); m->vals[i]; i = (i + 1) & (m->cap - 1))
    if (m->keys[i] == key)
      break;
  val = m->vals[i];
  if (val == NULL)
    return NULL;
  m->vals[i] = NULL;
  m->n--;
  /* Reinsert the rest of the probe run so lookups still find it. */
  for (j = (i + 1) & (m->cap - 1); m->vals[j]; j = (j + 1) & (m->cap - 1)) {
    uint64_t k = m->keys[j];
    void *v = m->vals[j];
    m->vals[j] = NULL;
    m->n--;
    ptrmap_put (m, k, v);
  }
  return val;
}

/* ---- the map ---- */

void
chunkmap_init (struct chunkmap *m)
{
  memset (m, 0, sizeof *m);
  pthread_mutex_init (&m->lock, NULL);
}

int
chunkmap_alloc (struct chunkmap *m, uint64_t nchunks,
                uint64_t chunks_per_page)
{
  m->chunks_per_page = chunks_per_page;
  m->npages = (nchunks + chunks_per_page - 1) / chunks_per_page;
  m->st = calloc (nchunks, 1);
  m->changed = calloc (1, (m->npages + 7) / 8);
  return m->st && m->changed ? 0 : -ENOMEM;
}

void
chunkmap_free (struct chunkmap *m)
{
  size_t b, k;

  for (b = 0; b < CB_KINDS; b++) {
    for (k = 0; k < m->bufs[b].cap; k++)
      free (m->bufs[b].vals[k]);
    ptrmap_free (&m->bufs[b]);
  }
  free (m->st);
  free (m->changed);
  pthread_mutex_destroy (&m->lock);
}

/* ---- states ---- */

void
chunk_load_state (struct chunkmap *m, uint64_t i, unsigned s)
{
  unsigned old = m->st[i] & CS_MASK;

  if (old == CS_DIRTY || old == CS_PARTIAL)
    m->ndirty--;
  if (s == CS_DIRTY || s == CS_PARTIAL)
    m->ndirty++;
  __atomic_store_n (&m->st[i], (m->st[i] & ~CS_MASK) | s, __ATOMIC_RELEASE);
}

void
chunk_set_state (struct chunkmap *m, uint64_t i, unsigned s)
{
  unsigned old = m->st[i] & CS_MASK;
  size_t page;

  chunk_load_state (m, i, s);
  if (chunk_is_present (old) != chunk_is_present (s) || old == CS_DIRTY ||
      s == CS_DIRTY) {
    page = i / m->chunks_per_page;
    pthread_mutex_lock (&m->lock);
    m->changed[page / 8] |= 1 << page % 8;
    pthread_mutex_unlock (&m->lock);
  }
}

/* ---- attached buffers ---- */

/* Chunk i's buffer of kind b, detached too if take. */
static void *
find_buf (struct chunkmap *m, enum chunk_buf b, uint64_t i, bool take)
{
  void *buf;

  pthread_mutex_lock (&m->lock);
  buf = take ? ptrmap_take (&m->bufs[b], i) : ptrmap_get (&m->bufs[b], i);
  pthread_mutex_unlock (&m->lock);
  return buf;
}

void *
chunk_buf_get (struct chunkmap *m, enum chunk_buf b, uint64_t i)
{
  return find_buf (m, b, i, false);
}

int
chunk_buf_attach (struct chunkmap *m, enum chunk_buf b, uint64_t i,
                  void *buf)
{
  int r;

  pthread_mutex_lock (&m->lock);
  r = ptrmap_put (&m->bufs[b], i, buf);
  pthread_mutex_unlock (&m->lock);
  return r;
}

void *
chunk_buf_detach (struct chunkmap *m, enum chunk_buf b, uint64_t i)
{
  return find_buf (m, b, i, true);
}

/* ---- changed map pages ---- */

uint8_t *
chunkmap_take_changed (struct chunkmap *m)
{
  size_t len = (m->npages + 7) / 8;
  uint8_t *pages = calloc (1, len);

  if (pages == NULL)
    return NULL;
  pthread_mutex_lock (&m->lock);
  memcpy (pages, m->changed, len);
  memset (m->changed, 0, len);
  pthread_mutex_unlock (&m->lock);
  return pages;
}

void
chunkmap_mark_changed (struct chunkmap *m, const uint8_t *pages)
{
  size_t p;

  pthread_mutex_lock (&m->lock);
  for (p = 0; p < (m->npages + 7) / 8; p++)
    m->changed[p] |= pages[p];
  pthread_mutex_unlock (&m->lock);
}
