/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the volume store against an in-memory model, on any store
 * ($S3VOL_TEST_STORE or a temporary directory).
 *
 * Thousands of random operations (commits of random chunks, forced and
 * conflicting commits, creates, forks from heads, old versions and
 * snapshots, snapshot creates and deletes, deletes, renames, name reuse,
 * reopens at the head or at old versions, reloads, gc) run on a few small
 * volumes, and every result is checked against a model that holds every
 * version's chunks as content seeds:
 *
 *   volume name -> versions 1..head -> slot 0..63 -> seed (0: zeros)
 *
 * Slots 0-31 are chunks 0-31 and slots 32-63 chunks 4096-4127, so that
 * every volume has two map pages.  Content repeats on purpose: zeros,
 * a small pool of seeds shared by every volume, and fresh seeds.
 *
 * Two phases: the first keeps every version (keep_last huge), the
 * second keeps the newest GC_KEEP_LAST and the snapshots' versions, and
 * the model prunes the rest at each gc as retention must.  gc runs with
 * its clock hours ahead, past the grace period and keep_seconds (1 s),
 * so it deletes everything unreachable, and afterwards the volstore is
 * reopened: its memory of stored chunks is in real time, and would trust
 * chunks that the time-travelling gc has just deleted.  After each gc and
 * at the end every kept version is checked, and the store must verify.
 *
 * Environment: S3VOL_TEST_SEED (default fixed; printed), and
 * S3VOL_MODEL_OPS, the operations of both phases together (default 1500
 * on a directory, 500 on S3).  A failure names the seed and the
 * operation.
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

#define CS (64u << 10)
#define PE S3VOL_PAGE_ENTRIES
#define NSLOT 64
#define NCHUNKS (PE + NSLOT / 2)
#define MAXLIVE 6               /* live volumes at most */
#define MAXSNAP 6               /* snapshots per volume at most */
#define MAXCHANGE 8             /* chunks per commit at most */
#define POOL 16                 /* seeds shared by all volumes: 1..POOL */
#define GC_KEEP_LAST 3          /* retention of the second phase */
#define DEFAULT_SEED 20240611
#define DEFAULT_OPS 1500
#define DEFAULT_OPS_S3 500

static struct objstore *store;          /* the store under test */
static struct objstore *os;             /* it, counting operations */
static struct test_log tlog;
static bool on_s3;
static char where[160];

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

/* ---- the model ---- */

struct mver {
  uint64_t seeds[NSLOT];
  uint64_t parent;
  bool exists;                  /* not pruned */
};

struct msnap {
  char name[S3VOL_NAME_MAX + 1];
  uint64_t seq;
};

struct mvol {
  char name[S3VOL_NAME_MAX + 1];
  bool live;                    /* named */
  bool removed;                 /* deleted, and gc took its objects */
  struct mver *v;               /* v[seq - 1], seq 1..nv */
  uint64_t nv, capv;
  struct msnap snaps[MAXSNAP];
  size_t nsnaps;
  struct volume *h;             /* the volume's handle (live ones) */
};

/* What a phase did, for its summary line. */
static struct {
  uint64_t commits, forced, conflicts, pruned, removed, gcs;
} stats;

static struct {
  struct volstore *vs;
  unsigned keep_last;
  uint64_t rng;
  uint64_t next_seed;           /* fresh content */
  unsigned next_name;
  struct mvol *vols;
  size_t nvols, capvols;
} m;

static uint64_t
rnd (uint64_t n)
{
  return test_rand (&m.rng) % n;
}

static uint64_t
slot_index (unsigned slot)
{
  return slot < NSLOT / 2 ? slot : PE + slot - NSLOT / 2;
}

static struct mver *
ver (struct mvol *mv, uint64_t seq)
{
  check (seq >= 1 && seq <= mv->nv);
  return &mv->v[seq - 1];
}

static uint64_t
hseq (struct mvol *mv)
{
  return volume_seq (mv->h);
}

/* Append version nv + 1 with seeds and parent. */
static void
add_version (struct mvol *mv, const uint64_t *seeds, uint64_t parent)
{
  if (mv->nv == mv->capv) {
    mv->capv = mv->capv ? 2 * mv->capv : 16;
    mv->v = realloc (mv->v, mv->capv * sizeof *mv->v);
    check (mv->v != NULL);
  }
  memcpy (mv->v[mv->nv].seeds, seeds, sizeof mv->v[mv->nv].seeds);
  mv->v[mv->nv].parent = parent;
  mv->v[mv->nv].exists = true;
  mv->nv++;
}

static struct mvol *
add_vol (const char *name)
{
  struct mvol *mv;

  if (m.nvols == m.capvols) {
    m.capvols = m.capvols ? 2 * m.capvols : 16;
    m.vols = realloc (m.vols, m.capvols * sizeof *m.vols);
    check (m.vols != NULL);
  }
  mv = &m.vols[m.nvols++];
  memset (mv, 0, sizeof *mv);
  snprintf (mv->name, sizeof mv->name, "%s", name);
  mv->live = true;
  return mv;
}

static size_t
nlive (void)
{
  size_t i, n = 0;

  for (i = 0; i < m.nvols; i++)
    n += m.vols[i].live;
  return n;
}

static struct mvol *
random_live (void)
{
  size_t n = nlive (), k, i;

  check (n > 0);
  k = rnd (n);
  for (i = 0; ; i++)
    if (m.vols[i].live && k-- == 0)
      return &m.vols[i];
}

static struct mvol *
live_named (const char *name)
{
  size_t i;

  for (i = 0; i < m.nvols; i++)
    if (m.vols[i].live && strcmp (m.vols[i].name, name) == 0)
      return &m.vols[i];
  return NULL;
}

/* A name for a new volume: fresh, or now and then a deleted one's. */
static void
new_name (char *out, const char *prefix)
{
  size_t i;

  if (rnd (5) == 0)
    for (i = 0; i < m.nvols; i++)
      if (!m.vols[i].live && !live_named (m.vols[i].name) && rnd (2)) {
        strcpy (out, m.vols[i].name);
        return;
      }
  sprintf (out, "%s%u", prefix, m.next_name++);
}

/* A random existing version (0 if the volume has none, never). */
static uint64_t
random_existing (struct mvol *mv)
{
  uint64_t seq;

  do
    seq = 1 + rnd (mv->nv);
  while (!ver (mv, seq)->exists);
  return seq;
}

static bool
pinned (const struct mvol *mv, uint64_t seq)
{
  size_t i;

  for (i = 0; i < mv->nsnaps; i++)
    if (mv->snaps[i].seq == seq)
      return true;
  return false;
}

/* ---- content ---- */

static unsigned char *cbuf, *rbuf;

static void
fill (unsigned char *buf, uint64_t seed)
{
  memset (buf, 0, CS);
  if (seed)
    test_fill (buf, CS, seed);
}

/* Chunk ids by seed, computed once each. */
static struct {
  uint64_t *seed;
  struct s3vol_id *id;
  size_t n, cap;
} memo;

static size_t
memo_slot (uint64_t seed, size_t cap)
{
  size_t i = (seed * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1);

  while (memo.seed[i] && memo.seed[i] != seed)
    i = (i + 1) & (cap - 1);
  return i;
}

static const struct s3vol_id *
seed_id (uint64_t seed)
{
  size_t i, j, oldcap;
  uint64_t *os_;
  struct s3vol_id *oi;

  if (seed == 0)
    return &S3VOL_HOLE;
  if (2 * (memo.n + 1) > memo.cap) {
    oldcap = memo.cap;
    os_ = memo.seed;
    oi = memo.id;
    memo.cap = oldcap ? 2 * oldcap : 4096;
    memo.seed = calloc (memo.cap, sizeof *memo.seed);
    memo.id = calloc (memo.cap, sizeof *memo.id);
    check (memo.seed && memo.id);
    for (i = 0; i < oldcap; i++) {
      if (os_[i] == 0)
        continue;
      j = memo_slot (os_[i], memo.cap);
      memo.seed[j] = os_[i];
      memo.id[j] = oi[i];
    }
    free (os_);
    free (oi);
  }
  i = memo_slot (seed, memo.cap);
  if (memo.seed[i] == 0) {
    memo.seed[i] = seed;
    fill (cbuf, seed);
    s3vol_hash (cbuf, CS, &memo.id[i]);
    memo.n++;
  }
  return &memo.id[i];
}

/* Zeros, a pooled seed shared by all volumes, or a fresh one. */
static uint64_t
pick_seed (void)
{
  uint64_t r = rnd (100);

  if (r < 15)
    return 0;
  if (r < 40)
    return 1 + rnd (POOL);
  return m.next_seed++;
}

/* Every slot of h has the model's chunk id, and nothing else is set. */
static void
check_ids (struct volume *h, const uint64_t *seeds)
{
  struct s3vol_id id;
  uint64_t nonzero = 0;
  unsigned i;

  for (i = 0; i < NSLOT; i++) {
    check_int (volume_chunk_id (h, slot_index (i), &id), 0);
    if (memcmp (id.b, seed_id (seeds[i])->b, S3VOL_ID_LEN) != 0)
      fail_msg ("%s: slot %u of version %" PRIu64 " of \"%s\" is not "
                "seed %" PRIu64, where, i, volume_seq (h),
                volume_name (h), seeds[i]);
    nonzero += seeds[i] != 0;
  }
  check_int (root_chunks (volume_root (h)), nonzero);
  check_int (volume_size (h), (uint64_t) NCHUNKS * CS);
}

static void
check_read (struct volume *h, const uint64_t *seeds, unsigned slot)
{
  bool hole;

  check_int (volume_read_chunk (h, slot_index (slot), rbuf, &hole), 0);
  fill (cbuf, seeds[slot]);
  if (memcmp (rbuf, cbuf, CS) != 0 || hole != (seeds[slot] == 0))
    fail_msg ("%s: slot %u of version %" PRIu64 " of \"%s\" does not "
              "read as seed %" PRIu64, where, slot, volume_seq (h),
              volume_name (h), seeds[slot]);
}

static void
check_full (struct volume *h, const uint64_t *seeds)
{
  unsigned i;

  check_ids (h, seeds);
  for (i = 0; i < NSLOT; i++)
    check_read (h, seeds, i);
}

static struct volume *
open_ref (struct mvol *mv, const struct vol_ref *ref)
{
  struct volume *h = NULL;

  check_int (volume_open (m.vs, mv->name, ref, &h), 0);
  return h;
}

static struct volume *
open_seq (struct mvol *mv, uint64_t seq)
{
  struct vol_ref ref = { .seq = seq };

  return open_ref (mv, &ref);
}

/* ---- operations ---- */

/* Store k random chunks; their slots and seeds go to slots/seeds. */
static size_t
make_changes (struct vol_change *ch, unsigned *slots, uint64_t *seeds)
{
  size_t k = 1 + rnd (MAXCHANGE), i;

  for (i = 0; i < k; i++) {
    slots[i] = rnd (NSLOT);
    seeds[i] = pick_seed ();
    fill (cbuf, seeds[i]);
    ch[i].index = slot_index (slots[i]);
    check_int (volstore_put_chunk (m.vs, cbuf, CS, &ch[i].id,
                                   &ch[i].stored_len), 0);
    check (memcmp (ch[i].id.b, seed_id (seeds[i])->b, S3VOL_ID_LEN) == 0);
  }
  return k;
}

/* Commit the changes on h (at version base) as version seq; the model
 * gets version seq, base's content with the changes (the last change of
 * a slot wins).
 */
static void
commit_ok (struct mvol *mv, const struct vol_change *ch, size_t k,
           const unsigned *slots, const uint64_t *seeds, bool force)
{
  struct vol_commit_opts o = { .message = "model", .force = force };
  struct vol_commit_result res;
  uint64_t base = hseq (mv), news[NSLOT];
  size_t i;

  check_int (volume_commit (mv->h, ch, k, &o, &res), 0);
  stats.commits++;
  stats.forced += base != mv->nv;
  check_int (res.seq, mv->nv + 1);
  check_int (hseq (mv), res.seq);
  check_int (volume_root (mv->h)->parent, base);
  check_int (!!(volume_root (mv->h)->flags & ROOT_FLAG_FORCED),
             base != mv->nv);
  memcpy (news, ver (mv, base)->seeds, sizeof news);
  for (i = 0; i < k; i++)
    news[slots[i]] = seeds[i];
  add_version (mv, news, base);
  check_read (mv->h, news, slots[rnd (k)]);
}

static void
op_commit (void)
{
  struct mvol *mv = random_live ();
  struct vol_change ch[MAXCHANGE];
  struct vol_commit_result res;
  unsigned slots[MAXCHANGE];
  uint64_t seeds[MAXCHANGE];
  size_t k = make_changes (ch, slots, seeds);

  if (hseq (mv) == mv->nv || rnd (2)) {
    /* At the head; or forced over a head that moved (last wins). */
    commit_ok (mv, ch, k, slots, seeds, hseq (mv) != mv->nv);
    return;
  }
  /* Behind the head: a conflict that changes nothing, then redo. */
  check_int (volume_commit (mv->h, ch, k, NULL, &res), -EEXIST);
  stats.conflicts++;
  check_int (res.conflict_head, mv->nv);
  check_int (volume_reload (mv->h), 0);
  check_int (hseq (mv), mv->nv);
  commit_ok (mv, ch, k, slots, seeds, false);
}

/* A second handle commits on the same base as the first one. */
static void
op_conflict (void)
{
  struct mvol *mv = random_live ();
  struct vol_change ch[MAXCHANGE], ch2[MAXCHANGE];
  struct vol_commit_result res;
  unsigned slots[MAXCHANGE], slots2[MAXCHANGE];
  uint64_t seeds[MAXCHANGE], seeds2[MAXCHANGE];
  struct volume *first = mv->h;
  size_t k, k2;

  check_int (volume_reload (mv->h), 0);
  mv->h = open_seq (mv, 0);
  check_int (hseq (mv), mv->nv);
  k = make_changes (ch, slots, seeds);
  k2 = make_changes (ch2, slots2, seeds2);
  commit_ok (mv, ch, k, slots, seeds, false);
  /* The first handle is one behind now. */
  check_int (volume_commit (first, ch2, k2, NULL, &res), -EEXIST);
  stats.conflicts++;
  check_int (res.conflict_head, mv->nv);
  check_int (volume_seq (first), mv->nv - 1);
  volume_close (mv->h);
  mv->h = first;
  check_int (volume_reload (mv->h), 0);
  commit_ok (mv, ch2, k2, slots2, seeds2, false);
}

static void op_delete (void);

static void
op_create (void)
{
  char name[S3VOL_NAME_MAX + 1];
  struct vol_info info;
  uint64_t zeros[NSLOT] = { 0 };
  struct mvol *mv;

  if (nlive () >= MAXLIVE)
    op_delete ();
  if (nlive () > 0 && rnd (10) == 0) {
    mv = random_live ();
    check_int (volstore_create (m.vs, mv->name, NCHUNKS * (uint64_t) CS,
                                CS, NULL), -EEXIST);
  }
  new_name (name, "v");
  check_int (volstore_create (m.vs, name, NCHUNKS * (uint64_t) CS, CS,
                              &info), 0);
  check_int (info.head, 1);
  mv = add_vol (name);
  add_version (mv, zeros, 0);
  mv->h = open_seq (mv, 0);
  check_ids (mv->h, zeros);
}

static void
op_fork (void)
{
  struct mvol *src = random_live (), *dst;
  char name[S3VOL_NAME_MAX + 1];
  struct vol_ref ref = { 0 };
  struct vol_info info;
  uint64_t seq = src->nv, r = rnd (3), seeds[NSLOT];

  if (nlive () >= MAXLIVE) {
    op_delete ();
    src = random_live ();
    seq = src->nv;
  }
  if (r == 1) {
    ref.seq = seq = 1 + rnd (src->nv);
    if (!ver (src, seq)->exists) {
      check_int (volstore_fork (m.vs, src->name, &ref, "nosuch", NULL),
                 -ENOENT);
      return;
    }
  }
  else if (r == 2 && src->nsnaps > 0) {
    struct msnap *s = &src->snaps[rnd (src->nsnaps)];
    ref.snapshot = s->name;
    seq = s->seq;
  }
  if (rnd (10) == 0)
    check_int (volstore_fork (m.vs, src->name, &ref, random_live ()->name,
                              NULL), -EEXIST);
  new_name (name, "f");
  check_int (volstore_fork (m.vs, src->name, &ref, name, &info), 0);
  check_int (info.head, 1);
  memcpy (seeds, ver (src, seq)->seeds, sizeof seeds);
  dst = add_vol (name);
  add_version (dst, seeds, 0);
  dst->h = open_seq (dst, 0);
  check_int (volume_root (dst->h)->fork_seq, seq);
  check_ids (dst->h, seeds);
}

static void
op_snap_delete (void)
{
  struct mvol *mv = random_live ();
  size_t i;

  if (mv->nsnaps == 0) {
    check_int (volstore_snapshot_delete (m.vs, mv->name, "nosuch"),
               -ENOENT);
    return;
  }
  i = rnd (mv->nsnaps);
  check_int (volstore_snapshot_delete (m.vs, mv->name, mv->snaps[i].name),
             0);
  mv->snaps[i] = mv->snaps[--mv->nsnaps];
}

static void
op_snap_create (void)
{
  struct mvol *mv = random_live ();
  struct msnap *s;
  uint64_t seq = rnd (3) == 0 ? 0 : 1 + rnd (mv->nv);
  char name[S3VOL_NAME_MAX + 1];

  if (mv->nsnaps == MAXSNAP) {
    op_snap_delete ();
    return;
  }
  if (mv->nsnaps > 0 && rnd (10) == 0) {
    check_int (volstore_snapshot_create (m.vs, mv->name,
                                         mv->snaps[0].name, 0), -EEXIST);
    return;
  }
  sprintf (name, "s%u", m.next_name++);
  if (seq && !ver (mv, seq)->exists) {
    check_int (volstore_snapshot_create (m.vs, mv->name, name, seq),
               -ENOENT);
    return;
  }
  check_int (volstore_snapshot_create (m.vs, mv->name, name, seq), 0);
  s = &mv->snaps[mv->nsnaps++];
  strcpy (s->name, name);
  s->seq = seq ? seq : mv->nv;
}

static void
op_delete (void)
{
  struct mvol *mv = random_live ();

  if (nlive () <= 1)
    return;
  check_int (volstore_delete (m.vs, mv->name), 0);
  volume_close (mv->h);
  mv->h = NULL;
  mv->live = false;
  if (rnd (5) == 0)
    check_int (volstore_delete (m.vs, mv->name), -ENOENT);
}

static void
op_rename (void)
{
  struct mvol *mv = random_live (), *other = random_live ();
  char name[S3VOL_NAME_MAX + 1];

  if (other != mv && rnd (6) == 0) {
    check_int (volstore_rename (m.vs, mv->name, other->name), -EEXIST);
    return;
  }
  if (rnd (20) == 0) {
    check_int (volstore_rename (m.vs, mv->name, mv->name), 0);
    return;
  }
  new_name (name, "r");
  check_int (volstore_rename (m.vs, mv->name, name), 0);
  strcpy (mv->name, name);
  /* The handle goes on by volume id. */
  check_ids (mv->h, ver (mv, hseq (mv))->seeds);
}

/* Reopen at the head, an old version or a snapshot, and read it all. */
static void
op_reopen (void)
{
  struct mvol *mv = random_live ();
  struct vol_ref ref = { 0 };
  struct volume *h;
  uint64_t r = rnd (20), seq = mv->nv;

  if (r < 8) {
    ref.seq = seq = 1 + rnd (mv->nv);
    if (!ver (mv, seq)->exists) {
      check_int (volume_open (m.vs, mv->name, &ref, &h), -ENOENT);
      ref.seq = 0;
      seq = mv->nv;
    }
  }
  else if (r < 11 && mv->nsnaps > 0) {
    struct msnap *s = &mv->snaps[rnd (mv->nsnaps)];
    ref.snapshot = s->name;
    seq = s->seq;
  }
  volume_close (mv->h);
  mv->h = open_ref (mv, &ref);
  check_int (hseq (mv), seq);
  check_full (mv->h, ver (mv, seq)->seeds);
}

static void
op_reload (void)
{
  struct mvol *mv = random_live ();
  uint64_t head;

  check_int (volume_head (mv->h, &head), 0);
  check_int (head, mv->nv);
  check_int (volume_reload (mv->h), 0);
  check_int (hseq (mv), mv->nv);
  check_ids (mv->h, ver (mv, mv->nv)->seeds);
}

/* Open a random kept version apart, read a few chunks; check info. */
static void
op_read (void)
{
  struct mvol *mv = random_live ();
  uint64_t seq = random_existing (mv), versions = 0, chunks = 0;
  struct volume *h = open_seq (mv, seq);
  struct vol_info info;
  unsigned i;

  check_ids (h, ver (mv, seq)->seeds);
  for (i = 0; i < 3; i++)
    check_read (h, ver (mv, seq)->seeds, rnd (NSLOT));
  volume_close (h);
  check_int (volstore_info (m.vs, mv->name, &info), 0);
  for (i = 0; i < mv->nv; i++)
    versions += mv->v[i].exists;
  for (i = 0; i < NSLOT; i++)
    chunks += ver (mv, mv->nv)->seeds[i] != 0;
  check_int (info.head, mv->nv);
  check_int (info.versions, versions);
  check_int (info.snapshots, mv->nsnaps);
  check_int (info.chunks, chunks);
  check_int (info.size, NCHUNKS * (uint64_t) CS);
}

/* ---- whole-store checks ---- */

struct seen {
  struct mvol *mv;
  uint64_t n;
};

static int
on_version (void *opaque, const struct vol_version *v)
{
  struct seen *s = opaque;

  check (v->seq >= 1 && v->seq <= s->mv->nv);
  check (ver (s->mv, v->seq)->exists);
  check_int (v->parent, ver (s->mv, v->seq)->parent);
  s->n++;
  return 0;
}

static int
on_snapshot (void *opaque, const char *name, uint64_t seq)
{
  struct seen *s = opaque;
  size_t i;

  for (i = 0; i < s->mv->nsnaps; i++)
    if (strcmp (s->mv->snaps[i].name, name) == 0)
      break;
  check (i < s->mv->nsnaps);
  check_int (seq, s->mv->snaps[i].seq);
  s->n++;
  return 0;
}

static int
on_volume (void *opaque, const struct vol_info *info)
{
  struct mvol *mv = live_named (info->name);

  check (mv != NULL);
  check_int (info->head, mv->nv);
  ++*(size_t *) opaque;
  return 0;
}

static void
on_problem (void *opaque, const char *key, const char *what)
{
  (void) opaque;
  fprintf (stderr, "%s: verify: %s: %s\n", where, key, what);
}

/* Everything the model says exists does, and nothing else. */
static void
check_store (void)
{
  struct verify_report vr;
  struct seen s;
  uint64_t versions = 0, seq, checked = 0, limit;
  size_t i, n = 0;
  struct volume *h;

  check_int (volstore_list (m.vs, on_volume, &n), 0);
  check_int (n, nlive ());
  for (i = 0; i < m.nvols; i++) {
    struct mvol *mv = &m.vols[i];
    if (!mv->live)
      continue;
    uint64_t kept = 0;

    s = (struct seen) { mv, 0 };
    check_int (volstore_versions (m.vs, mv->name, on_version, &s), 0);
    for (seq = 1; seq <= mv->nv; seq++)
      kept += ver (mv, seq)->exists;
    /* on_version checked that each listed one exists; the count, that
     * none is missing.
     */
    check_int (s.n, kept);
    versions += kept;
    s.n = 0;
    check_int (volstore_snapshot_list (m.vs, mv->name, on_snapshot, &s),
               0);
    check_int (s.n, mv->nsnaps);
  }
  check_int (volstore_verify (m.vs, NULL, on_problem, NULL, &vr), 0);
  check_int (vr.versions, versions);
  /* Every kept version's map (on S3, a sample: each is a few requests);
   * verify has checked every object's content against its id.
   */
  limit = on_s3 ? 40 : UINT64_MAX;
  for (i = 0; i < m.nvols && checked < limit; i++) {
    struct mvol *mv = &m.vols[i];
    for (seq = 1; mv->live && seq <= mv->nv && checked < limit; seq++) {
      if (!ver (mv, seq)->exists || (on_s3 && rnd (4)))
        continue;
      h = open_seq (mv, seq);
      check_ids (h, ver (mv, seq)->seeds);
      volume_close (h);
      checked++;
    }
  }
}

/* Apply retention to the model: of each live volume's versions keep the
 * newest keep_last and the snapshots'.  Returns how many go.
 */
static uint64_t
model_prune (void)
{
  uint64_t pruned = 0, seq, left;
  size_t i;

  for (i = 0; i < m.nvols; i++) {
    struct mvol *mv = &m.vols[i];
    if (!mv->live)
      continue;
    left = 0;
    for (seq = 1; seq <= mv->nv; seq++)
      left += ver (mv, seq)->exists;
    for (seq = 1; seq <= mv->nv; seq++) {
      struct mver *v = ver (mv, seq);
      if (!v->exists)
        continue;
      left--;
      if (left >= m.keep_last && !pinned (mv, seq)) {
        v->exists = false;
        pruned++;
      }
    }
  }
  return pruned;
}

static void
open_store (void)
{
  struct volstore_config cfg = { .log = &tlog.log,
                                 .keep_last = m.keep_last,
                                 .keep_seconds = 1 };

  check_int (volstore_open (os, &cfg, &m.vs), 0);
}

/* gc with the clock hours ahead; then restart, as explained above, and
 * reopen each handle where it was if that version is kept.
 */
static void
op_gc (void)
{
  struct gc_opts opts = { .now = time (NULL) + 4 * 3600 };
  struct gc_report rep;
  uint64_t removed = 0, pruned, *at;
  size_t i;

  for (i = 0; i < m.nvols; i++)
    if (!m.vols[i].live && !m.vols[i].removed) {
      m.vols[i].removed = true;
      removed++;
    }
  check_int (volstore_gc (m.vs, &opts, &rep), 0);
  pruned = model_prune ();
  check_int (rep.volumes_removed, removed);
  check_int (rep.versions_pruned, pruned);
  stats.gcs++;
  stats.pruned += pruned;
  stats.removed += removed;

  at = calloc (m.nvols + 1, sizeof *at);
  check (at != NULL);
  for (i = 0; i < m.nvols; i++) {
    if (m.vols[i].h)
      at[i] = volume_seq (m.vols[i].h);
    volume_close (m.vols[i].h);
    m.vols[i].h = NULL;
  }
  volstore_close (m.vs);
  open_store ();
  for (i = 0; i < m.nvols; i++) {
    struct mvol *mv = &m.vols[i];
    if (!mv->live)
      continue;
    mv->h = open_seq (mv, ver (mv, at[i])->exists ? at[i] : 0);
  }
  free (at);
  check_store ();
}

/* ---- the run ---- */

static uint64_t seed, total_ops;

static uint64_t
env_u64 (const char *name, uint64_t dflt)
{
  const char *s = getenv (name);

  return s && *s ? strtoull (s, NULL, 0) : dflt;
}

static void
run_phase (int phase, unsigned keep_last, uint64_t ops)
{
  static const struct {
    const char *name;
    void (*fn) (void);
    unsigned weight;
  } table[] = {
    { "commit", op_commit, 30 },
    { "conflict", op_conflict, 4 },
    { "create", op_create, 4 },
    { "fork", op_fork, 6 },
    { "snapshot-create", op_snap_create, 6 },
    { "snapshot-delete", op_snap_delete, 3 },
    { "delete", op_delete, 3 },
    { "rename", op_rename, 4 },
    { "reopen", op_reopen, 10 },
    { "reload", op_reload, 5 },
    { "read", op_read, 8 },
    { "gc", op_gc, 1 },
  };
  const size_t nt = sizeof table / sizeof table[0];
  unsigned sum = 0, r;
  uint64_t op;
  size_t i;

  memset (&m, 0, sizeof m);
  memset (&stats, 0, sizeof stats);
  m.keep_last = keep_last;
  m.rng = seed + phase;
  m.next_seed = POOL + 1 + ((uint64_t) phase << 40);
  for (i = 0; i < nt; i++)
    sum += table[i].weight;
  open_store ();
  snprintf (where, sizeof where, "seed %" PRIu64 ", phase %d, start",
            seed, phase);
  op_create ();
  for (op = 0; op < ops; op++) {
    r = rnd (sum);
    for (i = 0; r >= table[i].weight; i++)
      r -= table[i].weight;
    snprintf (where, sizeof where, "seed %" PRIu64 ", phase %d, op %"
              PRIu64 " (%s)", seed, phase, op, table[i].name);
    table[i].fn ();
  }
  snprintf (where, sizeof where, "seed %" PRIu64 ", phase %d, end",
            seed, phase);
  op_gc ();
}

static int
count_key (void *opaque, const struct objstore_entry *e)
{
  (void) e;
  ++*(size_t *) opaque;
  return 0;
}

/* Delete every volume; gc must then leave the store empty. */
static void
finish_phase (void)
{
  size_t i, n = 0;

  for (i = 0; i < m.nvols; i++) {
    struct mvol *mv = &m.vols[i];
    if (mv->live) {
      check_int (volstore_delete (m.vs, mv->name), 0);
      mv->live = false;
    }
    volume_close (mv->h);
    mv->h = NULL;
  }
  op_gc ();
  check_int (objstore_list (os, "", NULL, count_key, &n), 0);
  check_int (n, 0);
  volstore_close (m.vs);
  for (i = 0; i < m.nvols; i++)
    free (m.vols[i].v);
  free (m.vols);
  memset (&m, 0, sizeof m);
}

static void
summary (const char *phase, uint64_t ops, time_t t0)
{
  fprintf (stderr, "%s phase: %" PRIu64 " operations in %lds: %" PRIu64
           " commits (%" PRIu64 " forced), %" PRIu64 " conflicts, %"
           PRIu64 " gc runs pruning %" PRIu64 " versions and %" PRIu64
           " volumes\n", phase, ops, (long) (time (NULL) - t0),
           stats.commits, stats.forced, stats.conflicts, stats.gcs,
           stats.pruned, stats.removed);
}

static void
test_keep_all (void **state)
{
  time_t t0 = time (NULL);

  (void) state;
  run_phase (1, 1000000, total_ops - total_ops / 3);
  finish_phase ();
  summary ("keep-all", total_ops - total_ops / 3, t0);
}

static void
test_prune (void **state)
{
  time_t t0 = time (NULL);

  (void) state;
  run_phase (2, GC_KEEP_LAST, total_ops / 3);
  finish_phase ();
  summary ("prune", total_ops / 3, t0);
}

static int
setup (void **state)
{
  (void) state;
  test_log_init (&tlog);
  store = test_store_open ();
  /* Store errors go to the counting log (TEST_VERBOSE=1 prints them). */
  store->log = &tlog.log;
  on_s3 = strncmp (test_store_url (), "s3://", 5) == 0;
  cbuf = malloc (CS);
  rbuf = malloc (CS);
  if (cbuf == NULL || rbuf == NULL)
    return -1;
  return objstore_fault_wrap (store, NULL, &os);
}

static int
teardown (void **state)
{
  struct objstore_fault_counts cnt;

  (void) state;
  objstore_fault_counts (os, &cnt);
  fprintf (stderr, "%" PRIu64 " store operations (%" PRIu64 " puts)\n",
           cnt.ops, cnt.puts);
  objstore_close (os);
  test_store_close (store);
  free (cbuf);
  free (rbuf);
  free (memo.seed);
  free (memo.id);
  return 0;
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_keep_all),
    cmocka_unit_test (test_prune),
  };

  seed = env_u64 ("S3VOL_TEST_SEED", DEFAULT_SEED);
  on_s3 = strncmp (test_store_url (), "s3://", 5) == 0;
  total_ops = env_u64 ("S3VOL_MODEL_OPS", on_s3 ? DEFAULT_OPS_S3
                                                : DEFAULT_OPS);
  fprintf (stderr, "volume model on %s: seed %" PRIu64 " (set "
           "S3VOL_TEST_SEED to change), %" PRIu64 " operations "
           "(S3VOL_MODEL_OPS)\n", test_store_url (), seed, total_ops);
  return cmocka_run_group_tests (tests, setup, teardown);
}
