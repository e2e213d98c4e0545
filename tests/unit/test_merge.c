/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the three-way merge by file (merge.h) on the store under test.
 *
 * Each case makes a base image B with mkfs.ext4 (-d: a tree), imports it
 * into a volume, forks that volume for the head H, then changes B into
 * L and into H: with the kernel (a loop mount of a copy of the image,
 * imported as the next version) or with s3vol's own file operations.
 * It merges L onto H's head and checks the published version: e2fsck
 * -fn is clean, and a kernel mount of it shows the tree a model says
 * (the same edits run on plain directories: H's, then L's, as the local
 * change wins), plus what the case is about (reports, links, holes,
 * xattrs, nanosecond times, data not copied on a rename, a local cut
 * taken while mounted whose journal is replayed).  A randomized case
 * (seed printed) puts and removes files on both sides with s3vol's file
 * operations and checks the merge against a model.
 * Kernel cases need root and loop devices; without them they print SKIP.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/extfs.h"
#include "s3vol/merge.h"
#include "extfs_fixture.h"
#include "testutil.h"

static struct extfs_fixture fx;
static bool can_mount;
static int caseno;

/* What a merge reported. */
struct told {
  unsigned overwrote, kept, lost;
  char paths[1024];
};

static void
tell (void *opaque, enum merge_event ev, const char *path, uint64_t seq)
{
  struct told *t = opaque;
  size_t n = strlen (t->paths);

  (void) seq;
  if (ev == MERGE_EV_OVERWROTE)
    t->overwrote++;
  else if (ev == MERGE_EV_KEPT)
    t->kept++;
  else if (ev == MERGE_EV_LOST)
    t->lost++;
  snprintf (t->paths + n, sizeof t->paths - n, "%s%d:%s", n ? " " : "",
            (int) ev, path);
}

static int
setup (void **state)
{
  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4 e2fsck python3", "s3vol-merge-test");
  can_mount = geteuid () == 0 &&
    test_run ("cd %s && truncate -s 8M t.img && mkfs.ext4 -q -F t.img && "
              "mkdir -p t && mount -o loop t.img t && umount t && rm -rf "
              "t t.img", fx.work) == 0;
  if (!can_mount)
    fprintf (stderr, "SKIP: kernel cases need root and loop devices\n");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  extfs_fixture_teardown (&fx);
  return 0;
}

/* ---- images and volumes ---- */

struct mcase {
  char lvol[64], hvol[64];      /* L's volume (also B's), H's */
  char dir[300];                /* this case's files */
  struct told told;
  struct merge_result res;
};

/* fx.work/caseN with src/ made by the shell script mk (in src). */
static void
case_begin (struct mcase *c, const char *mk)
{
  memset (c, 0, sizeof *c);
  caseno++;
  snprintf (c->lvol, sizeof c->lvol, "mgl%d-%d", caseno, (int) getpid ());
  snprintf (c->hvol, sizeof c->hvol, "mgh%d-%d", caseno, (int) getpid ());
  snprintf (c->dir, sizeof c->dir, "%s/case%d", fx.work, caseno);
  assert_int_equal (test_run ("mkdir -p %s/src %s/mnt && cd %s/src && %s",
                              c->dir, c->dir, c->dir, mk), 0);
  assert_int_equal (test_run ("cd %s && truncate -s 64M b.img && mkfs.ext4 "
                              "-q -F -b 4096 -I 256 -d src b.img", c->dir),
                    0);
  assert_int_equal (volstore_create (fx.vs, c->lvol, 64 << 20, 0, NULL), 0);
}

/* Import image name of the case as the next version of volume vol. */
static void
import (struct mcase *c, const char *vol, const char *name)
{
  char path[400];

  snprintf (path, sizeof path, "%s/%s", c->dir, name);
  extfs_fixture_import (&fx, vol, path, name);
}

/* B: version 2 of L's volume, version 1 of H's (a fork); L will be
 * version 3 of L's volume.
 */
static void
case_base (struct mcase *c)
{
  struct vol_ref ref = { .seq = 2 };

  import (c, c->lvol, "b.img");
  assert_int_equal (volstore_fork (fx.vs, c->lvol, &ref, c->hvol, NULL), 0);
}

/* A copy of b.img changed by a shell script run in its kernel mount,
 * imported into vol; the same script run on model directory model/
 * (made from src/ if missing): H's edits first, then L's, make the
 * model (the local change wins).
 */
static void
kernel_edit (struct mcase *c, const char *vol, const char *img,
             const char *script)
{
  assert_int_equal (test_run ("cd %s && cp --sparse=always b.img %s && "
                              "mount -o loop %s mnt && (cd mnt && %s) && "
                              "umount mnt", c->dir, img, img, script), 0);
  assert_int_equal (test_run ("cd %s && { [ -d model ] || { cp -a src model "
                              "&& mkdir model/lost+found; }; } && cd model "
                              "&& %s", c->dir, script), 0);
  import (c, vol, img);
}

static void
run_merge (struct mcase *c)
{
  struct merge_config cfg = {
    .log = &fx.tlog.log, .volume = c->hvol,
    .base_volume = c->lvol, .base = { .seq = 2 },
    .local_volume = c->lvol, .local = { .seq = 3 },
    .message = "merge test", .notify = { tell, &c->told },
  };

  assert_int_equal (merge_run (fx.vs, &cfg, &c->res), 0);
  fprintf (stderr, "  merged: version %" PRIu64 ", %" PRIu64 " inodes, %"
           PRIu64 " dirs (%" PRIu64 " entries read), %" PRIu64 " itable "
           "chunks, %" PRIu64 " bytes copied; told: %s\n", c->res.seq,
           c->res.inodes_changed, c->res.dirs_diffed,
           c->res.dir_entries_read, c->res.itable_chunks_read,
           c->res.bytes_copied, c->told.paths);
}

/* The head of H's volume into case file m.img; e2fsck -fn must pass. */
static void
export_head (struct mcase *c)
{
  struct vol_ref head = { 0 };
  struct volume *v;
  char path[400];
  uint64_t i, n;
  uint32_t cs;
  bool hole;
  char *buf;
  int fd;

  snprintf (path, sizeof path, "%s/m.img", c->dir);
  assert_int_equal (volume_open (fx.vs, c->hvol, &head, &v), 0);
  cs = volume_chunk_size (v);
  n = volume_size (v) / cs;
  buf = malloc (cs);
  assert_non_null (buf);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, volume_size (v)), 0);
  for (i = 0; i < n; i++) {
    assert_int_equal (volume_read_chunk (v, i, buf, &hole), 0);
    if (!hole)
      assert_int_equal (pwrite (fd, buf, cs, i * cs), (ssize_t) cs);
  }
  close (fd);
  free (buf);
  volume_close (v);
  assert_int_equal (test_run ("e2fsck -fn %s >%s/fsck.out 2>&1 || "
                              "{ cat %s/fsck.out; exit 1; }", path, c->dir,
                              c->dir), 0);
}

/* The tree under dir, as a model comparison sees it. */
#define LISTING "find . -path ./lost+found -prune -o -type d -printf " \
  "'%%p d %%m %%n %%U %%G\\n' -o -printf '%%p %%y %%m %%s %%n %%U %%G " \
  "%%l\\n' | sort; find . -type f ! -path './lost+found*' -exec md5sum " \
  "{} + | sort -k 2"

/* Mount m.img and compare its tree with model/. */
static void
check_model (struct mcase *c)
{
  assert_int_equal (test_run ("cd %s && mount -o loop,ro m.img mnt && "
                              "(cd mnt && " LISTING ") > got.txt; "
                              "umount mnt; (cd model && " LISTING ") > "
                              "want.txt; diff want.txt got.txt", c->dir), 0);
}

/* Run a shell command in the merged tree's kernel mount. */
static int
in_merged (struct mcase *c, const char *cmd)
{
  return test_run ("cd %s && mount -o loop,ro m.img mnt && (cd mnt && %s); "
                   "r=$?; umount mnt; exit $r", c->dir, cmd);
}

static void
finish (struct mcase *c)
{
  volstore_delete (fx.vs, c->lvol);
  volstore_delete (fx.vs, c->hvol);
  test_run ("rm -rf %s", c->dir);
}

#define NEED_MOUNT() do { if (!can_mount) { skip (); return; } } while (0)

/* ---- cases ---- */

#define BASE_TREE "mkdir d1 d2 d3 && echo a > d1/a && echo b > d2/b && " \
  "seq 100000 > d3/big && echo top > f"

static void
test_disjoint (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo h > d2/hnew && mkdir h1 && "
               "echo x > h1/x && rm d3/big && chmod 600 d1/a");
  kernel_edit (&c, c.lvol, "l.img", "echo l > d1/lnew && mv d2/b d2/b2 && "
               "mkdir -p l1/l2 && echo y > l1/l2/y && ln -s ../f d1/sym");
  run_merge (&c);
  assert_true (c.res.changed);
  assert_int_equal (c.told.overwrote, 0);
  assert_int_equal (c.told.kept + c.told.lost, 0);
  export_head (&c);
  check_model (&c);
  finish (&c);
}

static void
test_both_change (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo head > d1/a && echo hh >> f");
  kernel_edit (&c, c.lvol, "l.img", "echo local > d1/a && rm f");
  run_merge (&c);
  assert_int_equal (c.told.overwrote, 2);
  assert_non_null (strstr (c.told.paths, "0:/d1/a"));
  assert_non_null (strstr (c.told.paths, "0:/f"));
  export_head (&c);
  check_model (&c);
  assert_int_equal (in_merged (&c, "grep -qx local d1/a && ! test -e f"), 0);
  finish (&c);
}

static void
test_rename_big_dir (void **state)
{
  struct mcase c;
  struct timespec t0, t1;
  double secs;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, "mkdir big && python3 -c 'import os\n"
              "for i in range(10000): open(\"big/f%05d\" % i, \"w\")"
              ".write(str(i) * 100)' && echo top > f");
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo h > hnew && echo h2 > big/hadd");
  kernel_edit (&c, c.lvol, "l.img", "mkdir moved && mv big moved/big2");
  clock_gettime (CLOCK_MONOTONIC, &t0);
  run_merge (&c);
  clock_gettime (CLOCK_MONOTONIC, &t1);
  secs = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  fprintf (stderr, "  rename of a directory of 10,000 files: %.3f s, %"
           PRIu64 " bytes of file data copied, %" PRIu64 " directory "
           "entries read\n", secs, c.res.bytes_copied,
           c.res.dir_entries_read);
  assert_int_equal (c.res.bytes_copied, 0);
  assert_true (c.res.dir_entries_read < 1000);
  assert_true (secs < 30);      /* a loaded 2-core test machine */
  export_head (&c);
  check_model (&c);
  finish (&c);
}

static void
test_hard_links (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo h > d2/h");
  kernel_edit (&c, c.lvol, "l.img", "mkdir x y && echo f > x/f && "
               "ln x/f y/g && ln x/f d3/g2 && ln d1/a y/a_link");
  run_merge (&c);
  export_head (&c);
  check_model (&c);
  assert_int_equal (in_merged (&c, "test x/f -ef y/g && test x/f -ef d3/g2 "
                               "&& test d1/a -ef y/a_link && "
                               "[ $(stat -c %h x/f) = 3 ]"), 0);
  finish (&c);
}

static void
test_taken_inodes (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "mkdir hh && for i in $(seq 40); do "
               "echo h$i > hh/$i; done");
  kernel_edit (&c, c.lvol, "l.img", "mkdir ll && for i in $(seq 40); do "
               "echo l$i > ll/$i; done && ln ll/1 ll/one");
  run_merge (&c);
  assert_int_equal (c.told.overwrote, 0);
  export_head (&c);
  check_model (&c);
  finish (&c);
}

static void
test_deleted_dir_kept (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE " && mkdir -p dd/sub && echo 1 > dd/f1 && "
              "echo 2 > dd/sub/f2");
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo new > dd/sub/hnew");
  kernel_edit (&c, c.lvol, "l.img", "rm -r dd d2");
  run_merge (&c);
  assert_int_equal (c.told.kept, 2);    /* dd/sub and dd */
  assert_non_null (strstr (c.told.paths, "1:/dd"));
  export_head (&c);
  assert_int_equal (in_merged (&c, "[ \"$(find dd | sort | tr '\\n' ' ')\" "
                               "= 'dd dd/sub dd/sub/hnew ' ] && ! test -e "
                               "d2"), 0);
  finish (&c);
}

static void
test_attributes (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo h > hfile");
  kernel_edit (&c, c.lvol, "l.img",
               "truncate -s 100M sparse && echo data | dd of=sparse bs=4096 "
               "seek=12800 conv=notrunc status=none && "
               "python3 -c 'import os; os.setxattr(\"d1/a\", \"user.k\", "
               "b\"v1\"); os.setxattr(\"sparse\", \"user.big\", b\"x\" * "
               "2000)' && chown 1234:5678 d1/a && "
               "touch -d '2020-01-02 03:04:05.123456789' d1/a sparse && "
               "touch -h -d '2021-01-01 00:00:00.5' d2");
  run_merge (&c);
  assert_true (c.res.bytes_copied < (1 << 20));
  export_head (&c);
  check_model (&c);
  assert_int_equal (in_merged (&c, "python3 -c 'import os, sys\n"
                               "s = os.stat(\"sparse\")\n"
                               "a = os.stat(\"d1/a\")\n"
                               "ok = (s.st_size == 100 << 20 and "
                               "s.st_blocks * 512 < (1 << 20) and "
                               "os.getxattr(\"d1/a\", \"user.k\") == b\"v1\" "
                               "and os.getxattr(\"sparse\", \"user.big\") == "
                               "b\"x\" * 2000 and "
                               "a.st_mtime_ns % 10**9 == 123456789 and "
                               "s.st_mtime_ns == a.st_mtime_ns and "
                               "(a.st_uid, a.st_gid) == (1234, 5678) and "
                               "os.stat(\"d2\").st_mtime_ns % 10**9 == "
                               "500000000)\n"
                               "sys.exit(0 if ok else 1)'"), 0);
  finish (&c);
}

/* L copied while still mounted (a crash-consistent cut): its journal
 * is replayed in memory, every used inode table block compared.
 */
static void
test_journal_cut (void **state)
{
  struct mcase c;

  (void) state;
  NEED_MOUNT ();
  case_begin (&c, BASE_TREE);
  case_base (&c);
  kernel_edit (&c, c.hvol, "h.img", "echo h > d2/hnew");
  assert_int_equal (test_run ("cd %s && cp --sparse=always b.img l.img && "
                              "mount -o loop l.img mnt && (cd mnt && echo l "
                              "> d1/lnew && mv d2/b d3/b && sync) && "
                              "cp --sparse=always l.img cut.img; umount mnt "
                              "&& cd model && echo l > d1/lnew && mv d2/b "
                              "d3/b", c.dir), 0);
  assert_int_equal (test_run ("dumpe2fs -h %s/cut.img 2>/dev/null | grep -q "
                              "needs_recovery", c.dir), 0);
  import (&c, c.lvol, "cut.img");
  run_merge (&c);
  assert_true (c.res.itable_chunks_read >= 1);
  export_head (&c);
  check_model (&c);
  finish (&c);
}

/* L and H made by s3vol's own file operations (no kernel): the n
 * files locals put in turn as remote (each replacing the one before),
 * then rm removed (if not NULL), in one commit.
 */
static void
put_each (const char *vol, const char *const *locals, int n,
          const char *remote, const char *rm)
{
  struct extfs_config cfg = { .log = &fx.tlog.log, .volume = vol,
                              .writable = true };
  struct extfs_commit_result res;
  struct extfs *x;
  int i;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  for (i = 0; i < n; i++)
    assert_int_equal (extfs_put (x, &locals[i], 1, remote, EXTFS_FORCE), 0);
  if (rm)
    assert_int_equal (extfs_rm (x, rm, EXTFS_RECURSIVE), 0);
  assert_int_equal (extfs_commit (x, "test", &res), 0);
  extfs_close (x);
}

static void
put_file (const char *vol, const char *local, const char *remote,
          const char *rm)
{
  put_each (vol, &local, local != NULL, remote, rm);
}

/* Volume vol's head holds text in file path. */
static void
assert_file (const char *vol, const char *path, const char *text)
{
  struct extfs_config cfg = { .log = &fx.tlog.log, .volume = vol };
  struct extfs *x;
  char buf[64];
  size_t got;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  assert_int_equal (extfs_pread (x, path, buf, sizeof buf, 0, &got), 0);
  extfs_close (x);
  assert_int_equal (got, strlen (text));
  assert_memory_equal (buf, text, got);
}

/* The inode number of path in volume vol's head. */
static uint32_t
ino_of (const char *vol, const char *path)
{
  struct extfs_config cfg = { .log = &fx.tlog.log, .volume = vol };
  struct extfs_stat st;
  struct extfs *x;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  assert_int_equal (extfs_stat (x, path, &st), 0);
  extfs_close (x);
  return st.ino;
}

static void
test_s3vol_made (void **state)
{
  struct mcase c;
  struct extfs_config cfg = { .log = &fx.tlog.log };
  struct extfs_stat st;
  struct extfs *x;
  char lf[400], hf[400];

  (void) state;
  case_begin (&c, BASE_TREE);
  case_base (&c);
  snprintf (lf, sizeof lf, "%s/lf", c.dir);
  snprintf (hf, sizeof hf, "%s/hf", c.dir);
  assert_int_equal (test_run ("echo local > %s && echo head > %s", lf, hf),
                    0);
  put_file (c.hvol, hf, "/d1/a", NULL);
  put_file (c.hvol, hf, "/d2/hput", NULL);
  put_file (c.lvol, lf, "/d1/a", "/d3");        /* version 3 of L's */
  run_merge (&c);
  assert_int_equal (c.told.overwrote, 1);
  export_head (&c);
  assert_file (c.hvol, "/d1/a", "local\n");
  assert_file (c.hvol, "/d2/hput", "head\n");
  cfg.volume = c.hvol;
  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  assert_int_equal (extfs_stat (x, "/d3", &st), -ENOENT);
  extfs_close (x);
  finish (&c);
}

/* L replaces a file twice in one commit: the second new inode takes
 * back the number of B's (freed by the first put), so L's directory
 * block reads as B's; H changed something else.  The merged version
 * holds L's last bytes (it held B's: seed 1796218039 of test_random).
 */
static void
test_replaced_twice (void **state)
{
  struct mcase c;
  char files[3][400];
  const char *locals[2] = { files[0], files[1] };
  int i;

  (void) state;
  case_begin (&c, BASE_TREE);
  case_base (&c);
  for (i = 0; i < 3; i++)
    snprintf (files[i], sizeof files[i], "%s/put%d", c.dir, i);
  assert_int_equal (test_run ("echo first > %s && echo second local > %s "
                              "&& echo head > %s", files[0], files[1],
                              files[2]), 0);
  put_file (c.hvol, files[2], "/d2/hput", NULL);
  put_each (c.lvol, locals, 2, "/d1/a", NULL);
  /* The case this test is about: L's /d1/a has B's inode number. */
  assert_int_equal (ino_of (c.lvol, "/d1/a"), ino_of (c.hvol, "/d1/a"));
  run_merge (&c);
  export_head (&c);
  assert_file (c.hvol, "/d1/a", "second local\n");
  assert_file (c.hvol, "/d2/hput", "head\n");
  finish (&c);
}

/* Random puts and removes of files on both sides (s3vol's own file
 * operations), against a model: H's changes, then L's (L wins a path
 * both changed).  The seed is printed; S3VOL_TEST_SEED repeats one.
 */
#define RDIRS 3
#define RFILES 8
#define RSIDES 2

/* One side's random changes, applied to volume vol and to the model
 * (contents: 0 absent, else a number written into the file).
 */
static void
random_side (struct mcase *c, const char *vol, unsigned *seed,
             int model[RDIRS][RFILES])
{
  struct extfs_config cfg = { .log = &fx.tlog.log, .volume = vol,
                              .writable = true };
  struct extfs_commit_result res;
  char local[400], remote[64];
  const char *locals[1] = { local };
  struct extfs *x;
  int i, d, f, v;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  for (i = 0; i < 6; i++) {
    d = rand_r (seed) % RDIRS;
    f = rand_r (seed) % RFILES;
    v = rand_r (seed) % 3 ? 1 + rand_r (seed) % 1000 : 0;
    snprintf (remote, sizeof remote, "/r%d/f%d", d, f);
    if (v) {
      snprintf (local, sizeof local, "%s/v%d", c->dir, v);
      assert_int_equal (test_run ("seq %d > %s", v * 37, local), 0);
      assert_int_equal (extfs_put (x, locals, 1, remote, EXTFS_FORCE), 0);
    }
    else if (model[d][f])
      assert_int_equal (extfs_rm (x, remote, 0), 0);
    model[d][f] = v;
  }
  assert_int_equal (extfs_commit (x, "random", &res), 0);
  extfs_close (x);
}

/* Bytes of `seq n`. */
static uint64_t
seq_size (int n)
{
  uint64_t bytes = 0;
  int i;

  for (i = 1; i <= n; i++)
    bytes += snprintf (NULL, 0, "%d\n", i);
  return bytes;
}

static void
test_random (void **state)
{
  int base[RDIRS][RFILES] = { { 0 } }, side[RSIDES][RDIRS][RFILES];
  struct extfs_config cfg = { .log = &fx.tlog.log };
  /* A fixed seed unless one is given: make check must not depend on
   * the clock.  Give S3VOL_TEST_SEED to explore (1796218039 found the
   * bug test_replaced_twice keeps fixed).
   */
  unsigned seed = getenv ("S3VOL_TEST_SEED")
    ? (unsigned) atoi (getenv ("S3VOL_TEST_SEED")) : 1796215485u;
  struct mcase c;
  struct extfs_stat st;
  struct extfs *x;
  char path[64];
  int d, f, s, v, round;

  (void) state;
  fprintf (stderr, "  seed %u (S3VOL_TEST_SEED=%u repeats it)\n", seed,
           seed);
  for (round = 0; round < 3; round++) {
    case_begin (&c, "mkdir r0 r1 r2 && for d in 0 1 2; do for f in 0 1 2; "
                "do seq $((f * 37 + 37)) > r$d/f$f; done; done");
    for (d = 0; d < RDIRS; d++)
      for (f = 0; f < 3; f++)
        base[d][f] = f + 1;
    case_base (&c);
    for (s = 0; s < RSIDES; s++) {
      memcpy (side[s], base, sizeof base);
      random_side (&c, s ? c.lvol : c.hvol, &seed, side[s]);
    }
    run_merge (&c);
    export_head (&c);
    cfg.volume = c.hvol;
    assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
    for (d = 0; d < RDIRS; d++)
      for (f = 0; f < RFILES; f++) {
        /* The model: L's state where it differs from B's, else H's. */
        v = side[1][d][f] != base[d][f] ? side[1][d][f] : side[0][d][f];
        snprintf (path, sizeof path, "/r%d/f%d", d, f);
        if (v == 0) {
          assert_int_equal (extfs_stat (x, path, &st), -ENOENT);
          continue;
        }
        assert_int_equal (extfs_stat (x, path, &st), 0);
        assert_int_equal (st.size, seq_size (v * 37));
      }
    extfs_close (x);
    finish (&c);
  }
}

/* Nothing changed in L: nothing is published. */
static void
test_nothing (void **state)
{
  struct mcase c;
  struct merge_config cfg = {
    .log = &fx.tlog.log, .base = { .seq = 2 }, .local = { .seq = 2 },
  };

  (void) state;
  case_begin (&c, BASE_TREE);
  case_base (&c);
  cfg.volume = c.hvol;
  cfg.base_volume = cfg.local_volume = c.lvol;
  assert_int_equal (merge_run (fx.vs, &cfg, &c.res), 0);
  assert_false (c.res.changed);
  assert_int_equal (c.res.seq, 1);
  assert_int_equal (c.res.itable_chunks_read, 0);
  finish (&c);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_nothing),
    cmocka_unit_test (test_s3vol_made),
    cmocka_unit_test (test_replaced_twice),
    cmocka_unit_test (test_random),
    cmocka_unit_test (test_disjoint),
    cmocka_unit_test (test_both_change),
    cmocka_unit_test (test_rename_big_dir),
    cmocka_unit_test (test_hard_links),
    cmocka_unit_test (test_taken_inodes),
    cmocka_unit_test (test_deleted_dir_kept),
    cmocka_unit_test (test_attributes),
    cmocka_unit_test (test_journal_cut),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
