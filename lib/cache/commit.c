/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: committing a cache: an instant cut, then uploads while writes
 * go on, then one published version.
 *
 *   cut     writers paused (cutlock), partial chunks completed, every
 *           DIRTY chunk marked INCUT | CUTPEND: no sync, so that a
 *           filesystem frozen around the cut is frozen only that long
 *   flush   data and map synced (writes go on): no chunk of the cut can
 *           then be found dirty with bytes older than the cut's after a
 *           crash, once the version holding them is published
 *   upload  in parallel: take each chunk's bytes as they were at the cut
 *           (the copy a writer set aside, or the file if none), or name
 *           the object write-behind stored them in (writebehind.c);
 *           store it
 *   publish volume_commit; the state file names the new base version
 *   settle  chunks not written since the cut become ABSENT (they read
 *           from the chunk store, which the upload filled); once the
 *           map says so on disk, their local bytes are punched
 *
 * Chunks whose content equals the base's are left out, and a commit with
 * nothing left publishes nothing.  With a noise filter (cache_set_noise),
 * a small cut is first compared with the base chunk by chunk; if every
 * change is noise, nothing is uploaded or published and the chunks stay
 * dirty.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3vol/parallel.h"
#include "cache_int.h"

int
cache_commit_cut (struct cache *c)
{
  uint64_t i, *cut;
  int r;

  if (c->readonly) {
    s3vol_error (c->log, "volume %s is attached read-only: nothing to "
                 "commit", c->name);
    return -EROFS;
  }
  pthread_mutex_lock (&c->commitlock);
  pthread_rwlock_wrlock (&c->cutlock);
  r = cache_complete_partials (c);
  cut = r == 0 ? malloc ((c->chunks.ndirty + 1) * sizeof *cut) : NULL;
  if (r == 0 && cut == NULL)
    r = -ENOMEM;
  c->ncut = 0;
  for (i = 0; r == 0 && i < c->nchunks; i++) {
    if (state_of (c, i) != CS_DIRTY)
      continue;
    chunk_set_flags (&c->chunks, i, CF_INCUT | CF_CUTPEND);
    cut[c->ncut++] = i;
  }
  pthread_rwlock_unlock (&c->cutlock);
  if (r < 0) {
    free (cut);
    pthread_mutex_unlock (&c->commitlock);
    return r;
  }
  free (c->cut);
  c->cut = cut;
  c->cut_taken = true;
  return 0;                     /* commitlock stays held until finish */
}

/* A cut of more chunks (or bytes) than this holds real changes: a
 * filesystem's housekeeping touches its superblock and its journal, and
 * only small cuts are worth fetching the base's bytes for.
 */
#define NOISE_MAX 4
#define NOISE_BYTES (16u << 20)

struct upload {
  struct cache *c;
  struct vol_change *changes;
  bool *unchanged;
  uint8_t **bufs;               /* chunks captured before the upload */
};

void
cache_set_noise (struct cache *c, cache_noise_fn *fn, void *opaque)
{
  pthread_mutex_lock (&c->commitlock);
  c->noise = fn;
  c->noise_opaque = opaque;
  pthread_mutex_unlock (&c->commitlock);
}

/* The bytes of cut chunk i as they were at the cut, in a new buffer. */
static int
capture (struct cache *c, uint64_t i, uint8_t **out)
{
  uint8_t *buf;
  ssize_t n = 0;
  int r = 0;

  pthread_mutex_lock (stripe_of (c, i));
  buf = chunk_buf_detach (&c->chunks, CB_COW, i);
  if (buf == NULL) {
    buf = malloc (c->chunk_size);
    if (buf == NULL)
      r = -ENOMEM;
    else
      n = pread (c->datafd, buf, c->chunk_size,
                 (off_t) (i * c->chunk_size));
    if (r == 0 && n != (ssize_t) c->chunk_size) {
      r = n < 0 ? -errno : -EIO;
      s3vol_error (c->log, "cache %s: read chunk %" PRIu64 " for commit: "
                   "%s", c->dir, i, strerror (-r));
    }
    chunk_clear_flags (&c->chunks, i, CF_CUTPEND);
  }
  pthread_mutex_unlock (stripe_of (c, i));
  if (r < 0) {
    free (buf);
    return r;
  }
  *out = buf;
  return 0;
}

/* Is the whole cut noise (c->noise)?  The chunks captured to ask stay
 * in u->bufs for the upload: once captured, a chunk's bytes at the cut
 * are nowhere else.
 */
static int
only_noise (struct cache *c, struct upload *u, bool *noise)
{
  struct cache_change ch[NOISE_MAX];
  uint8_t *base[NOISE_MAX] = { NULL };
  size_t k, n = c->ncut;
  int r = 0;

  *noise = false;
  if (c->noise == NULL || n == 0 || n > NOISE_MAX ||
      n * c->chunk_size > NOISE_BYTES)
    return 0;
  for (k = 0; r == 0 && k < n; k++) {
    base[k] = malloc (c->chunk_size);
    r = base[k] ? capture (c, c->cut[k], &u->bufs[k]) : -ENOMEM;
    if (r == 0)
      r = cache_fetch_into (c, c->cut[k], base[k], NULL);
    ch[k] = (struct cache_change) {
      .offset = c->cut[k] * c->chunk_size, .base = base[k],
      .cur = u->bufs[k], .len = c->chunk_size,
    };
  }
  if (r == 0)
    *noise = c->noise (c->noise_opaque, ch, n);
  if (*noise)
    s3vol_debug (c->log, "cache %s: the %zu chunks changed since version "
                 "%" PRIu64 " hold only housekeeping: nothing to publish",
                 c->dir, n, volume_seq (c->vol));
  for (k = 0; k < n; k++)
    free (base[k]);
  return r;
}

/* Did write-behind store cut chunk i's bytes already (writebehind.c)? */
static bool
early (struct cache *c, uint64_t i, struct vol_change *ch)
{
  int r;

  pthread_mutex_lock (stripe_of (c, i));
  r = cache_wb_claim (c, i, &ch->id, &ch->stored_len);
  pthread_mutex_unlock (stripe_of (c, i));
  return r == 1;
}

static int
upload_one (size_t k, void *opaque)
{
  struct upload *u = opaque;
  struct cache *c = u->c;
  uint64_t i = c->cut[k];
  struct vol_change *ch = &u->changes[k];
  struct s3vol_id base;
  uint8_t *buf = u->bufs[k];
  bool named;
  int r = 0;

  u->bufs[k] = NULL;
  ch->index = i;
  named = buf == NULL && early (c, i, ch);
  if (named)
    goto stored;
  if (buf == NULL)
    r = capture (c, i, &buf);
  if (r < 0)
    return r;
  c->inflight++;
  r = volume_put_chunk (c->vol, buf, c->chunk_size, &ch->id,
                          &ch->stored_len);
  c->inflight--;
  if (r == 0)
    cache_store_put (c, &ch->id, buf);
  free (buf);
 stored:
  if (r == 0)
    r = volume_chunk_id (c->vol, i, &base);
  if (r == 0) {
    u->unchanged[k] = memcmp (base.b, ch->id.b, S3VOL_ID_LEN) == 0;
    if (!u->unchanged[k] && !named)   /* write-behind counted it */
      c->uploaded += ch->stored_len;
  }
  return r;
}

/* After the commit, let go of the cut; clean: it was published (or had
 * nothing to publish), so chunks not written since are the base's: they
 * become ABSENT (their bytes are punched later, see punch_settled).
 */
static void
settle (struct cache *c, bool clean)
{
  uint64_t i;
  size_t k;

  for (k = 0; k < c->ncut; k++) {
    i = c->cut[k];
    pthread_mutex_lock (stripe_of (c, i));
    if (clean && !(chunk_flags (&c->chunks, i) & CF_REDIRTY) &&
        state_of (c, i) == CS_DIRTY) {
      chunk_set_state (&c->chunks, i, CS_ABSENT);
      cache_wb_forget (c, i);
    }
    else
      cache_wb_reset (c, i);
    chunk_clear_flags (&c->chunks, i, CF_INCUT | CF_CUTPEND | CF_REDIRTY);
    free (chunk_buf_detach (&c->chunks, CB_COW, i));
    pthread_mutex_unlock (stripe_of (c, i));
  }
}

/* The map on disk now calls the settled chunks absent: free the room of
 * those still ABSENT (a write since has made the others its own).
 */
static void
punch_settled (struct cache *c)
{
  uint64_t i;
  size_t k;

  for (k = 0; k < c->ncut; k++) {
    i = c->cut[k];
    pthread_mutex_lock (stripe_of (c, i));
    if (state_of (c, i) == CS_ABSENT)
      cache_punch (c, i);
    pthread_mutex_unlock (stripe_of (c, i));
  }
}

static void
record (struct cache *c, int r, uint64_t seq)
{
  pthread_mutex_lock (&c->statlock);
  if (r == 0) {
    c->last.commits++;
    c->last.last_commit_seq = seq;
    c->last.last_commit_ns = s3vol_now_ns ();
  }
  else
    c->last.commit_failures++;
  c->last.last_commit_error = r;
  pthread_mutex_unlock (&c->statlock);
}

int
cache_commit_finish (struct cache *c, const struct vol_commit_opts *o,
                     struct vol_commit_result *res)
{
  struct upload u = { .c = c };
  struct vol_commit_opts opts = { 0 };
  bool noise = false;
  size_t k, n = 0, ncut = c->ncut;
  int r;

  memset (res, 0, sizeof *res);
  if (!c->cut_taken)
    return -EINVAL;
  u.changes = calloc (c->ncut + 1, sizeof *u.changes);
  u.unchanged = calloc (c->ncut + 1, sizeof *u.unchanged);
  u.bufs = calloc (c->ncut + 1, sizeof *u.bufs);
  r = u.changes && u.unchanged && u.bufs ? 0 : -ENOMEM;
  if (r == 0)
    r = cache_disk_flush (c);
  if (r == 0)
    r = only_noise (c, &u, &noise);
  if (r == 0 && !noise)
    r = s3vol_parallel (c->threads, c->ncut, upload_one, &u);
  for (k = 0; r == 0 && !noise && k < c->ncut; k++)
    if (!u.unchanged[k])
      u.changes[n++] = u.changes[k];
  if (o)
    opts = *o;
  opts.force |= c->force;
  res->seq = volume_seq (c->vol);
  if (r == 0 && n > 0)
    r = volume_commit (c->vol, u.changes, n, &opts, res);
  /* The new base must be on disk before chunks are called clean. */
  if (r == 0 && n > 0)
    r = cache_save_state (c, false);
  settle (c, r == 0 && !noise);
  if (r == 0)
    r = cache_disk_flush (c);
  if (r == 0 && !noise)
    punch_settled (c);
  c->ncut = 0;
  c->cut_taken = false;
  record (c, r, res->seq);
  for (k = 0; u.bufs && k < ncut; k++)
    free (u.bufs[k]);
  free (u.bufs);
  free (u.changes);
  free (u.unchanged);
  pthread_mutex_unlock (&c->commitlock);
  return r;
}

int
cache_commit (struct cache *c, const struct vol_commit_opts *o,
              struct vol_commit_result *res)
{
  int r = cache_commit_cut (c);

  return r < 0 ? r : cache_commit_finish (c, o, res);
}
