/* s3vol: the volume store: records, content-addressed objects, heads and
 * publishing.  The named-volume verbs are in volumes.c, open versions in
 * volume.c, gc and verify in gc.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "volume_int.h"

/* Is the known object at index val - 1 the one with id key? */
static bool
known_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct volstore *vs = ctx;

  return memcmp (vs->known.ptr[val - 1].id.b, key, S3VOL_ID_LEN) == 0;
}

int
volstore_open (struct objstore *os, const struct volstore_config *cfg,
               struct volstore **out)
{
  struct volstore *vs = calloc (1, sizeof *vs);

  if (vs == NULL)
    return -ENOMEM;
  vs->os = os;
  vs->log = cfg->log;
  vs->zstd_level = cfg->zstd_level ? cfg->zstd_level : 3;
  vs->keep_last = cfg->keep_last ? cfg->keep_last : 10;
  vs->keep_seconds = cfg->keep_seconds ? cfg->keep_seconds : 7 * 86400;
  vs->grace_seconds = cfg->grace_seconds ? cfg->grace_seconds : 3600;
  if (gethostname (vs->host, sizeof vs->host - 1) == -1)
    strcpy (vs->host, "unknown");
  pthread_mutex_init (&vs->lock, NULL);
  vs->known_map = (struct hashmap) HASHMAP_INIT (known_eq, vs);
  vs->create_only = objstore_caps (os) & OBJSTORE_CAP_CREATE_ONLY;
  if (!vs->create_only)
    s3vol_warn (vs->log, "%s does not honour conditional creates: "
                "concurrent commits fall back to last-write-wins", os->url);
  *out = vs;
  return 0;
}

void
volstore_close (struct volstore *vs)
{
  if (vs == NULL)
    return;
  s3vol_wipe (vs->keys, sizeof vs->keys);
  known_vec_reset (&vs->known);
  hashmap_free (&vs->known_map);
  pthread_mutex_destroy (&vs->lock);
  free (vs);
}

int
volstore_add_key (struct volstore *vs, const struct s3vol_key *key)
{
  if (vs->nkeys == VS_MAX_KEYS)
    return -ENOSPC;
  vs->keys[vs->nkeys++] = *key;
  return 0;
}

struct objstore *
volstore_objstore (struct volstore *vs)
{
  return vs->os;
}

const struct s3vol_log *
volstore_log (struct volstore *vs)
{
  return vs->log;
}

/* ---- reading whole objects ---- */

int
vs_get_capped (struct volstore *vs, const char *key, uint64_t max,
               const struct s3vol_log *log, struct s3vol_buf *out)
{
  size_t start = out->len;
  int r;

  /* The store is not trusted with how much memory a read takes. */
  r = objstore_get (vs->os, key, 0, max + 1, out);
  if (r == 0 && out->len - start > max) {
    out->len = start;
    s3vol_error (log, "corrupt object %s: larger than the %" PRIu64
                 " bytes the format allows", key, max);
    r = -EBADMSG;
  }
  return r;
}

/* ---- small records ---- */

int
vs_rec_put (struct volstore *vs, const char *key, const struct record *rec,
            unsigned flags)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  int r;

  r = record_encode (rec, &b);
  if (r == 0)
    r = objstore_put (vs->os, key, b.data, b.len, flags);
  s3vol_buf_free (&b);
  return r;
}

int
vs_rec_get (struct volstore *vs, const char *key, enum record_kind kind,
            struct record *rec)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  int r;

  r = vs_get_capped (vs, key, RECORD_MAX, vs->log, &b);
  if (r == 0)
    r = record_decode (b.data, b.len, kind, key, vs->log, rec);
  s3vol_buf_free (&b);
  return r;
}

int
vs_lookup (struct volstore *vs, const char *name, bool quiet,
           struct s3vol_volid *id)
{
  char key[KEY_BUF];
  struct record rec;
  int r;

  if (s3vol_check_name (name) < 0) {
    s3vol_error (vs->log, "invalid volume name \"%s\": names are "
                 S3VOL_NAME_RULE, name);
    return -EINVAL;
  }
  r = vs_rec_get (vs, key_name (key, name), RECORD_NAME, &rec);
  if (r == -ENOENT && !quiet)
    s3vol_error (vs->log, "no volume named \"%s\" in %s", name,
                 vs->os->url);
  if (r == 0)
    *id = rec.volid;
  return r;
}

/* ---- heads and roots ---- */

struct last_key {
  uint64_t seq;
};

static int
parse_seq (const char *leaf, uint64_t *seq)
{
  char *end;

  if (strlen (leaf) != 16)
    return -EINVAL;
  *seq = strtoull (leaf, &end, 16);
  return *end == '\0' ? 0 : -EINVAL;
}

static int
take_last (void *opaque, const char *leaf, const struct objstore_entry *e)
{
  struct last_key *lk = opaque;
  uint64_t seq;

  (void) e;
  if (parse_seq (leaf, &seq) == 0 && seq > lk->seq)
    lk->seq = seq;
  return 0;
}

struct list_dir {
  size_t skip;                  /* length of the listed prefix */
  int (*fn) (void *, const char *, const struct objstore_entry *);
  void *opaque;
};

static int
list_dir_entry (void *opaque, const struct objstore_entry *e)
{
  struct list_dir *ld = opaque;

  return ld->fn (ld->opaque, e->key + ld->skip, e);
}

static int
list_dir_after (struct volstore *vs, const struct s3vol_volid *id,
                const char *dir, const char *after,
                int (*fn) (void *, const char *,
                           const struct objstore_entry *),
                void *opaque)
{
  char prefix[KEY_BUF], rest[64];
  struct list_dir ld = { .fn = fn, .opaque = opaque };

  snprintf (rest, sizeof rest, "%s/", dir);
  key_vol (prefix, id, rest);
  ld.skip = strlen (prefix);
  return objstore_list (vs->os, prefix, after, list_dir_entry, &ld);
}

int
vs_list_dir (struct volstore *vs, const struct s3vol_volid *id,
             const char *dir,
             int (*fn) (void *, const char *, const struct objstore_entry *),
             void *opaque)
{
  return list_dir_after (vs, id, dir, NULL, fn, opaque);
}

/* The hint says which version was newest when it was written; versions
 * are numbered without gaps, so listing after it finds the few newer
 * ones without listing the whole history.
 */
int
vs_find_head (struct volstore *vs, const struct s3vol_volid *id,
              uint64_t *head)
{
  char key[KEY_BUF], after[KEY_BUF];
  struct record rec;
  struct last_key lk = { 0 };
  uint64_t hint = 0;
  int r;

  r = vs_rec_get (vs, key_vol (key, id, "head"), RECORD_HEAD, &rec);
  if (r == 0)
    hint = rec.seq;
  else if (r != -ENOENT && r != -EBADMSG)
    return r;
  /* List from the hinted version itself, so that a hint naming a version
   * that does not exist (forged, or corrupt) is seen for what it is.
   */
  r = list_dir_after (vs, id, "versions",
                      hint > 1 ? key_version (after, id, hint - 1) : NULL,
                      take_last, &lk);
  if (r == 0 && hint > 1 && lk.seq == 0) {
    s3vol_warn (vs->log, "head hint %s names version %" PRIu64 ", which "
                 "does not exist; listing every version instead", key,
                 hint);
    r = list_dir_after (vs, id, "versions", NULL, take_last, &lk);
  }
  if (r < 0)
    return r;
  *head = lk.seq;
  return 0;
}

/* Fetch root seq of volume id into r, keeping its bytes in raw. */
static int
fetch_root (struct volstore *vs, const struct s3vol_volid *id, uint64_t seq,
            struct root *r, struct s3vol_buf *raw)
{
  char key[KEY_BUF];
  int ret;

  key_version (key, id, seq);
  ret = vs_get_capped (vs, key, S3VOL_ROOT_MAX, vs->log, raw);
  if (ret == 0)
    ret = root_decode (raw->data, raw->len, key, vs->log, r);
  if (ret == 0 && (memcmp (r->volid.b, id->b, S3VOL_VOLID_LEN) != 0 ||
                   r->seq != seq)) {
    s3vol_error (vs->log, "corrupt object %s: it names another version",
                 key);
    root_free (r);
    ret = -EBADMSG;
  }
  return ret;
}

int
vs_get_root (struct volstore *vs, const struct s3vol_volid *id,
             uint64_t seq, struct root *r)
{
  struct s3vol_buf raw = S3VOL_BUF_INIT;
  int ret;

  ret = fetch_root (vs, id, seq, r, &raw);
  s3vol_buf_free (&raw);
  return ret;
}

/* The volume key of an encrypted root, unwrapped with the first user
 * key that fits.
 */
static int
unwrap (struct volstore *vs, const char *name, const struct root *r,
        struct vol_keys *keys)
{
  unsigned i;
  int ret = -EKEYREJECTED;

  for (i = 0; i < vs->nkeys && ret == -EKEYREJECTED; i++) {
    ret = s3vol_key_unwrap (&vs->keys[i], r->wrap, r->volid.b,
                            S3VOL_VOLID_LEN, &keys->k);
    keys->user = i;
  }
  if (ret == 0)
    ret = s3vol_vkeys_derive (&keys->k, &keys->vk);
  if (ret == 0) {
    keys->on = true;
    return 0;
  }
  s3vol_wipe (keys, sizeof *keys);
  if (ret == -EBADMSG)
    s3vol_error (vs->log, "volume \"%s\" is encrypted with a key-wrapping "
                 "method this s3vol does not know", name);
  else if (vs->nkeys == 0) {
    s3vol_error (vs->log, "volume \"%s\" is encrypted, and no key was "
                 "given", name);
    ret = -ENOKEY;
  }
  else if (ret == -EKEYREJECTED)
    s3vol_error (vs->log, "the key given does not open volume \"%s\" (it "
                 "is encrypted with another key)", name);
  return ret;
}

int
vs_get_root_auth (struct volstore *vs, const char *name,
                  const struct s3vol_volid *id, uint64_t seq,
                  struct vol_keys *keys, struct root *r)
{
  struct s3vol_buf raw = S3VOL_BUF_INIT;
  char key[KEY_BUF];
  int ret;

  ret = fetch_root (vs, id, seq, r, &raw);
  if (ret < 0)
    goto out;
  key_version (key, id, seq);
  if (!(r->flags & ROOT_FLAG_ENCRYPTED) && (keys->on || vs->nkeys)) {
    s3vol_error (vs->log, keys->on ?
                 "corrupt object %s: a plain version of encrypted volume "
                 "\"%s\" (written without its key)" :
                 "%s: volume \"%s\" is not encrypted, but a key was given; "
                 "refusing it (a writer to the store could have replaced an "
                 "encrypted volume): open it without a key to use it as a "
                 "plain volume", key, name);
    ret = keys->on ? -EBADMSG : -EKEYREJECTED;
  }
  else if (r->flags & ROOT_FLAG_ENCRYPTED) {
    if (!keys->on)
      ret = unwrap (vs, name, r, keys);
    if (ret == 0)
      ret = root_check_mac (raw.data, raw.len, key, &keys->vk, vs->log);
  }
  if (ret < 0)
    root_free (r);
 out:
  s3vol_buf_free (&raw);
  return ret;
}

int
vs_resolve (struct volstore *vs, const char *name,
            const struct s3vol_volid *id, const struct vol_ref *ref,
            uint64_t *seq)
{
  char key[KEY_BUF];
  struct objstore_stat st;
  struct record rec;
  int r;

  if (ref && ref->snapshot) {
    if (s3vol_check_name (ref->snapshot) < 0) {
      s3vol_error (vs->log, "invalid snapshot name \"%s\": names are "
                   S3VOL_NAME_RULE, ref->snapshot);
      return -EINVAL;
    }
    r = vs_rec_get (vs, key_snapshot (key, id, ref->snapshot),
                    RECORD_SNAPSHOT, &rec);
    if (r == -ENOENT)
      s3vol_error (vs->log, "volume \"%s\" has no snapshot \"%s\"", name,
                   ref->snapshot);
    if (r == 0)
      *seq = rec.seq;
    return r;
  }
  if (ref && ref->seq) {
    r = objstore_head (vs->os, key_version (key, id, ref->seq), &st);
    if (r == -ENOENT)
      s3vol_error (vs->log, "volume \"%s\" has no version %" PRIu64
                   " (never published, or pruned)", name, ref->seq);
    if (r == 0)
      *seq = ref->seq;
    return r;
  }
  r = vs_find_head (vs, id, seq);
  if (r == 0 && *seq == 0) {
    s3vol_error (vs->log, "volume \"%s\" has no versions", name);
    r = -ENOENT;
  }
  return r;
}

/* ---- content-addressed objects ---- */

/* A known object is trusted without a look while it is younger than a
 * quarter of the gc grace period; a found one is rewritten if older than
 * half of it.  So no object a commit reuses is older than half the grace
 * period, and gc, which deletes only objects older than the whole grace
 * period, cannot delete an object that a commit in flight has just
 * decided to reuse.  Its age counts from when it was written, not from
 * when we found it: an object found almost half the grace period old and
 * then trusted from memory would be older than that.
 */
static bool
fresh (struct volstore *vs, int64_t written, int64_t now)
{
  return now - written < vs->grace_seconds / 4;
}

/* The known object with this id, or NULL.  Callers hold vs->lock. */
static struct known_obj *
known_find (struct volstore *vs, const struct s3vol_id *id)
{
  uintptr_t i = hashmap_get (&vs->known_map, id_hash (id), id);

  return i ? &vs->known.ptr[i - 1] : NULL;
}

static void
remember (struct volstore *vs, const struct s3vol_id *id, uint32_t len,
          int64_t written)
{
  struct known_obj *k;

  pthread_mutex_lock (&vs->lock);
  /* Bound the memory: forget everything past a few million ids. */
  if (vs->known.len > (4u << 20)) {
    vs->known.len = 0;
    hashmap_clear (&vs->known_map);
  }
  /* Out of memory, it stays unknown: this is only a cache. */
  k = known_find (vs, id);
  if (k == NULL && known_vec_reserve (&vs->known, 1) == 0 &&
      hashmap_put (&vs->known_map, id_hash (id), vs->known.len + 1) == 0) {
    k = &vs->known.ptr[vs->known.len++];
    k->id = *id;
  }
  if (k) {
    k->len = len;
    k->written = written;
  }
  pthread_mutex_unlock (&vs->lock);
}

int
vs_put_ca_at (struct volstore *vs, const char *kind,
              const struct s3vol_vkeys *vk, const void *data, size_t len,
              struct s3vol_id *id, uint32_t *stored_len, int64_t *written)
{
  struct s3vol_buf obj = S3VOL_BUF_INIT;
  struct known_obj *k;
  struct objstore_stat st;
  char key[KEY_BUF];
  int64_t now = s3vol_now_ns () / 1000000000;
  int r;

  *written = 0;
  if (s3vol_is_zero (data, len)) {
    *id = S3VOL_HOLE;
    *stored_len = 0;
    return 0;
  }
  s3vol_obj_id (vk, data, len, id);
  pthread_mutex_lock (&vs->lock);
  k = known_find (vs, id);
  r = k && fresh (vs, k->written, now);
  if (r) {
    *stored_len = k->len;
    *written = k->written;
  }
  pthread_mutex_unlock (&vs->lock);
  if (r)
    return 0;

  key_ca (key, kind, id);
  r = objstore_head (vs->os, key, &st);
  if (r == 0 && now - st.mtime < vs->grace_seconds / 2) {
    *stored_len = st.size;
    *written = st.mtime < now ? st.mtime : now;
    remember (vs, id, st.size, *written);
    return 0;
  }
  if (r < 0 && r != -ENOENT)
    return r;
  if (vk && strcmp (kind, KIND_CHUNK) == 0)
    r = s3vol_obj_seal (data, len, vs->zstd_level, vk, id, &obj);
  else
    r = s3vol_obj_encode (data, len, vs->zstd_level, &obj);
  if (r == 0)
    r = objstore_put (vs->os, key, obj.data, obj.len, 0);
  if (r == 0) {
    *stored_len = obj.len;
    *written = now;
    remember (vs, id, obj.len, now);
  }
  s3vol_buf_free (&obj);
  return r;
}

int
vs_put_ca (struct volstore *vs, const char *kind,
           const struct s3vol_vkeys *vk, const void *data, size_t len,
           struct s3vol_id *id, uint32_t *stored_len)
{
  int64_t written;

  return vs_put_ca_at (vs, kind, vk, data, len, id, stored_len, &written);
}

/* Fetch object id of kind, checked as mode says. */
static int
get_obj (struct volstore *vs, const char *kind, enum s3vol_obj_mode mode,
         const struct s3vol_vkeys *vk, const struct s3vol_id *id,
         struct s3vol_buf *out)
{
  struct s3vol_buf obj = S3VOL_BUF_INIT;
  char key[KEY_BUF];
  int r;

  key_ca (key, kind, id);
  r = vs_get_capped (vs, key, S3VOL_OBJ_MAX, vs->log, &obj);
  if (r == -ENOENT)
    s3vol_error (vs->log, "missing object %s", key);
  if (r == 0)
    r = s3vol_obj_decode_mode (obj.data, obj.len, id, mode, vk, key,
                               vs->log, out);
  s3vol_buf_free (&obj);
  return r;
}

int
vs_get_ca (struct volstore *vs, const char *kind,
           const struct s3vol_vkeys *vk, const struct s3vol_id *id,
           struct s3vol_buf *out)
{
  enum s3vol_obj_mode mode = S3VOL_OBJ_PLAIN;

  if (vk)
    mode = strcmp (kind, KIND_CHUNK) == 0 ? S3VOL_OBJ_SEALED
      : S3VOL_OBJ_KEYED;
  return get_obj (vs, kind, mode, vk, id, out);
}

int
vs_get_page (struct volstore *vs, enum s3vol_obj_mode mode,
             const struct s3vol_vkeys *vk, const struct s3vol_id *id,
             struct page *p)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  char key[KEY_BUF];
  int r;

  r = get_obj (vs, KIND_PAGE, mode, vk, id, &b);
  if (r == 0)
    r = page_decode (b.data, b.len, key_ca (key, KIND_PAGE, id), vs->log,
                     p);
  s3vol_buf_free (&b);
  return r;
}

int
volstore_put_chunk (struct volstore *vs, const void *data, size_t len,
                    struct s3vol_id *id, uint32_t *stored_len)
{
  return vs_put_ca (vs, KIND_CHUNK, NULL, data, len, id, stored_len);
}

int
volstore_get_chunk (struct volstore *vs, const struct s3vol_id *id,
                    struct s3vol_buf *out)
{
  return vs_get_ca (vs, KIND_CHUNK, NULL, id, out);
}

/* ---- publishing ---- */

int
vs_publish (struct volstore *vs, const struct vol_keys *keys,
            const struct root *r)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct objstore_stat st;
  struct record rec = { .kind = RECORD_HEAD, .seq = r->seq };
  char key[KEY_BUF];
  int ret;

  ret = root_encode_keyed (r, vk_of (keys), &b);
  if (ret == -EFBIG)
    s3vol_error (vs->log, "cannot publish version %" PRIu64 ": %" PRIu64
                 " map pages, more than a root may hold (%u)", r->seq,
                 r->npages, S3VOL_ROOT_MAX_PAGES);
  else if (ret < 0)
    s3vol_error (vs->log, "cannot publish version %" PRIu64 ": %s",
                 r->seq, strerror (-ret));
  if (ret < 0)
    goto out;
  key_version (key, &r->volid, r->seq);
  if (vs->create_only)
    ret = objstore_put (vs->os, key, b.data, b.len, OBJSTORE_CREATE_ONLY);
  else {
    /* Best effort on stores without conditional creates: racy. */
    ret = objstore_head (vs->os, key, &st);
    if (ret == 0)
      ret = -EEXIST;
    else if (ret == -ENOENT)
      ret = objstore_put (vs->os, key, b.data, b.len, 0);
  }
  if (ret < 0)
    goto out;
  /* The hint only shortens the search for the head; if this put fails
   * or races with another, readers list a little more.
   */
  if (vs_rec_put (vs, key_vol (key, &r->volid, "head"), &rec, 0) < 0)
    s3vol_warn (vs->log, "could not update the head hint of version %"
                PRIu64 "; readers will find it by listing", r->seq);
 out:
  s3vol_buf_free (&b);
  return ret;
}
