/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: commits and gc under injected store faults, on any store
 * ($S3VOL_TEST_STORE or a temporary directory).
 *
 * Each commit path (create, commit, forced commit, fork, snapshot,
 * rename) runs once without faults to count its store operations (T)
 * and puts (P), then once for every n with a fault at n:
 *
 *   fail-once    operation n fails, nothing else
 *   lost-reply   operation n happens, but the caller sees a failure
 *   store-down   operation n and everything after it fail
 *   crash        everything after put n fails (n = 0..P), and the checks
 *                and the retry use a fresh volstore, as after a restart
 *
 * After each, with faults off: volstore_verify finds nothing missing or
 * corrupt, the volume is either as before or exactly as the operation
 * makes it (every version after the old head holding the new content),
 * and retrying the operation succeeds and leaves the new content.
 *
 * gc runs the same way over a store with volumes, versions to prune, a
 * snapshot, a fork, a rename, a deleted volume and loose chunks, which
 * is restored between cases: afterwards every version that retention
 * keeps reads back whole, and a fault-free gc ends with exactly the keys
 * that a fault-free gc leaves.
 *
 * On S3 (S3VOL_TEST_STORE=s3://...), or with S3VOL_TEST_SUBSET set,
 * each sweep runs a fixed subset of n (the first and last few, and every
 * third), and store-down is left out, to bound the run time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "objstore_fault.h"
#include "s3vol/volume.h"
#include "testutil.h"

#define CS (64u << 10)                  /* small chunks keep it fast */
#define PE S3VOL_PAGE_ENTRIES           /* chunks per map page */
#define VOLSIZE (2ull * PE * CS)        /* two map pages */
#define MAXW 16

static struct objstore *store;          /* the store under test */
static struct objstore *inner;          /* it, counting all operations */
static struct objstore *fos;            /* the fault wrapper around it */
static struct test_log tlog;
static bool subset;                     /* S3: fewer cases */
static uint64_t serial;                 /* makes names and content unique */
static char where[160];                 /* the case, for failure messages */

/* Assertions that say which case failed. */
#define check(x)                                                        \
  do {                                                                  \
    if (!(x))                                                           \
      fail_msg ("%s: failed: %s", where, #x);                           \
  } while (0)
#define check_int(a, b)                                                 \
  do {                                                                  \
    long long a_ = (a), b_ = (b);                                       \
    if (a_ != b_)                                                       \
      fail_msg ("%s: %s is %lld, expected %lld (%s)", where, #a, a_,    \
                b_, #b);                                                \
  } while (0)

enum fault_kind { F_NONE, F_ONCE, F_LOST, F_DOWN, F_CRASH };
#define WRITES (OBJSTORE_FAULT_PUT | OBJSTORE_FAULT_DEL)
static const char *const kind_name[] = {
  "no-fault", "fail-once", "lost-reply", "store-down", "crash",
};

/* Arm the wrapper for a case (F_NONE: off). */
static void
arm (enum fault_kind k, uint64_t n, unsigned kinds)
{
  struct objstore_fault_config cfg = { .n = n, .kinds = kinds };

  switch (k) {
  case F_NONE: cfg.mode = OBJSTORE_FAULT_OFF; break;
  case F_ONCE: cfg.mode = OBJSTORE_FAULT_ONCE; break;
  case F_LOST: cfg.mode = OBJSTORE_FAULT_ONCE; cfg.lost_reply = true; break;
  case F_DOWN: cfg.mode = OBJSTORE_FAULT_FROM; break;
  case F_CRASH: cfg.mode = OBJSTORE_FAULT_CRASH; break;
  }
  objstore_fault_arm (fos, &cfg);
}

/* Store operations so far, of every kind. */
static uint64_t
store_ops (void)
{
  struct objstore_fault_counts cnt;

  objstore_fault_counts (inner, &cnt);
  return cnt.ops;
}

/* On S3, a fixed subset of n in [first, last]. */
static bool
pick (uint64_t n, uint64_t first, uint64_t last)
{
  return !subset || n < first + 3 || n + 3 > last || n % 3 == 0;
}

static struct volstore *
open_vs (struct objstore *s, unsigned keep_last)
{
  struct volstore_config cfg = { .log = &tlog.log, .keep_last = keep_last,
                                 .keep_seconds = 1 };
  struct volstore *v = NULL;

  check_int (volstore_open (s, &cfg, &v), 0);
  return v;
}

static void
on_problem (void *opaque, const char *key, const char *what)
{
  (void) opaque;
  fprintf (stderr, "%s: verify: %s: %s\n", where, key, what);
}

static void
verify_all (struct volstore *s)
{
  struct verify_report vr;

  check_int (volstore_verify (s, NULL, on_problem, NULL, &vr), 0);
}

/* Does the name record of a volume exist?  Looked up directly, so that
 * a name left pointing at nothing is seen as there.
 */
static bool
name_exists (const char *name)
{
  char key[128];
  struct objstore_stat st;
  int r;

  snprintf (key, sizeof key, "names/%s", name);
  r = objstore_head (inner, key, &st);
  check (r == 0 || r == -ENOENT);
  return r == 0;
}

/* ---- contents ---- */

/* Chunk index -> content seed (0: zeros); indexes not listed are holes. */
struct want {
  size_t n;
  struct { uint64_t index, seed; } e[MAXW];
};

static void
want_set (struct want *w, uint64_t index, uint64_t seed)
{
  size_t i;

  for (i = 0; i < w->n && w->e[i].index != index; i++)
    ;
  check (i < MAXW);
  if (i == w->n)
    w->n++;
  w->e[i].index = index;
  w->e[i].seed = seed;
}

static void
want_apply (struct want *w, const struct want *changes)
{
  size_t i;

  for (i = 0; i < changes->n; i++)
    want_set (w, changes->e[i].index, changes->e[i].seed);
}

static void
fill_chunk (unsigned char *buf, uint64_t seed)
{
  memset (buf, 0, CS);
  if (seed)
    test_fill (buf, CS, seed);
}

/* Does v hold exactly w?  Compared by chunk id (the callers run
 * volstore_verify, which checks every object against its id), and one
 * chunk read back whole.
 */
static bool
same_content (struct volume *v, const struct want *w)
{
  unsigned char *got = malloc (CS), *exp = malloc (CS);
  struct s3vol_id id, want_id;
  uint64_t nonzero = 0;
  bool same = true, hole, read = false;
  size_t i;

  check (got && exp);
  for (i = 0; same && i < w->n; i++) {
    fill_chunk (exp, w->e[i].seed);
    want_id = S3VOL_HOLE;
    if (w->e[i].seed)
      s3vol_hash (exp, CS, &want_id);
    check_int (volume_chunk_id (v, w->e[i].index, &id), 0);
    same = memcmp (id.b, want_id.b, S3VOL_ID_LEN) == 0;
    if (same && w->e[i].seed && !read) {
      check_int (volume_read_chunk (v, w->e[i].index, got, &hole), 0);
      same = memcmp (got, exp, CS) == 0 && !hole;
      read = true;
    }
    nonzero += w->e[i].seed != 0;
  }
  free (got);
  free (exp);
  /* Nothing else is there. */
  return same && root_chunks (volume_root (v)) == nonzero;
}

static struct volume *
open_at (struct volstore *s, const char *name, uint64_t seq)
{
  struct vol_ref ref = { .seq = seq };
  struct volume *v = NULL;

  check_int (volume_open (s, name, &ref, &v), 0);
  return v;
}

static void
check_version (struct volstore *s, const char *name, uint64_t seq,
               const struct want *w)
{
  struct volume *v = open_at (s, name, seq);

  check (same_content (v, w));
  volume_close (v);
}

/* Store the changes' chunks and commit them through h. */
static int
commit_want (struct volstore *s, struct volume *h, const struct want *ch,
             bool force)
{
  struct vol_change c[MAXW];
  struct vol_commit_opts o = { .message = "faults", .force = force };
  struct vol_commit_result res;
  unsigned char *buf = malloc (CS);
  size_t i;
  int r = 0;

  check (buf != NULL);
  for (i = 0; r == 0 && i < ch->n; i++) {
    fill_chunk (buf, ch->e[i].seed);
    c[i].index = ch->e[i].index;
    r = volstore_put_chunk (s, buf, CS, &c[i].id, &c[i].stored_len);
  }
  free (buf);
  if (r == 0)
    r = volume_commit (h, c, ch->n, &o, &res);
  return r;
}

/* ---- commit paths ---- */

struct ctx {
  struct volstore *s;           /* the volstore the case runs on */
  char a[40], b[40];            /* the case's volume names */
  struct volume *h;             /* a handle on a that commits */
  uint64_t seed;                /* the case's first content seed */
  struct s3vol_volid volid;     /* a's id */
  struct want base;             /* a's version base_seq */
  uint64_t base_seq;
  struct want old;              /* a's head before the operation */
  uint64_t old_seq;
  struct want ch;               /* the operation's changes */
  struct want want;             /* what the operation makes */
};

struct scenario {
  const char *name;
  void (*setup) (struct ctx *c);        /* without faults */
  int (*run) (struct ctx *c);           /* the operation, on c->s */
  /* Assert that the state is the old or the new one (read through s);
   * say whether it is the new one.
   */
  bool (*examine) (struct ctx *c, struct volstore *s);
  /* Do the operation again after a failure, with faults off, on s; on
   * a restart (restarted) every handle must be opened afresh.
   */
  void (*retry) (struct ctx *c, struct volstore *s, bool restarted);
};

/* a: a volume with content in both pages at version 2. */
static void
setup_base (struct ctx *c)
{
  struct want ch = { 0 };

  check_int (volstore_create (c->s, c->a, VOLSIZE, CS, NULL), 0);
  c->h = open_at (c->s, c->a, 0);
  c->volid = volume_root (c->h)->volid;
  want_set (&ch, 0, c->seed + 1);
  want_set (&ch, 1, c->seed + 2);
  want_set (&ch, PE, c->seed + 3);
  check_int (commit_want (c->s, c->h, &ch, false), 0);
  c->base = ch;
  c->base_seq = 2;
  c->old = c->base;
  c->old_seq = 2;
}

/* The changes of the commit under test: new chunks in both pages, one
 * content twice (stored once), and a chunk punched to a hole.
 */
static void
setup_changes (struct ctx *c, const struct want *onto)
{
  memset (&c->ch, 0, sizeof c->ch);
  want_set (&c->ch, 0, c->seed + 10);
  want_set (&c->ch, 2, c->seed + 11);
  want_set (&c->ch, 3, c->seed + 10);
  want_set (&c->ch, PE, 0);
  want_set (&c->ch, PE + 5, c->seed + 12);
  c->want = *onto;
  want_apply (&c->want, &c->ch);
}

/* Commit: the head is old_seq with the old content, or newer, and then
 * every version after old_seq holds the new content.
 */
static bool
check_head (struct ctx *c, struct volstore *s)
{
  struct volume *v = open_at (s, c->a, 0);
  uint64_t head = volume_seq (v), seq;

  volume_close (v);
  check (head >= c->old_seq);
  check_version (s, c->a, c->old_seq, &c->old);
  for (seq = c->old_seq + 1; seq <= head; seq++)
    check_version (s, c->a, seq, &c->want);
  return head > c->old_seq;
}

static void
commit_setup (struct ctx *c)
{
  setup_base (c);
  setup_changes (c, &c->base);
}

static int
commit_run (struct ctx *c)
{
  return commit_want (c->s, c->h, &c->ch, false);
}

static void
commit_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  int r;

  if (restarted) {
    volume_close (c->h);
    c->h = open_at (s, c->a, 0);
  }
  r = commit_want (s, c->h, &c->ch, false);
  if (r == -EEXIST) {
    /* The lost reply was a publish that happened. */
    check_int (volume_reload (c->h), 0);
    r = commit_want (s, c->h, &c->ch, false);
  }
  check_int (r, 0);
}

/* Forced: h is at version 2, another writer published 3 meanwhile. */
static void
force_setup (struct ctx *c)
{
  struct volume *other;
  struct want ch = { 0 };

  setup_base (c);
  other = open_at (c->s, c->a, 0);
  want_set (&ch, 1, c->seed + 20);
  check_int (commit_want (c->s, other, &ch, false), 0);
  volume_close (other);
  want_apply (&c->old, &ch);
  c->old_seq = 3;
  setup_changes (c, &c->base);
}

static int
force_run (struct ctx *c)
{
  return commit_want (c->s, c->h, &c->ch, true);
}

static void
force_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  if (restarted) {
    volume_close (c->h);
    c->h = open_at (s, c->a, c->base_seq);
  }
  check_int (commit_want (s, c->h, &c->ch, true), 0);
}

/* Fork b from a's snapshot of version 2 (the head is 3). */
static void
fork_setup (struct ctx *c)
{
  struct want ch = { 0 };

  setup_base (c);
  check_int (volstore_snapshot_create (c->s, c->a, "snap", 2), 0);
  want_set (&ch, 1, c->seed + 30);
  check_int (commit_want (c->s, c->h, &ch, false), 0);
  c->want = c->base;
}

static int
fork_run (struct ctx *c)
{
  struct vol_ref ref = { .snapshot = "snap" };

  return volstore_fork (c->s, c->a, &ref, c->b, NULL);
}

static bool
fork_check (struct ctx *c, struct volstore *s)
{
  struct volume *v;

  if (!name_exists (c->b))
    return false;
  v = open_at (s, c->b, 0);
  check_int (volume_seq (v), 1);
  check (same_content (v, &c->want));
  check (memcmp (volume_root (v)->fork_of.b, c->volid.b,
                 S3VOL_VOLID_LEN) == 0);
  check_int (volume_root (v)->fork_seq, 2);
  volume_close (v);
  return true;
}

static void
fork_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  struct vol_ref ref = { .snapshot = "snap" };

  (void) restarted;
  check_int (volstore_fork (s, c->a, &ref, c->b, NULL), 0);
}

static void
create_setup (struct ctx *c)
{
  (void) c;
}

static int
create_run (struct ctx *c)
{
  return volstore_create (c->s, c->a, VOLSIZE, CS, NULL);
}

static bool
create_check (struct ctx *c, struct volstore *s)
{
  struct volume *v;

  if (!name_exists (c->a))
    return false;
  v = open_at (s, c->a, 0);
  check_int (volume_seq (v), 1);
  check_int (volume_size (v), VOLSIZE);
  check_int (volume_chunk_size (v), CS);
  check (same_content (v, &c->want));
  volume_close (v);
  return true;
}

static void
create_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  (void) restarted;
  check_int (volstore_create (s, c->a, VOLSIZE, CS, NULL), 0);
}

/* Snapshot version 2 while the head is 3. */
static void
snap_setup (struct ctx *c)
{
  struct want ch = { 0 };

  setup_base (c);
  want_set (&ch, 1, c->seed + 30);
  check_int (commit_want (c->s, c->h, &ch, false), 0);
  want_apply (&c->old, &ch);
  c->old_seq = 3;
}

static int
snap_run (struct ctx *c)
{
  return volstore_snapshot_create (c->s, c->a, "s1", c->base_seq);
}

static int
find_snap (void *opaque, const char *name, uint64_t seq)
{
  if (strcmp (name, "s1") == 0)
    *(uint64_t *) opaque = seq;
  return 0;
}

static bool
snap_check (struct ctx *c, struct volstore *s)
{
  struct vol_ref ref = { .snapshot = "s1" };
  struct volume *v;
  uint64_t seq = 0;

  check_version (s, c->a, c->old_seq, &c->old);
  check_int (volstore_snapshot_list (s, c->a, find_snap, &seq), 0);
  if (seq == 0)
    return false;
  check_int (seq, c->base_seq);
  check_int (volume_open (s, c->a, &ref, &v), 0);
  check (same_content (v, &c->base));
  volume_close (v);
  return true;
}

static void
snap_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  int r;

  (void) restarted;
  r = volstore_snapshot_create (s, c->a, "s1", c->base_seq);
  /* After a lost reply the snapshot is there: a retry finds it taken. */
  if (r == -EEXIST)
    check (snap_check (c, s));
  else
    check_int (r, 0);
}

static void
rename_setup (struct ctx *c)
{
  setup_base (c);
}

static int
rename_run (struct ctx *c)
{
  return volstore_rename (c->s, c->a, c->b);
}

/* Either name, or both (rename creates the new name first), reaches the
 * volume; the new state is b alone.
 */
static bool
rename_check (struct ctx *c, struct volstore *s)
{
  bool ha = name_exists (c->a), hb = name_exists (c->b);
  const char *names[2] = { ha ? c->a : NULL, hb ? c->b : NULL };
  struct volume *v;
  int i;

  check (ha || hb);
  for (i = 0; i < 2; i++) {
    if (names[i] == NULL)
      continue;
    v = open_at (s, names[i], 0);
    check (memcmp (volume_root (v)->volid.b, c->volid.b,
                   S3VOL_VOLID_LEN) == 0);
    check_int (volume_seq (v), c->base_seq);
    check (same_content (v, &c->base));
    volume_close (v);
  }
  return !ha && hb;
}

static void
rename_retry (struct ctx *c, struct volstore *s, bool restarted)
{
  (void) restarted;
  /* If only a lost reply of the final delete failed, it is done. */
  if (name_exists (c->a))
    check_int (volstore_rename (s, c->a, c->b), 0);
}

static const struct scenario scenarios[] = {
  { "create", create_setup, create_run, create_check, create_retry },
  { "commit", commit_setup, commit_run, check_head, commit_retry },
  { "forced-commit", force_setup, force_run, check_head, force_retry },
  { "fork", fork_setup, fork_run, fork_check, fork_retry },
  { "snapshot", snap_setup, snap_run, snap_check, snap_retry },
  { "rename", rename_setup, rename_run, rename_check, rename_retry },
};

/* Run one case; returns the counts of the operation's run. */
static struct objstore_fault_counts
run_case (const struct scenario *sc, enum fault_kind k, uint64_t n)
{
  struct objstore_fault_counts cnt;
  struct ctx c;
  struct volstore *s;
  bool done;
  int r;

  memset (&c, 0, sizeof c);
  serial++;
  snprintf (where, sizeof where, "%s, %s at %" PRIu64 " (case %" PRIu64
            ")", sc->name, kind_name[k], n, serial);
  snprintf (c.a, sizeof c.a, "f%" PRIu64 "a", serial);
  snprintf (c.b, sizeof c.b, "f%" PRIu64 "b", serial);
  c.seed = serial * 100;
  arm (F_NONE, 0, 0);
  c.s = open_vs (fos, 0);
  sc->setup (&c);

  arm (k, n, k == F_LOST ? WRITES : 0);
  r = sc->run (&c);
  objstore_fault_counts (fos, &cnt);
  arm (F_NONE, 0, 0);
  check (r <= 0);
  if (k == F_NONE)
    check_int (r, 0);
  if (k == F_ONCE || k == F_LOST)
    check_int (cnt.injected, 1);
  if (k == F_DOWN)
    check (cnt.injected >= 1);

  s = c.s;
  if (k == F_CRASH) {
    /* The process died: everything it held is gone. */
    volume_close (c.h);
    c.h = NULL;
    volstore_close (c.s);
    c.s = NULL;
    s = open_vs (inner, 0);
  }
  verify_all (s);
  done = sc->examine (&c, s);
  if (r == 0)
    check (done);
  if (r < 0) {
    sc->retry (&c, s, k == F_CRASH);
    verify_all (s);
    check (sc->examine (&c, s));
  }

  volume_close (c.h);
  if (name_exists (c.a))
    check_int (volstore_delete (s, c.a), 0);
  if (name_exists (c.b))
    check_int (volstore_delete (s, c.b), 0);
  volstore_close (s);
  return cnt;
}

static void
sweep (const struct scenario *sc)
{
  struct objstore_fault_counts dry;
  enum fault_kind k;
  uint64_t n, last, cases = 0, ops0 = store_ops ();
  time_t t0 = time (NULL);

  dry = run_case (sc, F_NONE, 0);
  check (dry.ops > 0);
  /* On S3, store-down is left out: it leaves the states that crash
   * leaves, and differs only in retrying from the same process.
   */
  for (k = F_ONCE; k <= (subset ? F_LOST : F_DOWN); k++) {
    /* A lost reply differs from a failure only where the store acts. */
    last = k == F_LOST ? dry.puts + dry.dels : dry.ops;
    for (n = 1; n <= last; n++)
      if (pick (n, 1, last)) {
        run_case (sc, k, n);
        cases++;
      }
  }
  for (n = 0; n <= dry.puts; n++)
    if (pick (n, 0, dry.puts)) {
      run_case (sc, F_CRASH, n);
      cases++;
    }
  fprintf (stderr, "%s: %" PRIu64 " operations, %" PRIu64 " puts; %"
           PRIu64 " cases, %" PRIu64 " store operations in %lds\n",
           sc->name, dry.ops, dry.puts, cases, store_ops () - ops0,
           (long) (time (NULL) - t0));
}

static void
test_create (void **state)
{
  (void) state;
  sweep (&scenarios[0]);
}

static void
test_commit (void **state)
{
  (void) state;
  sweep (&scenarios[1]);
}

static void
test_forced_commit (void **state)
{
  (void) state;
  sweep (&scenarios[2]);
}

static void
test_fork (void **state)
{
  (void) state;
  sweep (&scenarios[3]);
}

static void
test_snapshot (void **state)
{
  (void) state;
  sweep (&scenarios[4]);
}

static void
test_rename (void **state)
{
  (void) state;
  sweep (&scenarios[5]);
}

/* ---- gc ---- */

/* The store's keys and bytes, to put it back between cases. */
struct image {
  char **keys;
  struct s3vol_buf *data;       /* NULL: keys only */
  size_t n, cap;
};

static int
image_add (void *opaque, const struct objstore_entry *e)
{
  struct image *im = opaque;

  if (im->n == im->cap) {
    im->cap = im->cap ? 2 * im->cap : 64;
    im->keys = realloc (im->keys, im->cap * sizeof *im->keys);
    check (im->keys != NULL);
  }
  im->keys[im->n] = strdup (e->key);
  check (im->keys[im->n] != NULL);
  im->n++;
  return 0;
}

/* The keys of the store, in order; with their bytes if data. */
static void
image_take (struct image *im, bool data)
{
  size_t i;

  memset (im, 0, sizeof *im);
  check_int (objstore_list (inner, "", NULL, image_add, im), 0);
  if (!data)
    return;
  im->data = calloc (im->n ? im->n : 1, sizeof *im->data);
  check (im->data != NULL);
  for (i = 0; i < im->n; i++)
    check_int (objstore_get (inner, im->keys[i], 0, OBJSTORE_TO_END,
                             &im->data[i]), 0);
}

static void
image_free (struct image *im)
{
  size_t i;

  for (i = 0; i < im->n; i++) {
    free (im->keys[i]);
    if (im->data)
      s3vol_buf_free (&im->data[i]);
  }
  free (im->keys);
  free (im->data);
  memset (im, 0, sizeof *im);
}

/* Make the store hold exactly im again (both listings are sorted). */
static void
image_restore (const struct image *im)
{
  struct image now;
  size_t i = 0, j = 0;
  int c;

  image_take (&now, false);
  while (i < im->n || j < now.n) {
    c = i == im->n ? 1 : j == now.n ? -1 : strcmp (im->keys[i], now.keys[j]);
    if (c < 0) {
      check_int (objstore_put (inner, im->keys[i], im->data[i].data,
                               im->data[i].len, 0), 0);
      i++;
    }
    else if (c > 0)
      check_int (objstore_del (inner, now.keys[j++]), 0);
    else
      i++, j++;
  }
  image_free (&now);
}

static bool
same_keys (const struct image *a, const struct image *b)
{
  size_t i;

  if (a->n != b->n)
    return false;
  for (i = 0; i < a->n; i++)
    if (strcmp (a->keys[i], b->keys[i]) != 0)
      return false;
  return true;
}

/* Every version of the gc store, with its content, and whether
 * retention keeps it.
 */
struct gc_version {
  const char *vol;
  uint64_t seq;
  struct want w;
  bool kept;
};

static struct gc_version gv[16];
static size_t ngv;
static struct image gc_img, gc_ref;

#define GC_KEEP_LAST 3

static struct gc_opts
gc_opts_later (void)
{
  /* Past the grace period (1 hour) and keep_seconds (1 s). */
  return (struct gc_opts) { .now = time (NULL) + 4 * 3600 };
}

static void
gc_commit (struct volstore *s, struct volume *h, const char *vol,
           const struct want *ch, bool kept)
{
  struct gc_version *g = &gv[ngv++];

  check_int (commit_want (s, h, ch, false), 0);
  g->vol = vol;
  g->seq = volume_seq (h);
  g->w = ngv > 1 && strcmp (gv[ngv - 2].vol, vol) == 0
    ? gv[ngv - 2].w : (struct want) { 0 };
  want_apply (&g->w, ch);
  g->kept = kept;
}

static void
gc_first (const char *vol, bool kept)
{
  struct gc_version *g = &gv[ngv++];

  memset (g, 0, sizeof *g);
  g->vol = vol;
  g->seq = 1;
  g->kept = kept;
}

/*   gc-a  versions 1-6, snapshot "pin" at 2; keeps 2, 4, 5, 6 (the
 *         newest 3 and the pinned one), prunes 1 and 3; version 3 alone
 *         has chunk 3 (seed 12), so it and its page go.
 *   gc-b  forked from gc-a's version 2 (sharing its pages), then 2.
 *   gc-e  created as gc-d, committed, renamed.
 *   gc-x  committed and deleted: all of it goes, but for a chunk it
 *         shares with gc-a.
 *   and one chunk stored but never committed.
 */
static void
gc_build (void)
{
  struct volstore *s = open_vs (inner, GC_KEEP_LAST);
  struct vol_ref v2 = { .seq = 2 };
  struct volume *a, *b, *d, *x;
  struct want ch;
  struct vol_change c;
  unsigned char *buf = malloc (CS);
  struct gc_opts later = gc_opts_later ();
  struct gc_report rep;

  /* Start from a store without garbage. */
  check_int (volstore_gc (s, &later, &rep), 0);
  ngv = 0;
  check_int (volstore_create (s, "gc-a", VOLSIZE, CS, NULL), 0);
  a = open_at (s, "gc-a", 0);
  gc_first ("gc-a", false);
  ch = (struct want) { 0 };
  want_set (&ch, 0, 1001);
  want_set (&ch, PE, 1002);
  gc_commit (s, a, "gc-a", &ch, true);
  ch = (struct want) { 0 };
  want_set (&ch, 1, 1003);
  want_set (&ch, 3, 1012);
  gc_commit (s, a, "gc-a", &ch, false);
  ch = (struct want) { 0 };
  want_set (&ch, 0, 1004);
  want_set (&ch, 3, 0);
  gc_commit (s, a, "gc-a", &ch, true);
  ch = (struct want) { 0 };
  want_set (&ch, PE, 0);
  want_set (&ch, 2, 1005);
  gc_commit (s, a, "gc-a", &ch, true);
  ch = (struct want) { 0 };
  want_set (&ch, 1, 1006);
  gc_commit (s, a, "gc-a", &ch, true);
  check_int (volstore_snapshot_create (s, "gc-a", "pin", 2), 0);

  check_int (volstore_fork (s, "gc-a", &v2, "gc-b", NULL), 0);
  b = open_at (s, "gc-b", 0);
  gv[ngv] = gv[1];
  gv[ngv].vol = "gc-b";
  gv[ngv++].seq = 1;
  ch = (struct want) { 0 };
  want_set (&ch, 3, 1007);
  gc_commit (s, b, "gc-b", &ch, true);

  check_int (volstore_create (s, "gc-d", VOLSIZE, CS, NULL), 0);
  d = open_at (s, "gc-d", 0);
  gc_first ("gc-e", true);
  ch = (struct want) { 0 };
  want_set (&ch, 0, 1009);
  gc_commit (s, d, "gc-e", &ch, true);
  check_int (volstore_rename (s, "gc-d", "gc-e"), 0);

  check_int (volstore_create (s, "gc-x", VOLSIZE, CS, NULL), 0);
  x = open_at (s, "gc-x", 0);
  ch = (struct want) { 0 };
  want_set (&ch, 0, 1008);
  want_set (&ch, 1, 1001);
  check_int (commit_want (s, x, &ch, false), 0);
  check_int (volstore_delete (s, "gc-x"), 0);

  fill_chunk (buf, 1010);
  check_int (volstore_put_chunk (s, buf, CS, &c.id, &c.stored_len), 0);
  free (buf);
  volume_close (a);
  volume_close (b);
  volume_close (d);
  volume_close (x);
  volstore_close (s);
}

/* After a gc that may have stopped anywhere: everything kept is whole,
 * and a fault-free gc finishes the job exactly.
 */
static void
gc_check (void)
{
  struct volstore *s = open_vs (inner, GC_KEEP_LAST);
  struct gc_opts later = gc_opts_later ();
  struct gc_report rep;
  struct image now;
  struct volume *v;
  struct vol_ref ref;
  size_t i;
  int r;

  verify_all (s);
  for (i = 0; i < ngv; i++) {
    ref = (struct vol_ref) { .seq = gv[i].seq };
    r = volume_open (s, gv[i].vol, &ref, &v);
    if (gv[i].kept)
      check_int (r, 0);
    else
      check (r == 0 || r == -ENOENT);
    if (r == 0) {
      check (same_content (v, &gv[i].w));
      volume_close (v);
    }
  }
  check_int (volstore_gc (s, &later, &rep), 0);
  image_take (&now, false);
  check (same_keys (&now, &gc_ref));
  image_free (&now);
  volstore_close (s);
}

static struct objstore_fault_counts
gc_case (enum fault_kind k, uint64_t n)
{
  struct objstore_fault_counts cnt;
  struct gc_opts later = gc_opts_later ();
  struct gc_report rep;
  struct volstore *s;
  int r;

  serial++;
  snprintf (where, sizeof where, "gc, %s at %" PRIu64 " (case %" PRIu64
            ")", kind_name[k], n, serial);
  image_restore (&gc_img);
  s = open_vs (fos, GC_KEEP_LAST);
  arm (k, n, k == F_ONCE ? 0 : OBJSTORE_FAULT_DEL);
  r = volstore_gc (s, &later, &rep);
  objstore_fault_counts (fos, &cnt);
  arm (F_NONE, 0, 0);
  volstore_close (s);
  check (r <= 0);
  if (k == F_NONE)
    check_int (r, 0);
  if (k == F_ONCE || k == F_LOST)
    check_int (cnt.injected, 1);
  if (k == F_NONE)
    image_take (&gc_ref, false);
  gc_check ();
  return cnt;
}

static void
test_gc (void **state)
{
  struct objstore_fault_counts dry;
  struct gc_opts later = gc_opts_later ();
  struct gc_report rep;
  struct volstore *s;
  uint64_t n, cases = 0, ops0 = store_ops ();
  time_t t0 = time (NULL);

  (void) state;
  snprintf (where, sizeof where, "gc, building the store");
  gc_build ();
  image_take (&gc_img, true);
  dry = gc_case (F_NONE, 0);
  check (dry.ops > 0 && dry.dels > 0);
  for (n = 1; n <= dry.ops; n++)
    if (pick (n, 1, dry.ops)) {
      gc_case (F_ONCE, n);
      cases++;
    }
  /* gc changes the store only by deleting: a lost reply matters only
   * there, and a crash after the nth delete stands for a crash anywhere
   * between it and the next.
   */
  for (n = 1; n <= dry.dels; n++)
    if (pick (n, 1, dry.dels)) {
      gc_case (F_LOST, n);
      cases++;
    }
  for (n = 0; n <= dry.dels; n++)
    if (pick (n, 0, dry.dels)) {
      gc_case (F_CRASH, n);
      cases++;
    }
  fprintf (stderr, "gc: %" PRIu64 " operations, %" PRIu64 " deletes; %"
           PRIu64 " cases, %" PRIu64 " store operations in %lds\n",
           dry.ops, dry.dels, cases, store_ops () - ops0,
           (long) (time (NULL) - t0));

  /* Leave the store empty. */
  s = open_vs (inner, GC_KEEP_LAST);
  check_int (volstore_delete (s, "gc-a"), 0);
  check_int (volstore_delete (s, "gc-b"), 0);
  check_int (volstore_delete (s, "gc-e"), 0);
  check_int (volstore_gc (s, &later, &rep), 0);
  volstore_close (s);
  image_free (&gc_img);
  image_free (&gc_ref);
}

/* ---- the wrapper itself ---- */

static void
test_wrapper (void **state)
{
  struct objstore_fault_config cfg = { .mode = OBJSTORE_FAULT_ONCE,
                                       .n = 2,
                                       .kinds = OBJSTORE_FAULT_PUT,
                                       .err = -ETIMEDOUT };
  struct objstore_fault_counts cnt;
  struct objstore_stat st;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  const char *keys[4] = { "w/1", "w/2", "w/3", "w/4" };
  int i;

  (void) state;
  snprintf (where, sizeof where, "wrapper");
  objstore_fault_arm (fos, &cfg);
  check_int (objstore_put (fos, "w/1", "x", 1, 0), 0);
  tlog.errors = 0;
  check_int (objstore_put (fos, "w/2", "x", 1, 0), -ETIMEDOUT);
  check_int (tlog.errors, 1);
  check (strstr (tlog.last_error, "w/2") != NULL);
  check (strstr (tlog.last_error, inner->url) != NULL);
  check_int (objstore_head (inner, "w/2", &st), -ENOENT);
  check_int (objstore_put (fos, "w/2", "x", 1, 0), 0);
  check_int (objstore_get (fos, "w/2", 0, OBJSTORE_TO_END, &b), 0);
  objstore_fault_counts (fos, &cnt);
  check_int (cnt.ops, 4);
  check_int (cnt.puts, 3);
  check_int (cnt.gets, 1);
  check_int (cnt.matched, 3);
  check_int (cnt.injected, 1);

  /* Lost reply: the put lands, the caller hears it failed. */
  cfg = (struct objstore_fault_config) { .mode = OBJSTORE_FAULT_ONCE,
                                         .n = 1, .lost_reply = true };
  objstore_fault_arm (fos, &cfg);
  check_int (objstore_put (fos, "w/3", "x", 1, 0), -EIO);
  check_int (objstore_head (fos, "w/3", &st), 0);

  /* Crash after one put: it lands, then nothing goes through. */
  cfg = (struct objstore_fault_config) { .mode = OBJSTORE_FAULT_CRASH,
                                         .n = 1 };
  objstore_fault_arm (fos, &cfg);
  check_int (objstore_head (fos, "w/3", &st), 0);
  check_int (objstore_put (fos, "w/4", "x", 1, 0), 0);
  check_int (objstore_head (fos, "w/4", &st), -EIO);
  check_int (objstore_del (fos, "w/4"), -EIO);

  /* A del_many failing once takes half its keys; then the store is
   * down from the second delete on.
   */
  cfg = (struct objstore_fault_config) { .mode = OBJSTORE_FAULT_ONCE,
                                         .n = 1,
                                         .kinds = OBJSTORE_FAULT_DEL };
  objstore_fault_arm (fos, &cfg);
  check_int (objstore_del_many (fos, keys, 4), -EIO);
  check_int (objstore_head (fos, "w/1", &st), -ENOENT);
  check_int (objstore_head (fos, "w/2", &st), -ENOENT);
  check_int (objstore_head (fos, "w/3", &st), 0);
  cfg.mode = OBJSTORE_FAULT_FROM;
  cfg.n = 2;
  objstore_fault_arm (fos, &cfg);
  check_int (objstore_del (fos, "w/3"), 0);
  check_int (objstore_del (fos, "w/4"), -EIO);
  for (i = 0; i < 3; i++)
    check_int (objstore_head (fos, "w/4", &st), -EIO);
  check_int (objstore_head (inner, "w/4", &st), 0);
  objstore_fault_arm (fos, NULL);
  check_int (objstore_del (fos, "w/4"), 0);
  objstore_fault_counts (fos, &cnt);
  check_int (cnt.ops, 1);
  s3vol_buf_free (&b);
}

static int
setup (void **state)
{
  const char *url;
  int r;

  (void) state;
  test_log_init (&tlog);
  store = test_store_open ();
  /* Store errors, injected ones too, go to the counting log (printed
   * with TEST_VERBOSE=1), not to stderr: there are thousands.
   */
  store->log = &tlog.log;
  url = test_store_url ();
  subset = strncmp (url, "s3://", 5) == 0 || getenv ("S3VOL_TEST_SUBSET");
  r = objstore_fault_wrap (store, NULL, &inner);
  if (r == 0)
    r = objstore_fault_wrap (inner, NULL, &fos);
  return r;
}

static int
teardown (void **state)
{
  struct objstore_fault_counts cnt;

  (void) state;
  objstore_fault_counts (inner, &cnt);
  fprintf (stderr, "%" PRIu64 " store operations (%" PRIu64 " puts)\n",
           cnt.ops, cnt.puts);
  objstore_close (fos);
  objstore_close (inner);
  test_store_close (store);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_wrapper),
    cmocka_unit_test (test_create),
    cmocka_unit_test (test_commit),
    cmocka_unit_test (test_forced_commit),
    cmocka_unit_test (test_fork),
    cmocka_unit_test (test_snapshot),
    cmocka_unit_test (test_rename),
    cmocka_unit_test (test_gc),
  };

  fprintf (stderr, "volume store faults on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
