/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the state of each chunk of a cache (private to lib/cache/).
 *
 * Every chunk of the volume has a state byte.  A cache directory is a
 * private overlay: it keeps only the chunks changed here.  The local copy
 * of such a chunk i lives at [i * chunk_size, (i + 1) * chunk_size) of
 * the sparse file "data" in the cache directory; "map" records, two bits
 * per chunk, which copies are there (dirty), as of the last flush.  Every
 * other chunk reads as the base version's, by its id, through the host
 * chunk store (chunkstore.h), which is shared and evicts on its own.
 *
 *   state     local bytes                  on-disk map     reads from
 *   -----     -----------                  -----------     ----------
 *   ABSENT    none (a hole, or garbage     absent          the chunk
 *             from unflushed writes or a                   store, by the
 *             settled commit, not yet                      base's id (a
 *             punched)                                     hole: zeros)
 *   FETCHING  being filled from the chunk  absent          - (wait)
 *             store, to take a write of
 *             part of a 4 KiB block
 *   DIRTY     the device's current bytes   dirty           data
 *                                          (or absent, until the next
 *                                          flush, if it was ABSENT)
 *   PARTIAL   some 4 KiB blocks written    absent          data for those
 *             (bitmap attached as                          blocks; the
 *             CB_PARTIAL); the rest still                  rest is filled
 *             the base's                                   first
 *
 * Invariants, which make a crash lose nothing flushed and show nothing
 * that neither the store nor a write holds:
 *  - The map says "dirty" only for chunks whose bytes were fsynced
 *    before the map was (cache_disk_flush snapshots the states, syncs
 *    the data, then writes the map).  A chunk the map calls absent reads
 *    from the store after a crash, whatever garbage its local bytes are.
 *    So a chunk becomes DIRTY only once its local bytes are the
 *    device's: filled, punched, or written whole (flushes read the
 *    states without the chunk locks).
 *  - A committed chunk (DIRTY at the cut, not written since) becomes
 *    ABSENT in memory only once the version holding it is published and
 *    the state file names it; its bytes are punched only after the map
 *    saying "absent" is synced, and only while it is still ABSENT (under
 *    its stripe lock).  Until then a crash finds it dirty with the very
 *    bytes the new base holds.
 *  - The chunk store serves only bytes checked against the id asked
 *    for (fetched through volume_read_chunk_id, or verified with
 *    volume_check_chunk after a reboot), so an ABSENT chunk never reads
 *    as anything but the base's chunk.
 *  - Flush and commit complete PARTIAL chunks first, and wait for the
 *    FETCHING ones (one filled from PARTIAL holds acknowledged writes),
 *    so the map never needs to describe them.
 *  - A map of the earlier format may call chunks "clean" (bits 01):
 *    they load as ABSENT and their bytes are punched after the map is
 *    rewritten without them.
 * Waiters on FETCHING sleep on the stripe's condition variable.  No lock
 * is held during object store or chunk store I/O: FETCHING is what keeps
 * others away meanwhile, and a read of an ABSENT chunk simply reads the
 * store without its lock (a write racing with it may or may not show,
 * as for any two concurrent requests).
 *
 * Commit flags (CF_*): the cut marks the dirty chunks INCUT and CUTPEND;
 * the uploader captures a CUTPEND chunk's bytes and clears the flag; a
 * writer that finds CUTPEND first copies the chunk aside (CB_COW), so the
 * commit uploads what was there at the cut.  A write to an INCUT chunk
 * sets REDIRTY, so the chunk stays dirty after the commit.
 *
 * Here are the state bytes, the counts of clean and dirty chunks, which
 * pages of the on-disk map no longer match the states, and the buffers
 * attached to chunks.  This file calls nothing else of the cache, so that
 * cache.c (block I/O), disk.c (the map) and commit.c can all
 * use it without needing each other.
 *
 * Locking: chunk i's state changes only under the cache's stripe lock
 * for chunk i (cache_int.h), which is also what guards the bytes of the
 * buffers attached to it.  The map's own lock guards the rest; it is
 * taken only inside these functions, which take no other lock, so the
 * caller may hold any lock of the cache.
 */
#ifndef S3VOL_CHUNKMAP_H
#define S3VOL_CHUNKMAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Chunk states (low 3 bits of the state byte). */
enum {
  CS_ABSENT = 0,
  CS_DIRTY = 2,
  CS_FETCHING = 3,
  CS_PARTIAL = 5,
};
#define CS_MASK 7u
/* Flags. */
#define CF_INCUT 16u            /* dirty when the running commit cut */
#define CF_CUTPEND 32u          /* in the cut, content not yet captured */
#define CF_REDIRTY 64u          /* written since the cut */

/* What a chunk may have attached: a malloc'd buffer, owned by the map
 * while attached and by whoever detaches it after.
 */
enum chunk_buf {
  CB_PARTIAL,                   /* a PARTIAL chunk's valid-block bitmap */
  CB_COW,                       /* its bytes at the cut, set aside */
  CB_WB,                        /* its write-behind record (writebehind.c) */
  CB_KINDS
};

/* Chunk index -> pointer, open addressing; chunkmap.c's alone. */
struct ptrmap {
  uint64_t *keys;
  void **vals;
  size_t n, cap;
};

struct chunkmap {
  uint8_t *st;                  /* state | flags, a byte a chunk */

  /* DIRTY and PARTIAL chunks.  Read it any time. */
  atomic_uint_fast64_t ndirty;

  /* The on-disk map in pages of chunks_per_page chunks: npages of them. */
  uint64_t chunks_per_page;
  size_t npages;

  /* Under lock: the attached buffers, and one bit a map page that
   * changed since it was last taken (chunkmap_take_changed).
   */
  pthread_mutex_t lock;
  struct ptrmap bufs[CB_KINDS];
  uint8_t *changed;
};

/* An empty map of no chunks, its lock ready.  Then chunkmap_alloc once;
 * chunkmap_free in the end, whether or not that succeeded.
 */
void chunkmap_init (struct chunkmap *m);

/* Room for nchunks chunks, all ABSENT with no flags, the on-disk map
 * being pages of chunks_per_page chunks.  0 or -ENOMEM.
 */
int chunkmap_alloc (struct chunkmap *m, uint64_t nchunks,
                    uint64_t chunks_per_page);

/* Free m and every buffer still attached. */
void chunkmap_free (struct chunkmap *m);

static inline bool
chunk_is_present (unsigned s)
{
  return s == CS_DIRTY;
}

/* Chunk i's state; any time, with or without its lock. */
static inline unsigned
chunk_state (const struct chunkmap *m, uint64_t i)
{
  return __atomic_load_n (&m->st[i], __ATOMIC_ACQUIRE) & CS_MASK;
}

/* Set chunk i's state, keeping its flags (chunk i's lock held).  Keeps
 * the counts, and marks its map page changed when the two bits the
 * on-disk map holds for it may change.
 */
void chunk_set_state (struct chunkmap *m, uint64_t i, unsigned s);

/* The same, with the page not marked changed: for a state read from the
 * on-disk map, or one the caller writes to the whole map itself (while
 * opening the cache, single-threaded).
 */
void chunk_load_state (struct chunkmap *m, uint64_t i, unsigned s);

/* Chunk i's flags (CF_*), set and cleared atomically; which lock each
 * flag needs is the caller's rule (the comment at the top).
 */
static inline unsigned
chunk_flags (const struct chunkmap *m, uint64_t i)
{
  return __atomic_load_n (&m->st[i], __ATOMIC_ACQUIRE) & ~CS_MASK;
}

static inline void
chunk_set_flags (struct chunkmap *m, uint64_t i, unsigned f)
{
  __atomic_or_fetch (&m->st[i], f, __ATOMIC_RELEASE);
}

static inline void
chunk_clear_flags (struct chunkmap *m, uint64_t i, unsigned f)
{
  __atomic_and_fetch (&m->st[i], ~f, __ATOMIC_RELEASE);
}

/* Chunk i's buffer of kind b, or NULL; it stays valid while attached. */
void *chunk_buf_get (struct chunkmap *m, enum chunk_buf b, uint64_t i);

/* Attach buf as chunk i's buffer of kind b (it has none).  0 or -ENOMEM,
 * when buf stays the caller's.
 */
int chunk_buf_attach (struct chunkmap *m, enum chunk_buf b, uint64_t i,
                      void *buf);

/* Detach chunk i's buffer of kind b and return it (the caller's now), or
 * NULL if it has none.
 */
void *chunk_buf_detach (struct chunkmap *m, enum chunk_buf b, uint64_t i);

/* Which map pages changed since the last call: a new bitmap of
 * (npages + 7) / 8 bytes, one bit a page, those bits then cleared in m.
 * NULL if out of memory, with nothing cleared.
 */
uint8_t *chunkmap_take_changed (struct chunkmap *m);

/* Mark the pages set in bitmap pages changed again (writing them
 * failed).
 */
void chunkmap_mark_changed (struct chunkmap *m, const uint8_t *pages);

#endif /* S3VOL_CHUNKMAP_H */
