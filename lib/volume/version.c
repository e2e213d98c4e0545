/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: an open version of a volume: reading chunks, commit, reload.
 *
 * The handle keeps the version's root and a cache of decoded map pages,
 * keyed by page id: pages are immutable and shared between versions, so
 * the cache stays valid across commits and reloads.  The lock guards only
 * the cache; page fetches happen outside it.  rootlock lets readers look
 * up chunk ids while a commit or reload swaps in a new root.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "volume_int.h"

/* A decoded page in the cache, with the id of its object. */
struct cached_page {
  struct s3vol_id id;
  struct page p;
};

struct volume {
  struct volstore *vs;
  char name[S3VOL_NAME_MAX + 1];
  struct s3vol_volid id;
  struct root root;
  pthread_mutex_t lock;
  struct hashmap pages;         /* page id -> struct cached_page * */
  pthread_rwlock_t rootlock;
  struct vol_keys keys;         /* an encrypted volume's keys */
};

static bool
cached_page_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct cached_page *cp = (const struct cached_page *) val;

  (void) ctx;
  return memcmp (cp->id.b, key, S3VOL_ID_LEN) == 0;
}

static int
free_cached_page (void *opaque, uintptr_t val)
{
  struct cached_page *cp = (struct cached_page *) val;

  (void) opaque;
  page_free (&cp->p);
  free (cp);
  return 0;
}

int
volume_open (struct volstore *vs, const char *name,
             const struct vol_ref *ref, struct volume **out)
{
  struct volume *v;
  uint64_t seq;
  int r;

  v = calloc (1, sizeof *v);
  if (v == NULL)
    return -ENOMEM;
  v->vs = vs;
  v->pages = (struct hashmap) HASHMAP_INIT (cached_page_eq, NULL);
  pthread_mutex_init (&v->lock, NULL);
  pthread_rwlock_init (&v->rootlock, NULL);
  r = vs_lookup (vs, name, false, &v->id);
  if (r == 0)
    r = vs_resolve (vs, name, &v->id, ref, &seq);
  if (r == 0) {
    r = vs_get_root_auth (vs, name, &v->id, seq, &v->keys, &v->root);
    if (r == -ENOENT)
      s3vol_error (vs->log, "version %" PRIu64 " of volume \"%s\" "
                   "vanished while opening it (pruned?)", seq, name);
  }
  if (r < 0) {
    volume_close (v);
    return r;
  }
  snprintf (v->name, sizeof v->name, "%s", name);
  *out = v;
  return 0;
}

void
volume_close (struct volume *v)
{
  if (v == NULL)
    return;
  hashmap_each (&v->pages, free_cached_page, NULL);
  hashmap_free (&v->pages);
  root_free (&v->root);
  pthread_mutex_destroy (&v->lock);
  pthread_rwlock_destroy (&v->rootlock);
  s3vol_wipe (&v->keys, sizeof v->keys);
  free (v);
}

bool volume_encrypted (const struct volume *v) { return v->keys.on; }

uint64_t volume_size (const struct volume *v) { return v->root.size; }
uint32_t volume_chunk_size (const struct volume *v)
{
  return v->root.chunk_size;
}
uint64_t
volume_seq (struct volume *v)
{
  uint64_t seq;

  pthread_rwlock_rdlock (&v->rootlock);
  seq = v->root.seq;
  pthread_rwlock_unlock (&v->rootlock);
  return seq;
}

const char *volume_name (const struct volume *v) { return v->name; }
const struct root *volume_root (const struct volume *v) { return &v->root; }

static uint64_t
nchunks (const struct volume *v)
{
  return v->root.size / v->root.chunk_size;
}

/* Keep cp (whose page has been filled) in the page cache, unless
 * another thread was first; either way *out is the page kept.  cp is
 * taken over.
 */
static int
keep_page (struct volume *v, struct cached_page *cp, const struct page **out)
{
  uint64_t h = id_hash (&cp->id);
  struct cached_page *old;
  int r = 0;

  pthread_mutex_lock (&v->lock);
  old = (struct cached_page *) hashmap_get (&v->pages, h, &cp->id);
  if (old == NULL)
    r = hashmap_put (&v->pages, h, (uintptr_t) cp);
  pthread_mutex_unlock (&v->lock);
  if (old || r < 0) {           /* another thread was first, or no memory */
    page_free (&cp->p);
    free (cp);
    if (r < 0)
      return r;
    cp = old;
  }
  if (out)
    *out = &cp->p;
  return 0;
}

/* The decoded page with this id, fetched on first use.  The pointer
 * stays valid until volume_close.
 */
static int
get_page (struct volume *v, const struct s3vol_id *id, const struct page **out)
{
  struct cached_page *cp;
  int r;

  pthread_mutex_lock (&v->lock);
  cp = (struct cached_page *) hashmap_get (&v->pages, id_hash (id), id);
  pthread_mutex_unlock (&v->lock);
  if (cp) {
    *out = &cp->p;
    return 0;
  }

  cp = calloc (1, sizeof *cp);
  if (cp == NULL)
    return -ENOMEM;
  cp->id = *id;
  r = vs_get_page (v->vs, v->keys.on ? S3VOL_OBJ_KEYED : S3VOL_OBJ_PLAIN,
                   vk_of (&v->keys), id, &cp->p);
  if (r < 0) {
    free (cp);
    return r;
  }
  return keep_page (v, cp, out);
}

/* The page covering page index pi of root, or NULL if it is all holes. */
static int
page_of (struct volume *v, const struct root *root, uint64_t pi,
         const struct page **out)
{
  const struct root_page *rp = root_find_page (root, pi);

  *out = NULL;
  return rp ? get_page (v, &rp->id, out) : 0;
}

int
volume_chunk_id (struct volume *v, uint64_t index, struct s3vol_id *id)
{
  const struct root_page *rp;
  const struct page *p = NULL;
  const struct page_entry *e;
  struct s3vol_id pid;
  uint32_t per;
  int r = 0;

  pthread_rwlock_rdlock (&v->rootlock);
  per = v->root.page_entries;
  if (index >= nchunks (v))
    r = -EINVAL;
  rp = r == 0 ? root_find_page (&v->root, index / per) : NULL;
  if (rp)
    pid = rp->id;
  pthread_rwlock_unlock (&v->rootlock);
  if (r < 0)
    return r;
  if (rp)
    r = get_page (v, &pid, &p);
  if (r < 0)
    return r;
  e = p ? page_find (p, index % per) : NULL;
  *id = e ? e->id : S3VOL_HOLE;
  return 0;
}

int
volume_read_chunk (struct volume *v, uint64_t index, void *buf, bool *hole)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct s3vol_id id;
  int r;

  r = volume_chunk_id (v, index, &id);
  if (r < 0)
    return r;
  if (hole)
    *hole = s3vol_id_is_hole (&id);
  if (s3vol_id_is_hole (&id)) {
    memset (buf, 0, v->root.chunk_size);
    return 0;
  }
  r = vs_get_ca (v->vs, KIND_CHUNK, vk_of (&v->keys), &id, &b);
  if (r == 0 && b.len != v->root.chunk_size) {
    char key[KEY_BUF];
    s3vol_error (v->vs->log, "corrupt object %s: %zu bytes, but chunks of "
                 "volume \"%s\" have %" PRIu32, key_ca (key, KIND_CHUNK, &id),
                 b.len, v->name, v->root.chunk_size);
    r = -EBADMSG;
  }
  if (r == 0)
    memcpy (buf, b.data, b.len);
  s3vol_buf_free (&b);
  return r;
}

int
volume_read_chunk_id (struct volume *v, const struct s3vol_id *id,
                      void *buf, size_t len)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  int r;

  if (s3vol_id_is_hole (id) || len != v->root.chunk_size)
    return -EINVAL;
  r = vs_get_ca (v->vs, KIND_CHUNK, vk_of (&v->keys), id, &b);
  if (r == 0 && b.len != len) {
    char key[KEY_BUF];
    s3vol_error (v->vs->log, "corrupt object %s: %zu bytes, but chunks of "
                 "volume \"%s\" have %" PRIu32, key_ca (key, KIND_CHUNK, id),
                 b.len, v->name, v->root.chunk_size);
    r = -EBADMSG;
  }
  if (r == 0)
    memcpy (buf, b.data, b.len);
  s3vol_buf_free (&b);
  return r;
}

int
volume_check_chunk (struct volume *v, const struct s3vol_id *id,
                    const void *data, size_t len)
{
  struct s3vol_id got;

  s3vol_obj_id (vk_of (&v->keys), data, len, &got);
  return memcmp (got.b, id->b, S3VOL_ID_LEN) == 0 ? 0 : -EBADMSG;
}

int
volume_put_chunk (struct volume *v, const void *data, size_t len,
                  struct s3vol_id *id, uint32_t *stored_len)
{
  return vs_put_ca (v->vs, KIND_CHUNK, vk_of (&v->keys), data, len, id,
                    stored_len);
}

int
volume_put_chunk_at (struct volume *v, const void *data, size_t len,
                     struct s3vol_id *id, uint32_t *stored_len,
                     int64_t *written)
{
  return vs_put_ca_at (v->vs, KIND_CHUNK, vk_of (&v->keys), data, len, id,
                       stored_len, written);
}

int64_t
volume_grace_seconds (const struct volume *v)
{
  return v->vs->grace_seconds;
}

/* Replace the handle's root with r (taken over). */
static void
swap_root (struct volume *v, struct root *r)
{
  struct root old;

  pthread_rwlock_wrlock (&v->rootlock);
  old = v->root;
  v->root = *r;
  pthread_rwlock_unlock (&v->rootlock);
  root_free (&old);
}

int
volume_head (struct volume *v, uint64_t *head)
{
  return vs_find_head (v->vs, &v->id, head);
}

int
volume_reload (struct volume *v)
{
  struct root r;
  uint64_t head;
  int ret;

  ret = vs_find_head (v->vs, &v->id, &head);
  if (ret < 0 || head == v->root.seq)
    return ret;
  ret = vs_get_root_auth (v->vs, v->name, &v->id, head, &v->keys, &r);
  if (ret < 0)
    return ret;
  swap_root (v, &r);
  return 0;
}

/* ---- commit ---- */

struct sorted_change {
  const struct vol_change *c;
  size_t pos;
};

static int
cmp_change (const void *a, const void *b)
{
  const struct sorted_change *x = a, *y = b;

  if (x->c->index != y->c->index)
    return x->c->index < y->c->index ? -1 : 1;
  return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Apply the changes sc[0..n) (sorted, all in page pi) to that page of
 * root, storing the new page.
 */
static int
update_page (struct volume *v, struct root *root, uint64_t pi,
             const struct sorted_change *sc, size_t n, uint64_t *written)
{
  struct s3vol_buf enc = S3VOL_BUF_INIT;
  const struct page *base;
  struct page p;
  struct root_page rp = { .index = pi };
  struct cached_page *cp;
  uint32_t stored;
  size_t i;
  int r;

  r = page_of (v, &v->root, pi, &base);
  if (r < 0)
    return r;
  r = base ? page_copy (&p, base) : (memset (&p, 0, sizeof p), 0);
  for (i = 0; r == 0 && i < n; i++)
    r = page_set (&p, sc[i].c->index % root->page_entries, &sc[i].c->id,
                  sc[i].c->stored_len);
  if (r == 0 && p.n > 0) {
    r = page_encode (&p, &enc);
    if (r == 0)
      r = vs_put_ca (v->vs, KIND_PAGE, vk_of (&v->keys), enc.data, enc.len,
                     &rp.id, &stored);
    rp.chunks = p.n;
    for (i = 0; i < p.n; i++)
      rp.stored_bytes += p.e[i].stored_len;
    ++*written;
  }
  if (r == 0)
    r = root_set_page (root, &rp);
  s3vol_buf_free (&enc);
  /* The new page is kept decoded: reading the version just published
   * then needs no fetch (nor the store: a cache writing on through an
   * outage looks its chunks up there).
   */
  if (r == 0 && p.n > 0 && (cp = calloc (1, sizeof *cp)) != NULL) {
    cp->id = rp.id;
    cp->p = p;
    return keep_page (v, cp, NULL);
  }
  page_free (&p);
  return r;
}

/* Build the new root: the handle's root with the changes applied. */
static int
build_root (struct volume *v, const struct vol_change *changes, size_t n,
            struct root *nr, uint64_t *pages_written)
{
  struct sorted_change *sc;
  size_t i, j, k;
  int r;

  sc = malloc ((n ? n : 1) * sizeof *sc);
  if (sc == NULL)
    return -ENOMEM;
  for (i = 0; i < n; i++) {
    if (changes[i].index >= nchunks (v)) {
      s3vol_error (v->vs->log, "commit to volume \"%s\": chunk %" PRIu64
                   " is past the end", v->name, changes[i].index);
      free (sc);
      return -EINVAL;
    }
    sc[i].c = &changes[i];
    sc[i].pos = i;
  }
  qsort (sc, n, sizeof *sc, cmp_change);
  /* Of several changes to one chunk, the last given wins. */
  for (i = j = 0; i < n; i++) {
    if (j > 0 && sc[j - 1].c->index == sc[i].c->index)
      j--;
    sc[j++] = sc[i];
  }
  n = j;
  r = root_copy (nr, &v->root);
  for (i = 0; r == 0 && i < n; i = k) {
    uint64_t pi = sc[i].c->index / v->root.page_entries;
    for (k = i; k < n && sc[k].c->index / v->root.page_entries == pi; k++)
      ;
    r = update_page (v, nr, pi, &sc[i], k - i, pages_written);
  }
  free (sc);
  if (r < 0)
    root_free (nr);
  return r;
}

int
volume_commit (struct volume *v, const struct vol_change *changes,
               size_t n, const struct vol_commit_opts *opts,
               struct vol_commit_result *res)
{
  struct root nr;
  uint64_t head;
  int r, tries;

  memset (res, 0, sizeof *res);
  r = build_root (v, changes, n, &nr, &res->pages_written);
  if (r < 0)
    return r;
  nr.seq = v->root.seq + 1;
  nr.parent = v->root.seq;
  nr.flags &= ROOT_FLAG_ENCRYPTED;
  nr.overwrote = 0;
  nr.fork_of = (struct s3vol_volid) { { 0 } };
  nr.fork_seq = 0;
  nr.time_ns = s3vol_now_ns ();
  nr.pid = getpid ();
  snprintf (nr.host, sizeof nr.host, "%s", v->vs->host);
  free (nr.message);
  nr.message = opts && opts->message ? strndup (opts->message,
                                                S3VOL_MESSAGE_MAX) : NULL;
  /* The create-only put at base + 1 alone does not detect every moved
   * head: retention may have pruned base + 1 (never the newest), and the
   * put would then succeed behind the head, in a version nobody reads
   * and the next gc prunes.  So look for the head before each try.
   */
  for (tries = 0; ; tries++) {
    r = vs_find_head (v->vs, &v->id, &head);
    if (r < 0)
      break;
    if (head >= nr.seq) {
      if (!(opts && opts->force)) {
        res->conflict_head = head;
        r = -EEXIST;
        if (opts && opts->quiet_conflict)
          break;
        s3vol_error (v->vs->log, "commit conflict on volume \"%s\": this "
                     "change is based on version %" PRIu64 ", but version %"
                     PRIu64 " was published meanwhile; nothing was lost: "
                     "reload and redo it, or force it (last write wins)",
                     v->name, v->root.seq, head);
        r = -EEXIST;
        break;
      }
      if (tries >= 16) {
        s3vol_error (v->vs->log, "forced commit on volume \"%s\" kept "
                     "losing the race to other writers", v->name);
        r = -EBUSY;
        break;
      }
      /* Last write wins: publish after the head, saying what it
       * replaced.
       */
      nr.seq = head + 1;
      nr.flags |= ROOT_FLAG_FORCED;
      nr.overwrote = head;
    }
    r = vs_publish (v->vs, &v->keys, &nr);
    if (r != -EEXIST)
      break;
  }
  if (r < 0) {
    root_free (&nr);
    return r;
  }
  res->seq = nr.seq;
  swap_root (v, &nr);
  return 0;
}
