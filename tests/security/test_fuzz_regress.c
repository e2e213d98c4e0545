/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security: regressions of what the fuzzers (tests/fuzz/) found,
 * as plain tests that need no clang.  Their inputs are also in the
 * fuzzers' seed corpora (tests/fuzz/corpus/), which make check replays.
 *
 *   - an inline-data directory: libext2fs hands over its ".." as an
 *     ordinary entry, so ls listed ".." and get -r of a sound volume
 *     failed, calling the entry a hostile name (fuzz_ext4_read);
 *   - an inode time past 2262 (ext4's extra epoch bits): turning it
 *     into nanoseconds overflowed an int64_t (fuzz_ext4_read, UBSan);
 *   - a superblock whose first data block does not fit its block size:
 *     libext2fs's ext2fs_read_bitmaps wrote past a heap buffer when a
 *     writer opened it (fuzz_ext4_edit, ASan); now refused at open;
 *   - a directory entry whose name holds a NUL byte: the listing kept a
 *     copy cut at the NUL and get read it at its full length, past the
 *     heap buffer (fuzz_ext4_read, ASan: make check-asan sees it here).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/extfs.h"
#include "extfs_fixture.h"
#include "testutil.h"

static struct extfs_fixture fx;
static int volno;

static int
setup (void **state)
{
  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4 debugfs", "s3vol-fuzzreg");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  extfs_fixture_teardown (&fx);
  return 0;
}

/* An image made by mkfs.ext4 -d from a small tree (a directory d with
 * a file f, a file hello), then the debugfs command cmd (or none),
 * imported as a new volume; its name.
 */
static const char *
volume_of (const char *mkfs_opts, const char *cmd)
{
  static char name[32];
  char tree[300], img[300];

  snprintf (tree, sizeof tree, "%s/tree", fx.work);
  snprintf (img, sizeof img, "%s/img", fx.work);
  assert_int_equal (test_run ("rm -rf %s %s && mkdir -p %s/d && "
                              "echo f > %s/d/f && echo hi > %s/hello && "
                              "truncate -s 4M %s && mkfs.ext4 -q -F %s "
                              "-d %s %s", tree, img, tree, tree, tree,
                              img, mkfs_opts, tree, img), 0);
  if (cmd)
    assert_int_equal (test_run ("debugfs -w -R '%s' %s >/dev/null 2>&1",
                                cmd, img), 0);
  snprintf (name, sizeof name, "fuzzreg%d-%d", volno++, (int) getpid ());
  assert_int_equal (volstore_create (fx.vs, name, 4u << 20, 0, NULL), 0);
  extfs_fixture_import (&fx, name, img, "fuzz regression");
  return name;
}

static struct extfs *
open_ro (const char *name)
{
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .tmpdir = fx.work,
  };
  struct extfs *x = NULL;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  return x;
}

static int
count_entry (void *opaque, const char *name, const struct extfs_stat *st,
             const char *target)
{
  unsigned *n = opaque;

  (void) st;
  (void) target;
  fprintf (stderr, "  entry \"%s\"\n", name);
  if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
    fail_msg ("extfs_list returned \"%s\"", name);
  (*n)++;
  return 0;
}

static void
test_inline_dotdot (void **state)
{
  const char *name = volume_of ("-b 1024 -I 256 -O inline_data,"
                                "^has_journal", NULL);
  struct extfs *x = open_ro (name);
  char local[300], f[320];
  struct stat st;
  unsigned n = 0;

  (void) state;
  assert_int_equal (extfs_list (x, "/d", false, count_entry, &n), 0);
  assert_int_equal (n, 1);                      /* f only */
  snprintf (local, sizeof local, "%s/out", fx.work);
  assert_int_equal (test_run ("rm -rf %s", local), 0);
  assert_int_equal (extfs_get (x, "/", local, EXTFS_RECURSIVE), 0);
  snprintf (f, sizeof f, "%s/d/f", local);
  assert_int_equal (stat (f, &st), 0);
  extfs_close (x);
}

static void
test_far_future_time (void **state)
{
  /* Epoch bits 3: seconds 0x3xxxxxxxx, the year 2446 at most. */
  const char *name = volume_of ("-b 1024 -I 256 -O ^has_journal",
                                "sif /hello mtime_extra 3");
  struct extfs *x = open_ro (name);
  struct extfs_stat st;
  const int64_t last = (INT64_MAX / 1000000000 - 1) * 1000000000;

  (void) state;
  assert_int_equal (extfs_lstat (x, "/hello", &st), 0);
  fprintf (stderr, "  mtime_ns %lld\n", (long long) st.mtime_ns);
  /* Kept at the last second nanoseconds can hold, not wrapped. */
  assert_true (st.mtime_ns >= last);
  extfs_close (x);
}

static void
test_first_data_block (void **state)
{
  const char *name = volume_of ("-b 1024 -O ^has_journal,^metadata_csum",
                                "ssv first_data_block 17");
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .tmpdir = fx.work,
  };
  struct extfs *x = NULL;

  (void) state;
  cfg.writable = true;
  assert_int_equal (extfs_open (fx.vs, &cfg, &x), -EUCLEAN);
  assert_null (x);
  cfg.writable = false;
  assert_int_equal (extfs_open (fx.vs, &cfg, &x), -EUCLEAN);
  assert_null (x);
}

/* Replace the first "from" in file path by "to" (as long). */
static void
patch_file (const char *path, const char *from, const char *to, size_t n)
{
  static char buf[4u << 20];
  FILE *f = fopen (path, "r+b");
  size_t len;
  char *at;

  assert_non_null (f);
  len = fread (buf, 1, sizeof buf, f);
  at = memmem (buf, len, from, n);
  assert_non_null (at);
  assert_int_equal (fseek (f, at - buf, SEEK_SET), 0);
  assert_int_equal (fwrite (to, 1, n, f), n);
  assert_int_equal (fclose (f), 0);
}

static void
test_nul_name (void **state)
{
  char tree[300], img[300], local[300];
  const char *name;
  struct extfs *x;

  (void) state;
  snprintf (tree, sizeof tree, "%s/tree", fx.work);
  snprintf (img, sizeof img, "%s/img", fx.work);
  assert_int_equal (test_run ("rm -rf %s %s && mkdir -p %s/d && "
                              "echo x > %s/d/nulXname && truncate -s 4M %s "
                              "&& mkfs.ext4 -q -F -b 1024 -O ^has_journal,"
                              "^metadata_csum -d %s %s", tree, img, tree,
                              tree, img, tree, img), 0);
  patch_file (img, "nulXname", "nul\0name", 8);
  name = "fuzzreg-nul";
  assert_int_equal (volstore_create (fx.vs, name, 4u << 20, 0, NULL), 0);
  extfs_fixture_import (&fx, name, img, "a name with a NUL");
  x = open_ro (name);
  snprintf (local, sizeof local, "%s/nulout", fx.work);
  /* The entry is skipped as a name that cannot be local. */
  assert_int_equal (extfs_get (x, "/", local, EXTFS_RECURSIVE), -EUCLEAN);
  extfs_close (x);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_inline_dotdot),
    cmocka_unit_test (test_far_future_time),
    cmocka_unit_test (test_first_data_block),
    cmocka_unit_test (test_nul_name),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
