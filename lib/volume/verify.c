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

/* Queue id to be checked, unless it was queued before. */
static int
queue (struct verify *vf, const struct s3vol_id *id)
{
  int r = idset_add (&vf->seen, id);

  return r < 0 ? r : 0;
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
  char key[KEY_BUF];
  int r;

  key_ca (key, vf->kind, id);
  r = vs_get_capped (vf->vs, key, S3VOL_OBJ_MAX, &log, &obj);
  if (r == -ENOENT)
    problem (vf, key, "missing", true);
  else if (r == 0) {
    r = s3vol_obj_decode (obj.data, obj.len, id, key, &log, &plain);
    if (r == 0 && vf->pages)
      r = page_decode (plain.data, plain.len, key, &log, &vf->pages[i]);
    pthread_mutex_lock (&vf->lock);
    vf->rep->bytes += obj.len;
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
};

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
  s3vol_buf_free (&b);
  if (ret == -ENOENT)
    return 0;                   /* pruned while we listed */
  if (ret == 0 && (r.seq != seq ||
                   memcmp (r.volid.b, vc->id->b, S3VOL_VOLID_LEN) != 0)) {
    root_free (&r);
    snprintf (cap.msg, sizeof cap.msg, "root names another version");
    ret = -EBADMSG;
  }
  if (ret == -EBADMSG) {
    problem (vf, e->key, cap.msg, false);
    return 0;
  }
  if (ret < 0)
    return ret;
  vf->rep->versions++;
  for (i = 0; ret == 0 && i < r.npages; i++)
    ret = queue (vf, &r.pages[i].id);
  root_free (&r);
  return ret;
}

static int
verify_volume (struct verify *vf, const char *name)
{
  struct s3vol_volid id;
  struct ver_ctx vc = { vf, &id };
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
      r = queue (vf, &vf->pages[i].e[j].id);
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
  if (name)
    r = verify_volume (&vf, name);
  else
    r = objstore_list (vs->os, "names/", NULL, on_name, &vf);
  if (r == 0)
    r = check_all (&vf);
  idset_free (&vf.seen);
  pthread_mutex_destroy (&vf.lock);
  if (r == 0 && (rep->missing || rep->corrupt))
    r = -EBADMSG;
  return r;
}
