/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: one hash map for all of lib/ (private).
 *
 * Maps a key to a value word (a pointer, or an index + 1): open addressing
 * with linear probing over slots that keep each value's 64-bit hash, so
 * growing never needs the keys.  The map does not own or know the keys:
 * the caller gives the hash of a key and an eq function that compares a
 * stored value's key with it.  Value 0 is "empty" and cannot be stored.
 *
 *   struct hashmap m = HASHMAP_INIT (eq, ctx);
 *   hashmap_put (&m, hash, value);
 *   value = hashmap_get (&m, hash, key);
 *
 * The load stays at most 1/2; growth doubles and is checked for
 * overflow.  Removal shifts back the probe chain, so there are no
 * tombstones.  Not thread-safe: callers lock.
 */
#ifndef S3VOL_HASHMAP_H
#define S3VOL_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Does stored value val have key? */
typedef bool (*hashmap_eq_fn) (void *ctx, uintptr_t val, const void *key);

struct hashmap_slot {
  uint64_t hash;
  uintptr_t val;                /* 0: empty */
};

struct hashmap {
  struct hashmap_slot *slot;
  size_t n, cap;                /* cap: 0 or a power of two */
  hashmap_eq_fn eq;
  void *ctx;
};

#define HASHMAP_INIT(eq_, ctx_) { .eq = (eq_), .ctx = (ctx_) }

/* The value stored for key, or 0. */
uintptr_t hashmap_get (const struct hashmap *m, uint64_t hash,
                       const void *key);

/* Store val (not 0) under a key not in the map yet (the caller has
 * looked): 0 or -ENOMEM, the map unchanged on error.
 */
int hashmap_put (struct hashmap *m, uint64_t hash, uintptr_t val);

/* Remove key; returns its value, or 0 if it was not there. */
uintptr_t hashmap_remove (struct hashmap *m, uint64_t hash, const void *key);

/* Make room for n entries in all, so that puts up to then cannot fail. */
int hashmap_reserve (struct hashmap *m, size_t n);

/* Calls fn for every value, in no order; the map must not change
 * meanwhile.  Stops at the first non-zero return and returns it.
 */
int hashmap_each (const struct hashmap *m,
                  int (*fn) (void *opaque, uintptr_t val), void *opaque);

/* Forget every entry (keeps the room). */
void hashmap_clear (struct hashmap *m);

/* Free the slots; the map is empty and usable again. */
void hashmap_free (struct hashmap *m);

/* A 64-bit hash of bytes, and a mix for integer keys. */
uint64_t hashmap_hash_bytes (const void *p, size_t n);
static inline uint64_t
hashmap_hash_u64 (uint64_t x)
{
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

#endif
