/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: extfs_data_runs (s3vol/extfs_map.h), the data runs of a volume
 * file, against files whose holes are known: made locally with holes
 * at block boundaries, put into an ext4 image by mkfs.ext4 -d (which
 * keeps holes), imported as a version of a volume on the store under
 * test.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3vol/extfs_map.h"
#include "extfs_fixture.h"
#include "testutil.h"

static struct extfs_fixture fx;

struct runs {
  uint64_t r[16][2];
  size_t n;
};

static int
collect (void *opaque, uint64_t off, uint64_t len)
{
  struct runs *rs = opaque;

  if (rs->n == 16)
    return -ENOSPC;
  rs->r[rs->n][0] = off;
  rs->r[rs->n][1] = len;
  rs->n++;
  return 0;
}

static int
stop_at_first (void *opaque, uint64_t off, uint64_t len)
{
  (void) opaque; (void) off; (void) len;
  return 7;
}

static void
expect (struct extfs *x, const char *path, const uint64_t (*want)[2],
        size_t n)
{
  struct runs rs = { .n = 0 };
  size_t i;

  assert_int_equal (extfs_data_runs (x, path, collect, &rs), 0);
  if (rs.n != n)
    fail_msg ("%s: %zu runs, want %zu", path, rs.n, n);
  for (i = 0; i < n; i++)
    if (rs.r[i][0] != want[i][0] || rs.r[i][1] != want[i][1])
      fail_msg ("%s: run %zu is %" PRIu64 "+%" PRIu64 ", want %" PRIu64
                "+%" PRIu64, path, i, rs.r[i][0], rs.r[i][1], want[i][0],
                want[i][1]);
}

static void
test_data_runs (void **state)
{
  static const uint64_t sparse[][2] = {
    { 0, 4096 }, { 1u << 20, 8192 }, { 5u << 20, 100 },
  };
  static const uint64_t small[][2] = { { 0, 5000 } };
  char dir[300], img[300];
  const char *name = "maps";
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .tmpdir = fx.work,
  };
  struct runs rs = { .n = 0 };
  struct extfs *x;

  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4", "s3vol-extfs-map-test");
  snprintf (dir, sizeof dir, "%s/tree", fx.work);
  snprintf (img, sizeof img, "%s/maps.img", fx.work);
  /* sparse: 4 KiB at 0, 8 KiB at 1 MiB, 100 bytes at 5 MiB (the end);
   * hole: 3 MiB of nothing; tail-hole: data then a hole to 2 MiB
   */
  assert_int_equal (test_run (
    "mkdir -p %s/d && cd %s && head -c 4096 /dev/urandom > sparse && "
    "head -c 8192 /dev/urandom | dd of=sparse bs=1M seek=1 conv=notrunc "
    "2>/dev/null && head -c 100 /dev/urandom | dd of=sparse bs=1M seek=5 "
    "conv=notrunc 2>/dev/null && truncate -s 3M hole && "
    "head -c 5000 /dev/urandom > small && head -c 4096 /dev/urandom > "
    "tail-hole && truncate -s 2M tail-hole && ln -s sparse link && "
    "truncate -s 64M %s && mkfs.ext4 -q -F -d %s %s", dir, dir, img, dir,
    img), 0);
  assert_int_equal (volstore_create (fx.vs, name, 64u << 20, 0, NULL), 0);
  extfs_fixture_import (&fx, name, img, "maps");
  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);

  expect (x, "/sparse", sparse, 3);
  expect (x, "/link", sparse, 3);               /* through symlinks */
  expect (x, "/hole", NULL, 0);
  expect (x, "/small", small, 1);
  expect (x, "/tail-hole", sparse, 1);          /* 0+4096, then a hole */
  assert_int_equal (extfs_data_runs (x, "/sparse", stop_at_first, NULL), 7);
  assert_int_equal (extfs_data_runs (x, "/d", collect, &rs), -EISDIR);
  assert_int_equal (extfs_data_runs (x, "/none", collect, &rs), -ENOENT);
  extfs_close (x);
  assert_int_equal (test_run ("rm -rf %s %s", dir, img), 0);
  extfs_fixture_teardown (&fx);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_data_runs),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
