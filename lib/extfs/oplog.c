/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: commits of a writable extfs handle, and what a replay needs
 * to know.
 *
 * Each change is applied at once and logged as it was resolved (ops.c).
 * extfs_commit writes the filesystem's metadata back (ext2fs_close2) and
 * publishes the cache; if the head moved (-EEXIST), it opens the new
 * head on a fresh cache, runs the log again there with force
 * (extfs_redo), and publishes that, up to max_rebases times.  Paths the
 * log changes have their base state remembered (extfs_touch), so a
 * replay can tell which of them another writer changed meanwhile: those
 * are reported after the publish.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "extfs_int.h"

#define DEFAULT_REBASES 10

void
extfs_free_log (struct extfs *x)
{
  size_t i;

  extfs_free_ops (x);
  for (i = 0; i < x->seen.len; i++)
    free (x->seen.ptr[i]);
  extfs_seen_list_reset (&x->seen);
  hashmap_free (&x->seen_by_path);
}

static bool
seen_eq (void *ctx, uintptr_t val, const void *key)
{
  (void) ctx;
  return strcmp (((const struct extfs_seen *) val)->path, key) == 0;
}

static uint64_t
hash_path (const char *path)
{
  return hashmap_hash_bytes (path, strlen (path));
}

static struct extfs_seen *
find_seen (struct extfs *x, const char *path)
{
  return (struct extfs_seen *) hashmap_get (&x->seen_by_path,
                                            hash_path (path), path);
}

/* Remember s: room in the list first, so that the append after the put
 * cannot fail.  (The map of a zeroed handle has no eq yet: set here.)
 */
static int
add_seen (struct extfs *x, struct extfs_seen *s)
{
  int r;

  x->seen_by_path.eq = seen_eq;
  r = extfs_seen_list_reserve (&x->seen, 1);
  if (r == 0)
    r = hashmap_put (&x->seen_by_path, hash_path (s->path), (uintptr_t) s);
  if (r == 0)
    r = extfs_seen_list_append (&x->seen, s);
  return r;
}

/* The state of path now, in the form remembered. */
static int
state_of (struct extfs *x, const char *path, struct extfs_seen *s)
{
  union extfs_inode in;
  char last[EXT2_NAME_LEN + 1];
  ext2_ino_t parent, ino;
  int r;

  s->present = false;
  r = extfs_resolve (x, path, false, &parent, last, &ino);
  if (r == -ENOENT)
    return 0;
  if (r == 0)
    r = extfs_read_inode (x, ino, &in);
  if (r < 0)
    return r;
  s->present = true;
  s->ino = ino;
  s->gen = in.small.i_generation;
  s->ctime_ns = extfs_get_time (&in, T_CTIME);
  s->size = EXT2_I_SIZE (&in.small);
  return 0;
}

static bool
same_state (const struct extfs_seen *a, const struct extfs_seen *b)
{
  if (a->present != b->present)
    return false;
  return !a->present || (a->ino == b->ino && a->gen == b->gen &&
                         a->ctime_ns == b->ctime_ns && a->size == b->size);
}

int
extfs_touch (struct extfs *x, const char *path)
{
  struct extfs_seen *s = find_seen (x, path), now = { 0 };
  int r;

  if (!x->replaying) {
    if (s)
      return 0;
    s = calloc (1, sizeof *s + strlen (path) + 1);
    if (s == NULL)
      return -ENOMEM;
    strcpy (s->path, path);
    r = state_of (x, path, s);
    if (r == 0)
      r = add_seen (x, s);
    if (r < 0)
      free (s);
    return r;
  }
  /* Replaying: compare the head with the base, once per replay (later
   * touches would see our own replayed changes).  Told after a publish.
   */
  if (s == NULL || s->checked == x->rebases)
    return 0;
  s->checked = x->rebases;
  r = state_of (x, path, &now);
  if (r < 0)
    return r;
  s->changed = !same_state (s, &now);
  return 0;
}

/* Before a replay: nothing found changed yet. */
static void
clear_changed (struct extfs *x)
{
  size_t i;

  for (i = 0; i < x->seen.len; i++)
    x->seen.ptr[i]->changed = false;
}

/* After a publish: the paths this replaced that another writer changed. */
static void
tell_changed (struct extfs *x, uint64_t head)
{
  size_t i;

  for (i = 0; i < x->seen.len; i++)
    if (x->seen.ptr[i]->changed)
      extfs_notify (x, EXTFS_EV_OVERWROTE, x->seen.ptr[i]->path, head);
}

/* ---- committing ---- */

struct watch {
  struct extfs *x;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  bool stop;
};

/* Report upload progress while cache_commit runs. */
static void *
watch_upload (void *arg)
{
  struct watch *w = arg;
  struct cache_stats st;
  struct timespec ts;

  pthread_mutex_lock (&w->lock);
  while (!w->stop) {
    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_nsec += 200000000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&w->cond, &w->lock, &ts);
    if (w->stop)
      break;
    cache_stats (w->x->cache, &st);
    extfs_progress (w->x, "upload", st.bytes_uploaded, 0);
  }
  pthread_mutex_unlock (&w->lock);
  return NULL;
}

static int
publish (struct extfs *x, const char *message, struct vol_commit_result *res,
         uint64_t *uploaded)
{
  struct vol_commit_opts o = { .message = message, .quiet_conflict = true };
  struct watch w = { .x = x };
  struct cache_stats st;
  pthread_t t;
  bool watching;
  errcode_t e;
  int r;

  e = ext2fs_close2 (x->fs, EXT2_FLAG_FLUSH_NO_SYNC);
  x->fs = NULL;
  if (e)
    return extfs_fail (x, e, "write the filesystem metadata of",
                       x->volume);
  pthread_mutex_init (&w.lock, NULL);
  pthread_cond_init (&w.cond, NULL);
  watching = x->cfg.progress.fn &&
    pthread_create (&t, NULL, watch_upload, &w) == 0;
  r = cache_commit (x->cache, &o, res);
  if (watching) {
    pthread_mutex_lock (&w.lock);
    w.stop = true;
    pthread_cond_signal (&w.cond);
    pthread_mutex_unlock (&w.lock);
    pthread_join (t, NULL);
  }
  pthread_mutex_destroy (&w.lock);
  pthread_cond_destroy (&w.cond);
  cache_stats (x->cache, &st);
  *uploaded = st.bytes_uploaded;
  return r;
}

/* The head moved: open it on a fresh cache and run the log there. */
static int
rebase (struct extfs *x, uint64_t head)
{
  struct vol_ref ref = { 0 };
  int r;

  extfs_close_version (x);
  r = extfs_open_version (x, &ref);
  if (r < 0)
    return r;
  extfs_notify (x, EXTFS_EV_REBASED, "", x->seq);
  (void) head;
  x->rebases++;
  clear_changed (x);
  return extfs_redo (x);
}

int
extfs_commit (struct extfs *x, const char *message,
              struct extfs_commit_result *res)
{
  unsigned max = x->cfg.max_rebases ? x->cfg.max_rebases : DEFAULT_REBASES;
  struct vol_commit_result cres;
  uint64_t up = 0;
  int r;

  memset (res, 0, sizeof *res);
  r = extfs_check_writable (x);
  if (r < 0)
    return r;
  res->seq = x->seq;
  if (!x->changed)
    return 0;
  for (;;) {
    r = publish (x, message, &cres, &up);
    res->bytes_uploaded += up;
    if (r != -EEXIST)
      break;
    if (res->rebases == max) {
      s3vol_error (x->log, "volume %s: other writers kept publishing "
                   "first (%u times); nothing was published", x->volume,
                   max);
      return -EEXIST;
    }
    res->rebases++;
    r = rebase (x, cres.conflict_head);
    if (r < 0)
      return r;
  }
  if (r < 0)
    return r;
  if (res->rebases)
    tell_changed (x, x->seq);
  res->changed = cres.seq != x->seq;
  res->seq = cres.seq;
  x->seq = cres.seq;
  x->changed = false;
  extfs_free_log (x);
  /* Go on showing the new version. */
  r = extfs_open_fs (x, true);
  if (r == 0) {
    extfs_dc_free (x);
    r = extfs_dc_new (x);
  }
  return r;
}
