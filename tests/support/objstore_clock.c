/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: an object store wrapper with its own clock (objstore_clock.h).
 *
 * The wrapper's clock is the sum of every advance.  Each key put through
 * the wrapper remembers the clock when its last put began (keys never
 * put through it: 0), and its mtime is reported that much earlier than
 * the inner store says as the clock has moved since.  The lock is never
 * held across a call to the inner store or to a hook.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "objstore_clock.h"

#define BUCKETS 1024

struct born {
  struct born *next;
  int64_t clock;                /* the clock when it was last put */
  char key[];
};

struct clock_store {
  struct objstore s;            /* must be first */
  struct objstore *inner;       /* not ours */
  pthread_mutex_t lock;         /* protects everything below */
  int64_t clock;                /* seconds advanced so far */
  struct born *born[BUCKETS];
  struct objstore_clock_hook hook;
  bool armed;
  unsigned fired;
};

static struct clock_store *
clock_of (struct objstore *s)
{
  return (struct clock_store *) s;
}

static struct born **
slot (struct clock_store *c, const char *key)
{
  uint32_t h = 2166136261u;     /* FNV-1a */
  struct born **b;
  const char *p;

  for (p = key; *p; p++)
    h = (h ^ (unsigned char) *p) * 16777619u;
  for (b = &c->born[h % BUCKETS]; *b; b = &(*b)->next)
    if (strcmp ((*b)->key, key) == 0)
      break;
  return b;
}

/* The seconds to take off key's mtime. */
static int64_t
age_of (struct clock_store *c, const char *key)
{
  struct born *b;
  int64_t age;

  pthread_mutex_lock (&c->lock);
  b = *slot (c, key);
  age = c->clock - (b ? b->clock : 0);
  pthread_mutex_unlock (&c->lock);
  return age;
}

/* Record that key was put when the clock said when (-1: now), or, if
 * !exists, that it is gone.  Returns whether it was recorded before,
 * and when in *was.  Out of memory a put key stays as old as it was,
 * which the test will notice.
 */
static bool
record (struct clock_store *c, const char *key, bool exists, int64_t when,
        int64_t *was)
{
  struct born **b, *k;
  bool known;

  pthread_mutex_lock (&c->lock);
  b = slot (c, key);
  k = *b;
  known = k != NULL;
  *was = k ? k->clock : 0;
  if (!exists && k) {
    *b = k->next;
    free (k);
  }
  else if (exists) {
    if (k == NULL && (k = *b = calloc (1, sizeof *k + strlen (key) + 1)))
      strcpy (k->key, key);
    if (k)
      k->clock = when < 0 ? c->clock : when;
  }
  pthread_mutex_unlock (&c->lock);
  return known;
}

static void
forget (struct clock_store *c, const char *key)
{
  int64_t was;

  record (c, key, false, 0, &was);
}

/* Run the hook if it matches an operation of kind on key, at this side
 * of it (after or not).
 */
static void
hook (struct clock_store *c, unsigned kind, const char *key, bool after)
{
  const struct objstore_clock_hook *h = &c->hook;
  void (*fn) (void *, const char *) = NULL;
  void *opaque = NULL;

  pthread_mutex_lock (&c->lock);
  if (c->armed && (h->ops & kind) && h->after == after &&
      (h->prefix == NULL || strncmp (key, h->prefix,
                                     strlen (h->prefix)) == 0)) {
    fn = h->fn;
    opaque = h->opaque;
    c->armed = h->every;
    c->fired++;
  }
  pthread_mutex_unlock (&c->lock);
  if (fn)
    fn (opaque, key);
}

static int
clock_open (const char *rest, const struct objstore_config *cfg,
            struct objstore **out)
{
  (void) out;
  s3vol_error (cfg->log, "clock://%s: the clock wrapper is made with "
               "objstore_clock_wrap, not opened by URL", rest);
  return -EINVAL;
}

static void
clock_close (struct objstore *s)
{
  struct clock_store *c = clock_of (s);
  struct born *b, *next;
  size_t i;

  for (i = 0; i < BUCKETS; i++)
    for (b = c->born[i]; b; b = next) {
      next = b->next;
      free (b);
    }
  free ((char *) c->hook.prefix);
  pthread_mutex_destroy (&c->lock);
  free (c);
}

static int
clock_get (struct objstore *s, const char *key, uint64_t off, uint64_t len,
           struct s3vol_buf *out)
{
  struct clock_store *c = clock_of (s);
  int r;

  hook (c, OBJSTORE_CLOCK_GET, key, false);
  r = objstore_get (c->inner, key, off, len, out);
  hook (c, OBJSTORE_CLOCK_GET, key, true);
  return r;
}

static int
clock_put (struct objstore *s, const char *key, const void *data,
           size_t len, unsigned flags)
{
  struct clock_store *c = clock_of (s);
  int64_t was;
  bool known;
  int r;

  hook (c, OBJSTORE_CLOCK_PUT, key, false);
  /* New from before it can appear: a list or head while the put is
   * under way sees the new object, or none, or the one it replaces,
   * which looks new too (a little early).
   */
  known = record (c, key, true, -1, &was);
  r = objstore_put (c->inner, key, data, len, flags);
  if (r < 0)
    record (c, key, known, was, &was);
  hook (c, OBJSTORE_CLOCK_PUT, key, true);
  return r;
}

static int
clock_head (struct objstore *s, const char *key, struct objstore_stat *st)
{
  struct clock_store *c = clock_of (s);
  int r;

  hook (c, OBJSTORE_CLOCK_HEAD, key, false);
  r = objstore_head (c->inner, key, st);
  if (r == 0)
    st->mtime -= age_of (c, key);
  hook (c, OBJSTORE_CLOCK_HEAD, key, true);
  return r;
}

static int
clock_del (struct objstore *s, const char *key)
{
  struct clock_store *c = clock_of (s);
  int r;

  hook (c, OBJSTORE_CLOCK_DEL, key, false);
  r = objstore_del (c->inner, key);
  forget (c, key);
  hook (c, OBJSTORE_CLOCK_DEL, key, true);
  return r;
}

static int
clock_del_many (struct objstore *s, const char *const *keys, size_t n)
{
  struct clock_store *c = clock_of (s);
  size_t i;
  int r;

  hook (c, OBJSTORE_CLOCK_DEL, keys[0], false);
  r = objstore_del_many (c->inner, keys, n);
  for (i = 0; i < n; i++)
    forget (c, keys[i]);
  hook (c, OBJSTORE_CLOCK_DEL, keys[0], true);
  return r;
}

struct list_ctx {
  struct clock_store *c;
  objstore_list_fn fn;
  void *opaque;
};

static int
list_entry (void *opaque, const struct objstore_entry *e)
{
  struct list_ctx *lc = opaque;
  struct objstore_entry aged = *e;

  aged.st.mtime -= age_of (lc->c, e->key);
  return lc->fn (lc->opaque, &aged);
}

static int
clock_list (struct objstore *s, const char *prefix, const char *start_after,
            objstore_list_fn fn, void *opaque)
{
  struct clock_store *c = clock_of (s);
  struct list_ctx lc = { c, fn, opaque };
  int r;

  hook (c, OBJSTORE_CLOCK_LIST, prefix, false);
  r = objstore_list (c->inner, prefix, start_after, list_entry, &lc);
  hook (c, OBJSTORE_CLOCK_LIST, prefix, true);
  return r;
}

static unsigned
clock_caps (struct objstore *s)
{
  return objstore_caps (clock_of (s)->inner);
}

static const struct objstore_ops clock_ops = {
  .scheme = "clock",
  .open = clock_open,
  .close = clock_close,
  .get = clock_get,
  .put = clock_put,
  .head = clock_head,
  .del = clock_del,
  .del_many = clock_del_many,
  .list = clock_list,
  .caps = clock_caps,
};

int
objstore_clock_wrap (struct objstore *inner, struct objstore **out)
{
  struct clock_store *c;

  *out = NULL;
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return -ENOMEM;
  c->s.url = strdup (inner->url);
  if (c->s.url == NULL) {
    free (c);
    return -ENOMEM;
  }
  c->s.ops = &clock_ops;
  c->s.log = inner->log;
  c->inner = inner;
  pthread_mutex_init (&c->lock, NULL);
  *out = &c->s;
  return 0;
}

void
objstore_clock_advance (struct objstore *s, int64_t seconds)
{
  struct clock_store *c = clock_of (s);

  pthread_mutex_lock (&c->lock);
  c->clock += seconds;
  pthread_mutex_unlock (&c->lock);
}

void
objstore_clock_set_hook (struct objstore *s,
                         const struct objstore_clock_hook *h)
{
  struct clock_store *c = clock_of (s);
  char *prefix = h && h->prefix ? strdup (h->prefix) : NULL;
  const char *old;

  pthread_mutex_lock (&c->lock);
  old = c->hook.prefix;
  memset (&c->hook, 0, sizeof c->hook);
  if (h)
    c->hook = *h;
  c->hook.prefix = prefix;
  /* Out of memory, a hook for some keys must not fire for all. */
  c->armed = h && (h->prefix == NULL || prefix);
  c->fired = 0;
  pthread_mutex_unlock (&c->lock);
  free ((char *) old);
}

unsigned
objstore_clock_fired (struct objstore *s)
{
  struct clock_store *c = clock_of (s);
  unsigned n;

  pthread_mutex_lock (&c->lock);
  n = c->fired;
  pthread_mutex_unlock (&c->lock);
  return n;
}
