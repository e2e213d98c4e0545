/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: named volumes: create, fork, info, list, rename, delete,
 * versions and snapshots.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "volume_int.h"

static int
bad_name (struct volstore *vs, const char *what, const char *name)
{
  if (s3vol_check_name (name) == 0)
    return 0;
  s3vol_error (vs->log, "invalid %s name \"%s\": names are " S3VOL_NAME_RULE,
               what, name);
  return -EINVAL;
}

static int
put_name (struct volstore *vs, const char *name,
          const struct s3vol_volid *id)
{
  struct record rec = { .kind = RECORD_NAME, .volid = *id,
                        .time_ns = s3vol_now_ns () };
  char key[KEY_BUF];

  return vs_rec_put (vs, key_name (key, name), &rec, OBJSTORE_CREATE_ONLY);
}

static int
name_taken (struct volstore *vs, const char *name)
{
  s3vol_error (vs->log, "a volume named \"%s\" already exists", name);
  return -EEXIST;
}

/* After put_name failed: does name map to id all the same?  A put whose
 * reply was lost, or a retried create-only put that found its own first
 * try, did write it.  1 yes, 0 no, or a negative errno if the store
 * cannot tell us.
 */
static int
name_is (struct volstore *vs, const char *name, const struct s3vol_volid *id)
{
  struct s3vol_volid got;
  int r;

  r = vs_lookup (vs, name, true, &got);
  if (r == -ENOENT)
    return 0;
  if (r < 0)
    return r;
  return memcmp (got.b, id->b, S3VOL_VOLID_LEN) == 0;
}

/* An encrypted root's wrapped key for its (new) volume id: the volume
 * key under the user key that keys names, the volume id as associated
 * data.
 */
static int
wrap_for (struct volstore *vs, const struct vol_keys *keys, struct root *r)
{
  int ret;

  ret = s3vol_key_wrap (&vs->keys[keys->user], &keys->k, r->volid.b,
                        S3VOL_VOLID_LEN, r->wrap);
  if (ret < 0)
    s3vol_error (vs->log, "cannot wrap the volume key: %s", strerror (-ret));
  return ret;
}

/* Publish root as version 1 of a new volume and give it name (keys: an
 * encrypted volume's keys, else NULL).  If the name surely does not
 * point at it, the new volume's objects are removed again (if that
 * fails too, or we cannot tell, gc removes them once no name reaches
 * them).
 */
static int
create_named (struct volstore *vs, const char *name, struct root *r,
              const struct vol_keys *keys)
{
  struct s3vol_volid id;
  char key[KEY_BUF];
  int ret, mine;

  ret = vs_lookup (vs, name, true, &id);
  if (ret == 0)
    return name_taken (vs, name);
  if (ret != -ENOENT)
    return ret;
  if (getrandom (r->volid.b, S3VOL_VOLID_LEN, 0) != S3VOL_VOLID_LEN)
    return -errno;
  r->seq = 1;
  r->parent = 0;
  r->time_ns = s3vol_now_ns ();
  r->pid = getpid ();
  snprintf (r->host, sizeof r->host, "%s", vs->host);
  r->flags &= ~ROOT_FLAG_ENCRYPTED;
  if (keys && keys->on) {
    r->flags |= ROOT_FLAG_ENCRYPTED;
    ret = wrap_for (vs, keys, r);
    if (ret < 0)
      return ret;
  }
  ret = vs_publish (vs, keys, r);
  if (ret == 0) {
    ret = put_name (vs, name, &r->volid);
    if (ret < 0) {
      mine = name_is (vs, name, &r->volid);
      if (mine > 0)
        return 0;
      if (ret == -EEXIST)
        name_taken (vs, name);
      if (mine < 0)
        return ret;
    }
  }
  if (ret < 0) {
    objstore_del (vs->os, key_version (key, &r->volid, 1));
    objstore_del (vs->os, key_vol (key, &r->volid, "head"));
  }
  return ret;
}

/* A new volume key, under the first user key. */
static int
new_keys (struct volstore *vs, struct vol_keys *keys)
{
  int ret;

  memset (keys, 0, sizeof *keys);
  if (vs->nkeys == 0) {
    s3vol_error (vs->log, "an encrypted volume needs a key, and none was "
                 "given");
    return -ENOKEY;
  }
  ret = s3vol_key_random (&keys->k);
  if (ret == 0)
    ret = s3vol_vkeys_derive (&keys->k, &keys->vk);
  if (ret < 0)
    s3vol_error (vs->log, "cannot make a volume key: %s", strerror (-ret));
  keys->on = ret == 0;
  return ret;
}

static int
create (struct volstore *vs, const char *name, uint64_t size,
        uint32_t chunk_size, bool encrypt, struct vol_info *info)
{
  struct root r = { .page_entries = S3VOL_PAGE_ENTRIES };
  struct vol_keys keys = { .on = false };
  int ret;

  ret = bad_name (vs, "volume", name);
  if (ret < 0)
    return ret;
  if (chunk_size == 0)
    chunk_size = S3VOL_CHUNK_DEFAULT;
  if (chunk_size < S3VOL_CHUNK_MIN || chunk_size > S3VOL_CHUNK_MAX ||
      (chunk_size & (chunk_size - 1))) {
    s3vol_error (vs->log, "chunk size %" PRIu32 " is not a power of two "
                 "from 64K to 64M", chunk_size);
    return -EINVAL;
  }
  if (size == 0 || size > S3VOL_SIZE_MAX) {
    s3vol_error (vs->log, "volume size %" PRIu64 " is out of range "
                 "(1 byte to 1P)", size);
    return -EINVAL;
  }
  /* Once a key is given every new volume is encrypted: a plain one
   * could not be opened with the key in hand.
   */
  if ((encrypt || vs->nkeys) && (ret = new_keys (vs, &keys)) < 0)
    return ret;
  /* Volumes are a whole number of chunks. */
  r.size = (size + chunk_size - 1) / chunk_size * chunk_size;
  r.chunk_size = chunk_size;
  ret = create_named (vs, name, &r, &keys);
  if (ret == 0 && info)
    ret = volstore_info (vs, name, info);
  root_free (&r);
  s3vol_wipe (&keys, sizeof keys);
  return ret;
}

int
volstore_create (struct volstore *vs, const char *name, uint64_t size,
                 uint32_t chunk_size, struct vol_info *info)
{
  return create (vs, name, size, chunk_size, false, info);
}

int
volstore_create_encrypted (struct volstore *vs, const char *name,
                           uint64_t size, uint32_t chunk_size,
                           struct vol_info *info)
{
  return create (vs, name, size, chunk_size, true, info);
}

int
volstore_fork (struct volstore *vs, const char *src,
               const struct vol_ref *ref, const char *dst,
               struct vol_info *info)
{
  struct vol_keys keys = { .on = false };
  struct s3vol_volid id;
  struct root r;
  uint64_t seq;
  int ret;

  ret = bad_name (vs, "volume", dst);
  if (ret == 0)
    ret = vs_lookup (vs, src, false, &id);
  if (ret == 0)
    ret = vs_resolve (vs, src, &id, ref, &seq);
  if (ret == 0)
    ret = vs_get_root_auth (vs, src, &id, seq, &keys, &r);
  if (ret < 0)
    return ret;
  /* An encrypted fork shares the volume key (and so every chunk): only
   * its wrapping changes, bound to the new volume id.
   */
  r.fork_of = id;
  r.fork_seq = seq;
  r.flags = 0;
  r.overwrote = 0;
  free (r.message);
  r.message = NULL;
  ret = create_named (vs, dst, &r, &keys);
  if (ret == 0 && info)
    ret = volstore_info (vs, dst, info);
  root_free (&r);
  s3vol_wipe (&keys, sizeof keys);
  return ret;
}

int
volstore_exists (struct volstore *vs, const char *name)
{
  struct s3vol_volid id;
  int r;

  if (s3vol_check_name (name) < 0)
    return -EINVAL;
  r = vs_lookup (vs, name, true, &id);
  return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

static int
count_entry (void *opaque, const char *leaf, const struct objstore_entry *e)
{
  (void) leaf; (void) e;
  ++*(uint64_t *) opaque;
  return 0;
}

int
volstore_info (struct volstore *vs, const char *name, struct vol_info *info)
{
  struct root r;
  int ret;

  memset (info, 0, sizeof *info);
  ret = vs_lookup (vs, name, false, &info->volid);
  if (ret == 0)
    ret = vs_resolve (vs, name, &info->volid, NULL, &info->head);
  if (ret == 0)
    ret = vs_get_root (vs, &info->volid, info->head, &r);
  if (ret < 0)
    return ret;
  snprintf (info->name, sizeof info->name, "%s", name);
  info->size = r.size;
  info->chunk_size = r.chunk_size;
  info->chunks = root_chunks (&r);
  info->bytes_referenced = info->chunks * r.chunk_size;
  info->bytes_stored = root_stored_bytes (&r);
  info->last_commit_ns = r.time_ns;
  info->encrypted = r.flags & ROOT_FLAG_ENCRYPTED;
  root_free (&r);
  ret = vs_list_dir (vs, &info->volid, "versions", count_entry,
                     &info->versions);
  if (ret == 0)
    ret = vs_list_dir (vs, &info->volid, "snapshots", count_entry,
                       &info->snapshots);
  return ret;
}

struct list_ctx {
  struct volstore *vs;
  int (*fn) (void *, const struct vol_info *);
  void *opaque;
  int err;
};

static int
list_one (void *opaque, const struct objstore_entry *e)
{
  struct list_ctx *lc = opaque;
  struct vol_info info;
  const char *name = e->key + strlen ("names/");
  int r;

  if (s3vol_check_name (name) < 0)
    return 0;                   /* not ours */
  r = volstore_info (lc->vs, name, &info);
  if (r == -ENOENT)
    return 0;                   /* deleted while we listed */
  if (r < 0) {
    lc->err = r;
    return 1;
  }
  return lc->fn (lc->opaque, &info);
}

int
volstore_list (struct volstore *vs,
               int (*fn) (void *, const struct vol_info *), void *opaque)
{
  struct list_ctx lc = { vs, fn, opaque, 0 };
  int r;

  r = objstore_list (vs->os, "names/", NULL, list_one, &lc);
  return lc.err ? lc.err : r;
}

int
volstore_rename (struct volstore *vs, const char *from, const char *to)
{
  struct s3vol_volid id;
  char key[KEY_BUF];
  int r;

  r = bad_name (vs, "volume", to);
  if (r == 0)
    r = vs_lookup (vs, from, false, &id);
  if (r < 0)
    return r;
  if (strcmp (from, to) == 0)
    return 0;
  r = put_name (vs, to, &id);
  /* A rename interrupted after its put (or whose reply was lost) left
   * to naming this volume already: go on and finish it.
   */
  if (r < 0 && name_is (vs, to, &id) > 0)
    r = 0;
  if (r == -EEXIST)
    return name_taken (vs, to);
  if (r == 0)
    r = objstore_del (vs->os, key_name (key, from));
  return r;
}

int
volstore_delete (struct volstore *vs, const char *name)
{
  struct s3vol_volid id;
  char key[KEY_BUF];
  int r;

  r = vs_lookup (vs, name, false, &id);
  if (r == 0)
    r = objstore_del (vs->os, key_name (key, name));
  return r;
}

struct versions_ctx {
  struct volstore *vs;
  const struct s3vol_volid *id;
  int (*fn) (void *, const struct vol_version *);
  void *opaque;
  int err;
};

static int
version_one (void *opaque, const char *leaf, const struct objstore_entry *e)
{
  struct versions_ctx *vc = opaque;
  struct vol_version v;
  struct root r;
  char *end;
  int ret;

  (void) e;
  v.seq = strtoull (leaf, &end, 16);
  if (*end || v.seq == 0)
    return 0;
  ret = vs_get_root (vc->vs, vc->id, v.seq, &r);
  if (ret == -ENOENT)
    return 0;                   /* pruned meanwhile */
  if (ret < 0) {
    vc->err = ret;
    return 1;
  }
  v.parent = r.parent;
  v.time_ns = r.time_ns;
  v.pid = r.pid;
  v.flags = r.flags;
  v.overwrote = r.overwrote;
  v.host = r.host;
  v.message = r.message ? r.message : "";
  v.chunks = root_chunks (&r);
  v.bytes_stored = root_stored_bytes (&r);
  ret = vc->fn (vc->opaque, &v);
  root_free (&r);
  return ret;
}

int
volstore_versions (struct volstore *vs, const char *name,
                   int (*fn) (void *, const struct vol_version *),
                   void *opaque)
{
  struct s3vol_volid id;
  struct versions_ctx vc = { vs, &id, fn, opaque, 0 };
  int r;

  r = vs_lookup (vs, name, false, &id);
  if (r == 0)
    r = vs_list_dir (vs, &id, "versions", version_one, &vc);
  return vc.err ? vc.err : r;
}

int
volstore_snapshot_create (struct volstore *vs, const char *volume,
                          const char *snapshot, uint64_t seq)
{
  struct vol_ref ref = { .seq = seq };
  struct s3vol_volid id;
  struct record rec = { .kind = RECORD_SNAPSHOT };
  char key[KEY_BUF];
  int r;

  r = bad_name (vs, "snapshot", snapshot);
  if (r == 0)
    r = vs_lookup (vs, volume, false, &id);
  if (r == 0)
    r = vs_resolve (vs, volume, &id, &ref, &seq);
  if (r < 0)
    return r;
  rec.seq = seq;
  rec.time_ns = s3vol_now_ns ();
  r = vs_rec_put (vs, key_snapshot (key, &id, snapshot), &rec,
                  OBJSTORE_CREATE_ONLY);
  if (r == -EEXIST)
    s3vol_error (vs->log, "volume \"%s\" already has a snapshot \"%s\"",
                 volume, snapshot);
  return r;
}

int
volstore_snapshot_delete (struct volstore *vs, const char *volume,
                          const char *snapshot)
{
  struct vol_ref ref = { .snapshot = snapshot };
  struct s3vol_volid id;
  char key[KEY_BUF];
  uint64_t seq;
  int r;

  r = vs_lookup (vs, volume, false, &id);
  if (r == 0)
    r = vs_resolve (vs, volume, &id, &ref, &seq);  /* says if missing */
  if (r == 0)
    r = objstore_del (vs->os, key_snapshot (key, &id, snapshot));
  return r;
}

struct snap_ctx {
  struct volstore *vs;
  const struct s3vol_volid *id;
  int (*fn) (void *, const char *, uint64_t);
  void *opaque;
  int err;
};

static int
snapshot_one (void *opaque, const char *leaf, const struct objstore_entry *e)
{
  struct snap_ctx *sc = opaque;
  struct record rec;
  int r;

  r = vs_rec_get (sc->vs, e->key, RECORD_SNAPSHOT, &rec);
  if (r == -ENOENT)
    return 0;
  if (r < 0) {
    sc->err = r;
    return 1;
  }
  return sc->fn (sc->opaque, leaf, rec.seq);
}

int
volstore_snapshot_list (struct volstore *vs, const char *volume,
                        int (*fn) (void *, const char *, uint64_t),
                        void *opaque)
{
  struct s3vol_volid id;
  struct snap_ctx sc = { vs, &id, fn, opaque, 0 };
  int r;

  r = vs_lookup (vs, volume, false, &id);
  if (r == 0)
    r = vs_list_dir (vs, &id, "snapshots", snapshot_one, &sc);
  return sc.err ? sc.err : r;
}
