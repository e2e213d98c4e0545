/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the write-back cache: block reads and writes.
 *
 * The states a chunk goes through, and the invariants that keep a crash
 * from losing anything flushed, are at the top of chunkmap.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_int.h"
#include "s3vol/chunk.h"
#include "s3vol/parallel.h"

static off_t
chunk_off (const struct cache *c, uint64_t i)
{
  return (off_t) (i * c->chunk_size);
}

static int
pread_all (int fd, void *buf, size_t n, off_t off)
{
  ssize_t r;

  while (n > 0) {
    r = pread (fd, buf, n, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      if (r == 0)                 /* past the end: sparse zeros */
        memset (buf, 0, n);
      return r == 0 ? 0 : -errno;
    }
    buf = (char *) buf + r;
    n -= r;
    off += r;
  }
  return 0;
}

static int
pwrite_all (struct cache *c, const void *buf, size_t n, off_t off)
{
  ssize_t r;

  while (n > 0) {
    r = c->io->pwrite (c->io->opaque, c->datafd, buf, n, off);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -errno;
    buf = (const char *) buf + r;
    n -= r;
    off += r;
  }
  return 0;
}

static int
local_error (struct cache *c, const char *what, uint64_t i, int r)
{
  if (r == -ENOSPC)
    s3vol_error (c->log, "cache %s is full of data not yet committed "
                 "(chunk %" PRIu64 "): commit, or give the cache more "
                 "room", c->dir, i);
  else
    s3vol_error (c->log, "cache %s: %s chunk %" PRIu64 ": %s", c->dir, what,
                 i, strerror (-r));
  return r;
}

/* ---- fetching ---- */

/* Partial chunks: which 4 KiB blocks hold written data. */
static uint8_t *
partial_bits (struct cache *c, uint64_t i)
{
  return chunk_buf_get (&c->chunks, CB_PARTIAL, i);
}

static bool
blocks_valid (const uint8_t *bits, uint32_t from, uint32_t to)
{
  uint32_t b;

  for (b = from / BLOCK; b < (to + BLOCK - 1) / BLOCK; b++)
    if (!(bits[b / 8] & 1 << b % 8))
      return false;
  return true;
}

static bool
zero_block (const uint8_t *p)
{
  static const uint8_t zero[BLOCK];

  return memcmp (p, zero, BLOCK) == 0;
}

/* Which blocks of a fetched chunk go to disk: those with data (a new
 * chunk, holes left unwritten), or those not written locally (a PARTIAL
 * chunk, whose written blocks are newer than the store's).
 */
static bool
nonzero_block (const uint8_t *buf, const uint8_t *bits, uint32_t b)
{
  (void) bits;
  return !zero_block (buf + (size_t) b * BLOCK);
}

static bool
unwritten_block (const uint8_t *buf, const uint8_t *bits, uint32_t b)
{
  (void) buf;
  return !(bits[b / 8] & 1 << b % 8);
}

/* Write the blocks of chunk i that want says, each run in one call. */
static int
write_runs (struct cache *c, uint64_t i, const uint8_t *buf,
            bool (*want) (const uint8_t *, const uint8_t *, uint32_t),
            const uint8_t *bits)
{
  uint32_t b, e, nb = c->chunk_size / BLOCK;
  int r = 0;

  for (b = 0; r == 0 && b < nb; b = e) {
    for (e = b; e < nb && want (buf, bits, e); e++)
      ;
    if (e > b)
      r = pwrite_all (c, buf + (size_t) b * BLOCK,
                      (size_t) (e - b) * BLOCK,
                      chunk_off (c, i) + (off_t) b * BLOCK);
    else
      e++;
  }
  return r;
}

/* A whole fetched chunk: the range is punched, then only the runs of
 * blocks that are not all zeros are written (chunks of a filesystem are
 * often mostly zeros: uninitialised inode tables, free space).
 */
static int
store_sparse (struct cache *c, uint64_t i, const uint8_t *buf)
{
  if (cache_punch (c, i) < 0)   /* no hole punching here: all of it */
    return pwrite_all (c, buf, c->chunk_size, chunk_off (c, i));
  return write_runs (c, i, buf, nonzero_block, NULL);
}

/* Write the fetched chunk into its place: all of it for an ABSENT chunk
 * (a hole is punched instead), only the unwritten blocks of a PARTIAL.
 */
static int
store_fetched (struct cache *c, uint64_t i, const uint8_t *buf, bool hole,
               const uint8_t *bits)
{
  if (bits == NULL)
    return hole ? cache_punch (c, i) : store_sparse (c, i, buf);
  return write_runs (c, i, buf, unwritten_block, bits);
}

/* Fill chunk i's local copy from the base (through the chunk store), to
 * take a write: called with its stripe lock held and the chunk ABSENT or
 * PARTIAL; returns with the lock held and the chunk DIRTY, or unchanged
 * on error.  Its map bits stay "absent" until the next flush, which
 * syncs these bytes first.
 */
static int
fetch (struct cache *c, uint64_t i)
{
  unsigned was = state_of (c, i);
  uint8_t *buf, *bits = was == CS_PARTIAL ? partial_bits (c, i) : NULL;
  bool hole = false;
  int r;

  chunk_set_state (&c->chunks, i, CS_FETCHING);
  pthread_mutex_unlock (stripe_of (c, i));
  buf = malloc (c->chunk_size);
  r = buf ? cache_fetch_into (c, i, buf, &hole) : -ENOMEM;
  if (r == 0) {
    r = store_fetched (c, i, buf, hole, bits);
    if (r == -ENOSPC && cache_make_room (c))
      r = store_fetched (c, i, buf, hole, bits);
    if (r < 0)
      local_error (c, "store", i, r);
  }
  free (buf);
  pthread_mutex_lock (stripe_of (c, i));
  if (r == 0 && bits)
    free (chunk_buf_detach (&c->chunks, CB_PARTIAL, i));
  chunk_set_state (&c->chunks, i, r < 0 ? was : CS_DIRTY);
  pthread_cond_broadcast (cond_of (c, i));
  return r;
}

/* Wait while chunk i is being filled (lock held). */
static bool
wait_busy (struct cache *c, uint64_t i)
{
  if (state_of (c, i) != CS_FETCHING)
    return false;
  pthread_cond_wait (cond_of (c, i), stripe_of (c, i));
  return true;
}

/* Where bytes [from, to) of chunk i read from (lock held): locally (1),
 * once a partial chunk that lacks some of them is completed, or the
 * base's chunk in the chunk store (0: the chunk is ABSENT).
 */
static int
make_readable (struct cache *c, uint64_t i, uint32_t from, uint32_t to)
{
  unsigned s;
  int r;

  for (;;) {
    if (wait_busy (c, i))
      continue;
    s = state_of (c, i);
    if (s == CS_ABSENT)
      return 0;
    if (s == CS_DIRTY ||
        (s == CS_PARTIAL && blocks_valid (partial_bits (c, i), from, to))) {
      c->hits++;
      return 1;
    }
    r = fetch (c, i);
    if (r < 0)
      return r;
  }
}

/* ---- writing ---- */

/* If a commit still needs chunk i's bytes as they were at its cut, set
 * them aside before they change (lock held).
 */
static int
save_for_commit (struct cache *c, uint64_t i)
{
  uint8_t *copy;
  int r;

  if (chunk_flags (&c->chunks, i) & CF_INCUT)
    chunk_set_flags (&c->chunks, i, CF_REDIRTY);
  if (!(chunk_flags (&c->chunks, i) & CF_CUTPEND))
    return 0;
  copy = malloc (c->chunk_size);
  if (copy == NULL)
    return -ENOMEM;
  r = pread_all (c->datafd, copy, c->chunk_size, chunk_off (c, i));
  if (r == 0)
    r = chunk_buf_attach (&c->chunks, CB_COW, i, copy);
  if (r < 0) {
    free (copy);
    return local_error (c, "set aside", i, r);
  }
  chunk_clear_flags (&c->chunks, i, CF_CUTPEND);
  return 0;
}

static int
start_partial (struct cache *c, uint64_t i)
{
  uint8_t *bits = calloc (1, c->chunk_size / BLOCK / 8 + 1);
  int r;

  if (bits == NULL)
    return -ENOMEM;
  r = chunk_buf_attach (&c->chunks, CB_PARTIAL, i, bits);
  if (r < 0) {
    free (bits);
    return r;
  }
  chunk_set_state (&c->chunks, i, CS_PARTIAL);
  return 0;
}

/* Make chunk i ready to take a write of [from, to) (lock held): fetch
 * only when the write leaves part of a 4 KiB block to the store.  1: an
 * ABSENT chunk written whole, which stays ABSENT until its bytes are
 * written (write_piece): a flush meanwhile must not call it dirty while
 * its local bytes are still garbage or a punched hole.
 */
static int
make_writable (struct cache *c, uint64_t i, uint32_t from, uint32_t to)
{
  bool aligned = from % BLOCK == 0 && to % BLOCK == 0;
  struct s3vol_id id;
  unsigned s;
  int r;

  for (;;) {
    if (wait_busy (c, i))
      continue;
    s = state_of (c, i);
    if (s == CS_DIRTY || (s == CS_PARTIAL && aligned))
      break;
    if (s == CS_ABSENT) {
      pthread_mutex_unlock (stripe_of (c, i));
      r = volume_chunk_id (c->vol, i, &id);
      pthread_mutex_lock (stripe_of (c, i));
      if (r < 0)
        return r;
      if (state_of (c, i) != CS_ABSENT)
        continue;
      if (s3vol_id_is_hole (&id)) {
        /* Known zero: no fetch, just make sure the bytes read as zero. */
        r = cache_punch (c, i);
        if (r < 0)
          return local_error (c, "clear", i, r);
        chunk_set_state (&c->chunks, i, CS_DIRTY);
        break;
      }
      if (from == 0 && to == c->chunk_size)
        return 1;               /* no flags: it is in no cut */
      if (aligned) {
        r = start_partial (c, i);
        if (r < 0)
          return r;
        break;
      }
    }
    r = fetch (c, i);
    if (r < 0)
      return r;
  }
  return save_for_commit (c, i);
}

/* Record blocks [from, to) of a partial chunk as written; a chunk whose
 * blocks are all written is simply dirty.
 */
static void
mark_written (struct cache *c, uint64_t i, uint32_t from, uint32_t to)
{
  uint8_t *bits;
  uint32_t b, nb = c->chunk_size / BLOCK;

  if (state_of (c, i) != CS_PARTIAL)
    return;
  bits = partial_bits (c, i);
  for (b = from / BLOCK; b < to / BLOCK; b++)
    bits[b / 8] |= 1 << b % 8;
  for (b = 0; b < nb; b++)
    if (!(bits[b / 8] & 1 << b % 8))
      return;
  free (chunk_buf_detach (&c->chunks, CB_PARTIAL, i));
  chunk_set_state (&c->chunks, i, CS_DIRTY);
}

/* ---- the block device ---- */

/* Split [offset, offset+count) into per-chunk pieces and call fn. */
static int
each_chunk (struct cache *c, uint64_t offset, uint32_t count,
            int (*fn) (struct cache *, uint64_t i, uint32_t from,
                       uint32_t to, size_t done, void *arg),
            void *arg)
{
  size_t done = 0;
  int r;

  if (offset > c->size || count > c->size - offset) {
    s3vol_error (c->log, "I/O past the end of the volume");
    return -EINVAL;
  }
  while (done < count) {
    uint64_t i = (offset + done) / c->chunk_size;
    uint32_t from = (offset + done) % c->chunk_size;
    uint32_t n = c->chunk_size - from;
    if (n > count - done)
      n = count - done;
    r = fn (c, i, from, from + n, done, arg);
    if (r < 0)
      return r;
    done += n;
  }
  return 0;
}

static int
read_piece (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
            size_t done, void *buf)
{
  int r;

  pthread_mutex_lock (stripe_of (c, i));
  r = make_readable (c, i, from, to);
  if (r == 1) {
    r = pread_all (c->datafd, (char *) buf + done, to - from,
                   chunk_off (c, i) + from);
    if (r < 0)
      local_error (c, "read", i, r);
    pthread_mutex_unlock (stripe_of (c, i));
    return r;
  }
  pthread_mutex_unlock (stripe_of (c, i));
  if (r < 0)
    return r;
  /* ABSENT: the base's chunk, without the lock (chunkmap.h). */
  return cache_read_base (c, i, (char *) buf + done, from, to, NULL);
}

int
cache_pread (struct cache *c, void *buf, uint32_t count, uint64_t offset)
{
  /* First, so that the request's own later chunks are fetched in
   * parallel with its first.
   */
  cache_readahead (c, offset, count);
  return each_chunk (c, offset, count, read_piece, buf);
}

static int
write_piece (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
             size_t done, void *buf)
{
  bool wrote, whole;
  unsigned wb = 0;
  int r, tries;

  for (tries = 0; ; tries++) {
    pthread_mutex_lock (stripe_of (c, i));
    r = make_writable (c, i, from, to);
    wrote = r >= 0;
    whole = r == 1;
    if (r >= 0) {
      r = pwrite_all (c, (const char *) buf + done, to - from,
                      chunk_off (c, i) + from);
      if (r == 0) {
        if (whole)
          chunk_set_state (&c->chunks, i, CS_DIRTY);
        mark_written (c, i, from, to);
        wb = cache_wb_note (c, i, from, to);
      }
    }
    pthread_mutex_unlock (stripe_of (c, i));
    if (wb)
      cache_wb_after (c, i, wb);
    /* A full disk with the chunk store on it is not full: make room,
     * once (without the stripe lock).
     */
    if (r != -ENOSPC || tries > 0 || !cache_make_room (c))
      break;
  }
  if (r < 0 && wrote)
    local_error (c, "write", i, r);
  return r;
}

static int
check_writable (struct cache *c)
{
  if (c->readonly && !c->overlay) {
    s3vol_error (c->log, "volume %s is attached read-only", c->name);
    return -EROFS;
  }
  if (c->broken) {
    s3vol_error (c->log, "cache %s failed to sync earlier; refusing "
                 "writes", c->dir);
    return -EIO;
  }
  return 0;
}

int
cache_pwrite (struct cache *c, const void *buf, uint32_t count,
              uint64_t offset, bool fua)
{
  int r = check_writable (c);

  if (r < 0)
    return r;
  cache_wb_throttle (c);
  pthread_rwlock_rdlock (&c->cutlock);
  r = each_chunk (c, offset, count, write_piece, (void *) buf);
  pthread_rwlock_unlock (&c->cutlock);
  if (r == 0 && fua)
    r = cache_flush (c);
  return r;
}

/* A whole chunk to zero: it becomes a dirty hole, with no fetch and no
 * data; unless it is a hole in the base and unchanged here (ABSENT),
 * when zeroing it changes nothing.  Then it stays as it is: a
 * discard of a whole thin volume (mkfs does one) costs nothing, neither
 * now nor at the next commit.
 */
static int
hole_chunk (struct cache *c, uint64_t i)
{
  struct s3vol_id id;
  unsigned s, wb = 0;
  int r;

  pthread_mutex_lock (stripe_of (c, i));
  for (;;) {
    if (wait_busy (c, i))
      continue;
    s = state_of (c, i);
    if (s != CS_ABSENT)
      break;
    pthread_mutex_unlock (stripe_of (c, i));
    r = volume_chunk_id (c->vol, i, &id);
    pthread_mutex_lock (stripe_of (c, i));
    if (r < 0) {
      pthread_mutex_unlock (stripe_of (c, i));
      return r;
    }
    if (state_of (c, i) != s)
      continue;
    if (s3vol_id_is_hole (&id)) {
      pthread_mutex_unlock (stripe_of (c, i));
      return 0;
    }
    break;
  }
  r = save_for_commit (c, i);
  if (r == 0 && state_of (c, i) == CS_PARTIAL)
    free (chunk_buf_detach (&c->chunks, CB_PARTIAL, i));
  if (r == 0) {
    r = cache_punch (c, i);
    if (r < 0)
      local_error (c, "zero", i, r);
  }
  if (r == 0) {
    chunk_set_state (&c->chunks, i, CS_DIRTY);
    wb = cache_wb_note (c, i, 0, c->chunk_size);
  }
  pthread_mutex_unlock (stripe_of (c, i));
  if (wb)
    cache_wb_after (c, i, wb);
  return r;
}

static int
zero_piece (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
            size_t done, void *zeros)
{
  (void) done;
  if (from != 0 || to != c->chunk_size)
    return write_piece (c, i, from, to, 0, zeros);
  return hole_chunk (c, i);
}

/* Do bytes [from, to) of chunk i, present locally, read as zeros (lock
 * held)?  A hole in the data file does; else the bytes are read.
 */
static bool
local_zeros (struct cache *c, uint64_t i, uint32_t from, uint32_t to)
{
  off_t data = lseek (c->datafd, chunk_off (c, i) + from, SEEK_DATA);
  uint8_t *buf;
  bool zero;

  if ((data == -1 && errno == ENXIO) ||
      (data >= 0 && data >= chunk_off (c, i) + (off_t) to))
    return true;
  buf = malloc (to - from);
  zero = buf && pread_all (c->datafd, buf, to - from,
                           chunk_off (c, i) + from) == 0 &&
    s3vol_is_zero (buf, to - from);
  free (buf);
  return zero;
}

/* Do bytes [from, to) of chunk i read as zeros?  Found locally, or in
 * the base's chunk through the chunk store (a hole in the store costs no
 * fetch); a partial chunk that lacks those blocks is not asked: zeroing
 * them needs no fetch.
 */
static int
reads_zero (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
            bool *zero)
{
  uint8_t *buf;
  bool hole;
  int r = 0;

  *zero = false;
  pthread_mutex_lock (stripe_of (c, i));
  while (wait_busy (c, i))
    ;
  if (state_of (c, i) != CS_PARTIAL ||
      blocks_valid (partial_bits (c, i), from, to)) {
    r = make_readable (c, i, from, to);
    if (r == 1)
      *zero = local_zeros (c, i, from, to);
  }
  pthread_mutex_unlock (stripe_of (c, i));
  if (r != 0)
    return r < 0 ? r : 0;
  if (state_of (c, i) == CS_PARTIAL)
    return 0;
  buf = malloc (to - from);
  if (buf == NULL)
    return -ENOMEM;
  r = cache_read_base (c, i, buf, from, to, &hole);
  *zero = r == 0 && (hole || s3vol_is_zero (buf, to - from));
  free (buf);
  return r;
}

/* A trim zeroes, as the block path needs (see cache.h), but leaves alone
 * what reads as zeros already, so that it dirties nothing there.
 */
static int
trim_piece (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
            size_t done, void *zeros)
{
  bool zero;
  int r;

  (void) done;
  if (from == 0 && to == c->chunk_size)
    return hole_chunk (c, i);
  r = reads_zero (c, i, from, to, &zero);
  if (r < 0 || zero)
    return r;
  return write_piece (c, i, from, to, 0, zeros);
}

static int
zero_range (struct cache *c, uint32_t count, uint64_t offset, bool fua,
            int (*piece) (struct cache *, uint64_t, uint32_t, uint32_t,
                          size_t, void *))
{
  void *zeros;
  int r = check_writable (c);

  if (r < 0)
    return r;
  zeros = calloc (1, c->chunk_size);
  if (zeros == NULL)
    return -ENOMEM;
  pthread_rwlock_rdlock (&c->cutlock);
  r = each_chunk (c, offset, count, piece, zeros);
  pthread_rwlock_unlock (&c->cutlock);
  free (zeros);
  if (r == 0 && fua)
    r = cache_flush (c);
  return r;
}

int
cache_zero (struct cache *c, uint32_t count, uint64_t offset, bool fua)
{
  return zero_range (c, count, offset, fua, zero_piece);
}

int
cache_trim (struct cache *c, uint32_t count, uint64_t offset, bool fua)
{
  return zero_range (c, count, offset, fua, trim_piece);
}

void
cache_fetch_if_absent (struct cache *c, uint64_t i)
{
  if (state_of (c, i) == CS_ABSENT)
    cache_warm (c, i);          /* errors are logged; the read retries */
}

/* The partial chunks to complete. */
struct partials {
  struct cache *c;
  struct chunk_list idx;
};

static int
complete_one (size_t k, void *opaque)
{
  struct partials *x = opaque;
  struct cache *c = x->c;
  uint64_t i = x->idx.ptr[k];
  int r = 0;

  pthread_mutex_lock (stripe_of (c, i));
  while (wait_busy (c, i))
    ;
  if (state_of (c, i) == CS_PARTIAL)
    r = fetch (c, i);
  pthread_mutex_unlock (stripe_of (c, i));
  return r;
}

/* Fetch what partial chunks lack, in parallel.  A chunk being filled
 * already (FETCHING, by a read, a write or another flush) is waited for:
 * if it was PARTIAL, it holds acknowledged writes that the map calls
 * absent until it is DIRTY, so a flush that went past it would sync a
 * map that loses them in a crash.
 */
int
cache_complete_partials (struct cache *c)
{
  struct partials x = { .c = c };
  unsigned s;
  uint64_t i;
  int r = 0;

  for (i = 0; r == 0 && i < c->nchunks; i++) {
    s = state_of (c, i);
    if (s == CS_PARTIAL || s == CS_FETCHING)
      r = chunk_list_append (&x.idx, i);
  }
  if (r == 0)
    r = s3vol_parallel (c->threads, x.idx.len, complete_one, &x);
  chunk_list_reset (&x.idx);
  return r;
}

int
cache_flush (struct cache *c)
{
  int r;

  if (c->readonly && !c->overlay)
    return 0;
  r = cache_complete_partials (c);
  if (r == 0)
    r = cache_disk_flush (c);
  return r;
}

static int
extent_piece (struct cache *c, uint64_t i, uint32_t from, uint32_t to,
              size_t done, void *arg)
{
  struct { int (*fn) (void *, uint64_t, uint64_t, bool); void *opaque;
           uint64_t offset; } *x = arg;
  struct s3vol_id id;
  unsigned s = state_of (c, i);
  bool zero = false;
  off_t data;
  int r;

  if (s == CS_ABSENT) {
    r = volume_chunk_id (c->vol, i, &id);
    if (r < 0)
      return r;
    zero = s3vol_id_is_hole (&id);
  }
  else if (chunk_is_present (s)) {
    data = lseek (c->datafd, chunk_off (c, i) + from, SEEK_DATA);
    zero = (data == -1 && errno == ENXIO) ||
      (data >= 0 && data >= chunk_off (c, i) + (off_t) to);
  }
  return x->fn (x->opaque, x->offset + done, to - from, zero);
}

int
cache_extents (struct cache *c, uint32_t count, uint64_t offset,
               int (*fn) (void *, uint64_t, uint64_t, bool), void *opaque)
{
  struct { int (*fn) (void *, uint64_t, uint64_t, bool); void *opaque;
           uint64_t offset; } x = { fn, opaque, offset };

  return each_chunk (c, offset, count, extent_piece, &x);
}
