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
 * marked in step 3 or too young to delete in step 4.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3vol/parallel.h"
#include "volume_int.h"
#include "byteorder.h"

#define GC_THREADS 8
#define DELETE_BATCH 1000

struct gc_vol {
  struct s3vol_volid id;
  bool named;
  int64_t newest_mtime;
  struct gc_seq { uint64_t seq; int64_t mtime; } *seqs; /* versions */
  size_t nseqs, capseqs;
  uint64_t *pins;               /* snapshot versions */
  size_t npins, cappins;
  char **keys;                  /* every key of the volume */
  size_t nkeys, capkeys;
};

struct gc {
  struct volstore *vs;
  const struct gc_opts *opts;
  struct gc_report *rep;
  int64_t now;
  struct gc_vol *vols;
  size_t nvols, capvols;
  struct idmap marked;          /* page and chunk ids reached */
  struct s3vol_id *pages;       /* pages to read, for step 3 */
  size_t npages, cappages;
  pthread_mutex_t lock;
  struct gc_doomed { char *key; uint64_t size; } *doomed; /* step 4 */
  size_t ndoomed, capdoomed;
};

/* Append one element to a growable array. */
static int
grow_array (void **arr, size_t *cap, size_t n, size_t elem)
{
  void *p;
  size_t nc;

  if (n < *cap)
    return 0;
  nc = *cap ? *cap * 2 : 64;
  p = realloc (*arr, nc * elem);
  if (p == NULL)
    return -ENOMEM;
  *arr = p;
  *cap = nc;
  return 0;
}

#define PUSH(arr, n, cap, val)                                          \
  (grow_array ((void **) &(arr), &(cap), (n), sizeof *(arr)) < 0        \
   ? -ENOMEM : ((arr)[(n)++] = (val), 0))

static struct gc_vol *
find_vol (struct gc *g, const struct s3vol_volid *id, bool add)
{
  size_t i;

  /* Volumes are listed in key order, so the last is the likely one. */
  for (i = g->nvols; i-- > 0;)
    if (memcmp (g->vols[i].id.b, id->b, S3VOL_VOLID_LEN) == 0)
      return &g->vols[i];
  if (!add || grow_array ((void **) &g->vols, &g->capvols, g->nvols,
                          sizeof *g->vols) < 0)
    return NULL;
  memset (&g->vols[g->nvols], 0, sizeof *g->vols);
  g->vols[g->nvols].id = *id;
  return &g->vols[g->nvols++];
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
  uint8_t rec[16];
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
  if (PUSH (v->keys, v->nkeys, v->capkeys, k) < 0) {
    free (k);
    return -ENOMEM;
  }
  if (e->st.mtime > v->newest_mtime)
    v->newest_mtime = e->st.mtime;
  if (strncmp (rest, "versions/", 9) == 0) {
    char *end;
    seq = strtoull (rest + 9, &end, 16);
    if (*end == '\0' && seq > 0 &&
        PUSH (v->seqs, v->nseqs, v->capseqs,
              ((struct gc_seq) { seq, e->st.mtime })) < 0)
      return -ENOMEM;
  }
  else if (strncmp (rest, "snapshots/", 10) == 0) {
    r = vs_rec_get (g->vs, e->key, "S3VSNAP", rec, sizeof rec);
    if (r == 0 && PUSH (v->pins, v->npins, v->cappins, get_le64 (rec)) < 0)
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

  for (i = 0; i < v->npins; i++)
    if (v->pins[i] == seq)
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
  for (i = 0; ret == 0 && i < r.npages; i++) {
    if (idmap_get (&g->marked, &r.pages[i].id))
      continue;
    if (idmap_put (&g->marked, &r.pages[i].id, 0, 0) == NULL ||
        PUSH (g->pages, g->npages, g->cappages, r.pages[i].id) < 0)
      ret = -ENOMEM;
  }
  root_free (&r);
  return ret;
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
    for (i = 0; i < v->nkeys; i++) {
      r = del_key (g, v->keys[i]);
      if (r < 0)
        return r;
    }
    g->rep->volumes_removed++;
    return 0;
  }
  for (i = 0; i < v->nseqs; i++) {
    bool keep = !v->named || i + g->vs->keep_last >= v->nseqs ||
      v->seqs[i].mtime >= young || pinned (v, v->seqs[i].seq);
    if (keep)
      r = mark_version (g, v, v->seqs[i].seq);
    else {
      r = del_key (g, key_version (key, &v->id, v->seqs[i].seq));
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

  r = vs_get_page (g->vs, &g->pages[i], &p);
  if (r < 0)
    return r;
  pthread_mutex_lock (&g->lock);
  for (j = 0; r == 0 && j < p.n; j++)
    if (idmap_put (&g->marked, &p.e[j].id, 0, 0) == NULL)
      r = -ENOMEM;
  pthread_mutex_unlock (&g->lock);
  page_free (&p);
  return r;
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
  if (idmap_get (&g->marked, &id) ||
      e->st.mtime >= g->now - g->vs->grace_seconds) {
    g->rep->objects_kept++;
    g->rep->bytes_kept += e->st.size;
    return 0;
  }
  k = strdup (e->key);
  if (k == NULL || PUSH (g->doomed, g->ndoomed, g->capdoomed,
                         ((struct gc_doomed) { k, e->st.size })) < 0) {
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
  struct objstore_stat st;
  int r;

  r = objstore_head (g->vs->os, g->doomed[i].key, &st);
  if (r == -ENOENT || (r == 0 && st.mtime >= g->now - g->vs->grace_seconds)) {
    free (g->doomed[i].key);
    g->doomed[i].key = NULL;
    return 0;
  }
  return r;
}

static int
sweep (struct gc *g)
{
  size_t i, j, n;
  int r;

  r = objstore_list (g->vs->os, "pages/", NULL, on_ca_key, g);
  if (r == 0)
    r = objstore_list (g->vs->os, "chunks/", NULL, on_ca_key, g);
  if (r == 0 && !g->opts->dry_run)
    r = s3vol_parallel (GC_THREADS, g->ndoomed, recheck, g);
  if (r < 0)
    return r;
  /* Compact the survivors of the recheck, then delete in batches. */
  for (i = j = 0; i < g->ndoomed; i++) {
    if (g->doomed[i].key == NULL)
      continue;
    g->rep->objects_deleted++;
    g->rep->bytes_deleted += g->doomed[i].size;
    g->doomed[j++] = g->doomed[i];
  }
  g->ndoomed = j;
  for (i = 0; !g->opts->dry_run && r == 0 && i < g->ndoomed; i += n) {
    const char *keys[DELETE_BATCH];
    n = g->ndoomed - i < DELETE_BATCH ? g->ndoomed - i : DELETE_BATCH;
    for (j = 0; j < n; j++)
      keys[j] = g->doomed[i + j].key;
    r = objstore_del_many (g->vs->os, keys, n);
  }
  return r;
}

static void
gc_free (struct gc *g)
{
  size_t i, j;

  for (i = 0; i < g->nvols; i++) {
    for (j = 0; j < g->vols[i].nkeys; j++)
      free (g->vols[i].keys[j]);
    free (g->vols[i].keys);
    free (g->vols[i].seqs);
    free (g->vols[i].pins);
  }
  free (g->vols);
  for (i = 0; i < g->ndoomed; i++)
    free (g->doomed[i].key);
  free (g->doomed);
  free (g->pages);
  idmap_free (&g->marked);
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
  r = objstore_list (vs->os, "names/", NULL, on_name, &g);
  if (r == 0)
    r = objstore_list (vs->os, "volumes/", NULL, on_volume_key, &g);
  for (i = 0; r == 0 && i < g.nvols; i++)
    r = retain (&g, &g.vols[i]);
  if (r == 0)
    r = s3vol_parallel (GC_THREADS, g.npages, mark_page, &g);
  if (r == 0)
    r = sweep (&g);
  if (r > 0)
    r = -EIO;
  gc_free (&g);
  return r;
}
