/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security: hostile ext4 images for extfs (a volume's image is
 * untrusted).
 *
 *   journal  needs_recovery set and a log that is a ring of descriptor
 *            and revoke blocks with no commit block: the replay must end,
 *            refusing the volume as corrupt
 *   htree    a directory index whose root or first node lies: count
 *            over limit, a limit past the end of the block, a wrong
 *            info_length, too many indirect levels, levels where there
 *            are none, an unknown hash, a block outside the directory:
 *            adding and removing names there must be refused with one
 *            error naming the directory inode
 *
 * In every case no version may be published: the volume's head stays
 * the hostile image, byte for byte.  Each attempt runs in a child with
 * a time limit, so a hang or a crash of the code under test fails the
 * test instead of stopping it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/extfs.h"
#include "s3vol/import.h"
#include "extfs_fixture.h"
#include "testutil.h"

#define LIMIT_SECONDS 20

static struct extfs_fixture fx;
static int volno;

static int
setup (void **state)
{
  (void) state;
  extfs_fixture_setup (&fx, "mkfs.ext4 debugfs e2fsck", "s3vol-sec-jh");
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  extfs_fixture_teardown (&fx);
  return 0;
}

/* A new volume whose only version is image file img; its name. */
static const char *
import_new (const char *img)
{
  static char name[32];
  struct stat st;

  snprintf (name, sizeof name, "sec%d-%d", volno++, (int) getpid ());
  assert_int_equal (stat (img, &st), 0);
  assert_int_equal (volstore_create (fx.vs, name, st.st_size, 0, NULL), 0);
  extfs_fixture_import (&fx, name, img, "hostile image");
  return name;
}

static uint64_t
head_of (const char *name)
{
  struct vol_info info;

  assert_int_equal (volstore_info (fx.vs, name, &info), 0);
  return info.head;
}

/* Is the head of volume name still image img, byte for byte (so that
 * e2fsck -fn finds it as it found the original)?
 */
static bool
head_is (const char *name, const char *img)
{
  char out[300];
  struct volume *v;
  uint64_t i, n;
  void *buf;
  int fd;

  snprintf (out, sizeof out, "%s/head.img", fx.work);
  fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (volume_open (fx.vs, name, NULL, &v), 0);
  buf = malloc (volume_chunk_size (v));
  assert_non_null (buf);
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
  fd = test_run ("cmp -s %s %s", out, img);
  unlink (out);
  return fd == 0;
}

/* Bytes of an image file. */
static void
poke (const char *img, uint64_t off, const void *p, size_t n)
{
  int fd = open (img, O_RDWR);

  assert_true (fd >= 0);
  assert_int_equal (pwrite (fd, p, n, off), (ssize_t) n);
  close (fd);
}

static void
peek (const char *img, uint64_t off, void *p, size_t n)
{
  int fd = open (img, O_RDONLY);

  assert_true (fd >= 0);
  assert_int_equal (pread (fd, p, n, off), (ssize_t) n);
  close (fd);
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

/* A number a shell command prints. */
static uint64_t
number (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static uint64_t
number (const char *fmt, ...)
{
  char cmd[4096], out[300];
  unsigned long long v = 0;
  va_list ap;
  FILE *fp;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  snprintf (out, sizeof out, "%s/number", fx.work);
  if (test_run ("{ %s; } > %s 2>/dev/null", cmd, out) != 0)
    fail_msg ("failed: %s", cmd);
  fp = fopen (out, "r");
  assert_non_null (fp);
  if (fscanf (fp, "%llu", &v) != 1)
    fail_msg ("no number from: %s", cmd);
  fclose (fp);
  return v;
}

/* ---- attempts in a child ---- */

enum what { OPEN_PUT, ADD, REMOVE };

struct outcome {
  int open_rc, edit_rc, commit_rc;
  int errors;                   /* errors logged */
  bool committed;
  char error[1024];
};

/* In the child: open volume name writable and try the edit; commit if
 * it worked.
 */
static void
attempt (const char *name, enum what what, const char *dir,
         const char *victim, struct outcome *o)
{
  struct extfs_config cfg = {
    .log = &fx.tlog.log, .volume = name, .writable = true, .tmpdir = fx.work,
  };
  struct extfs_commit_result res;
  const char *locals[1];
  char local[300], remote[600];
  struct extfs *x = NULL;

  o->edit_rc = o->commit_rc = 0;
  o->open_rc = extfs_open (fx.vs, &cfg, &x);
  if (o->open_rc < 0)
    return;
  snprintf (local, sizeof local, "%s/newfile", fx.work);
  locals[0] = local;
  if (what == REMOVE) {
    snprintf (remote, sizeof remote, "%s/%s", dir, victim);
    o->edit_rc = extfs_rm (x, remote, 0);
  }
  else {
    snprintf (remote, sizeof remote, "%s/", dir);
    o->edit_rc = extfs_put (x, locals, 1, remote, 0);
  }
  if (o->edit_rc == 0) {
    o->commit_rc = extfs_commit (x, "hostile edit", &res);
    o->committed = o->commit_rc == 0;
  }
  extfs_close (x);
}

/* Run attempt in a child, at most LIMIT_SECONDS: 0 with *o, or fail
 * the test (with why) on a hang or a crash.
 */
static void
contained (const char *why, const char *name, enum what what,
           const char *dir, const char *victim, struct outcome *o)
{
  struct timespec ts = { 0, 50 * 1000 * 1000 };
  int fds[2], status = 0;
  unsigned waited = 0;
  ssize_t got;
  pid_t pid, w;

  memset (o, 0, sizeof *o);
  assert_int_equal (pipe (fds), 0);
  fflush (NULL);
  pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    close (fds[0]);
    alarm (LIMIT_SECONDS + 5);
    fx.tlog.errors = 0;
    attempt (name, what, dir, victim, o);
    o->errors = fx.tlog.errors;
    snprintf (o->error, sizeof o->error, "%s", fx.tlog.last_error);
    if (write (fds[1], o, sizeof *o) != (ssize_t) sizeof *o)
      _exit (2);
    _exit (0);
  }
  close (fds[1]);
  while ((w = waitpid (pid, &status, WNOHANG)) == 0 &&
         waited < LIMIT_SECONDS * 20) {
    nanosleep (&ts, NULL);
    waited++;
  }
  if (w == 0) {
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    close (fds[0]);
    fail_msg ("%s: hangs (killed after %d s)", why, LIMIT_SECONDS);
  }
  if (WIFSIGNALED (status) || WEXITSTATUS (status) != 0) {
    close (fds[0]);
    fail_msg ("%s: crashes (%s %d; a sanitizer's report above?)", why,
              WIFSIGNALED (status) ? "signal" : "exit status",
              WIFSIGNALED (status) ? WTERMSIG (status)
              : WEXITSTATUS (status));
  }
  got = read (fds[0], o, sizeof *o);
  close (fds[0]);
  if (got != (ssize_t) sizeof *o)
    fail_msg ("%s: the child died (status %d)", why, status);
}

/* ---- the journal ---- */

/* An image whose journal log is a ring of blocks, as pattern says (D:
 * a descriptor with one tag, for the next block; d: that data block;
 * R: a revoke block), all of transaction s_sequence, no commit
 * anywhere; needs_recovery set.  Opening it must end, refusing it.
 */
static void
journal_ring (const char *pattern)
{
  char img[300], why[300];
  uint8_t jsb[1024], blk[1024], sb[1024];
  uint64_t jphys, jlast, head;
  uint32_t first, seq, ring = strlen (pattern), k, flags;
  const char *name;
  struct outcome o;

  snprintf (img, sizeof img, "%s/j.img", fx.work);
  assert_int_equal (test_run ("cd %s && rm -f j.img && truncate -s 16M j.img "
                              "&& mkfs.ext4 -q -F -b 1024 -O "
                              "^metadata_csum,^64bit j.img && echo hostile > "
                              "newfile", fx.work), 0);
  /* The log: journal blocks [first, first + ring), which must be
   * contiguous on disk (mkfs makes them so).
   */
  jphys = number ("debugfs -R 'bmap <8> 0' %s", img);
  peek (img, jphys * 1024, jsb, sizeof jsb);
  assert_int_equal (be32 (jsb), 0xc03b3998u);
  first = be32 (jsb + 20);
  seq = be32 (jsb + 24);
  jlast = number ("debugfs -R 'bmap <8> %u' %s", first + ring - 1, img);
  assert_true (jlast == jphys + first + ring - 1);
  for (k = 0; k < ring; k++) {
    memset (blk, 0, sizeof blk);
    if (pattern[k] != 'd') {
      put_be32 (blk, 0xc03b3998u);
      put_be32 (blk + 4, pattern[k] == 'D' ? 1 : 5);    /* or revoke */
      put_be32 (blk + 8, seq);
      if (pattern[k] == 'D') {
        put_be32 (blk + 12, 2000);              /* the block logged */
        flags = 2 | 8;                          /* SAME_UUID, LAST_TAG */
        blk[18] = flags >> 8;
        blk[19] = flags;
      }
      else
        put_be32 (blk + 12, 16);                /* no records */
    }
    poke (img, (jphys + first + k) * 1024, blk, sizeof blk);
  }
  /* The ring is the whole log; it starts at first. */
  put_be32 (jsb + 16, first + ring);            /* s_maxlen */
  put_be32 (jsb + 28, first);                   /* s_start */
  poke (img, jphys * 1024, jsb, sizeof jsb);
  peek (img, 1024, sb, sizeof sb);
  sb[0x60] |= 0x4;                              /* needs_recovery */
  poke (img, 1024, sb, sizeof sb);

  name = import_new (img);
  head = head_of (name);
  snprintf (why, sizeof why, "a journal that is a ring without a commit "
            "(%s)", pattern);
  contained (why, name, OPEN_PUT, "", NULL, &o);
  fprintf (stderr, "journal ring %s: open %d, put %d, commit %d; %d errors, "
           "the last: %s\n", pattern, o.open_rc, o.edit_rc, o.commit_rc,
           o.errors, o.error);
  assert_int_equal (o.open_rc, -EUCLEAN);
  assert_non_null (strstr (o.error, "journal"));
  assert_int_equal (o.errors, 1);
  assert_false (o.committed);
  assert_int_equal (head_of (name), head);
  assert_true (head_is (name, img));
}

static void
test_journal_ring (void **state)
{
  (void) state;
  journal_ring ("DdRDdRDdR");
  journal_ring ("RRRRR");
  journal_ring ("DdDdDd");
}

/* ---- htree ---- */

enum lie { COUNT_OVER_LIMIT, LIMIT_PAST_BLOCK, INFO_LENGTH, LEVELS_TOO_MANY,
           LEVELS_NONE_THERE, HASH_UNKNOWN, BLOCK_OUTSIDE,
           /* In a two-level index: its first node's. */
           NODE_COUNT_OVER_LIMIT, NODE_LIMIT_PAST_BLOCK,
           /* The root's, there: two entries for one node. */
           NODE_TWICE, NLIES };

static const char *const lie_names[NLIES] = {
  "count > limit", "limit past the block", "info_length 40",
  "indirect_levels 3", "indirect_levels 1 over leaves",
  "hash version 9", "a leaf block outside the directory",
  "a node's count > limit", "a node's limit past the block",
  "one node under two entries",
};

/* An image (1 KiB blocks, no checksums: the lie needs no forging) with
 * an indexed directory /d of 300 entries (one level: the root), or 1000
 * with long names (two: the root and nodes); the lie told by its root,
 * or by its first node.  *ino: /d's inode.
 */
static void
htree_image (const char *img, enum lie lie, uint64_t *ino)
{
  bool deep = lie >= NODE_COUNT_OVER_LIMIT;
  bool in_node = deep && lie != NODE_TWICE;
  uint8_t root[1024];
  uint64_t rblk, nblk;
  uint16_t limit, count;
  unsigned at = 32;             /* count/limit in the block changed */

  assert_int_equal (test_run ("cd %s && rm -rf src i.img && mkdir -p src/d "
                              "&& for i in $(seq 1 %u); do echo $i > "
                              "src/d/file_with_a_rather_long_name_number_"
                              "$i%s; "
                              "done && truncate -s 64M i.img && mkfs.ext4 -q "
                              "-F -b 1024 -O ^metadata_csum -d src i.img && "
                              "{ e2fsck -fyD i.img >/dev/null 2>&1; [ $? -le "
                              "1 ]; } && debugfs -R 'htree /d' i.img "
                              "2>/dev/null | grep -q 'Indirect levels: %d' "
                              "&& echo hostile > newfile && mv i.img %s",
                              fx.work, deep ? 1000 : 300,
                              deep ? "$(printf %0180d 0)" : "", deep ? 1 : 0,
                              img), 0);
  *ino = number ("debugfs -R 'stat /d' %s | sed -n 's/^Inode: "
                 "\\([0-9]*\\).*/\\1/p'", img);
  rblk = number ("debugfs -R 'bmap /d 0' %s", img);
  peek (img, rblk * 1024, root, sizeof root);
  assert_int_equal (root[24 + 5], 8);           /* info_length */
  if (in_node) {
    /* The first node, the block of the root's entry 0. */
    nblk = number ("debugfs -R 'bmap /d %u' %s",
                   root[36] | root[37] << 8 | root[38] << 16, img);
    rblk = nblk;
    peek (img, rblk * 1024, root, sizeof root);
    at = 8;
  }
  limit = root[at] | root[at + 1] << 8;
  count = root[at + 2] | root[at + 3] << 8;
  assert_int_equal (limit, (1024 - at) / 8);
  assert_true (count >= 1 && count <= limit);
  switch (lie) {
  case COUNT_OVER_LIMIT:
    count = limit + 20;
    break;
  case LIMIT_PAST_BLOCK:
    limit = 4000;
    count = 1000;
    break;
  case INFO_LENGTH:
    root[24 + 5] = 40;
    break;
  case LEVELS_TOO_MANY:
    root[24 + 6] = 3;
    break;
  case LEVELS_NONE_THERE:
    root[24 + 6] = 1;
    break;
  case HASH_UNKNOWN:
    root[24 + 4] = 9;
    break;
  case BLOCK_OUTSIDE:
    root[32 + 8 + 4 + 2] = 0xf0;                /* entry 1's block */
    break;
  case NODE_COUNT_OVER_LIMIT:
    count = limit + 1;
    break;
  case NODE_LIMIT_PAST_BLOCK:
    limit = 60000;
    count = 50000;
    break;
  case NODE_TWICE:
    memcpy (root + 32 + 8 + 4, root + 32 + 4, 4);
    break;
  case NLIES:
    abort ();
  }
  root[at] = limit;
  root[at + 1] = limit >> 8;
  root[at + 2] = count;
  root[at + 3] = count >> 8;
  poke (img, rblk * 1024, root, sizeof root);
}

static void
test_htree_lies (void **state)
{
  char img[300], why[300], ino_s[40], victim[256];
  const char *name;
  struct outcome o;
  uint64_t head, ino;
  unsigned lie, what;
  int bad = 0;

  (void) state;
  for (lie = 0; lie < NLIES; lie++) {
    snprintf (img, sizeof img, "%s/h%u.img", fx.work, lie);
    htree_image (img, lie, &ino);
    snprintf (ino_s, sizeof ino_s, "directory inode %" PRIu64, ino);
    snprintf (victim, sizeof victim, "file_with_a_rather_long_name_number_"
              "7%0*d", lie >= NODE_COUNT_OVER_LIMIT ? 180 : 0, 0);
    if (lie < NODE_COUNT_OVER_LIMIT)
      victim[strlen (victim) - 1] = '\0';      /* no padding */
    name = import_new (img);
    head = head_of (name);
    for (what = ADD; what <= REMOVE; what++) {
      snprintf (why, sizeof why, "htree index with %s: %s", lie_names[lie],
                what == ADD ? "add a name" : "remove a name");
      contained (why, name, what, "/d", victim, &o);
      fprintf (stderr, "%s: open %d, edit %d, commit %d%s; %d errors, the "
               "last: %s\n", why, o.open_rc, o.edit_rc, o.commit_rc,
               o.committed ? " (PUBLISHED)" : "", o.errors, o.error);
      if (o.open_rc != 0 || o.edit_rc != -EUCLEAN || o.committed ||
          o.errors != 1 ||
          strstr (o.error, ino_s) == NULL ||
          strstr (o.error, "index") == NULL) {
        fprintf (stderr, "  FAIL: wanted the edit refused (-EUCLEAN) with "
                 "one error naming %s and its index\n", ino_s);
        bad++;
      }
      if (head_of (name) != head) {
        fprintf (stderr, "  FAIL: a version was published\n");
        bad++;
      }
    }
    if (!head_is (name, img)) {
      fprintf (stderr, "  FAIL: %s: the head is no longer the image "
               "imported\n", lie_names[lie]);
      bad++;
    }
    unlink (img);
  }
  assert_int_equal (bad, 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_journal_ring),
    cmocka_unit_test (test_htree_lies),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
