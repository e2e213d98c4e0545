/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: retention, garbage collection and verification of a store.
 *
 * gc runs in this order, which is what makes it safe next to commits:
 *
 *   1. read every name, then every volume's versions and snapshots;
 *   2. prune unnamed old versions by the retention rule, and remove the
 *      objects of volumes that no name reaches (once they are older than
 *      the grace period: a create or fork in flight writes its version
 *      before its name);
 *   3. mark every page and chunk that a kept version reaches;
 *   4. only then list pages and chunks, and delete those unmarked and
 *      older than the grace period, after a second look at each.
 *
 * A commit that reuses an existing object first rewrites it if it is
 * older than half the grace period (vs_put_ca), and publishes its root
 * after everything it references, so whatever it relies on is either
 * marked in step 3 or too young to delete in step 4.  Two windows
 * remain (docs/FORMAT.md, "Retention and garbage collection"): a rewrite
 * between the second look and the delete, and a fork of a version being
 * pruned.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3vol/parallel.h"
#include "volume_int.h"

#define GC_THREADS 8
#define DELETE_BATCH 1000

struct gc_seq {
  uint64_t seq;
  int64_t mtime;
};
DEFINE_VECTOR (gc_seqs, struct gc_seq);
DEFINE_VECTOR (gc_pins, uint64_t);
DEFINE_VECTOR (gc_keys, char *);

struct gc_vol {
  struct s3vol_volid id;
  bool named;
  int64_t newest_mtime;
  struct gc_seqs seqs;          /* versions */
  struct gc_pins pins;          /* snapshot versions */
  struct gc_keys keys;          /* every key of the volume */
};
DEFINE_VECTOR (gc_vols, struct gc_vol);

struct gc_doomed {
  char *key;
  uint64_t size;
};
DEFINE_VECTOR (gc_doomed_vec, struct gc_doomed);

struct gc {
  struct volstore *vs;
  const struct gc_opts *opts;
  struct gc_report *rep;
  int64_t now;
  struct gc_vols vols;
  struct idset marked;          /* page and chunk ids reached */
  struct id_vec pages;          /* pages to read, for step 3 */
  struct idset keyed;           /* of those, the encrypted volumes' pages,
                                   whose ids gc cannot check */
  pthread_mutex_t lock;
  struct gc_doomed_vec doomed;  /* step 4 */
};

static struct gc_vol *
find_vol (struct gc *g, const struct s3vol_volid *id, bool add)
{
  struct gc_vol *v;
  size_t i;

  /* Volumes are listed in key order, so the last is the likely one. */
  for (i = g->vols.len; i-- > 0;)
    if (memcmp (g->vols.ptr[i].id.b, id->b, S3VOL_VOLID_LEN) == 0)
      return &g->vols.ptr[i];
  if (!add || (v = gc_vols_grow (&g->vols)) == NULL)
    return NULL;
  v->id = *id;
  return v;
}

/* Step 1. */
static int
on_name (void *opaque, const struct objstore_entry *e)
{
  struct gc *g = opaque;
  struct s3vol_volid id;
  struct gc_vol *v;
  const char *name = e->key + strlen ("names/");
  int r;

  if (s3vol_check_name (name) < 0)
    return 0;
  r = vs_lookup (g->vs, name, true, &id);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  v = find_vol (g, &id, true);
  if (v == NULL)
    return -ENOMEM;
  v->named = true;
  return 0;
}

static int
on_volume_key (void *opaque, const struct objstore_entry *e)
{
  struct gc *g = opaque;
  struct s3vol_volid id;
  struct gc_vol *v;
  char hex[2 * S3VOL_VOLID_LEN + 1], *k;
  const char *rest;
  uint64_t seq;
  struct record rec;
  int r;

  /* volumes/<32 hex>/<rest> */
  rest = e->key + strlen ("volumes/");
  if (strlen (rest) < sizeof hex || rest[sizeof hex - 1] != '/')
    return 0;
  memcpy (hex, rest, sizeof hex - 1);
  hex[sizeof hex - 1] = '\0';
  if (s3vol_volid_parse (hex, &id) < 0)
    return 0;
  rest += sizeof hex;
  v = find_vol (g, &id, true);
  if (v == NULL || (k = strdup (e->key)) == NULL)
    return -ENOMEM;
  if (gc_keys_append (&v->keys, k) < 0) {
    free (k);
    return -ENOMEM;
  }
  if (e->st.mtime > v->newest_mtime)
    v->newest_mtime = e->st.mtime;
  if (strncmp (rest, "versions/", 9) == 0) {
    char *end;
    seq = strtoull (rest + 9, &end, 16);
    if (*end == '\0' && seq > 0 &&
        gc_seqs_append (&v->seqs,
                        (struct gc_seq) { seq, e->st.mtime }) < 0)
      return -ENOMEM;
  }
  else if (strncmp (rest, "snapshots/", 10) == 0) {
    r = vs_rec_get (g->vs, e->key, RECORD_SNAPSHOT, &rec);
    if (r == 0 && gc_pins_append (&v->pins, rec.seq) < 0)
      return -ENOMEM;
    if (r < 0 && r != -ENOENT)
      return r;
  }
  return 0;
}

static int
del_key (struct gc *g, const char *key)
{
  return g->opts->dry_run ? 0 : objstore_del (g->vs->os, key);
}

static bool
pinned (const struct gc_vol *v, uint64_t seq)
{
  size_t i;

  for (i = 0; i < v->pins.len; i++)
    if (v->pins.ptr[i] == seq)
      return true;
  return false;
}

/* Mark the pages of a kept version (their chunks come in step 3). */
static int
mark_version (struct gc *g, const struct gc_vol *v, uint64_t seq)
{
  struct root r;
  uint64_t i;
  int ret;

  ret = vs_get_root (g->vs, &v->id, seq, &r);
  if (ret == -ENOENT)
    return 0;
  if (ret < 0)
    return ret;
  for (i = 0; ret >= 0 && i < r.npages; i++) {
    ret = idset_add (&g->marked, &r.pages[i].id);
    if (ret == 1 && id_vec_append (&g->pages, r.pages[i].id) < 0)
      ret = -ENOMEM;
    if (ret >= 0 && (r.flags & ROOT_FLAG_ENCRYPTED))
      ret = idset_add (&g->keyed, &r.pages[i].id);
  }
  root_free (&r);
  return ret < 0 ? ret : 0;
}

/* Step 2 for one volume.  Versions are listed oldest first. */
static int
retain (struct gc *g, struct gc_vol *v)
{
  int64_t young = g->now - g->vs->keep_seconds;
  char key[KEY_BUF];
  size_t i;
  int r;

  if (!v->named && v->newest_mtime < g->now - g->vs->grace_seconds) {
    for (i = 0; i < v->keys.len; i++) {
      r = del_key (g, v->keys.ptr[i]);
      if (r < 0)
        return r;
    }
    g->rep->volumes_removed++;
    return 0;
  }
  for (i = 0; i < v->seqs.len; i++) {
    const struct gc_seq *s = &v->seqs.ptr[i];
    bool keep = !v->named || i + g->vs->keep_last >= v->seqs.len ||
      s->mtime >= young || pinned (v, s->seq);
    if (keep)
      r = mark_version (g, v, s->seq);
    else {
      r = del_key (g, key_version (key, &v->id, s->seq));
      g->rep->versions_pruned++;
    }
    if (r < 0)
      return r;
  }
  return 0;
}

/* Step 3: read the marked pages and mark their chunks. */
static int
mark_page (size_t i, void *opaque)
{
  struct gc *g = opaque;
  struct page p;
  uint32_t j;
  int r;

  /* A page gc cannot read stops it: it must never take a page for one
   * that reaches nothing.
   */
  r = vs_get_page (g->vs, idset_has (&g->keyed, &g->pages.ptr[i]) ?
                   S3VOL_OBJ_UNCHECKED : S3VOL_OBJ_PLAIN, NULL,
                   &g->pages.ptr[i], &p);
  if (r < 0)
    return r;
  pthread_mutex_lock (&g->lock);
  for (j = 0; r >= 0 && j < p.n; j++)
    r = idset_add (&g->marked, &p.e[j].id);
  pthread_mutex_unlock (&g->lock);
  page_free (&p);
  return r < 0 ? r : 0;
}

/* Step 4: list content-addressed objects, keep the marked and young. */
static int
on_ca_key (void *opaque, const struct objstore_entry *e)
{
  struct gc *g = opaque;
  struct s3vol_id id;
  const char *hex = strrchr (e->key, '/');
  char *k;

  if (hex == NULL || s3vol_id_parse (hex + 1, &id) < 0)
    return 0;                   /* not ours */
  if (idset_has (&g->marked, &id) ||
      e->st.mtime >= g->now - g->vs->grace_seconds) {
    g->rep->objects_kept++;
    g->rep->bytes_kept += e->st.size;
    return 0;
  }
  k = strdup (e->key);
  if (k == NULL || gc_doomed_vec_append (&g->doomed, (struct gc_doomed) {
                                           k, e->st.size }) < 0) {
    free (k);
    return -ENOMEM;
  }
  return 0;
}

/* Look again just before deleting: an object rewritten since the
 * listing (a commit reusing it) is young now and stays.
 */
static int
recheck (size_t i, void *opaque)
{
  struct gc *g = opaque;
  struct gc_doomed *d = &g->doomed.ptr[i];
  struct objstore_stat st;
  int r;

  r = objstore_head (g->vs->os, d->key, &st);
  if (r == -ENOENT || (r == 0 && st.mtime >= g->now - g->vs->grace_seconds)) {
    free (d->key);
    d->key = NULL;
    return 0;
  }
  return r;
}

static int
sweep (struct gc *g)
{
  struct gc_doomed_vec *dv = &g->doomed;
  size_t i, j, n;
  int r;

  r = objstore_list (g->vs->os, "pages/", NULL, on_ca_key, g);
  if (r == 0)
    r = objstore_list (g->vs->os, "chunks/", NULL, on_ca_key, g);
  if (r == 0 && !g->opts->dry_run)
    r = s3vol_parallel (GC_THREADS, dv->len, recheck, g);
  if (r < 0)
    return r;
  /* Compact the survivors of the recheck, then delete in batches. */
  for (i = j = 0; i < dv->len; i++) {
    if (dv->ptr[i].key == NULL)
      continue;
    g->rep->objects_deleted++;
    g->rep->bytes_deleted += dv->ptr[i].size;
    dv->ptr[j++] = dv->ptr[i];
  }
  dv->len = j;
  for (i = 0; !g->opts->dry_run && r == 0 && i < dv->len; i += n) {
    const char *keys[DELETE_BATCH];
    n = dv->len - i < DELETE_BATCH ? dv->len - i : DELETE_BATCH;
    for (j = 0; j < n; j++)
      keys[j] = dv->ptr[i + j].key;
    r = objstore_del_many (g->vs->os, keys, n);
  }
  return r;
}

static void
gc_free (struct gc *g)
{
  struct gc_vol *v;
  size_t i, j;

  for (i = 0; i < g->vols.len; i++) {
    v = &g->vols.ptr[i];
    for (j = 0; j < v->keys.len; j++)
      free (v->keys.ptr[j]);
    gc_keys_reset (&v->keys);
    gc_seqs_reset (&v->seqs);
    gc_pins_reset (&v->pins);
  }
  gc_vols_reset (&g->vols);
  for (i = 0; i < g->doomed.len; i++)
    free (g->doomed.ptr[i].key);
  gc_doomed_vec_reset (&g->doomed);
  id_vec_reset (&g->pages);
  idset_free (&g->marked);
  idset_free (&g->keyed);
  pthread_mutex_destroy (&g->lock);
}

int
volstore_gc (struct volstore *vs, const struct gc_opts *opts,
             struct gc_report *rep)
{
  struct gc g = { .vs = vs, .opts = opts, .rep = rep };
  size_t i;
  int r;

  memset (rep, 0, sizeof *rep);
  g.now = opts->now ? opts->now : time (NULL);
  pthread_mutex_init (&g.lock, NULL);
  idset_init (&g.marked);
  idset_init (&g.keyed);
  r = objstore_list (vs->os, "names/", NULL, on_name, &g);
  if (r == 0)
    r = objstore_list (vs->os, "volumes/", NULL, on_volume_key, &g);
  for (i = 0; r == 0 && i < g.vols.len; i++)
    r = retain (&g, &g.vols.ptr[i]);
  if (r == 0)
    r = s3vol_parallel (GC_THREADS, g.pages.len, mark_page, &g);
  if (r == 0)
    r = sweep (&g);
  if (r > 0)
    r = -EIO;
  gc_free (&g);
  return r;
}
