/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: verify that every object a volume's versions reference is in
 * the store and decodes to the content its id names.
 *
 * Each distinct page and chunk is fetched once, however many versions
 * share it, on a few threads.  Problems go to the caller's callback, one
 * per bad key, not to the log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/parallel.h"
#include "volume_int.h"

#define VERIFY_THREADS 8

/* How the objects of a volume are checked: plain (SHA-256 ids), or an
 * encrypted volume's, with its key (keyed ids, sealed chunks) or
 * without (structure only).
 */
struct key_ctx {
  bool keyed, have;
  struct s3vol_vkeys vk;
};
DEFINE_VECTOR (key_ctxs, struct key_ctx);
DEFINE_VECTOR (ctx_idx, uint32_t);

struct verify {
  struct volstore *vs;
  void (*fn) (void *, const char *, const char *);
  void *opaque;
  struct verify_report *rep;
  pthread_mutex_t lock;
  struct idset seen;            /* ids queued: the pages, then the chunks */
  size_t base;                  /* the first of the current kind in seen */
  const char *kind;
  struct page *pages;           /* decoded pages (pages pass only) */
  struct key_ctxs ctxs;         /* [0] is plain */
  struct ctx_idx ctx_of;        /* for each id in seen, its context */
};

/* A log that keeps the last message, to report it as the problem. */
struct capture {
  char msg[512];
};

static void
capture_fn (void *opaque, enum s3vol_log_level level, const char *msg)
{
  struct capture *c = opaque;

  if (level == S3VOL_LOG_ERROR)
    snprintf (c->msg, sizeof c->msg, "%s", msg);
}

static void
problem (struct verify *vf, const char *key, const char *what, bool missing)
{
  pthread_mutex_lock (&vf->lock);
  if (missing)
    vf->rep->missing++;
  else
    vf->rep->corrupt++;
  if (vf->fn)
    vf->fn (vf->opaque, key, what);
  pthread_mutex_unlock (&vf->lock);
}

/* Queue id to be checked with key context ctx, unless it was queued
 * before.
 */
static int
queue (struct verify *vf, const struct s3vol_id *id, uint32_t ctx)
{
  int r = idset_add (&vf->seen, id);

  if (r == 1 && ctx_idx_append (&vf->ctx_of, ctx) < 0)
    r = -ENOMEM;
  return r < 0 ? r : 0;
}

/* How to check an object of the current kind in context ctx. */
static enum s3vol_obj_mode
mode_of (const struct verify *vf, const struct key_ctx *kc)
{
  bool chunk = strcmp (vf->kind, KIND_CHUNK) == 0;

  if (!kc->keyed)
    return S3VOL_OBJ_PLAIN;
  if (!kc->have)
    return chunk ? S3VOL_OBJ_SEALED_UNCHECKED : S3VOL_OBJ_UNCHECKED;
  return chunk ? S3VOL_OBJ_SEALED : S3VOL_OBJ_KEYED;
}

/* Fetch and check one object; a page is kept decoded for the next pass. */
static int
check_one (size_t i, void *opaque)
{
  struct verify *vf = opaque;
  struct capture cap = { "" };
  struct s3vol_log log = { capture_fn, &cap };
  struct s3vol_buf obj = S3VOL_BUF_INIT, plain = S3VOL_BUF_INIT;
  const struct s3vol_id *id = &vf->seen.ids.ptr[vf->base + i];
  const struct key_ctx *kc = &vf->ctxs.ptr[vf->ctx_of.ptr[vf->base + i]];
  char key[KEY_BUF];
  int r;

  key_ca (key, vf->kind, id);
  r = vs_get_capped (vf->vs, key, S3VOL_OBJ_MAX, &log, &obj);
  if (r == -ENOENT)
    problem (vf, key, "missing", true);
  else if (r == 0) {
    r = s3vol_obj_decode_mode (obj.data, obj.len, id, mode_of (vf, kc),
                               &kc->vk, key, &log, &plain);
    if (r == 0 && vf->pages)
      r = page_decode (plain.data, plain.len, key, &log, &vf->pages[i]);
    pthread_mutex_lock (&vf->lock);
    vf->rep->bytes += obj.len;
    vf->rep->keyless += kc->keyed && !kc->have;
    pthread_mutex_unlock (&vf->lock);
  }
  if (r == -EBADMSG)
    problem (vf, key, cap.msg, false);
  s3vol_buf_free (&obj);
  s3vol_buf_free (&plain);
  /* Bad objects are reported, not fatal; store failures are. */
  return r == -ENOENT || r == -EBADMSG ? 0 : r;
}

struct ver_ctx {
  struct verify *vf;
  const struct s3vol_volid *id;
  uint32_t ctx;                 /* the volume's key context, 0: none yet */
};

/* The key context of an encrypted volume, made at its first version:
 * with its key if one of the volstore's user keys unwraps it.
 */
static int
volume_ctx (struct ver_ctx *vc, const struct root *r)
{
  struct volstore *vs = vc->vf->vs;
  struct key_ctx kc = { .keyed = true };
  struct s3vol_key k;
  unsigned i;

  for (i = 0; i < vs->nkeys && !kc.have; i++)
    if (s3vol_key_unwrap (&vs->keys[i], r->wrap, r->volid.b,
                          S3VOL_VOLID_LEN, &k) == 0)
      kc.have = s3vol_vkeys_derive (&k, &kc.vk) == 0;
  s3vol_wipe (&k, sizeof k);
  if (key_ctxs_append (&vc->vf->ctxs, kc) < 0)
    return -ENOMEM;
  vc->ctx = vc->vf->ctxs.len - 1;
  return 0;
}

/* An encrypted root: is it authentic (when we have the key)? */
static int
check_keyed_root (struct ver_ctx *vc, const struct root *r,
                  const struct s3vol_buf *b, const char *key,
                  const struct s3vol_log *log)
{
  const struct key_ctx *kc;
  int ret = 0;

  if (vc->ctx == 0)
    ret = volume_ctx (vc, r);
  kc = &vc->vf->ctxs.ptr[vc->ctx];
  if (ret == 0 && kc->have)
    ret = root_check_mac (b->data, b->len, key, &kc->vk, log);
  return ret;
}

static int
on_version (void *opaque, const char *leaf, const struct objstore_entry *e)
{
  struct ver_ctx *vc = opaque;
  struct verify *vf = vc->vf;
  struct capture cap = { "" };
  struct s3vol_log log = { capture_fn, &cap };
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct root r;
  uint64_t seq, i;
  char *end;
  int ret;

  seq = strtoull (leaf, &end, 16);
  if (*end || seq == 0)
    return 0;
  /* Decode with the capturing log, to report rather than log. */
  ret = vs_get_capped (vf->vs, e->key, S3VOL_ROOT_MAX, &log, &b);
  if (ret == 0)
    ret = root_decode (b.data, b.len, e->key, &log, &r);
  if (ret == 0 && (r.seq != seq ||
                   memcmp (r.volid.b, vc->id->b, S3VOL_VOLID_LEN) != 0)) {
    root_free (&r);
    snprintf (cap.msg, sizeof cap.msg, "root names another version");
    ret = -EBADMSG;
  }
  if (ret == 0 && (r.flags & ROOT_FLAG_ENCRYPTED) &&
      (ret = check_keyed_root (vc, &r, &b, e->key, &log)) < 0)
    root_free (&r);
  s3vol_buf_free (&b);
  if (ret == -ENOENT)
    return 0;                   /* pruned while we listed */
  if (ret == -EBADMSG) {
    problem (vf, e->key, cap.msg, false);
    return 0;
  }
  if (ret < 0)
    return ret;
  vf->rep->versions++;
  for (i = 0; ret == 0 && i < r.npages; i++)
    ret = queue (vf, &r.pages[i].id,
                 r.flags & ROOT_FLAG_ENCRYPTED ? vc->ctx : 0);
  root_free (&r);
  return ret;
}

static int
verify_volume (struct verify *vf, const char *name)
{
  struct s3vol_volid id;
  struct ver_ctx vc = { vf, &id, 0 };
  int r;

  r = vs_lookup (vf->vs, name, false, &id);
  if (r == 0)
    r = vs_list_dir (vf->vs, &id, "versions", on_version, &vc);
  return r;
}

static int
on_name (void *opaque, const struct objstore_entry *e)
{
  const char *name = e->key + strlen ("names/");

  if (s3vol_check_name (name) < 0)
    return 0;
  return verify_volume (opaque, name);
}

/* Check the queued pages, then queue and check their chunks. */
static int
check_all (struct verify *vf)
{
  size_t npages = vf->seen.ids.len, i;
  uint32_t j;
  int r;

  vf->kind = KIND_PAGE;
  vf->pages = calloc (npages ? npages : 1, sizeof *vf->pages);
  if (vf->pages == NULL)
    return -ENOMEM;
  r = s3vol_parallel (VERIFY_THREADS, npages, check_one, vf);
  vf->rep->pages = npages;
  for (i = 0; r == 0 && i < npages; i++)
    for (j = 0; r == 0 && j < vf->pages[i].n; j++)
      r = queue (vf, &vf->pages[i].e[j].id, vf->ctx_of.ptr[i]);
  for (i = 0; i < npages; i++)
    page_free (&vf->pages[i]);
  free (vf->pages);
  vf->pages = NULL;
  if (r < 0)
    return r;
  vf->kind = KIND_CHUNK;
  vf->base = npages;
  vf->rep->chunks = vf->seen.ids.len - npages;
  return s3vol_parallel (VERIFY_THREADS, vf->rep->chunks, check_one, vf);
}

int
volstore_verify (struct volstore *vs, const char *name,
                 void (*fn) (void *, const char *, const char *),
                 void *opaque, struct verify_report *rep)
{
  struct verify vf = { .vs = vs, .fn = fn, .opaque = opaque, .rep = rep };
  int r;

  memset (rep, 0, sizeof *rep);
  pthread_mutex_init (&vf.lock, NULL);
  idset_init (&vf.seen);
  if (key_ctxs_append (&vf.ctxs, (struct key_ctx) { .keyed = false }) < 0)
    return -ENOMEM;
  if (name)
    r = verify_volume (&vf, name);
  else
    r = objstore_list (vs->os, "names/", NULL, on_name, &vf);
  if (r == 0)
    r = check_all (&vf);
  idset_free (&vf.seen);
  s3vol_wipe (vf.ctxs.ptr, vf.ctxs.len * sizeof *vf.ctxs.ptr);
  key_ctxs_reset (&vf.ctxs);
  ctx_idx_reset (&vf.ctx_of);
  pthread_mutex_destroy (&vf.lock);
  if (r == 0 && (rep->missing || rep->corrupt))
    r = -EBADMSG;
  return r;
}
