/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: merge_run: B and L opened read-only once, what L changed found
 * once (scan.c); then, on the target's head H, the changes applied
 * (tree.c, copy.c) and published in one conditional commit.  If another
 * writer published first, H is dropped and the merge is done again on
 * the new head, after a backoff, up to max_retries times.  Reports are
 * told only for the merge that was published.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "merge_int.h"

#define DEFAULT_RETRIES 5

static void
note_replay (void *opaque, enum extfs_event ev, const char *path,
             uint64_t seq)
{
  (void) path;
  (void) seq;
  if (ev == EXTFS_EV_REPLAYED)
    *(bool *) opaque = true;
}

static int
open_side (struct merge *m, const char *volume, const struct vol_ref *ref,
           struct extfs **out)
{
  struct extfs_config c = {
    .log = m->log, .volume = volume ? volume : m->cfg->volume,
    .writable = ref == NULL, .tmpdir = m->cfg->tmpdir,
    .threads = m->cfg->threads,
  };

  if (ref) {
    c.ref = *ref;
    c.notify = (struct extfs_notify) { note_replay, &m->replayed };
  }
  return extfs_open (m->vs, &c, out);
}

/* B, L and H must be one filesystem's versions. */
static int
check_geometry (struct merge *m, struct extfs *x, const char *what)
{
  struct ext2_super_block *a = m->b->fs->super, *b = x->fs->super;

  if (ext2fs_blocks_count (a) == ext2fs_blocks_count (b) &&
      a->s_inodes_count == b->s_inodes_count &&
      a->s_log_block_size == b->s_log_block_size &&
      EXT2_INODE_SIZE (a) == EXT2_INODE_SIZE (b) &&
      a->s_inodes_per_group == b->s_inodes_per_group &&
      cache_chunk_size (m->b->cache) == cache_chunk_size (x->cache))
    return 0;
  s3vol_error (m->log, "volume %s: the %s version is not the same "
               "filesystem as the base (size, inodes or chunk size "
               "differ): cannot merge", m->cfg->volume, what);
  return -ENOTSUP;
}

static void
free_events (struct merge *m)
{
  size_t i;

  for (i = 0; i < m->events.len; i++)
    free (m->events.ptr[i].path);
  mevent_list_reset (&m->events);
}

static void
tell_events (struct merge *m)
{
  const struct mevent *e;
  size_t i;

  for (i = 0; i < m->events.len; i++) {
    e = &m->events.ptr[i];
    if (e->ev == MERGE_EV_OVERWROTE)
      m->res->conflicts++;
    m->cfg->notify.fn (m->cfg->notify.opaque, e->ev, e->path, e->seq);
  }
}

static void
close_head (struct merge *m)
{
  extfs_close (m->h);
  m->h = NULL;
  hashmap_free (&m->orphans[SIDE_H]);
  hashmap_free (&m->lmap);
  mdrop_list_reset (&m->drops);
  free_events (m);
}

/* Write H's metadata back and publish its cache over the head it was. */
static int
publish (struct merge *m, struct vol_commit_result *cres)
{
  struct vol_commit_opts o = { .message = m->cfg->message,
                               .quiet_conflict = true };
  errcode_t e;

  e = ext2fs_close2 (m->h->fs, EXT2_FLAG_FLUSH_NO_SYNC);
  m->h->fs = NULL;
  if (e)
    return extfs_fail (m->h, e, "write the filesystem metadata of",
                       m->cfg->volume);
  return cache_commit (m->h->cache, &o, cres);
}

/* One merge onto the head as it is now. */
static int
attempt (struct merge *m, struct vol_commit_result *cres, uint64_t *head)
{
  int r;

  r = open_side (m, m->cfg->volume, NULL, &m->h);
  if (r < 0)
    return r;
  *head = extfs_version (m->h);
  r = check_geometry (m, m->h, "head");
  if (r == 0)
    r = merge_orphans (m, m->h, &m->orphans[SIDE_H]);
  if (r == 0)
    r = merge_tree (m);
  if (r == 0)
    r = publish (m, cres);
  return r;
}

static void
backoff (unsigned n)
{
  struct timespec ts;
  uint64_t ns = (50000000ull << (n < 6 ? n : 6));

  clock_gettime (CLOCK_MONOTONIC, &ts);
  ns += (uint64_t) ts.tv_nsec % (ns / 2 + 1);   /* jitter */
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  nanosleep (&ts, NULL);
}

static int
merge_loop (struct merge *m)
{
  unsigned max = m->cfg->max_retries ? m->cfg->max_retries : DEFAULT_RETRIES;
  struct vol_commit_result cres = { 0 };
  uint64_t head = 0;
  int r;

  for (;;) {
    r = attempt (m, &cres, &head);
    if (r != -EEXIST)
      break;
    if (m->res->retries == max) {
      s3vol_error (m->log, "volume %s: other writers kept publishing "
                   "first (%u merges); nothing was published",
                   m->cfg->volume, max);
      break;
    }
    m->res->retries++;
    if (m->cfg->notify.fn)
      m->cfg->notify.fn (m->cfg->notify.opaque, MERGE_EV_RETRY, "",
                         cres.conflict_head);
    close_head (m);
    backoff (m->res->retries);
  }
  if (r == 0) {
    m->res->seq = cres.seq;
    m->res->changed = cres.seq != head;
    tell_events (m);
  }
  close_head (m);
  return r;
}

/* The head's number, for a merge with nothing to do. */
static int
head_seq (struct merge *m, uint64_t *seq)
{
  struct vol_ref head = { 0 };
  struct volume *v;
  int r = volume_open (m->vs, m->cfg->volume, &head, &v);

  if (r < 0)
    return r;
  *seq = volume_seq (v);
  volume_close (v);
  return 0;
}

int
merge_run (struct volstore *vs, const struct merge_config *cfg,
           struct merge_result *res)
{
  struct merge m = { .cfg = cfg, .log = cfg->log, .vs = vs, .res = res };
  int r;

  memset (res, 0, sizeof *res);
  m.buf = malloc (EXTFS_PIECE);
  if (m.buf == NULL)
    return -ENOMEM;
  extfs_inoset_init (&m.orphans[SIDE_H]);
  r = open_side (&m, cfg->base_volume, &cfg->base, &m.b);
  if (r == 0)
    r = open_side (&m, cfg->local_volume, &cfg->local, &m.l);
  if (r == 0)
    r = check_geometry (&m, m.l, "local");
  if (r == 0)
    r = merge_orphans (&m, m.b, &m.orphans[SIDE_B]);
  if (r == 0)
    r = merge_orphans (&m, m.l, &m.orphans[SIDE_L]);
  if (r == 0)
    r = merge_scan (&m);
  if (r == 0 && m.chg.len == 0)
    r = head_seq (&m, &res->seq);
  else if (r == 0)
    r = merge_loop (&m);
  extfs_close (m.b);
  extfs_close (m.l);
  hashmap_free (&m.orphans[SIDE_B]);
  hashmap_free (&m.orphans[SIDE_L]);
  hashmap_free (&m.orphans[SIDE_H]);
  mchg_list_reset (&m.chg);
  free (m.buf);
  return r;
}
