/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security: hostile ext4 images (a volume's contents are written
 * by a less trusted party).  Crafted with libext2fs on a fresh mkfs.ext4
 * image, imported as a volume, then read with extfs:
 *
 *   - directory entries named "..", "../x", "a/b", and a symlink to a
 *     local directory followed by a raw entry "evil/x": get -r must not
 *     create, chown or chmod anything outside LOCAL;
 *   - a directory entry pointing at its own directory: get -r, cp -r and
 *     rm -r must stop (no unbounded recursion); 1100 nested directories:
 *     get -r stops at its depth bound;
 *   - an inline-data symlink whose system.data xattr is far bigger than
 *     any buffer: readlink, ls -l and get must refuse it (ls: list it
 *     without a target), not overflow;
 *   - a file whose extents are out of order: cat/get must refuse it.
 *
 * The risky calls run in a child process, so a crash fails one test.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "s3vol/extfs.h"
#include "s3vol/import.h"
#include "extfs_fixture.h"
#include "testutil.h"

static struct extfs_fixture fx;
static int volno;
static unsigned badnames;

static int
setup (void **state)
{
  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4", "s3vol-hostile");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  extfs_fixture_teardown (&fx);
  return 0;
}

/* ---- crafting ---- */

#define CHECK(e) do {                                                   \
    errcode_t e_ = (e);                                                 \
    if (e_)                                                             \
      fail_msg ("%s: error %ld", #e, (long) e_);                        \
  } while (0)

/* A fresh image (mkfs.ext4 with opts), opened read-write. */
static ext2_filsys
mkimage (const char *img, const char *opts)
{
  ext2_filsys fs;

  assert_int_equal (test_run ("rm -f %s && truncate -s 32M %s && mkfs.ext4 -q "
                              "-F %s %s", img, img, opts, img), 0);
  CHECK (ext2fs_open (img, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0,
                      unix_io_manager, &fs));
  CHECK (ext2fs_read_bitmaps (fs));
  return fs;
}

/* A raw entry: no check of the name, of duplicates or of the type. */
static void
raw_link (ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
          int ftype)
{
  errcode_t e = ext2fs_link (fs, dir, name, ino, ftype);

  if (e == EXT2_ET_DIR_NO_SPACE) {
    CHECK (ext2fs_expand_dir (fs, dir));
    e = ext2fs_link (fs, dir, name, ino, ftype);
  }
  CHECK (e);
}

static ext2_ino_t
mkdir_in (ext2_filsys fs, ext2_ino_t parent, const char *name,
          uint32_t mode, uint32_t uid)
{
  struct ext2_inode in;
  ext2_ino_t ino;

  CHECK (ext2fs_mkdir (fs, parent, 0, name));
  CHECK (ext2fs_namei (fs, EXT2_ROOT_INO, parent, name, &ino));
  CHECK (ext2fs_read_inode (fs, ino, &in));
  in.i_mode = LINUX_S_IFDIR | mode;
  in.i_uid = uid;
  in.i_gid = uid;
  CHECK (ext2fs_write_inode (fs, ino, &in));
  return ino;
}

/* A regular file holding text, not linked anywhere. */
static ext2_ino_t
new_file (ext2_filsys fs, ext2_ino_t dir, const char *text)
{
  struct ext2_inode in;
  ext2_file_t f;
  ext2_ino_t ino;
  unsigned got;

  CHECK (ext2fs_new_inode (fs, dir, LINUX_S_IFREG | 0644, NULL, &ino));
  ext2fs_inode_alloc_stats2 (fs, ino, +1, 0);
  memset (&in, 0, sizeof in);
  in.i_mode = LINUX_S_IFREG | 0644;
  in.i_links_count = 1;
  in.i_flags = EXT4_EXTENTS_FL;
  CHECK (ext2fs_write_new_inode (fs, ino, &in));
  {
    ext2_extent_handle_t h;
    CHECK (ext2fs_extent_open2 (fs, ino, &in, &h));
    ext2fs_extent_free (h);
  }
  CHECK (ext2fs_read_inode (fs, ino, &in));
  in.i_flags |= EXT4_EXTENTS_FL;
  CHECK (ext2fs_write_inode (fs, ino, &in));
  CHECK (ext2fs_file_open (fs, ino, EXT2_FILE_WRITE, &f));
  CHECK (ext2fs_file_write (f, text, strlen (text), &got));
  CHECK (ext2fs_file_close (f));
  return ino;
}

/* A fast symlink to target (< 60 bytes), not linked. */
static ext2_ino_t
new_symlink (ext2_filsys fs, ext2_ino_t dir, const char *target)
{
  struct ext2_inode in;
  ext2_ino_t ino;

  CHECK (ext2fs_new_inode (fs, dir, LINUX_S_IFLNK | 0777, NULL, &ino));
  ext2fs_inode_alloc_stats2 (fs, ino, +1, 0);
  memset (&in, 0, sizeof in);
  in.i_mode = LINUX_S_IFLNK | 0777;
  in.i_links_count = 1;
  in.i_size = strlen (target);
  memcpy (in.i_block, target, strlen (target));
  CHECK (ext2fs_write_new_inode (fs, ino, &in));
  return ino;
}

/* Close the crafted image and import it as a new volume. */
static const char *
publish (ext2_filsys fs, const char *img)
{
  static char name[32];

  CHECK (ext2fs_close_free (&fs));
  snprintf (name, sizeof name, "hostile%d-%d", volno++, (int) getpid ());
  assert_int_equal (volstore_create (fx.vs, name, 32u << 20, 0, NULL), 0);
  extfs_fixture_import (&fx, name, img, "hostile image");
  return name;
}

static void
tell (void *opaque, enum extfs_event ev, const char *path, uint64_t seq)
{
  (void) opaque;
  (void) seq;
  fprintf (stderr, "  event %d: %s\n", (int) ev, path);
  if (ev == EXTFS_EV_BADNAME)
    badnames++;
}

static struct extfs *
open_fs (const char *name, bool writable)
{
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .writable = writable,
    .tmpdir = fx.work, .notify = { tell, NULL },
  };
  struct extfs *x = NULL;

  assert_int_equal (extfs_open (fx.vs, &cfg, &x), 0);
  return x;
}

/* Run fn in a child; its exit status (a signal: 128 + it). */
static int
in_child (int (*fn) (void *), void *arg)
{
  int status;
  pid_t pid = fork ();

  assert_true (pid >= 0);
  if (pid == 0)
    _exit (fn (arg));
  assert_int_equal (waitpid (pid, &status, 0), pid);
  if (WIFSIGNALED (status)) {
    fprintf (stderr, "  child killed by signal %d\n", WTERMSIG (status));
    return 128 + WTERMSIG (status);
  }
  return WEXITSTATUS (status);
}

/* ---- escapes from get -r ---- */

struct getargs {
  const char *volume, *remote, *local;
  int rc;
};

static int
child_get (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, false);
  int r;

  badnames = 0;
  r = extfs_get (x, ga->remote, ga->local, EXTFS_RECURSIVE);
  extfs_close (x);
  fprintf (stderr, "  get -r %s: %d (%s), %u bad names told\n", ga->remote,
           r, r ? strerror (-r) : "ok", badnames);
  /* 0: refused with an error and bad names told; 1: succeeded. */
  return r < 0 && badnames > 0 ? 0 : r == 0 ? 1 : 2;
}

/* Only these names may be in dir. */
static void
only (const char *dir, const char *const *names)
{
  char cmd[600], line[300];
  FILE *p;
  size_t i;

  snprintf (cmd, sizeof cmd, "ls -A '%s'", dir);
  p = popen (cmd, "r");
  assert_non_null (p);
  while (fgets (line, sizeof line, p)) {
    line[strcspn (line, "\n")] = '\0';
    for (i = 0; names[i] && strcmp (names[i], line); i++)
      ;
    if (names[i] == NULL)
      fail_msg ("%s/%s was created outside LOCAL", dir, line);
  }
  pclose (p);
}

static int
child_rm_tree (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, true);
  struct extfs_commit_result res;
  struct extfs_stat st;
  int r;

  r = extfs_rm (x, ga->remote, EXTFS_RECURSIVE);
  if (r == 0)
    r = extfs_commit (x, "rm", &res);
  extfs_close (x);
  fprintf (stderr, "  rm -r %s: %d\n", ga->remote, r);
  if (r < 0)
    return 1;
  x = open_fs (ga->volume, false);
  r = extfs_lstat (x, ga->remote, &st);
  extfs_close (x);
  return r == -ENOENT ? 0 : 2;
}

static void
test_escape (void **state)
{
  char img[300], top[300], canary[300], local[300], link[300];
  const char *const top_names[] = { "canary", "local", NULL };
  const char *const none[] = { NULL };
  ext2_ino_t d, evil, f, e;
  ext2_filsys fs;
  struct stat before, after, cbefore, cafter;
  struct getargs ga;
  const char *name;
  int rc;

  (void) state;
  snprintf (img, sizeof img, "%s/escape.img", fx.work);
  snprintf (top, sizeof top, "%s/top", fx.work);
  snprintf (canary, sizeof canary, "%s/canary", top);
  snprintf (local, sizeof local, "%s/local", top);
  assert_int_equal (test_run ("rm -rf %s && mkdir -p %s %s && chmod 0750 %s "
                              "%s", top, canary, local, top, canary), 0);
  assert_int_equal (stat (top, &before), 0);
  assert_int_equal (stat (canary, &cbefore), 0);

  fs = mkimage (img, "-O ^has_journal");
  d = mkdir_in (fs, EXT2_ROOT_INO, "d", 0755, 0);
  new_file (fs, d, "ok\n");
  raw_link (fs, d, "fine", new_file (fs, d, "fine\n"), EXT2_FT_REG_FILE);
  /* A directory named "..": its attributes would land on LOCAL's
   * parent, its files beside LOCAL.
   */
  evil = mkdir_in (fs, d, "evil", 0777, 4242);
  raw_link (fs, evil, "pwned-dotdot", new_file (fs, evil, "x\n"),
            EXT2_FT_REG_FILE);
  raw_link (fs, d, "..", evil, EXT2_FT_DIR);
  raw_link (fs, d, ".", evil, EXT2_FT_DIR);
  /* Names with a slash. */
  raw_link (fs, d, "../pwned-slash", new_file (fs, d, "x\n"),
            EXT2_FT_REG_FILE);
  raw_link (fs, d, "../../pwned-slash2", new_file (fs, d, "x\n"),
            EXT2_FT_REG_FILE);
  /* A symlink to a local directory, then an entry under it. */
  snprintf (link, sizeof link, "%s", canary);
  if (strlen (link) >= 60)
    skip ();
  e = new_symlink (fs, d, link);
  raw_link (fs, d, "lnk", e, EXT2_FT_SYMLINK);
  f = new_file (fs, d, "x\n");
  raw_link (fs, d, "lnk/pwned-symlink", f, EXT2_FT_REG_FILE);
  name = publish (fs, img);

  ga = (struct getargs) { name, "/d", local, 0 };
  rc = in_child (child_get, &ga);
  test_run ("find %s -ls >&2", top);
  only (top, top_names);
  only (canary, none);
  assert_int_equal (stat (top, &after), 0);
  assert_int_equal (stat (canary, &cafter), 0);
  if (before.st_mode != after.st_mode || before.st_uid != after.st_uid ||
      before.st_gid != after.st_gid)
    fail_msg ("the directory above LOCAL was changed: mode %o -> %o, uid "
              "%u -> %u", (unsigned) before.st_mode,
              (unsigned) after.st_mode, (unsigned) before.st_uid,
              (unsigned) after.st_uid);
  if (cbefore.st_mode != cafter.st_mode || cbefore.st_uid != cafter.st_uid)
    fail_msg ("the canary directory was chmod/chowned");
  /* The good files came out; the bad names were refused, each told. */
  snprintf (link, sizeof link, "%s/d/fine", local);
  assert_int_equal (access (link, F_OK), 0);
  if (rc != 0)
    fail_msg ("get -r of hostile names: child status %d (want: an error, "
              "each bad name told)", rc);
  /* And rm -r removes them with their directory. */
  rc = in_child (child_rm_tree, &ga);
  if (rc != 0)
    fail_msg ("rm -r of a directory with hostile names: status %d", rc);
}

/* ---- loops ---- */

static int
child_get_loop (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, false);
  int r = extfs_get (x, ga->remote, ga->local, EXTFS_RECURSIVE);

  extfs_close (x);
  fprintf (stderr, "  get -r %s: %d\n", ga->remote, r);
  return r < 0 ? 0 : 1;
}

static int
child_rm_loop (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, true);
  int r = extfs_rm (x, ga->remote, EXTFS_RECURSIVE);

  fprintf (stderr, "  rm -r %s: %d\n", ga->remote, r);
  extfs_close (x);
  return 0;
}

static int
child_cp_loop (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, true);
  int r = extfs_cp (x, ga->remote, "/copy", EXTFS_RECURSIVE);

  fprintf (stderr, "  cp -r %s: %d\n", ga->remote, r);
  extfs_close (x);
  return r < 0 ? 0 : 1;
}

static void
test_loop (void **state)
{
  char img[300], local[300];
  ext2_ino_t d, sub;
  ext2_filsys fs;
  struct getargs ga;
  const char *name;
  int rc_get, rc_rm, rc_cp;

  (void) state;
  snprintf (img, sizeof img, "%s/loop.img", fx.work);
  snprintf (local, sizeof local, "%s/loop-out", fx.work);
  fs = mkimage (img, "-O ^has_journal");
  d = mkdir_in (fs, EXT2_ROOT_INO, "d", 0755, 0);
  sub = mkdir_in (fs, d, "sub", 0755, 0);
  raw_link (fs, d, "self", d, EXT2_FT_DIR);
  raw_link (fs, sub, "up", d, EXT2_FT_DIR);
  name = publish (fs, img);

  ga = (struct getargs) { name, "/d", local, 0 };
  rc_get = in_child (child_get_loop, &ga);
  rc_cp = in_child (child_cp_loop, &ga);
  rc_rm = in_child (child_rm_loop, &ga);
  if (rc_get || rc_cp || rc_rm)
    fail_msg ("a directory loop: get -r status %d, cp -r %d, rm -r %d "
              "(want 0: stopped with an error)", rc_get, rc_cp, rc_rm);
}

/* A chain of 1100 nested directories: get -r must stop at its depth
 * bound with an error, not run out of stack.
 */
static void
test_deep (void **state)
{
  char img[300], local[300];
  ext2_ino_t d = EXT2_ROOT_INO;
  ext2_filsys fs;
  struct getargs ga;
  int i, rc;

  (void) state;
  snprintf (img, sizeof img, "%s/deep.img", fx.work);
  snprintf (local, sizeof local, "%s/deep-out", fx.work);
  fs = mkimage (img, "-O ^has_journal -N 4096");
  for (i = 0; i < 1100; i++)
    d = mkdir_in (fs, d, "d", 0755, 0);
  ga = (struct getargs) { publish (fs, img), "/d", local, 0 };
  rc = in_child (child_get_loop, &ga);
  if (rc != 0)
    fail_msg ("get -r of 1100 nested directories: child status %d (want "
              "0: stopped with an error)", rc);
}

/* ---- oversized inline data ---- */

static int
list_one (void *opaque, const char *name, const struct extfs_stat *st,
          const char *target)
{
  (void) opaque;
  (void) st;
  fprintf (stderr, "  ls: %s -> %.20s...\n", name, target ? target : "");
  return 0;
}

/* Writable handles refuse inline_data filesystems: readlink, ls -l and
 * get (cp needs a writable handle, so cannot reach it).
 */
static int
child_inline (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, false);
  char buf[4096], local[300];
  int r1, r2, r3;

  r1 = extfs_readlink (x, "/big", buf, sizeof buf);
  snprintf (local, sizeof local, "%s/inline-out", ga->local);
  r2 = extfs_get (x, "/big", local, 0);
  r3 = extfs_list (x, "/", true, list_one, NULL);
  fprintf (stderr, "  readlink %d, get %d, ls -l %d\n", r1, r2, r3);
  extfs_close (x);
  return r1 < 0 && r2 < 0 && r3 == 0 ? 0 : 1;
}

static void
test_inline (void **state)
{
  char img[300];
  struct ext2_inode_large in;
  struct ext2_xattr_handle *h;
  ext2_filsys fs;
  ext2_ino_t ino;
  struct getargs ga;
  char *big;
  int rc;

  (void) state;
  snprintf (img, sizeof img, "%s/inline.img", fx.work);
  fs = mkimage (img, "-b 65536 -I 16384 -O inline_data,^has_journal");
  CHECK (ext2fs_new_inode (fs, EXT2_ROOT_INO, LINUX_S_IFLNK | 0777, NULL,
                           &ino));
  ext2fs_inode_alloc_stats2 (fs, ino, +1, 0);
  memset (&in, 0, sizeof in);
  in.i_mode = LINUX_S_IFLNK | 0777;
  in.i_links_count = 1;
  in.i_size = 100;              /* not a fast symlink: read inline */
  in.i_flags = EXT4_INLINE_DATA_FL;
  in.i_extra_isize = sizeof in - EXT2_GOOD_OLD_INODE_SIZE;
  memset (in.i_block, 'A', sizeof in.i_block);
  CHECK (ext2fs_write_new_inode (fs, ino, (struct ext2_inode *) &in));
  big = malloc (12000);
  assert_non_null (big);
  memset (big, 'B', 12000);
  CHECK (ext2fs_xattrs_open (fs, ino, &h));
  CHECK (ext2fs_xattrs_read (h));
  CHECK (ext2fs_xattr_set (h, "system.data", big, 12000));
  CHECK (ext2fs_xattrs_close (&h));
  free (big);
  raw_link (fs, EXT2_ROOT_INO, "big", ino, EXT2_FT_SYMLINK);
  ga = (struct getargs) { publish (fs, img), "/big", fx.work, 0 };
  rc = in_child (child_inline, &ga);
  if (rc != 0)
    fail_msg ("an inline symlink with 12000 bytes of system.data: child "
              "status %d (want 0: each refused)", rc);
}

/* ---- extents out of order ---- */

static int
child_extents (void *opaque)
{
  struct getargs *ga = opaque;
  struct extfs *x = open_fs (ga->volume, false);
  char out[300];
  struct stat st;
  int fd, r;

  snprintf (out, sizeof out, "%s/extents.out", ga->local);
  fd = open (out, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0)
    return 3;
  r = extfs_cat (x, "/f", fd);
  fstat (fd, &st);
  close (fd);
  extfs_close (x);
  fprintf (stderr, "  cat of out-of-order extents: %d, %lld bytes out\n",
           r, (long long) st.st_size);
  return r == -EUCLEAN && st.st_size <= 11 * 4096 ? 0 : 1;
}

static void
test_extents (void **state)
{
  char img[300];
  struct ext2_inode in;
  struct ext3_extent_header *eh;
  struct ext3_extent *ex;
  ext2_filsys fs;
  ext2_ino_t ino;
  blk64_t b1, b2;
  struct getargs ga;
  int rc;

  (void) state;
  snprintf (img, sizeof img, "%s/extents.img", fx.work);
  fs = mkimage (img, "-b 4096 -O ^has_journal");
  CHECK (ext2fs_new_inode (fs, EXT2_ROOT_INO, LINUX_S_IFREG | 0644, NULL,
                           &ino));
  ext2fs_inode_alloc_stats2 (fs, ino, +1, 0);
  CHECK (ext2fs_new_block2 (fs, 0, NULL, &b1));
  ext2fs_block_alloc_stats2 (fs, b1, +1);
  CHECK (ext2fs_new_block2 (fs, 0, NULL, &b2));
  ext2fs_block_alloc_stats2 (fs, b2, +1);
  memset (&in, 0, sizeof in);
  in.i_mode = LINUX_S_IFREG | 0644;
  in.i_links_count = 1;
  in.i_size = 11 * 4096;
  in.i_flags = EXT4_EXTENTS_FL;
  in.i_blocks = 2 * 8;
  eh = (struct ext3_extent_header *) in.i_block;
  eh->eh_magic = ext2fs_cpu_to_le16 (EXT3_EXT_MAGIC);
  eh->eh_entries = ext2fs_cpu_to_le16 (2);
  eh->eh_max = ext2fs_cpu_to_le16 (4);
  eh->eh_depth = 0;
  ex = (struct ext3_extent *) (eh + 1);
  ex[0].ee_block = ext2fs_cpu_to_le32 (10);
  ex[0].ee_len = ext2fs_cpu_to_le16 (1);
  ex[0].ee_start = ext2fs_cpu_to_le32 ((uint32_t) b1);
  ex[1].ee_block = ext2fs_cpu_to_le32 (0);
  ex[1].ee_len = ext2fs_cpu_to_le16 (1);
  ex[1].ee_start = ext2fs_cpu_to_le32 ((uint32_t) b2);
  CHECK (ext2fs_write_new_inode (fs, ino, &in));
  raw_link (fs, EXT2_ROOT_INO, "f", ino, EXT2_FT_REG_FILE);
  ga = (struct getargs) { publish (fs, img), "/f", fx.work, 0 };
  rc = in_child (child_extents, &ga);
  if (rc != 0)
    fail_msg ("a file with extents out of order: child status %d (want 0: "
              "-EUCLEAN, nothing past its size written)", rc);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_escape),
    cmocka_unit_test (test_loop),
    cmocka_unit_test (test_deep),
    cmocka_unit_test (test_inline),
    cmocka_unit_test (test_extents),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
