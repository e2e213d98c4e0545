/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a small write-back block cache between libext2fs and the
 * volume cache, for one I/O channel.
 *
 * libext2fs rewrites the same few metadata blocks over and over: an inode
 * table block for every inode it writes (read, change 256 bytes, write),
 * a directory block for every entry, the same extent and bitmap blocks.
 * Each would be a pread and a pwrite on the cache's data file.  Here
 * small reads and writes (up to BIG bytes) go through up to MAX_BLOCKS
 * blocks kept in memory, on a clock list; dirty ones are written back in
 * block order, adjacent ones in one call, when there are too many, when
 * libext2fs flushes, and when the channel closes.  Big transfers (file
 * data) go straight through, after writing back what they overlap.
 *
 *   entry      clean: same bytes as the volume cache; dirty: newer
 *   read       hit: copied out; miss: read from the volume cache, kept
 *   write      small: kept dirty (unless it changes nothing); big:
 *              written through, entries updated to the new bytes (clean)
 *   pinned     entries read while io->pinning (the group descriptors and
 *              bitmaps, read at open) are never evicted: libext2fs writes
 *              every one of them back at close, and the unchanged ones
 *              are recognised and skipped, so a commit does not carry
 *              (and fetch) a chunk for each initialised group
 *   byte I/O   (superblock) and zeroing: overlapping entries written
 *              back and dropped first
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

#define MAX_BLOCKS 65536        /* 256 MiB of 4 KiB blocks, at most */
#define DIRTY_MAX 8192
#define PINNED_MAX (MAX_BLOCKS / 4)
#define BIG (64u << 10)
#define RUN_MAX (1u << 20)      /* bytes written back in one call */

struct bent {
  uint64_t blk;
  bool dirty, used, pinned;
  uint8_t *data;
};

struct bcache {
  struct extfs_io *io;
  unsigned bs;
  struct hashmap map;           /* blk -> index + 1 in ents */
  struct bent *ents;            /* MAX_BLOCKS entries, a clock */
  size_t n, hand, ndirty, npinned;
  uint8_t *mem;
};

/* ---- raw byte I/O on the volume cache ---- */

int
extfs_raw_read (struct extfs_io *io, void *buf, uint64_t len, uint64_t off)
{
  uint64_t done = 0;
  uint32_t n;
  int r;

  while (done < len) {
    n = len - done > (1u << 30) ? 1u << 30 : (uint32_t) (len - done);
    r = cache_pread (io->cache, (char *) buf + done, n, off + done);
    if (r < 0)
      return io->last_error = r;
    done += n;
  }
  io->bytes_read += len;
  return 0;
}

int
extfs_raw_write (struct extfs_io *io, const void *buf, uint64_t len,
                 uint64_t off)
{
  uint64_t done = 0;
  uint32_t n;
  int r;

  while (done < len) {
    n = len - done > (1u << 30) ? 1u << 30 : (uint32_t) (len - done);
    r = cache_pwrite (io->cache, (const char *) buf + done, n, off + done,
                      false);
    if (r < 0)
      return io->last_error = r;
    done += n;
  }
  io->bytes_written += len;
  return 0;
}

/* ---- the table ---- */

static bool
blk_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct bcache *bc = ctx;

  return bc->ents[val - 1].blk == *(const uint64_t *) key;
}

static struct bent *
lookup (struct bcache *bc, uint64_t blk)
{
  uintptr_t i = hashmap_get (&bc->map, hashmap_hash_u64 (blk), &blk);

  return i ? &bc->ents[i - 1] : NULL;
}

static void
unhash (struct bcache *bc, struct bent *e)
{
  hashmap_remove (&bc->map, hashmap_hash_u64 (e->blk), &e->blk);
  if (e->dirty)
    bc->ndirty--;
  bc->npinned -= e->pinned;
  e->dirty = e->used = e->pinned = false;
  e->blk = UINT64_MAX;
}

int
extfs_bc_new (struct extfs_io *io, unsigned bs, struct bcache **out)
{
  struct bcache *bc = calloc (1, sizeof *bc);
  size_t i;

  if (bc == NULL)
    return -ENOMEM;
  bc->io = io;
  bc->bs = bs;
  bc->map = (struct hashmap) HASHMAP_INIT (blk_eq, bc);
  bc->ents = calloc (MAX_BLOCKS, sizeof *bc->ents);
  /* Room for every entry: putting one in cannot fail. */
  if (bc->ents == NULL || hashmap_reserve (&bc->map, MAX_BLOCKS) < 0) {
    extfs_bc_free (bc);
    return -ENOMEM;
  }
  for (i = 0; i < MAX_BLOCKS; i++)
    bc->ents[i].blk = UINT64_MAX;
  *out = bc;
  return 0;
}

void
extfs_bc_free (struct bcache *bc)
{
  size_t i;

  if (bc == NULL)
    return;
  for (i = 0; bc->ents && i < bc->n; i++)
    free (bc->ents[i].data);
  free (bc->ents);
  hashmap_free (&bc->map);
  free (bc);
}

static int
cmp_blk (const void *a, const void *b)
{
  const struct bent *x = *(struct bent *const *) a;
  const struct bent *y = *(struct bent *const *) b;

  return x->blk < y->blk ? -1 : x->blk > y->blk;
}

int
extfs_bc_flush (struct bcache *bc)
{
  struct bent **d;
  size_t i, k, nd = 0, run;
  uint8_t *buf;
  int r = 0;

  if (bc->ndirty == 0)
    return 0;
  d = malloc (bc->ndirty * sizeof *d);
  buf = malloc (RUN_MAX);
  if (d == NULL || buf == NULL) {
    free (d);
    free (buf);
    return -ENOMEM;
  }
  for (i = 0; i < bc->n; i++)
    if (bc->ents[i].dirty)
      d[nd++] = &bc->ents[i];
  qsort (d, nd, sizeof *d, cmp_blk);
  for (i = 0; r == 0 && i < nd; i = k) {
    /* A run of adjacent dirty blocks, written in one call. */
    for (k = i, run = 0; k < nd && d[k]->blk == d[i]->blk + (k - i) &&
           run + bc->bs <= RUN_MAX; k++, run += bc->bs)
      memcpy (buf + run, d[k]->data, bc->bs);
    r = extfs_raw_write (bc->io, buf, run, d[i]->blk * bc->bs);
    while (r == 0 && i < k) {
      d[i++]->dirty = false;
      bc->ndirty--;
    }
  }
  free (d);
  free (buf);
  return r;
}

/* An entry for blk (not yet filled): a free one, or the clock's next
 * clean, unused one.
 */
static int
take (struct bcache *bc, uint64_t blk, struct bent **out)
{
  struct bent *e;
  size_t steps;
  int r;

  if (bc->n < MAX_BLOCKS) {
    e = &bc->ents[bc->n];
    e->data = malloc (bc->bs);
    if (e->data == NULL)
      return -ENOMEM;
    bc->n++;
  }
  else {
    for (steps = 0;; steps++) {
      e = &bc->ents[bc->hand];
      bc->hand = (bc->hand + 1) % bc->n;
      if (e->pinned)
        continue;
      if (e->dirty) {
        if (steps < 2 * bc->n)
          continue;
        r = extfs_bc_flush (bc);   /* everything dirty: write it back */
        if (r < 0)
          return r;
      }
      if (e->used && steps < 2 * bc->n) {
        e->used = false;
        continue;
      }
      break;
    }
    unhash (bc, e);
  }
  e->blk = blk;
  e->used = true;
  e->dirty = false;
  e->pinned = bc->io->pinning && bc->npinned < PINNED_MAX;
  bc->npinned += e->pinned;
  /* Cannot fail: the room was reserved at the start. */
  (void) hashmap_put (&bc->map, hashmap_hash_u64 (blk), e - bc->ents + 1);
  *out = e;
  return 0;
}

/* Write back the dirty entries of [blk, blk + n) (before the volume
 * cache is read or written there directly); drop them too if asked.
 */
static int
settle (struct bcache *bc, uint64_t blk, uint64_t n, bool drop)
{
  struct bent *e;
  uint64_t k;
  int r;

  if (n > bc->n) {
    /* Cheaper to visit the entries than the blocks. */
    for (k = 0; k < bc->n; k++) {
      e = &bc->ents[k];
      if (e->blk >= blk && e->blk < blk + n && e->dirty) {
        r = extfs_raw_write (bc->io, e->data, bc->bs, e->blk * bc->bs);
        if (r < 0)
          return r;
        e->dirty = false;
        bc->ndirty--;
      }
      if (drop && e->blk >= blk && e->blk < blk + n)
        unhash (bc, e);
    }
    return 0;
  }
  for (k = 0; k < n; k++) {
    e = lookup (bc, blk + k);
    if (e == NULL)
      continue;
    if (e->dirty) {
      r = extfs_raw_write (bc->io, e->data, bc->bs, e->blk * bc->bs);
      if (r < 0)
        return r;
      e->dirty = false;
      bc->ndirty--;
    }
    if (drop)
      unhash (bc, e);
  }
  return 0;
}

int
extfs_bc_read (struct bcache *bc, uint64_t blk, uint64_t n, void *buf)
{
  struct bent *e;
  uint64_t k;
  int r;

  if (n * bc->bs > BIG) {
    r = settle (bc, blk, n, false);
    return r < 0 ? r : extfs_raw_read (bc->io, buf, n * bc->bs,
                                       blk * bc->bs);
  }
  for (k = 0; k < n; k++) {
    e = lookup (bc, blk + k);
    if (e == NULL)
      break;
    e->used = true;
    memcpy ((uint8_t *) buf + k * bc->bs, e->data, bc->bs);
  }
  if (k == n)
    return 0;
  /* A miss: read the rest, keep it, but never over a dirty entry. */
  r = extfs_raw_read (bc->io, (uint8_t *) buf + k * bc->bs,
                      (n - k) * bc->bs, (blk + k) * bc->bs);
  for (; r == 0 && k < n; k++) {
    e = lookup (bc, blk + k);
    if (e && e->dirty)
      memcpy ((uint8_t *) buf + k * bc->bs, e->data, bc->bs);
    else if (e == NULL && (r = take (bc, blk + k, &e)) == 0)
      memcpy (e->data, (uint8_t *) buf + k * bc->bs, bc->bs);
  }
  return r;
}

int
extfs_bc_write (struct bcache *bc, uint64_t blk, uint64_t n,
                const void *buf)
{
  struct bent *e;
  uint64_t k;
  int r;

  if (n * bc->bs > BIG) {
    r = extfs_raw_write (bc->io, buf, n * bc->bs, blk * bc->bs);
    for (k = 0; r == 0 && k < n && bc->n; k++) {
      e = lookup (bc, blk + k);
      if (e == NULL)
        continue;
      memcpy (e->data, (const uint8_t *) buf + k * bc->bs, bc->bs);
      if (e->dirty) {
        e->dirty = false;
        bc->ndirty--;
      }
    }
    return r;
  }
  for (k = 0; k < n; k++) {
    e = lookup (bc, blk + k);
    if (e && !e->dirty &&
        memcmp (e->data, (const uint8_t *) buf + k * bc->bs, bc->bs) == 0)
      continue;                 /* unchanged: nothing to write */
    if (e == NULL) {
      r = take (bc, blk + k, &e);
      if (r < 0)
        return r;
    }
    memcpy (e->data, (const uint8_t *) buf + k * bc->bs, bc->bs);
    e->used = true;
    if (!e->dirty) {
      e->dirty = true;
      bc->ndirty++;
    }
  }
  return bc->ndirty > DIRTY_MAX ? extfs_bc_flush (bc) : 0;
}

int
extfs_bc_forget (struct bcache *bc, uint64_t off, uint64_t len)
{
  uint64_t first = off / bc->bs, last = (off + len + bc->bs - 1) / bc->bs;

  return settle (bc, first, last - first, true);
}
