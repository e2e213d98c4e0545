/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: an object store wrapper that injects faults (objstore_fault.h).
 *
 * Every operation first asks decide() whether it fails; decide() counts
 * the operation and applies the mode under the lock, so the counts and
 * the verdicts agree however many threads call in.  The lock is never
 * held across a call to the inner store.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_fault.h"

struct fault_store {
  struct objstore s;            /* must be first */
  struct objstore *inner;       /* not ours */
  pthread_mutex_t lock;         /* protects everything below */
  struct objstore_fault_config cfg;
  struct objstore_fault_counts c;
  bool down;                    /* FROM or CRASH has fired */
};

/* What decide() says about one operation. */
enum verdict {
  PASS,                         /* forward it */
  FAIL,                         /* fail it without forwarding */
  FAIL_ONCE,                    /* the same, as the one ONCE failure */
  FAIL_AFTER,                   /* forward it, then fail (lost reply) */
};

static struct fault_store *
fault_of (struct objstore *s)
{
  return (struct fault_store *) s;
}

static void
count_kind (struct objstore_fault_counts *c, unsigned kind)
{
  switch (kind) {
  case OBJSTORE_FAULT_GET: c->gets++; break;
  case OBJSTORE_FAULT_PUT: c->puts++; break;
  case OBJSTORE_FAULT_HEAD: c->heads++; break;
  case OBJSTORE_FAULT_DEL: c->dels++; break;
  case OBJSTORE_FAULT_LIST: c->lists++; break;
  }
}

/* Count one operation of kind and say whether it fails, and with what
 * (*err).
 */
static enum verdict
decide (struct fault_store *f, unsigned kind, int *err)
{
  const struct objstore_fault_config *cfg = &f->cfg;
  enum verdict v = PASS;
  bool match;

  pthread_mutex_lock (&f->lock);
  f->c.ops++;
  count_kind (&f->c, kind);
  match = (cfg->kinds & kind) != 0;
  if (match)
    f->c.matched++;
  switch (cfg->mode) {
  case OBJSTORE_FAULT_OFF:
    break;
  case OBJSTORE_FAULT_ONCE:
    if (match && f->c.matched == cfg->n)
      v = cfg->lost_reply ? FAIL_AFTER : FAIL_ONCE;
    break;
  case OBJSTORE_FAULT_FROM:
    if (match && f->c.matched == cfg->n)
      f->down = true;
    if (f->down)
      v = FAIL;
    break;
  case OBJSTORE_FAULT_CRASH:
    /* The nth matching operation goes through; nothing after it. */
    if (f->down)
      v = FAIL;
    else if (match && f->c.matched == cfg->n)
      f->down = true;
    break;
  }
  if (v != PASS)
    f->c.injected++;
  *err = cfg->err;
  pthread_mutex_unlock (&f->lock);
  return v;
}

/* Fail an operation the way a backend does: one line, unless the error
 * is one that the contract leaves unlogged.
 */
static int
inject (struct fault_store *f, const char *op, const char *key, int err)
{
  if (err != -ENOENT && err != -EEXIST)
    s3vol_error (f->s.log, "%s: %s %s: %s (injected fault)", f->s.url, op,
                 key, strerror (-err));
  return err;
}

static int
fault_open (const char *rest, const struct objstore_config *cfg,
            struct objstore **out)
{
  (void) out;
  s3vol_error (cfg->log, "fault://%s: the fault wrapper is made with "
               "objstore_fault_wrap, not opened by URL", rest);
  return -EINVAL;
}

static void
fault_close (struct objstore *s)
{
  struct fault_store *f = fault_of (s);

  pthread_mutex_destroy (&f->lock);
  free (f);
}

static int
fault_get (struct objstore *s, const char *key, uint64_t off, uint64_t len,
           struct s3vol_buf *out)
{
  struct fault_store *f = fault_of (s);
  size_t start = out->len;
  enum verdict v;
  int err, r;

  v = decide (f, OBJSTORE_FAULT_GET, &err);
  if (v == FAIL || v == FAIL_ONCE)
    return inject (f, "get", key, err);
  r = objstore_get (f->inner, key, off, len, out);
  if (v == PASS || r < 0)
    return r;
  out->len = start;             /* the reply is lost */
  return inject (f, "get", key, err);
}

static int
fault_put (struct objstore *s, const char *key, const void *data,
           size_t len, unsigned flags)
{
  struct fault_store *f = fault_of (s);
  enum verdict v;
  int err, r;

  v = decide (f, OBJSTORE_FAULT_PUT, &err);
  if (v == FAIL || v == FAIL_ONCE)
    return inject (f, "put", key, err);
  r = objstore_put (f->inner, key, data, len, flags);
  if (v == PASS || r < 0)
    return r;
  return inject (f, "put", key, err);
}

static int
fault_head (struct objstore *s, const char *key, struct objstore_stat *st)
{
  struct fault_store *f = fault_of (s);
  enum verdict v;
  int err, r;

  v = decide (f, OBJSTORE_FAULT_HEAD, &err);
  if (v == FAIL || v == FAIL_ONCE)
    return inject (f, "head", key, err);
  r = objstore_head (f->inner, key, st);
  if (v == PASS || r < 0)
    return r;
  return inject (f, "head", key, err);
}

static int
fault_del (struct objstore *s, const char *key)
{
  struct fault_store *f = fault_of (s);
  enum verdict v;
  int err, r;

  v = decide (f, OBJSTORE_FAULT_DEL, &err);
  if (v == FAIL || v == FAIL_ONCE)
    return inject (f, "delete", key, err);
  r = objstore_del (f->inner, key);
  if (v == PASS || r < 0)
    return r;
  return inject (f, "delete", key, err);
}

static int
fault_del_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct fault_store *f = fault_of (s);
  enum verdict v;
  int err, r = 0;

  v = decide (f, OBJSTORE_FAULT_DEL, &err);
  if (v == FAIL)
    return inject (f, "delete-many", keys[0], err);
  if (v == FAIL_ONCE) {
    /* A batch that fails part way: the first half goes. */
    if (n / 2 > 0)
      r = objstore_del_many (f->inner, keys, n / 2);
    return r < 0 ? r : inject (f, "delete-many", keys[0], err);
  }
  r = objstore_del_many (f->inner, keys, n);
  if (v == PASS || r < 0)
    return r;
  return inject (f, "delete-many", keys[0], err);
}

static int
fault_list (struct objstore *s, const char *prefix, const char *start_after,
            objstore_list_fn fn, void *opaque)
{
  struct fault_store *f = fault_of (s);
  enum verdict v;
  int err, r;

  v = decide (f, OBJSTORE_FAULT_LIST, &err);
  if (v == FAIL || v == FAIL_ONCE)
    return inject (f, "list", prefix, err);
  r = objstore_list (f->inner, prefix, start_after, fn, opaque);
  if (v == PASS || r != 0)
    return r;
  return inject (f, "list", prefix, err);
}

static unsigned
fault_caps (struct objstore *s)
{
  return objstore_caps (fault_of (s)->inner);
}

static const struct objstore_ops fault_ops = {
  .scheme = "fault",
  .open = fault_open,
  .close = fault_close,
  .get = fault_get,
  .put = fault_put,
  .head = fault_head,
  .del = fault_del,
  .del_many = fault_del_many,
  .list = fault_list,
  .caps = fault_caps,
};

/* Fill in the defaults of cfg (NULL: no faults) into out. */
static void
normalize (const struct objstore_fault_config *cfg,
           struct objstore_fault_config *out)
{
  memset (out, 0, sizeof *out);
  if (cfg)
    *out = *cfg;
  if (out->kinds == 0)
    out->kinds = out->mode == OBJSTORE_FAULT_CRASH ? OBJSTORE_FAULT_PUT
                                                   : OBJSTORE_FAULT_ALL;
  if (out->err == 0)
    out->err = -EIO;
}

int
objstore_fault_wrap (struct objstore *inner,
                     const struct objstore_fault_config *cfg,
                     struct objstore **out)
{
  struct fault_store *f;

  *out = NULL;
  f = calloc (1, sizeof *f);
  if (f == NULL)
    return -ENOMEM;
  f->s.url = strdup (inner->url);
  if (f->s.url == NULL) {
    free (f);
    return -ENOMEM;
  }
  f->s.ops = &fault_ops;
  f->s.log = inner->log;
  f->inner = inner;
  pthread_mutex_init (&f->lock, NULL);
  objstore_fault_arm (&f->s, cfg);
  *out = &f->s;
  return 0;
}

void
objstore_fault_arm (struct objstore *s,
                    const struct objstore_fault_config *cfg)
{
  struct fault_store *f = fault_of (s);
  struct objstore_fault_config c;

  normalize (cfg, &c);
  pthread_mutex_lock (&f->lock);
  f->cfg = c;
  memset (&f->c, 0, sizeof f->c);
  f->down = c.mode == OBJSTORE_FAULT_CRASH && c.n == 0;
  pthread_mutex_unlock (&f->lock);
}

void
objstore_fault_counts (struct objstore *s, struct objstore_fault_counts *out)
{
  struct fault_store *f = fault_of (s);

  pthread_mutex_lock (&f->lock);
  *out = f->c;
  pthread_mutex_unlock (&f->lock);
}

struct objstore *
objstore_fault_inner (struct objstore *s)
{
  return fault_of (s)->inner;
}
