/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the one hash map (hashmap.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

static size_t
home (const struct hashmap *m, uint64_t hash)
{
  return (size_t) hash & (m->cap - 1);
}

uintptr_t
hashmap_get (const struct hashmap *m, uint64_t hash, const void *key)
{
  size_t i;

  if (m->cap == 0)
    return 0;
  for (i = home (m, hash); m->slot[i].val; i = (i + 1) & (m->cap - 1))
    if (m->slot[i].hash == hash && m->eq (m->ctx, m->slot[i].val, key))
      return m->slot[i].val;
  return 0;
}

/* Place a slot into a table known to have room. */
static void
place (struct hashmap_slot *s, size_t cap, uint64_t hash, uintptr_t val)
{
  size_t i = (size_t) hash & (cap - 1);

  while (s[i].val)
    i = (i + 1) & (cap - 1);
  s[i].hash = hash;
  s[i].val = val;
}

int
hashmap_reserve (struct hashmap *m, size_t n)
{
  struct hashmap_slot *ns;
  size_t cap = m->cap ? m->cap : 16, i;

  while (n > cap / 2) {
    if (cap > SIZE_MAX / 2 / sizeof *ns)
      return -ENOMEM;
    cap *= 2;
  }
  if (cap == m->cap)
    return 0;
  ns = calloc (cap, sizeof *ns);
  if (ns == NULL)
    return -ENOMEM;
  for (i = 0; i < m->cap; i++)
    if (m->slot[i].val)
      place (ns, cap, m->slot[i].hash, m->slot[i].val);
  free (m->slot);
  m->slot = ns;
  m->cap = cap;
  return 0;
}

int
hashmap_put (struct hashmap *m, uint64_t hash, uintptr_t val)
{
  int r;

  if (val == 0)
    return -EINVAL;
  if (m->n == SIZE_MAX)
    return -ENOMEM;
  r = hashmap_reserve (m, m->n + 1);
  if (r < 0)
    return r;
  place (m->slot, m->cap, hash, val);
  m->n++;
  return 0;
}

/* Backward-shift deletion: move later members of the probe chain into
 * the hole when their home allows, so lookups never need tombstones.
 */
static void
unplace (struct hashmap *m, size_t hole)
{
  size_t mask = m->cap - 1, i = hole, h;

  for (;;) {
    i = (i + 1) & mask;
    if (m->slot[i].val == 0)
      break;
    h = home (m, m->slot[i].hash);
    /* May slot i move to hole?  Only if its home is not in (hole, i]. */
    if (((i - h) & mask) >= ((i - hole) & mask)) {
      m->slot[hole] = m->slot[i];
      hole = i;
    }
  }
  m->slot[hole].val = 0;
  m->slot[hole].hash = 0;
}

uintptr_t
hashmap_remove (struct hashmap *m, uint64_t hash, const void *key)
{
  size_t i;
  uintptr_t v;

  if (m->cap == 0)
    return 0;
  for (i = home (m, hash); m->slot[i].val; i = (i + 1) & (m->cap - 1))
    if (m->slot[i].hash == hash && m->eq (m->ctx, m->slot[i].val, key)) {
      v = m->slot[i].val;
      unplace (m, i);
      m->n--;
      return v;
    }
  return 0;
}

int
hashmap_each (const struct hashmap *m,
              int (*fn) (void *opaque, uintptr_t val), void *opaque)
{
  size_t i;
  int r;

  for (i = 0; i < m->cap; i++)
    if (m->slot[i].val && (r = fn (opaque, m->slot[i].val)) != 0)
      return r;
  return 0;
}

void
hashmap_clear (struct hashmap *m)
{
  if (m->cap)
    memset (m->slot, 0, m->cap * sizeof *m->slot);
  m->n = 0;
}

void
hashmap_free (struct hashmap *m)
{
  free (m->slot);
  m->slot = NULL;
  m->n = m->cap = 0;
}

/* FNV-1a, then a final mix so the low bits (the home slot) depend on
 * every byte.
 */
uint64_t
hashmap_hash_bytes (const void *p, size_t n)
{
  const unsigned char *b = p;
  uint64_t h = 0xcbf29ce484222325ull;

  while (n--) {
    h ^= *b++;
    h *= 0x100000001b3ull;
  }
  return hashmap_hash_u64 (h);
}
