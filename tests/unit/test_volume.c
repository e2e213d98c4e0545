/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the volume store on any object store ($S3VOL_TEST_STORE or a
 * temporary directory): names, versions, commits, conflicts, forks,
 * snapshots, gc and verify.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "s3vol/volume.h"
#include "testutil.h"

#define CS (64u << 10)          /* small chunks keep tests fast */

static struct objstore *os;
static struct volstore *vs;
static struct test_log tlog;

static void
open_vs (void)
{
  struct volstore_config cfg = { .log = &tlog.log };

  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
}

static int
setup (void **state)
{
  (void) state;
  os = test_store_open ();
  test_log_init (&tlog);
  open_vs ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  volstore_close (vs);
  test_store_close (os);
  return 0;
}

/* Write chunk index of v with content from seed (0: zeros). */
static void
change (struct vol_change *c, uint64_t index, uint64_t seed)
{
  unsigned char *buf = malloc (CS);

  memset (buf, 0, CS);
  if (seed)
    test_fill (buf, CS, seed);
  c->index = index;
  assert_int_equal (volstore_put_chunk (vs, buf, CS, &c->id,
                                        &c->stored_len), 0);
  free (buf);
}

static void
check_chunk (struct volume *v, uint64_t index, uint64_t seed)
{
  unsigned char *got = malloc (CS), *want = calloc (1, CS);
  bool hole;

  if (seed)
    test_fill (want, CS, seed);
  assert_int_equal (volume_read_chunk (v, index, got, &hole), 0);
  assert_int_equal (hole, seed == 0);
  assert_memory_equal (got, want, CS);
  free (got);
  free (want);
}

static void
commit (struct volume *v, const struct vol_change *c, size_t n,
        uint64_t want_seq)
{
  struct vol_commit_result res;
  struct vol_commit_opts o = { .message = "test" };

  assert_int_equal (volume_commit (v, c, n, &o, &res), 0);
  assert_int_equal (res.seq, want_seq);
  assert_int_equal (volume_seq (v), want_seq);
}

static void
test_names (void **state)
{
  struct vol_info info;
  const char *bad[] = { "", ".hidden", "-dash", "has space", "slash/x",
                        "ünï", "a\nb",
                        "x12345678901234567890123456789012345678901234567890"
                        "12345678901234" };
  size_t i;

  (void) state;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tlog.errors = 0;
    assert_int_equal (volstore_create (vs, bad[i], 1 << 20, CS, NULL),
                      -EINVAL);
    assert_int_equal (tlog.errors, 1);
    assert_non_null (strstr (tlog.last_error, "1 to 64 characters"));
  }
  assert_int_equal (s3vol_check_name ("ok.name_1-2"), 0);
  assert_int_equal (s3vol_check_name ("a234567890123456789012345678901234"
                                      "567890123456789012345678901234"), 0);

  assert_int_equal (volstore_create (vs, "names-a", 10 << 20, CS, &info), 0);
  assert_int_equal (info.head, 1);
  assert_int_equal (info.size, 10 << 20);
  assert_int_equal (info.chunk_size, CS);
  assert_int_equal (info.versions, 1);
  tlog.errors = 0;
  assert_int_equal (volstore_create (vs, "names-a", 1 << 20, CS, NULL),
                    -EEXIST);
  assert_int_equal (tlog.errors, 1);
  assert_non_null (strstr (tlog.last_error, "already exists"));

  /* Bad sizes and chunk sizes. */
  assert_int_equal (volstore_create (vs, "names-b", 0, CS, NULL), -EINVAL);
  assert_int_equal (volstore_create (vs, "names-b", 1 << 20, 3000, NULL),
                    -EINVAL);
  assert_int_equal (volstore_create (vs, "names-b", 1 << 20, 32 << 10,
                                     NULL), -EINVAL);
  /* Sizes round up to whole chunks; 16 TiB is fine. */
  assert_int_equal (volstore_create (vs, "names-b", 100000, CS, &info), 0);
  assert_int_equal (info.size, 2 * CS);
  assert_int_equal (volstore_create (vs, "names-big", 16ull << 40, 0,
                                     &info), 0);
  assert_int_equal (info.size, 16ull << 40);
  assert_int_equal (info.chunk_size, S3VOL_CHUNK_DEFAULT);

  /* Rename keeps the volume; the old name is free, the new one taken. */
  assert_int_equal (volstore_rename (vs, "names-b", "names-c"), 0);
  assert_int_equal (volstore_info (vs, "names-b", &info), -ENOENT);
  assert_int_equal (volstore_info (vs, "names-c", &info), 0);
  assert_int_equal (info.size, 2 * CS);
  assert_int_equal (volstore_rename (vs, "names-c", "names-a"), -EEXIST);
  assert_int_equal (volstore_rename (vs, "nonexistent", "zz"), -ENOENT);

  /* Delete frees the name at once. */
  assert_int_equal (volstore_delete (vs, "names-c"), 0);
  assert_int_equal (volstore_info (vs, "names-c", &info), -ENOENT);
  assert_int_equal (volstore_create (vs, "names-c", 3 * CS, CS, &info), 0);
  assert_int_equal (info.size, 3 * CS);
  assert_int_equal (volstore_delete (vs, "names-c"), 0);
  assert_int_equal (volstore_delete (vs, "names-c"), -ENOENT);
  assert_int_equal (volstore_delete (vs, "names-a"), 0);
  assert_int_equal (volstore_delete (vs, "names-big"), 0);
}

static void
test_commit_read (void **state)
{
  struct volume *v, *old;
  struct vol_change c[3];
  struct vol_ref r1 = { .seq = 1 }, r2 = { .seq = 2 };
  struct vol_info info;

  (void) state;
  assert_int_equal (volstore_create (vs, "cr", 10000 * (uint64_t) CS, CS,
                                     NULL), 0);
  assert_int_equal (volume_open (vs, "cr", NULL, &v), 0);
  assert_int_equal (volume_seq (v), 1);
  check_chunk (v, 0, 0);
  check_chunk (v, 9999, 0);

  /* Chunks in two pages, and a zero chunk that stays a hole. */
  change (&c[0], 5, 11);
  change (&c[1], 5000, 12);
  change (&c[2], 6, 0);
  assert_true (s3vol_id_is_hole (&c[2].id));
  commit (v, c, 3, 2);
  check_chunk (v, 5, 11);
  check_chunk (v, 5000, 12);
  check_chunk (v, 6, 0);
  check_chunk (v, 4, 0);

  /* Overwrite one, punch the other. */
  change (&c[0], 5, 13);
  change (&c[1], 5000, 0);
  commit (v, c, 2, 3);
  check_chunk (v, 5, 13);
  check_chunk (v, 5000, 0);

  /* Older versions still read as they were. */
  assert_int_equal (volume_open (vs, "cr", &r2, &old), 0);
  check_chunk (old, 5, 11);
  check_chunk (old, 5000, 12);
  volume_close (old);
  assert_int_equal (volume_open (vs, "cr", &r1, &old), 0);
  check_chunk (old, 5, 0);
  volume_close (old);

  /* A reopen at the head sees version 3. */
  volume_close (v);
  assert_int_equal (volume_open (vs, "cr", NULL, &v), 0);
  assert_int_equal (volume_seq (v), 3);
  check_chunk (v, 5, 13);

  assert_int_equal (volstore_info (vs, "cr", &info), 0);
  assert_int_equal (info.head, 3);
  assert_int_equal (info.versions, 3);
  assert_int_equal (info.chunks, 1);
  assert_int_equal (info.bytes_referenced, CS);
  assert_true (info.bytes_stored > 0 && info.bytes_stored <= CS + 64);

  /* Out of range. */
  change (&c[0], 10000, 1);
  {
    struct vol_commit_result res;
    assert_int_equal (volume_commit (v, c, 1, NULL, &res), -EINVAL);
  }
  volume_close (v);
  assert_int_equal (volstore_delete (vs, "cr"), 0);
}

/* A commit that changes one chunk of a 1 TiB volume writes one chunk,
 * one page and one root, however large the volume.
 */
static int
count_keys (void *opaque, const struct objstore_entry *e)
{
  (void) e;
  ++*(size_t *) opaque;
  return 0;
}

static size_t
nkeys (const char *prefix)
{
  size_t n = 0;

  assert_int_equal (objstore_list (os, prefix, NULL, count_keys, &n), 0);
  return n;
}

static void
test_commit_cost (void **state)
{
  struct volume *v;
  struct vol_change c[2];
  size_t chunks0, pages0;
  struct vol_commit_result res;

  (void) state;
  assert_int_equal (volstore_create (vs, "tib", 1ull << 40, CS, NULL), 0);
  assert_int_equal (volume_open (vs, "tib", NULL, &v), 0);
  chunks0 = nkeys ("chunks/");
  pages0 = nkeys ("pages/");
  change (&c[0], 12345678, 77);
  assert_int_equal (volume_commit (v, c, 1, NULL, &res), 0);
  assert_int_equal (res.pages_written, 1);
  assert_int_equal (nkeys ("chunks/"), chunks0 + 1);
  assert_int_equal (nkeys ("pages/"), pages0 + 1);
  check_chunk (v, 12345678, 77);
  /* The same content again is deduplicated: nothing new. */
  change (&c[1], (1ull << 40) / CS - 1, 77);
  assert_int_equal (volume_commit (v, &c[1], 1, NULL, &res), 0);
  assert_int_equal (nkeys ("chunks/"), chunks0 + 1);
  check_chunk (v, (1ull << 40) / CS - 1, 77);
  volume_close (v);
  assert_int_equal (volstore_delete (vs, "tib"), 0);
}

static void
test_conflict (void **state)
{
  struct volume *a, *b, *c;
  struct vol_change ch;
  struct vol_commit_result res;
  struct vol_commit_opts force = { .force = true, .message = "forced" };

  (void) state;
  assert_int_equal (volstore_create (vs, "cf", 100 * CS, CS, NULL), 0);
  assert_int_equal (volume_open (vs, "cf", NULL, &a), 0);
  assert_int_equal (volume_open (vs, "cf", NULL, &b), 0);
  change (&ch, 1, 21);
  commit (a, &ch, 1, 2);

  /* b is based on version 1 too: conflict, named in one line. */
  change (&ch, 2, 22);
  tlog.errors = 0;
  assert_int_equal (volume_commit (b, &ch, 1, NULL, &res), -EEXIST);
  assert_int_equal (res.conflict_head, 2);
  assert_int_equal (tlog.errors, 1);
  assert_non_null (strstr (tlog.last_error, "based on version 1"));
  assert_non_null (strstr (tlog.last_error, "version 2"));
  assert_int_equal (volume_seq (b), 1);

  /* Nothing was lost: after a reload, the same change commits. */
  assert_int_equal (volume_reload (b), 0);
  assert_int_equal (volume_seq (b), 2);
  commit (b, &ch, 1, 3);
  check_chunk (b, 1, 21);
  check_chunk (b, 2, 22);

  /* Force: last write wins, and the manifest says so. */
  change (&ch, 3, 23);
  assert_int_equal (volume_commit (a, &ch, 1, &force, &res), 0);
  assert_int_equal (res.seq, 4);
  assert_int_equal (volume_open (vs, "cf", NULL, &c), 0);
  assert_int_equal (volume_seq (c), 4);
  assert_true (volume_root (c)->flags & ROOT_FLAG_FORCED);
  assert_int_equal (volume_root (c)->overwrote, 3);
  assert_int_equal (volume_root (c)->parent, 2);
  check_chunk (c, 3, 23);
  check_chunk (c, 2, 0);        /* b's change was overwritten */
  volume_close (a);
  volume_close (b);
  volume_close (c);
  assert_int_equal (volstore_delete (vs, "cf"), 0);
}

/* Many handles race to commit on one base: exactly one wins. */
struct race {
  struct volume *v[8];
  struct vol_change ch[8];
  int rc[8];
};

static void
race_one (size_t i, void *opaque)
{
  struct race *r = opaque;
  struct vol_commit_result res;

  r->rc[i] = volume_commit (r->v[i], &r->ch[i], 1, NULL, &res);
}

static void
test_commit_race (void **state)
{
  struct race r;
  int i, wins = 0, conflicts = 0;

  (void) state;
  assert_int_equal (volstore_create (vs, "race", 100 * CS, CS, NULL), 0);
  for (i = 0; i < 8; i++) {
    assert_int_equal (volume_open (vs, "race", NULL, &r.v[i]), 0);
    change (&r.ch[i], i, 100 + i);
  }
  test_parallel (8, 8, race_one, &r);
  for (i = 0; i < 8; i++) {
    wins += r.rc[i] == 0;
    conflicts += r.rc[i] == -EEXIST;
  }
  assert_int_equal (wins, 1);
  assert_int_equal (conflicts, 7);
  for (i = 0; i < 8; i++)
    volume_close (r.v[i]);
  assert_int_equal (volstore_delete (vs, "race"), 0);
}

static int
add_snap (void *opaque, const char *name, uint64_t seq)
{
  char *out = opaque;

  sprintf (out + strlen (out), "%s=%" PRIu64 ";", name, seq);
  return 0;
}

static int
add_version (void *opaque, const struct vol_version *v)
{
  char *out = opaque;

  sprintf (out + strlen (out), "%" PRIu64 "<%" PRIu64 ":%s;", v->seq,
           v->parent, v->message);
  return 0;
}

static void
test_fork_snapshot (void **state)
{
  struct volume *v, *f;
  struct vol_change ch;
  struct vol_ref snap = { .snapshot = "before" };
  struct vol_info info;
  size_t chunks0;
  char list[512] = "";

  (void) state;
  assert_int_equal (volstore_create (vs, "orig", 100 * CS, CS, NULL), 0);
  assert_int_equal (volume_open (vs, "orig", NULL, &v), 0);
  change (&ch, 7, 31);
  commit (v, &ch, 1, 2);
  assert_int_equal (volstore_snapshot_create (vs, "orig", "before", 0), 0);
  assert_int_equal (volstore_snapshot_create (vs, "orig", "before", 0),
                    -EEXIST);
  assert_int_equal (volstore_snapshot_create (vs, "orig", "bad name", 0),
                    -EINVAL);
  assert_int_equal (volstore_snapshot_create (vs, "orig", "v9", 9),
                    -ENOENT);
  change (&ch, 7, 32);
  commit (v, &ch, 1, 3);

  /* The snapshot still reads the old content. */
  assert_int_equal (volume_open (vs, "orig", &snap, &f), 0);
  assert_int_equal (volume_seq (f), 2);
  check_chunk (f, 7, 31);
  volume_close (f);

  /* A fork copies no chunk, and diverges. */
  chunks0 = nkeys ("chunks/");
  assert_int_equal (volstore_fork (vs, "orig", &snap, "fork", &info), 0);
  assert_int_equal (info.head, 1);
  assert_int_equal (nkeys ("chunks/"), chunks0);
  assert_int_equal (volume_open (vs, "fork", NULL, &f), 0);
  check_chunk (f, 7, 31);
  change (&ch, 8, 33);
  commit (f, &ch, 1, 2);
  check_chunk (v, 8, 0);
  check_chunk (f, 8, 33);
  assert_int_equal (volstore_fork (vs, "orig", NULL, "fork", NULL), -EEXIST);

  assert_int_equal (volstore_snapshot_list (vs, "orig", add_snap, list), 0);
  assert_string_equal (list, "before=2;");
  list[0] = '\0';
  assert_int_equal (volstore_versions (vs, "orig", add_version, list), 0);
  assert_string_equal (list, "1<0:;2<1:test;3<2:test;");
  assert_int_equal (volstore_snapshot_delete (vs, "orig", "before"), 0);
  assert_int_equal (volstore_snapshot_delete (vs, "orig", "before"),
                    -ENOENT);
  volume_close (v);
  volume_close (f);
  assert_int_equal (volstore_delete (vs, "orig"), 0);
  assert_int_equal (volstore_delete (vs, "fork"), 0);
}

static int
count_vol (void *opaque, const struct vol_info *info)
{
  (void) info;
  ++*(int *) opaque;
  return 0;
}

static void
test_list (void **state)
{
  int n = 0;

  (void) state;
  assert_int_equal (volstore_create (vs, "l1", CS, CS, NULL), 0);
  assert_int_equal (volstore_create (vs, "l2", CS, CS, NULL), 0);
  assert_int_equal (volstore_list (vs, count_vol, &n), 0);
  assert_int_equal (n, 2);
  assert_int_equal (volstore_delete (vs, "l1"), 0);
  n = 0;
  assert_int_equal (volstore_list (vs, count_vol, &n), 0);
  assert_int_equal (n, 1);
  assert_int_equal (volstore_delete (vs, "l2"), 0);
}

/* gc: nothing reachable goes, everything unreachable does (once past the
 * grace period), and a dry run deletes nothing.
 */
static void
test_gc (void **state)
{
  struct volume *v, *k;
  struct vol_change ch[2];
  struct gc_opts dry = { .dry_run = true }, now = { 0 };
  struct gc_opts later = { .now = time (NULL) + 2 * 3600 };
  struct gc_opts much_later = { .now = time (NULL) + 30 * 86400 };
  struct gc_report rep;
  struct verify_report vr;
  size_t before;
  int i;

  (void) state;
  /* Start from an empty store: earlier tests deleted their volumes. */
  assert_int_equal (volstore_gc (vs, &later, &rep), 0);

  assert_int_equal (volstore_create (vs, "keep", 100 * CS, CS, NULL), 0);
  assert_int_equal (volstore_create (vs, "gone", 100 * CS, CS, NULL), 0);
  assert_int_equal (volume_open (vs, "keep", NULL, &k), 0);
  assert_int_equal (volume_open (vs, "gone", NULL, &v), 0);
  /* keep: 15 versions of chunk 0, and chunk 1 unchanged throughout. */
  change (&ch[0], 1, 500);
  commit (k, &ch[0], 1, 2);
  for (i = 0; i < 14; i++) {
    change (&ch[0], 0, 1000 + i);
    commit (k, &ch[0], 1, 3 + i);
  }
  assert_int_equal (volstore_snapshot_create (vs, "keep", "pin", 3), 0);
  change (&ch[0], 0, 600);
  change (&ch[1], 1, 601);
  commit (v, ch, 2, 2);
  volume_close (v);
  assert_int_equal (volstore_delete (vs, "gone"), 0);

  /* Within the grace period nothing goes. */
  before = nkeys ("");
  assert_int_equal (volstore_gc (vs, &now, &rep), 0);
  assert_int_equal (rep.objects_deleted, 0);
  assert_int_equal (rep.volumes_removed, 0);
  assert_int_equal (nkeys (""), before);

  /* Dry run, much later: reports but deletes nothing. */
  dry.now = much_later.now;
  assert_int_equal (volstore_gc (vs, &dry, &rep), 0);
  assert_true (rep.objects_deleted > 0 && rep.bytes_deleted > 0);
  assert_int_equal (rep.volumes_removed, 1);
  assert_int_equal (rep.versions_pruned, 16 - 10 - 1);
  assert_int_equal (nkeys (""), before);

  /* For real. */
  assert_int_equal (volstore_gc (vs, &much_later, &rep), 0);
  assert_int_equal (rep.volumes_removed, 1);
  /* 16 versions: the newest 10 stay, and 3 (the snapshot). */
  assert_int_equal (rep.versions_pruned, 5);
  /* gone's chunks (600, 601) and the 5 pruned versions' chunks
   * (1000..1004 minus version 3's 1000, pinned) and their pages.
   */
  assert_true (rep.objects_deleted >= 2 + 4);
  assert_true (nkeys ("") < before);

  /* Everything left reachable is intact. */
  assert_int_equal (volstore_verify (vs, NULL, NULL, NULL, &vr), 0);
  assert_int_equal (vr.versions, 11);
  assert_int_equal (vr.missing + vr.corrupt, 0);
  {
    struct vol_ref pin = { .snapshot = "pin" };
    struct volume *p;
    assert_int_equal (volume_open (vs, "keep", &pin, &p), 0);
    check_chunk (p, 0, 1000);
    check_chunk (p, 1, 500);
    volume_close (p);
  }
  check_chunk (k, 0, 1013);
  check_chunk (k, 1, 500);
  assert_int_equal (volstore_info (vs, "gone", &(struct vol_info) { 0 }),
                    -ENOENT);

  /* A second gc finds nothing more. */
  assert_int_equal (volstore_gc (vs, &much_later, &rep), 0);
  assert_int_equal (rep.objects_deleted + rep.versions_pruned
                    + rep.volumes_removed, 0);
  volume_close (k);
  assert_int_equal (volstore_delete (vs, "keep"), 0);
  assert_int_equal (volstore_gc (vs, &much_later, &rep), 0);
  assert_int_equal (nkeys ("chunks/") + nkeys ("pages/") +
                    nkeys ("volumes/") + nkeys ("names/"), 0);
}

/* verify names missing and corrupt objects by key; reads fail cleanly. */
static void
on_problem (void *opaque, const char *key, const char *what)
{
  char *out = opaque;

  (void) what;
  snprintf (out, 256, "%s", key);
}

static void
test_verify_corrupt (void **state)
{
  struct volume *v;
  struct vol_change ch[2];
  struct verify_report vr;
  unsigned char *buf = malloc (CS);
  char key[256], hex[S3VOL_ID_HEX + 1], bad[256] = "";
  struct s3vol_buf obj = S3VOL_BUF_INIT;

  (void) state;
  assert_int_equal (volstore_create (vs, "vf", 100 * CS, CS, NULL), 0);
  assert_int_equal (volume_open (vs, "vf", NULL, &v), 0);
  change (&ch[0], 0, 700);
  change (&ch[1], 1, 701);
  commit (v, ch, 2, 2);
  assert_int_equal (volstore_verify (vs, "vf", on_problem, bad, &vr), 0);
  assert_int_equal (vr.chunks, 2);
  assert_int_equal (vr.pages, 1);

  /* Flip one byte of chunk 0's object. */
  s3vol_id_hex (&ch[0].id, hex);
  snprintf (key, sizeof key, "chunks/%.2s/%s", hex, hex);
  assert_int_equal (objstore_get (os, key, 0, OBJSTORE_TO_END, &obj), 0);
  obj.data[obj.len - 1] ^= 1;
  assert_int_equal (objstore_put (os, key, obj.data, obj.len, 0), 0);
  tlog.errors = 0;
  assert_int_equal (volume_read_chunk (v, 0, buf, NULL), -EBADMSG);
  assert_int_equal (tlog.errors, 1);
  assert_non_null (strstr (tlog.last_error, key));
  assert_int_equal (volstore_verify (vs, "vf", on_problem, bad, &vr),
                    -EBADMSG);
  assert_int_equal (vr.corrupt, 1);
  assert_string_equal (bad, key);

  /* Remove chunk 1's object. */
  s3vol_id_hex (&ch[1].id, hex);
  snprintf (key, sizeof key, "chunks/%.2s/%s", hex, hex);
  assert_int_equal (objstore_del (os, key), 0);
  assert_int_equal (volume_read_chunk (v, 1, buf, NULL), -ENOENT);
  assert_int_equal (volstore_verify (vs, "vf", on_problem, bad, &vr),
                    -EBADMSG);
  assert_int_equal (vr.missing, 1);
  assert_int_equal (vr.corrupt, 1);

  volume_close (v);
  s3vol_buf_free (&obj);
  free (buf);
  assert_int_equal (volstore_delete (vs, "vf"), 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_names),
    cmocka_unit_test (test_commit_read),
    cmocka_unit_test (test_commit_cost),
    cmocka_unit_test (test_conflict),
    cmocka_unit_test (test_commit_race),
    cmocka_unit_test (test_fork_snapshot),
    cmocka_unit_test (test_list),
    cmocka_unit_test (test_gc),
    cmocka_unit_test (test_verify_corrupt),
  };

  fprintf (stderr, "volume store on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
