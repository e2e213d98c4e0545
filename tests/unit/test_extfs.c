/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: file operations inside a volume's ext4 image (extfs), on the
 * store under test: round trips, conflicts and rebases (replays that
 * work and ones that cannot), a full volume, a volume that is not ext4,
 * journal replay against e2fsck's (also into a block device's cache),
 * and edits of htree directories.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/cache.h"
#include "s3vol/extfs.h"
#include "s3vol/import.h"
#include "extfs_fixture.h"
#include "testutil.h"

static struct extfs_fixture fx;
static int volno;

static int
setup (void **state)
{
  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4 debugfs e2fsck", "s3vol-extfs-test");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  extfs_fixture_teardown (&fx);
  return 0;
}

/* A new volume of size MiB; formatted with ext4 unless mkfs is NULL. */
static const char *
new_volume (unsigned mib, const char *mkfs)
{
  static char name[32];
  char img[300];

  snprintf (name, sizeof name, "extfs%d-%d", volno++, (int) getpid ());
  assert_int_equal (volstore_create (fx.vs, name, (uint64_t) mib << 20, 0,
                                     NULL), 0);
  if (mkfs) {
    snprintf (img, sizeof img, "%s/mkfs.img", fx.work);
    assert_int_equal (test_run ("rm -f %s && truncate -s %uM %s && mkfs.ext4 "
                                "-q -F %s %s", img, mib, img, mkfs, img), 0);
    extfs_fixture_import (&fx, name, img, "test image");
    unlink (img);
  }
  return name;
}

static struct extfs *
open_fs (const char *name, bool writable, uint64_t seq)
{
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .writable = writable,
    .ref = { .seq = seq }, .tmpdir = fx.work,
  };
  struct extfs *x = NULL;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  return x;
}

static uint64_t
head_of (const char *name)
{
  struct vol_info info;

  assert_int_equal (volstore_info (fx.vs, name, &info), 0);
  return info.head;
}

static void
write_file (const char *path, const char *content)
{
  FILE *fp = fopen (path, "w");

  assert_non_null (fp);
  fputs (content, fp);
  assert_int_equal (fclose (fp), 0);
}

/* Read a volume file into buf (NUL-terminated). */
static void
cat (struct extfs *x, const char *path, char *buf, size_t n)
{
  char tmp[300];
  ssize_t got;
  int fd;

  snprintf (tmp, sizeof tmp, "%s/cat.out", fx.work);
  fd = open (tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (extfs_cat (x, path, fd), 0);
  got = pread (fd, buf, n - 1, 0);
  assert_true (got >= 0);
  buf[got] = '\0';
  close (fd);
}

/* Volume file path must hold want. */
static void
cat_is (struct extfs *x, const char *path, const char *want)
{
  char buf[300];

  cat (x, path, buf, sizeof buf);
  if (strcmp (buf, want) != 0)
    fail_msg ("%s holds \"%s\", not \"%s\"", path, buf, want);
}

static void
commit (struct extfs *x, struct extfs_commit_result *res)
{
  struct extfs_commit_result r;

  assert_int_equal (extfs_commit (x, "test", res ? res : &r), 0);
}

/* ---- tests ---- */

static void
test_round_trip (void **state)
{
  const char *name = new_volume (256, "");
  const char *locals[1];
  char src[300], out[300], buf[256];
  struct extfs_stat st;
  struct extfs *x;
  uint64_t before;

  (void) state;
  snprintf (src, sizeof src, "%s/src", fx.work);
  assert_int_equal (test_run ("rm -rf %s && mkdir -p '%s/sub dir/deep/er' && "
                              "cd %s && echo one > a && : > empty && ln a "
                              "hard && ln -s a link && truncate -s 100M "
                              "sparse && echo mid | dd of=sparse bs=1 "
                              "seek=50000000 conv=notrunc 2>/dev/null && "
                              "echo deep > 'sub dir/deep/er/f' && printf "
                              "'x%%.0s' $(seq 1 255) | xargs touch && chmod "
                              "750 'sub dir' && chmod 600 a && touch -d "
                              "'2001-02-03 04:05:06.5' empty",
                              src, src, src), 0);
  before = head_of (name);
  x = open_fs (name, true, 0);
  locals[0] = src;
  assert_int_equal (extfs_put (x, locals, 1, "/data/", 0), 0);
  assert_int_equal (extfs_mkdir (x, "/m/n/o", EXTFS_PARENTS), 0);
  commit (x, NULL);
  extfs_close (x);
  assert_int_equal (head_of (name), before + 1);

  /* Read back from a fresh cache. */
  x = open_fs (name, false, 0);
  cat (x, "/data/src/a", buf, sizeof buf);
  assert_string_equal (buf, "one\n");
  cat (x, "/data/src/sub dir/deep/er/f", buf, sizeof buf);
  assert_string_equal (buf, "deep\n");
  assert_int_equal (extfs_lstat (x, "/data/src/hard", &st), 0);
  assert_int_equal (st.nlink, 2);
  assert_int_equal (st.mode, S_IFREG | 0600);
  assert_int_equal (extfs_lstat (x, "/data/src/sparse", &st), 0);
  assert_int_equal (st.size, 100u << 20);
  assert_true (st.alloc_bytes < (1u << 20));      /* still sparse */
  assert_int_equal (extfs_lstat (x, "/data/src/empty", &st), 0);
  assert_int_equal (st.mtime_ns, 981173106500000000ll);
  assert_int_equal (extfs_readlink (x, "/data/src/link", buf, sizeof buf), 0);
  assert_string_equal (buf, "a");
  assert_int_equal (extfs_lstat (x, "/m/n/o", &st), 0);
  assert_true (S_ISDIR (st.mode));
  assert_int_equal (extfs_lstat (x, "/nope", &st), -ENOENT);

  /* get -r: the same tree, holes and links kept. */
  snprintf (out, sizeof out, "%s/out", fx.work);
  assert_int_equal (extfs_get (x, "/data/src", out, EXTFS_RECURSIVE), 0);
  extfs_close (x);
  assert_int_equal (test_run ("diff -r %s %s", src, out), 0);
  assert_int_equal (test_run ("cd %s && find . -printf '%%p %%m %%s %%T@ %%y "
                              "%%n %%l\\n' | grep -v ' d ' | sort > ../a.lst "
                              "&& cd %s && find . -printf '%%p %%m %%s %%T@ "
                              "%%y %%n %%l\\n' | grep -v ' d ' | sort > "
                              "../b.lst && cmp ../a.lst ../b.lst",
                              src, out), 0);
  assert_int_equal (test_run ("test $(du -k %s/sparse | cut -f1) -lt 1024",
                              out), 0);
  assert_int_equal (test_run ("rm -rf %s %s", src, out), 0);
}

/* extfs_pread: any offset and length, across blocks, runs and holes,
 * agrees with the local file put; short only at the end.
 */
static void
test_pread (void **state)
{
  const char *name = new_volume (64, "");
  const uint64_t at[][2] = {
    { 0, 1 }, { 0, 4096 }, { 1, 4095 }, { 4095, 2 }, { 100, 3u << 20 },
    { (3u << 20) - 10, 20 }, { 5u << 20, 4096 }, { (8u << 20) - 7, 9000 },
    { 0, 12u << 20 }, { (9u << 20) + 90, 100 }, { (9u << 20) + 100, 5 },
    { 1u << 30, 10 },
  };
  char src[300], *want, *got;
  const char *locals[1];
  struct extfs *x;
  size_t i, n;
  ssize_t w;
  int fd;

  (void) state;
  snprintf (src, sizeof src, "%s/pr", fx.work);
  assert_int_equal (test_run ("head -c 3M /dev/urandom > %s && head -c "
                              "1048676 /dev/urandom | dd of=%s bs=1M "
                              "seek=8 conv=notrunc 2>/dev/null", src, src), 0);
  x = open_fs (name, true, 0);
  locals[0] = src;
  assert_int_equal (extfs_put (x, locals, 1, "/f", 0), 0);
  assert_int_equal (extfs_mkdir (x, "/d", 0), 0);
  commit (x, NULL);
  extfs_close (x);

  want = malloc (12u << 20);
  got = malloc (12u << 20);
  assert_non_null (want);
  assert_non_null (got);
  fd = open (src, O_RDONLY);
  assert_true (fd >= 0);
  x = open_fs (name, false, 0);
  for (i = 0; i < sizeof at / sizeof at[0]; i++) {
    w = pread (fd, want, at[i][1], at[i][0]);
    assert_true (w >= 0);
    memset (got, 0xa5, at[i][1]);
    assert_int_equal (extfs_pread (x, "/f", got, at[i][1], at[i][0], &n), 0);
    if (n != (size_t) w || memcmp (got, want, n) != 0)
      fail_msg ("pread of %" PRIu64 "+%" PRIu64 ": %zu bytes, want %zd%s",
                at[i][0], at[i][1], n, w, n == (size_t) w ? " (differ)" : "");
  }
  assert_int_equal (extfs_pread (x, "/d", got, 10, 0, &n), -EISDIR);
  assert_int_equal (extfs_pread (x, "/none", got, 10, 0, &n), -ENOENT);
  extfs_close (x);
  close (fd);
  free (want);
  free (got);
  assert_int_equal (test_run ("rm -f %s", src), 0);
}

static void
test_edit (void **state)
{
  const char *name = new_volume (128, "");
  const char *locals[2];
  char a[300], b[300], lnk[300], buf[64];
  struct extfs_stat st;
  struct extfs *x;
  uint64_t before;

  (void) state;
  snprintf (a, sizeof a, "%s/fa", fx.work);
  snprintf (b, sizeof b, "%s/fb", fx.work);
  write_file (a, "A");
  write_file (b, "B");
  x = open_fs (name, true, 0);
  locals[0] = a;
  locals[1] = b;
  assert_int_equal (extfs_put (x, locals, 2, "/d", 0), 0);
  assert_int_equal (extfs_cp (x, "/d", "/e", 0), -EISDIR);
  assert_int_equal (extfs_cp (x, "/d", "/e", EXTFS_RECURSIVE), 0);
  assert_int_equal (extfs_cp (x, "/d/fa", "/e/fb", 0), -EEXIST);
  assert_int_equal (extfs_cp (x, "/d/fa", "/e/fb", EXTFS_FORCE), 0);
  /* A symlink: cp -r copies the link, cp the file it points to, as
   * cp(1) does (fileops_diff found -r following it).
   */
  snprintf (lnk, sizeof lnk, "%s/ln", fx.work);
  assert_int_equal (symlink ("fa", lnk), 0);
  locals[0] = lnk;
  assert_int_equal (extfs_put (x, locals, 1, "/d/ln", 0), 0);
  assert_int_equal (extfs_cp (x, "/d/ln", "/lr", EXTFS_RECURSIVE), 0);
  assert_int_equal (extfs_lstat (x, "/lr", &st), 0);
  assert_true (S_ISLNK (st.mode));
  assert_int_equal (extfs_readlink (x, "/lr", buf, sizeof buf), 0);
  assert_string_equal (buf, "fa");
  assert_int_equal (extfs_cp (x, "/d/ln", "/lf", 0), 0);
  assert_int_equal (extfs_lstat (x, "/lf", &st), 0);
  assert_true (S_ISREG (st.mode));
  unlink (lnk);
  assert_int_equal (extfs_rm (x, "/d", 0), -EISDIR);
  assert_int_equal (extfs_rm (x, "/d", EXTFS_RECURSIVE), 0);
  assert_int_equal (extfs_rm (x, "/", EXTFS_RECURSIVE), -EINVAL);
  assert_int_equal (extfs_mkdir (x, "/e", 0), -EEXIST);
  assert_int_equal (extfs_mkdir (x, "/x/y", 0), -ENOENT);
  commit (x, NULL);
  extfs_close (x);

  x = open_fs (name, false, 0);
  assert_int_equal (extfs_lstat (x, "/d", &st), -ENOENT);
  cat (x, "/e/fb", buf, sizeof buf);
  assert_string_equal (buf, "A");
  cat (x, "/e/fa", buf, sizeof buf);
  assert_string_equal (buf, "A");
  extfs_close (x);

  /* Existing files: refused, nothing published. */
  before = head_of (name);
  x = open_fs (name, true, 0);
  locals[0] = b;
  assert_int_equal (extfs_put (x, locals, 1, "/e/fa", 0), -EEXIST);
  extfs_close (x);
  assert_int_equal (head_of (name), before);
}

/* The notices of a replay that a writer gets. */
struct told {
  int rebased, overwrote;
  uint64_t rebased_seq, overwrote_seq;
  char paths[512];              /* overwritten, each as " path " */
};

static void
tell (void *opaque, enum extfs_event ev, const char *path, uint64_t seq)
{
  struct told *t = opaque;
  size_t len = strlen (t->paths);

  if (ev == EXTFS_EV_REBASED) {
    t->rebased++;
    t->rebased_seq = seq;
  }
  else if (ev == EXTFS_EV_OVERWROTE) {
    t->overwrote++;
    t->overwrote_seq = seq;
    snprintf (t->paths + len, sizeof t->paths - len, " %s ", path);
  }
}

static struct extfs *
open_told (const char *name, struct told *t)
{
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .writable = true, .tmpdir = fx.work,
    .notify = { .fn = tell, .opaque = t },
  };
  struct extfs *x = NULL;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  return x;
}

static void
put1 (struct extfs *x, const char *local, const char *remote,
      unsigned flags)
{
  const char *locals[1] = { local };

  assert_int_equal (extfs_put (x, locals, 1, remote, flags), 0);
}

/* Local files of the replay tests, holding "base", "A" and "B". */
struct src {
  char base[300], fa[300], fb[300];
};

/* Make them, and a version of volume name with files paths (up to a
 * NULL) holding "base".
 */
static void
make_base (const char *name, struct src *l, const char *const *paths)
{
  struct extfs *x;

  snprintf (l->base, sizeof l->base, "%s/base", fx.work);
  snprintf (l->fa, sizeof l->fa, "%s/fa", fx.work);
  snprintf (l->fb, sizeof l->fb, "%s/fb", fx.work);
  write_file (l->base, "base");
  write_file (l->fa, "A");
  write_file (l->fb, "B");
  x = open_fs (name, true, 0);
  for (; *paths; paths++)
    put1 (x, l->base, *paths, 0);
  commit (x, NULL);
  extfs_close (x);
}

/* Was t told that path was overwritten? */
static bool
told_of (const struct told *t, const char *path)
{
  char p[300];

  snprintf (p, sizeof p, " %s ", path);
  return strstr (t->paths, p) != NULL;
}

static void
test_rebase (void **state)
{
  const char *name = new_volume (128, "");
  struct extfs_commit_result res;
  struct told seen = { 0 };
  const char *locals[1];
  char a[300], b[300], buf[64];
  struct extfs *x, *y, *r;

  (void) state;
  snprintf (a, sizeof a, "%s/ra", fx.work);
  snprintf (b, sizeof b, "%s/rb", fx.work);
  write_file (a, "from x");
  write_file (b, "from y");
  /* Two writers of the same version, different files: both survive. */
  x = open_fs (name, true, 0);
  y = open_told (name, &seen);
  locals[0] = a;
  assert_int_equal (extfs_put (x, locals, 1, "/shared/a", 0), 0);
  locals[0] = b;
  assert_int_equal (extfs_put (y, locals, 1, "/shared/b", 0), 0);
  commit (x, NULL);
  commit (y, &res);
  assert_int_equal (res.rebases, 1);
  assert_int_equal (seen.overwrote, 0);
  extfs_close (x);
  extfs_close (y);
  r = open_fs (name, false, 0);
  cat (r, "/shared/a", buf, sizeof buf);
  assert_string_equal (buf, "from x");
  cat (r, "/shared/b", buf, sizeof buf);
  assert_string_equal (buf, "from y");
  extfs_close (r);

  /* The same path: the last to publish wins, and is told. */
  x = open_fs (name, true, 0);
  y = open_told (name, &seen);
  locals[0] = a;
  assert_int_equal (extfs_put (x, locals, 1, "/shared/same", 0), 0);
  locals[0] = b;
  assert_int_equal (extfs_put (y, locals, 1, "/shared/same", 0), 0);
  commit (x, NULL);
  commit (y, &res);
  assert_int_equal (res.rebases, 1);
  assert_int_equal (seen.overwrote, 1);
  assert_true (told_of (&seen, "/shared/same"));
  extfs_close (x);
  extfs_close (y);
  r = open_fs (name, false, 0);
  cat (r, "/shared/same", buf, sizeof buf);
  assert_string_equal (buf, "from y");
  extfs_close (r);
}

static void
test_full (void **state)
{
  const char *name = new_volume (32, "");
  const char *locals[1];
  char big[300];
  struct extfs *x;
  uint64_t before;

  (void) state;
  snprintf (big, sizeof big, "%s/big", fx.work);
  assert_int_equal (test_run ("head -c 48M /dev/zero | tr '\\0' x > %s",
                              big), 0);
  before = head_of (name);
  x = open_fs (name, true, 0);
  locals[0] = big;
  fx.tlog.errors = 0;
  assert_int_equal (extfs_put (x, locals, 1, "/big", 0), -ENOSPC);
  assert_int_equal (fx.tlog.errors, 1);
  assert_non_null (strstr (fx.tlog.last_error, "free of"));
  extfs_close (x);
  assert_int_equal (head_of (name), before);
  unlink (big);
}

static void
test_not_ext4 (void **state)
{
  const char *name = new_volume (16, NULL);
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .tmpdir = fx.work,
  };
  struct extfs *x = NULL;

  (void) state;
  assert_int_equal (extfs_open (fx.vs, &cfg, &x), -EMEDIUMTYPE);
  assert_non_null (strstr (fx.tlog.last_error, "never formatted"));
}

/* A journal written by debugfs and never replayed: what extfs reads must
 * be what e2fsck's replay leaves, for every journal flavour.
 */
static void
test_journal (void **state)
{
  static const char *const flavours[][2] = {
    { "-O ^64bit,^metadata_csum", "jo" },
    { "-O ^metadata_csum", "jo -c -v 1" },
    { "", "jo -c -v 2" },
    { "", "jo -c -v 3" },
    { "-O ^64bit", "jo -c -v 3" },
    { "-b 1024", "jo -c" },
  };
  char img[300], name[32], got[300], want[300];
  struct extfs *x;
  size_t i;
  int fd;

  (void) state;
  for (i = 0; i < sizeof flavours / sizeof flavours[0]; i++) {
    snprintf (name, sizeof name, "journal%zu-%d", i, (int) getpid ());
    assert_int_equal (volstore_create (fx.vs, name, 64u << 20, 0, NULL), 0);
    snprintf (img, sizeof img, "%s/j.img", fx.work);
    /* Blocks of file F rewritten in the journal, one of them revoked. */
    assert_int_equal (test_run ("cd %s && rm -f j.img k.img && truncate -s "
                                "64M j.img && mkfs.ext4 -q -F %s j.img && "
                                "head -c 20000 /dev/urandom > A && head -c "
                                "4096 /dev/urandom > B && debugfs -w -R "
                                "'write A F' j.img >/dev/null 2>&1 && "
                                "b0=$(debugfs -R 'bmap F 0' j.img "
                                "2>/dev/null) && b1=$(debugfs -R 'bmap F 1' "
                                "j.img 2>/dev/null) && b2=$(debugfs -R 'bmap "
                                "F 2' j.img 2>/dev/null) && printf '%s\\njw "
                                "-b %%s,%%s B\\njw -b %%s B\\njw -r "
                                "%%s\\njc\\n' $b0 $b2 $b1 $b1 > cmds && "
                                "debugfs -w -f cmds j.img >/dev/null 2>&1 && "
                                "cp j.img k.img && { e2fsck -fy k.img "
                                ">/dev/null 2>&1; true; } && debugfs -R 'cat "
                                "F' k.img > want 2>/dev/null && ! cmp -s "
                                "want A",
                                fx.work, flavours[i][0], flavours[i][1]), 0);
    extfs_fixture_import (&fx, name, img, "test image");
    x = open_fs (name, false, 0);
    snprintf (got, sizeof got, "%s/got", fx.work);
    snprintf (want, sizeof want, "%s/want", fx.work);
    fd = open (got, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true (fd >= 0);
    assert_int_equal (extfs_cat (x, "/F", fd), 0);
    close (fd);
    extfs_close (x);
    if (test_run ("cmp %s %s", got, want) != 0)
      fail_msg ("journal flavour %zu (%s, %s): replay differs from e2fsck's",
                i, flavours[i][0], flavours[i][1]);
  }
}

/* A journal left in a block device's cache (a plugin's, read-only as an
 * overlay): extfs_replay_cache replays it there as e2fsck would, and the
 * image is then clean; a cache that refuses writes refuses the replay;
 * a volume without ext4, or without a journal to replay, is left alone.
 */
static void
test_replay_cache (void **state)
{
  char name[32], dir[300], img[600], *buf;
  struct cache_config cc = { .log = &fx.tlog.log, .readonly = true };
  struct cache *c;
  unsigned n = 7;
  uint64_t off;
  int fd;

  (void) state;
  snprintf (name, sizeof name, "rcache-%d", (int) getpid ());
  assert_int_equal (volstore_create (fx.vs, name, 64u << 20, 0, NULL), 0);
  assert_int_equal (test_run ("cd %s && rm -f j.img k.img && truncate -s "
                              "64M j.img && mkfs.ext4 -q -F j.img && "
                              "head -c 20000 /dev/urandom > A && debugfs -w "
                              "-R 'write A F' j.img >/dev/null 2>&1 && "
                              "b0=$(debugfs -R 'bmap F 0' j.img 2>/dev/null) "
                              "&& head -c 4096 /dev/urandom > B && printf "
                              "'jo -c\\njw -b %%s B\\njc\\n' $b0 > cmds && "
                              "debugfs -w -f cmds j.img >/dev/null 2>&1 && "
                              "cp j.img k.img && { e2fsck -fy k.img "
                              ">/dev/null 2>&1; true; } && debugfs -R 'cat "
                              "F' k.img > want 2>/dev/null && ! cmp -s "
                              "want A", fx.work), 0);
  snprintf (img, sizeof img, "%s/j.img", fx.work);
  extfs_fixture_import (&fx, name, img, "test image");
  cc.volume = name;
  cc.dir = dir;

  /* Read-only, not an overlay: refused, nothing written. */
  snprintf (dir, sizeof dir, "%s/rcache-ro", fx.work);
  assert_int_equal (cache_open (fx.vs, &cc, &c), 0);
  assert_int_equal (extfs_replay_cache (c, name, &fx.tlog.log, &n), -EROFS);
  assert_false (cache_is_dirty (c));
  cache_close (c);

  /* An overlay: replayed, and the image is what e2fsck leaves. */
  snprintf (dir, sizeof dir, "%s/rcache-ov", fx.work);
  cc.overlay = true;
  assert_int_equal (cache_open (fx.vs, &cc, &c), 0);
  assert_int_equal (extfs_replay_cache (c, name, &fx.tlog.log, &n), 0);
  assert_int_equal (n, 1);
  assert_true (cache_is_dirty (c));
  assert_int_equal (extfs_replay_cache (c, name, &fx.tlog.log, &n), 0);
  assert_int_equal (n, 0);               /* nothing left to replay */
  snprintf (img, sizeof img, "%s/r.img", fx.work);
  fd = open (img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  buf = malloc (1u << 20);
  assert_non_null (buf);
  for (off = 0; off < cache_size (c); off += 1u << 20) {
    assert_int_equal (cache_pread (c, buf, 1u << 20, off), 0);
    assert_int_equal (pwrite (fd, buf, 1u << 20, off), 1 << 20);
  }
  free (buf);
  close (fd);
  cache_close (c);
  assert_int_equal (test_run ("cd %s && e2fsck -fn r.img >fsck.log 2>&1 && "
                              "debugfs -R 'cat F' r.img > got 2>/dev/null "
                              "&& cmp got want", fx.work), 0);

  /* Reopened on its version, the overlay keeps the replay. */
  assert_int_equal (cache_open (fx.vs, &cc, &c), 0);
  assert_true (cache_is_dirty (c));
  assert_int_equal (extfs_replay_cache (c, name, &fx.tlog.log, &n), 0);
  assert_int_equal (n, 0);
  cache_close (c);

  /* No ext4: nothing to do. */
  snprintf (dir, sizeof dir, "%s/rcache-raw", fx.work);
  cc.volume = new_volume (4, NULL);
  assert_int_equal (cache_open (fx.vs, &cc, &c), 0);
  assert_int_equal (extfs_replay_cache (c, cc.volume, &fx.tlog.log, &n), 0);
  assert_int_equal (n, 0);
  assert_false (cache_is_dirty (c));
  cache_close (c);
}

/* The head of volume name as image file img; e2fsck -fn must find it
 * clean.
 */
static void
export_fsck (const char *name, const char *img)
{
  struct volume *v;
  uint64_t i, n;
  void *buf;
  int fd;

  fd = open (img, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (volume_open (fx.vs, name, NULL, &v), 0);
  buf = malloc (volume_chunk_size (v));
  n = volume_size (v) / volume_chunk_size (v);
  for (i = 0; i < n; i++) {
    assert_int_equal (volume_read_chunk (v, i, buf, NULL), 0);
    assert_int_equal (pwrite (fd, buf, volume_chunk_size (v),
                              i * volume_chunk_size (v)),
                      (ssize_t) volume_chunk_size (v));
  }
  free (buf);
  volume_close (v);
  close (fd);
  assert_int_equal (test_run ("e2fsck -fn %s >%s/fsck.log 2>&1 || { cat "
                              "%s/fsck.log; false; }",
                              img, fx.work, fx.work), 0);
}

/* What put and friends leave is a clean filesystem. */
static void
test_fsck (void **state)
{
  const char *name = new_volume (256, "");
  const char *locals[1];
  char src[300], img[300];
  struct extfs *x;

  (void) state;
  snprintf (src, sizeof src, "%s/many", fx.work);
  assert_int_equal (test_run ("rm -rf %s && mkdir -p %s/sub && cd %s && for "
                              "i in $(seq 1 2000); do echo $i > f$i; done && "
                              "for i in $(seq 1 50); do ln -s f$i sub/l$i; "
                              "done && head -c 3000000 /dev/urandom > sub/big",
                              src, src, src), 0);
  x = open_fs (name, true, 0);
  locals[0] = src;
  assert_int_equal (extfs_put (x, locals, 1, "/t", 0), 0);
  assert_int_equal (extfs_rm (x, "/t/f7", 0), 0);
  assert_int_equal (extfs_cp (x, "/t/sub", "/u", EXTFS_RECURSIVE), 0);
  assert_int_equal (extfs_put (x, locals, 1, "/t", EXTFS_FORCE), 0);
  commit (x, NULL);
  extfs_close (x);
  snprintf (img, sizeof img, "%s/check.img", fx.work);
  export_fsck (name, img);
  assert_int_equal (test_run ("rm -rf %s %s", src, img), 0);
}

/* Name i of a test directory: "f" and i, zero-padded to width digits. */
static void
name_of (char *buf, size_t n, unsigned i, int width)
{
  snprintf (buf, n, "f%0*u", width, i);
}

/* Local directory dir with files 0 to n-1 (name_of), each holding its
 * name.
 */
static void
make_files (const char *dir, unsigned n, int width)
{
  char path[600], nm[260];
  unsigned i;

  assert_int_equal (test_run ("rm -rf %s && mkdir -p %s", dir, dir), 0);
  for (i = 0; i < n; i++) {
    name_of (nm, sizeof nm, i, width);
    snprintf (path, sizeof path, "%s/%s", dir, nm);
    write_file (path, nm);
  }
}

static int
count_entry (void *opaque, const char *name, const struct extfs_stat *st,
             const char *target)
{
  (void) name;
  (void) st;
  (void) target;
  (*(unsigned *) opaque)++;
  return 0;
}

/* How a test directory of big_dir is made, and the filesystem's
 * hashing.
 */
enum made { BY_PUT, BY_MKE2FS };

/* An htree-indexed directory /d of n files, made by a put in one session
 * (BY_PUT) or by mke2fs -d (BY_MKE2FS; tune: a debugfs command run on
 * the image first, e.g. to set the hash or its signedness, or NULL),
 * then edited by the first changes of a new session (the index blocks
 * were once taken for corrupt entry blocks there: "directory inode N
 * is corrupt"), and checked: every name found, e2fsck -fn clean, and
 * the index as deep as levels.
 */
static void
big_dir_made (enum made made, const char *mkfs, const char *tune,
              unsigned mib, unsigned n, int width, int levels)
{
  const char *name = made == BY_PUT ? new_volume (mib, mkfs)
    : new_volume (mib, NULL);
  const char *locals[1];
  char src[300], one[300], img[300], nm[260], path[300];
  struct extfs_stat st;
  struct extfs *x;
  unsigned i, seen = 0;

  snprintf (src, sizeof src, "%s/big", fx.work);
  make_files (src, n, width);
  snprintf (one, sizeof one, "%s/top", fx.work);
  write_file (one, "top");
  snprintf (img, sizeof img, "%s/check.img", fx.work);
  if (made == BY_PUT) {
    x = open_fs (name, true, 0);
    locals[0] = src;
    assert_int_equal (extfs_put (x, locals, 1, "/d", 0), 0);
    locals[0] = one;
    assert_int_equal (extfs_put (x, locals, 1, "/top", 0), 0);
    commit (x, NULL);
    extfs_close (x);
  }
  else {
    /* mke2fs -d ROOT: ROOT/d is the directory, ROOT/top the file. */
    assert_int_equal (test_run ("rm -rf %s/root && mkdir %s/root && mv %s "
                                "%s/root/d && cp %s %s/root/top && "
                                "truncate -s %uM %s && mkfs.ext4 -q -F %s "
                                "-d %s/root %s && rm -rf %s/root",
                                fx.work, fx.work, src, fx.work, one,
                                fx.work, mib, img, mkfs, fx.work, img,
                                fx.work), 0);
    /* mke2fs -d writes linear directories: e2fsck -D indexes them
     * (after tune, with the hash it sets).
     */
    if (tune)
      assert_int_equal (test_run ("debugfs -w -R '%s' %s >/dev/null 2>&1",
                                  tune, img), 0);
    assert_int_equal (test_run ("e2fsck -fyD %s >/dev/null 2>&1; "
                                "e2fsck -fn %s >/dev/null 2>&1", img, img), 0);
    extfs_fixture_import (&fx, name, img, "made by mke2fs -d");
  }

  /* A new session: add, replace, remove, copy in, mkdir. */
  x = open_fs (name, true, 0);
  snprintf (one, sizeof one, "%s/newf", fx.work);
  write_file (one, "new");
  locals[0] = one;
  if (extfs_put (x, locals, 1, "/d/", 0) != 0)
    fail_msg ("the first edit of /d (%u entries, mkfs %s, %s) in a new "
              "session failed: %s", n, mkfs[0] ? mkfs : "defaults",
              tune ? tune : "", fx.tlog.last_error);
  name_of (nm, sizeof nm, 5, width);
  snprintf (path, sizeof path, "/d/%s", nm);
  write_file (one, "forced");
  assert_int_equal (extfs_put (x, locals, 1, path, 0), -EEXIST);
  assert_int_equal (extfs_put (x, locals, 1, path, EXTFS_FORCE), 0);
  name_of (nm, sizeof nm, 7, width);
  snprintf (path, sizeof path, "/d/%s", nm);
  assert_int_equal (extfs_rm (x, path, 0), 0);
  assert_int_equal (extfs_cp (x, "/top", "/d", 0), 0);
  assert_int_equal (extfs_mkdir (x, "/d/sub", 0), 0);
  commit (x, NULL);
  extfs_close (x);

  /* A fresh writable session (its own directory table) finds every
   * name; a read-only one (libext2fs lookups) reads the changes.
   */
  x = open_fs (name, true, 0);
  for (i = 0; i < n; i++) {
    name_of (nm, sizeof nm, i, width);
    snprintf (path, sizeof path, "/d/%s", nm);
    assert_int_equal (extfs_lstat (x, path, &st), i == 7 ? -ENOENT : 0);
  }
  extfs_close (x);
  x = open_fs (name, false, 0);
  assert_int_equal (extfs_list (x, "/d", false, count_entry, &seen), 0);
  assert_int_equal (seen, n + 2);       /* -1 rm, +newf, +top, +sub */
  cat_is (x, "/d/newf", "new");
  cat_is (x, "/d/top", "top");
  name_of (nm, sizeof nm, 5, width);
  snprintf (path, sizeof path, "/d/%s", nm);
  cat_is (x, path, "forced");
  name_of (nm, sizeof nm, n - 1, width);
  snprintf (path, sizeof path, "/d/%s", nm);
  cat_is (x, path, nm);
  assert_int_equal (extfs_lstat (x, "/d/sub", &st), 0);
  assert_true (S_ISDIR (st.mode));
  extfs_close (x);

  export_fsck (name, img);
  if (test_run ("debugfs -R 'htree /d' %s 2>/dev/null | "
                "grep -q 'Indirect levels: %d$'", img, levels) != 0)
    fail_msg ("%u entries (mkfs %s): /d is not an htree of %d index "
              "levels under the root", n, mkfs[0] ? mkfs : "defaults",
              levels);
  assert_int_equal (test_run ("rm -rf %s %s", src, img), 0);
}

static void
big_dir (const char *mkfs, unsigned mib, unsigned n, int width,
         int levels)
{
  big_dir_made (BY_PUT, mkfs, NULL, mib, n, width, levels);
}

static void
test_big_dir (void **state)
{
  (void) state;
  big_dir ("", 64, 1000, 4, 0);
  /* Long names in 1 KiB blocks: a two-level index from 1,000 entries. */
  big_dir ("-b 1024", 64, 1000, 200, 1);
  /* Without directory block checksums. */
  big_dir ("-O ^metadata_csum", 64, 2000, 4, 0);
  /* The real thing, slower: S3VOL_TEST_BIG_DIR=1. */
  if (getenv ("S3VOL_TEST_BIG_DIR"))
    big_dir ("-N 120000", 512, 100000, 6, 1);
  /* Three index levels, which only largedir allows (make stress):
   * 1 KiB blocks of 3 names of 251 bytes, a root of 123 and nodes of
   * 126 entries fill two levels at about 40,000 names.
   */
  if (getenv ("S3VOL_TEST_LARGEDIR"))
    big_dir ("-b 1024 -O large_dir -N 80000", 768, 60000, 250, 2);
}

/* Indexed directories s3vol did not make: by mke2fs -d and e2fsck -D,
 * hashed by each hash the superblock may name, signed and unsigned,
 * with and without checksums, one and two index levels.
 */
static void
test_big_dir_made (void **state)
{
  static const struct {
    const char *mkfs, *tune;
    unsigned n;
    int width, levels;
  } t[] = {
    { "", NULL, 2000, 4, 0 },
    { "-O ^metadata_csum", NULL, 2000, 4, 0 },
    { "", "ssv def_hash_version tea", 2000, 4, 0 },
    { "", "ssv def_hash_version legacy", 2000, 4, 0 },
    { "", "ssv flags 2", 2000, 4, 0 },                /* unsigned */
    { "-O ^metadata_csum", "ssv flags 1", 2000, 4, 0 },       /* signed */
    { "-b 1024", NULL, 1000, 200, 1 },
    { "-b 1024 -O ^metadata_csum", "ssv def_hash_version tea", 1000, 200,
      1 },
  };
  size_t i;

  (void) state;
  for (i = 0; i < sizeof t / sizeof t[0]; i++)
    big_dir_made (BY_MKE2FS, t[i].mkfs, t[i].tune, 64, t[i].n, t[i].width,
                  t[i].levels);
}

/* A directory entry that breaks a rule is called corrupt with the rule
 * named (which block, which byte, what was expected), not with a bare
 * "corrupt": the third entry of /d gets a record length of 6.
 */
static void
test_dir_corrupt_named (void **state)
{
  const char *name = new_volume (64, NULL), *locals[1];
  char img[300], one[300];
  struct extfs *x;

  (void) state;
  snprintf (img, sizeof img, "%s/bad.img", fx.work);
  snprintf (one, sizeof one, "%s/one", fx.work);
  write_file (one, "one");
  assert_int_equal (test_run ("rm -f %s && truncate -s 64M %s && "
                              "mkfs.ext4 -q -F -b 4096 -O ^metadata_csum "
                              "%s && "
                              "debugfs -w -R 'mkdir /d' %s >/dev/null 2>&1 "
                              "&& printf 'cd /d\\nwrite %s a\\n' | debugfs -w "
                              "-f - %s >/dev/null 2>&1 && debugfs -R 'ls "
                              "/d' %s 2>/dev/null | grep -qw a && "
                              "b=$(debugfs -R 'blocks "
                              "/d' %s 2>/dev/null) && printf '\\006\\000' | "
                              "dd of=%s bs=1 seek=$((b * 4096 + 28)) "
                              "conv=notrunc 2>/dev/null", img, img, img,
                              img, one, img, img, img, img), 0);
  extfs_fixture_import (&fx, name, img, "a bad entry");
  x = open_fs (name, true, 0);
  locals[0] = one;
  assert_int_equal (extfs_put (x, locals, 1, "/d/b", 0), -EUCLEAN);
  if (strstr (fx.tlog.last_error, "the entry at byte 24 of block 0 has a "
              "record length of 6, expected a multiple of 4") == NULL)
    fail_msg ("the error does not name the rule: %s", fx.tlog.last_error);
  extfs_close (x);
  unlink (img);
  unlink (one);
}

/* Casefolded and encrypted directories: refused, as s3vol's limitation
 * (not called corrupt), and nothing changes.
 */
static void
test_dir_unsupported (void **state)
{
  static const struct {
    const char *flags, *words;
  } t[] = {
    { "0x40000000", "casefolded" },      /* EXT4_CASEFOLD_FL */
    { "0x800", "encrypted" },            /* EXT4_ENCRYPT_FL */
  };
  const char *name, *locals[1];
  char img[300], one[300];
  struct extfs *x;
  size_t i;

  (void) state;
  snprintf (one, sizeof one, "%s/one", fx.work);
  write_file (one, "one");
  locals[0] = one;
  snprintf (img, sizeof img, "%s/cf.img", fx.work);
  for (i = 0; i < sizeof t / sizeof t[0]; i++) {
    name = new_volume (64, NULL);
    assert_int_equal (test_run ("rm -f %s && truncate -s 64M %s && "
                                "mkfs.ext4 -q -F -O casefold,encrypt %s && "
                                "debugfs -w -R 'mkdir /d' %s >/dev/null "
                                "2>&1 && debugfs -w -R 'sif /d flags %s' "
                                "%s >/dev/null 2>&1", img, img, img, img,
                                t[i].flags, img), 0);
    extfs_fixture_import (&fx, name, img, "flagged dir");
    x = open_fs (name, true, 0);
    assert_int_equal (extfs_put (x, locals, 1, "/d/one", 0), -ENOTSUP);
    if (strstr (fx.tlog.last_error, t[i].words) == NULL ||
        strstr (fx.tlog.last_error, "s3vol limitation") == NULL ||
        strstr (fx.tlog.last_error, "corrupt"))
      fail_msg ("a %s directory: \"%s\"", t[i].words, fx.tlog.last_error);
    extfs_close (x);
  }
  unlink (img);
  unlink (one);
}

/* Two writers of one version, A publishing last: A's log is replayed on
 * B's head.  Both sets of changes survive; where both changed a path,
 * A's wins and A is told (only of those).
 */
static void
test_redo (void **state)
{
  static const char *const base[] = {
    "/both", "/gone", "/edited", "/src", "/csrc", "/arm", "/brm",
    "/rmdir/keep", NULL,
  };
  const char *name = new_volume (64, "");
  struct extfs_commit_result res;
  struct told ta = { 0 }, tb = { 0 };
  struct src l;
  char img[300];
  struct extfs_stat st;
  struct extfs *a, *b, *r;
  uint64_t bseq;

  (void) state;
  make_base (name, &l, base);
  a = open_told (name, &ta);
  b = open_told (name, &tb);
  /* Paths both change. */
  put1 (a, l.fa, "/both", EXTFS_FORCE);
  put1 (b, l.fb, "/both", EXTFS_FORCE);
  assert_int_equal (extfs_rm (a, "/gone", 0), 0);
  assert_int_equal (extfs_rm (b, "/gone", 0), 0);
  assert_int_equal (extfs_rm (a, "/edited", 0), 0);
  put1 (b, l.fb, "/edited", EXTFS_FORCE);
  assert_int_equal (extfs_cp (a, "/csrc", "/cpdst", 0), 0);
  put1 (b, l.fb, "/cpdst", 0);
  assert_int_equal (extfs_mkdir (a, "/m", 0), 0);
  assert_int_equal (extfs_mkdir (b, "/m", 0), 0);
  put1 (a, l.fa, "/m/a", 0);
  put1 (b, l.fb, "/m/b", 0);
  /* What A copies from, B changes: the replay copies B's. */
  assert_int_equal (extfs_cp (a, "/src", "/acp", 0), 0);
  put1 (b, l.fb, "/src", EXTFS_FORCE);
  /* A removes a directory B added to: B's file goes too. */
  put1 (b, l.fb, "/rmdir/bnew", 0);
  assert_int_equal (extfs_rm (a, "/rmdir", EXTFS_RECURSIVE), 0);
  /* Paths only one changes. */
  assert_int_equal (extfs_mkdir (a, "/adir/sub", EXTFS_PARENTS), 0);
  put1 (a, l.fa, "/adir/sub/", 0);
  assert_int_equal (extfs_rm (a, "/arm", 0), 0);
  assert_int_equal (extfs_mkdir (b, "/bdir", 0), 0);
  assert_int_equal (extfs_cp (b, "/both", "/bdir/bcp", 0), 0);
  assert_int_equal (extfs_rm (b, "/brm", 0), 0);

  commit (b, &res);
  assert_int_equal (res.rebases, 0);
  bseq = res.seq;
  assert_int_equal (head_of (name), bseq);
  commit (a, &res);
  assert_int_equal (res.rebases, 1);
  assert_true (res.changed);
  assert_int_equal (res.seq, bseq + 1);
  assert_int_equal (head_of (name), bseq + 1);
  assert_int_equal (ta.rebased, 1);
  assert_int_equal (ta.rebased_seq, bseq);
  /* Not /gone (both removed it) nor /src (A only read it). */
  assert_int_equal (ta.overwrote, 4);
  assert_true (told_of (&ta, "/both"));
  assert_true (told_of (&ta, "/edited"));
  assert_true (told_of (&ta, "/cpdst"));
  assert_true (told_of (&ta, "/rmdir"));
  assert_int_equal (ta.overwrote_seq, bseq);
  assert_int_equal (tb.rebased + tb.overwrote, 0);
  extfs_close (a);
  extfs_close (b);

  r = open_fs (name, false, 0);
  cat_is (r, "/both", "A");
  assert_int_equal (extfs_lstat (r, "/gone", &st), -ENOENT);
  assert_int_equal (extfs_lstat (r, "/edited", &st), -ENOENT);
  cat_is (r, "/cpdst", "base");
  cat_is (r, "/m/a", "A");
  cat_is (r, "/m/b", "B");
  cat_is (r, "/src", "B");
  cat_is (r, "/acp", "B");
  cat_is (r, "/adir/sub/fa", "A");
  assert_int_equal (extfs_lstat (r, "/arm", &st), -ENOENT);
  cat_is (r, "/bdir/bcp", "B");
  assert_int_equal (extfs_lstat (r, "/brm", &st), -ENOENT);
  assert_int_equal (extfs_lstat (r, "/rmdir", &st), -ENOENT);
  extfs_close (r);
  snprintf (img, sizeof img, "%s/check.img", fx.work);
  export_fsck (name, img);
  unlink (img);
}

/* Replays that cannot be done fail with their own error and publish
 * nothing: a file where A's put wants a directory, a source of A's cp
 * that B removed.
 */
static void
test_redo_fails (void **state)
{
  static const struct {
    int err;
    const char *msg;
  } want[] = {
    { -ENOTDIR, "/fa /p/new on version" },
    { -ENOENT, "cp /src /dst on version" },
  };
  static const char *const base[] = { "/p/old", "/src", NULL };
  const char *name = new_volume (64, "");
  struct extfs_commit_result res;
  struct told ta = { 0 };
  struct src l;
  struct extfs_stat st;
  struct extfs *a, *b;
  uint64_t bseq;
  size_t i;

  (void) state;
  make_base (name, &l, base);
  for (i = 0; i < sizeof want / sizeof want[0]; i++) {
    a = open_told (name, &ta);
    b = open_fs (name, true, 0);
    put1 (a, l.fa, "/other", EXTFS_FORCE);
    if (i == 0) {
      /* B replaces directory /p by a file; A puts into /p. */
      put1 (a, l.fa, "/p/new", 0);
      assert_int_equal (extfs_rm (b, "/p", EXTFS_RECURSIVE), 0);
      put1 (b, l.fb, "/p", 0);
    }
    else {
      assert_int_equal (extfs_cp (a, "/src", "/dst", 0), 0);
      assert_int_equal (extfs_rm (b, "/src", 0), 0);
    }
    commit (b, &res);
    bseq = res.seq;
    memset (&ta, 0, sizeof ta);
    assert_int_equal (extfs_commit (a, "test", &res), want[i].err);
    assert_non_null (strstr (fx.tlog.last_error, "could not redo "));
    assert_non_null (strstr (fx.tlog.last_error, want[i].msg));
    assert_int_equal (head_of (name), bseq);
    assert_int_equal (ta.rebased, 1);
    assert_int_equal (ta.overwrote, 0);
    extfs_close (a);
    extfs_close (b);
  }

  /* Only B's changes are there. */
  a = open_fs (name, false, 0);
  cat_is (a, "/p", "B");
  assert_int_equal (extfs_lstat (a, "/other", &st), -ENOENT);
  assert_int_equal (extfs_lstat (a, "/src", &st), -ENOENT);
  assert_int_equal (extfs_lstat (a, "/dst", &st), -ENOENT);
  extfs_close (a);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_pread),
    cmocka_unit_test (test_edit),
    cmocka_unit_test (test_rebase),
    cmocka_unit_test (test_full),
    cmocka_unit_test (test_not_ext4),
    cmocka_unit_test (test_journal),
    cmocka_unit_test (test_replay_cache),
    cmocka_unit_test (test_fsck),
    cmocka_unit_test (test_big_dir),
    cmocka_unit_test (test_big_dir_made),
    cmocka_unit_test (test_dir_unsupported),
    cmocka_unit_test (test_dir_corrupt_named),
    cmocka_unit_test (test_redo),
    cmocka_unit_test (test_redo_fails),
  };

  fprintf (stderr, "extfs on %s\n", test_store_url ());
  return cmocka_run_group_tests (tests, setup, teardown);
}
