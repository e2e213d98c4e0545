/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: trims of the cache (cache_trim): what they zero, what they
 * dirty, what the next commit references; and the commit noise filter
 * (cache_set_noise) with the ext4 housekeeping test
 * (extfs_housekeeping_only).
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext3_extents.h>

#include "s3vol/cache.h"
#include "s3vol/chunk.h"
#include "s3vol/extfs.h"
#include "testutil.h"

#define CS (64u << 10)
#define NCH 16u
#define VSIZE ((uint64_t) CS * NCH)

static struct objstore *os;
static struct volstore *vs;
static struct test_log tlog;
static char dir[256];
static int volno;
static char vname[32];

static int
setup (void **state)
{
  struct volstore_config cfg = { .log = &tlog.log };

  (void) state;
  os = test_store_open ();
  test_log_init (&tlog);
  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[128];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf /tmp/s3vol-trim-test-%d-*",
            (int) getpid ());
  if (system (cmd) != 0)
    fprintf (stderr, "warning: could not remove the cache directories\n");
  volstore_close (vs);
  test_store_close (os);
  return 0;
}

static struct cache *
open_cache (const char *suffix)
{
  struct cache_config cfg = {
    .log = &tlog.log, .dir = dir, .volume = vname, .threads = 4,
  };
  struct cache *c = NULL;

  snprintf (dir, sizeof dir, "/tmp/s3vol-trim-test-%d-%d%s", (int) getpid (),
            volno, suffix);
  assert_int_equal (cache_open (vs, &cfg, &c), 0);
  assert_int_equal (cache_start (c), 0);
  return c;
}

/* A fresh volume whose chunks 0 to 7 hold random bytes in their first
 * halves (zeros in their second), committed; its cache, all clean.
 */
static struct cache *
new_volume (void)
{
  struct vol_commit_result res;
  uint8_t *buf = malloc (CS / 2);
  struct cache *c;
  uint64_t i;

  snprintf (vname, sizeof vname, "trim%d-%d", ++volno, (int) getpid ());
  assert_int_equal (volstore_create (vs, vname, VSIZE, CS, NULL), 0);
  c = open_cache ("");
  for (i = 0; i < 8; i++) {
    test_fill (buf, CS / 2, i + 1);
    assert_int_equal (cache_pwrite (c, buf, CS / 2, i * CS, false), 0);
  }
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_false (cache_is_dirty (c));
  free (buf);
  return c;
}

static uint64_t
dirty_bytes (struct cache *c)
{
  struct cache_stats st;

  cache_stats (c, &st);
  return st.dirty_bytes;
}

static bool
is_zero_at (struct cache *c, uint64_t off, uint32_t len)
{
  uint8_t *buf = malloc (len);
  bool z;

  assert_int_equal (cache_pread (c, buf, len, off), 0);
  z = s3vol_is_zero (buf, len);
  free (buf);
  return z;
}

/* Is chunk i a hole in the volume's head? */
static bool
head_hole (uint64_t i)
{
  struct s3vol_id id;
  struct volume *v;

  assert_int_equal (volume_open (vs, vname, NULL, &v), 0);
  assert_int_equal (volume_chunk_id (v, i, &id), 0);
  volume_close (v);
  return s3vol_id_is_hole (&id);
}

/* A trim of the half of a chunk that reads as zeros leaves it clean,
 * cached or not (then it is fetched to know).
 */
static void
test_trim_zeros_clean (void **state)
{
  struct cache *c;

  (void) state;
  c = new_volume ();
  assert_int_equal (cache_trim (c, CS / 2, 2 * CS + CS / 2, false), 0);
  assert_int_equal (dirty_bytes (c), 0);
  assert_false (cache_is_dirty (c));
  assert_int_equal (cache_close (c), 0);

  c = open_cache ("-fresh");      /* nothing cached */
  assert_int_equal (cache_trim (c, CS / 2 - 4096, 3 * CS + CS / 2 + 4096,
                                false), 0);
  assert_int_equal (cache_trim (c, 4096, 10 * CS + 8192, false), 0);
  assert_false (cache_is_dirty (c));
  assert_false (is_zero_at (c, 3 * CS, CS / 2));
  assert_int_equal (cache_close (c), 0);
}

/* A trim of part of a chunk that holds data zeroes it (the kernel's
 * write-zeroes reach the plugin as trims on the loop path): the chunk
 * is dirty, its other bytes kept.
 */
static void
test_trim_data_zeroes (void **state)
{
  struct vol_commit_result res;
  uint8_t *want = malloc (CS);
  uint8_t *got = malloc (CS);
  struct cache *c;

  (void) state;
  c = new_volume ();
  memset (want, 0, CS);
  test_fill (want, CS / 2, 5);    /* chunk 4 */
  memset (want + 4096, 0, 8192);
  assert_int_equal (cache_trim (c, 8192, 4 * CS + 4096, false), 0);
  assert_true (cache_is_dirty (c));
  assert_int_equal (cache_pread (c, got, CS, 4 * CS), 0);
  assert_memory_equal (got, want, CS);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 3);
  assert_int_equal (cache_close (c), 0);
  c = open_cache ("-fresh");
  assert_int_equal (cache_pread (c, got, CS, 4 * CS), 0);
  assert_memory_equal (got, want, CS);
  assert_int_equal (cache_close (c), 0);
  free (want);
  free (got);
}

/* Whole chunks in a trimmed range become holes: the next commit
 * references nothing for them; the partial ends are zeroed.
 */
static void
test_trim_whole_chunks (void **state)
{
  struct vol_commit_result res;
  struct vol_info info;
  uint64_t before;
  struct cache *c;

  (void) state;
  c = new_volume ();
  assert_int_equal (volstore_info (vs, vname, &info), 0);
  before = info.chunks;
  assert_int_equal (before, 8);
  /* From the middle of chunk 1 to 4 KiB into chunk 5. */
  assert_int_equal (cache_trim (c, 3 * CS + CS / 2 + 4096,
                                CS + CS / 2, false), 0);
  assert_true (is_zero_at (c, 2 * CS, 3 * CS));
  assert_true (is_zero_at (c, 5 * CS, 4096));
  assert_false (is_zero_at (c, CS, 4096));
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_true (head_hole (2));
  assert_true (head_hole (3));
  assert_true (head_hole (4));
  assert_false (head_hole (1));
  assert_false (head_hole (5));
  assert_int_equal (volstore_info (vs, vname, &info), 0);
  assert_int_equal (info.chunks, before - 3);
  assert_int_equal (info.bytes_referenced, (before - 3) * CS);
  assert_int_equal (cache_close (c), 0);
}

/* ---- the noise filter ---- */

static int noise_calls;

/* Chunk 0's changes are noise, the others' are not. */
static bool
chunk0_noise (void *opaque, const struct cache_change *ch, size_t n)
{
  (void) opaque;
  noise_calls++;
  return n == 1 && ch[0].offset == 0 && ch[0].len == CS &&
    memcmp (ch[0].base, ch[0].cur, CS) != 0;
}

static void
test_noise (void **state)
{
  struct vol_commit_result res;
  uint8_t buf[512];
  struct cache *c;

  (void) state;
  c = new_volume ();
  cache_set_noise (c, chunk0_noise, NULL);
  /* Noise alone: nothing published, the chunk stays dirty. */
  memset (buf, 0x5a, sizeof buf);
  assert_int_equal (cache_pwrite (c, buf, sizeof buf, 100, false), 0);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 2);
  assert_true (cache_is_dirty (c));
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 2);
  assert_true (noise_calls >= 2);
  /* A real change: one version with both. */
  assert_int_equal (cache_pwrite (c, buf, sizeof buf, 6 * CS, false), 0);
  assert_int_equal (cache_commit (c, NULL, &res), 0);
  assert_int_equal (res.seq, 3);
  assert_false (cache_is_dirty (c));
  assert_int_equal (cache_close (c), 0);
  c = open_cache ("-fresh");
  memset (buf, 0, sizeof buf);
  assert_int_equal (cache_pread (c, buf, sizeof buf, 100), 0);
  assert_int_equal (buf[0], 0x5a);
  assert_int_equal (buf[sizeof buf - 1], 0x5a);
  assert_int_equal (cache_close (c), 0);
}

/* ---- ext4 housekeeping ---- */

#define IMG (64u << 10)
#define SB 1024u
#define JSB (8u << 10)                  /* the journal: 8 blocks of 4 KiB */
#define JEND (JSB + (32u << 10))

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* An image with an ext4 superblock, whose journal (in one extent, as
 * its backup in the superblock says) starts with its superblock at JSB
 * and is empty.
 */
static void
set_journal (uint8_t *a, unsigned n, const struct ext3_extent *e)
{
  struct ext2_super_block sb;
  struct ext3_extent_header h = {
    .eh_magic = htole16 (EXT3_EXT_MAGIC), .eh_entries = htole16 (n),
    .eh_max = htole16 (4),
  };

  memcpy (&sb, a + SB, sizeof sb);
  memcpy (sb.s_jnl_blocks, &h, sizeof h);
  memcpy ((uint8_t *) sb.s_jnl_blocks + sizeof h, e, n * sizeof *e);
  memcpy (a + SB, &sb, sizeof sb);
}

static void
make_image (uint8_t *a)
{
  struct ext2_super_block sb;
  struct ext3_extent e = {
    .ee_len = htole16 (8), .ee_start = htole32 (JSB / 4096),
  };

  test_fill (a, IMG, 42);
  memcpy (&sb, a + SB, sizeof sb);
  sb.s_magic = htole16 (EXT2_SUPER_MAGIC);
  sb.s_state = htole16 (EXT2_VALID_FS);
  sb.s_log_block_size = htole32 (2);
  sb.s_feature_compat = htole32 (EXT3_FEATURE_COMPAT_HAS_JOURNAL);
  sb.s_journal_inum = htole32 (8);
  sb.s_jnl_backup_type = EXT3_JNL_BACKUP_BLOCKS;
  memcpy (a + SB, &sb, sizeof sb);
  set_journal (a, 1, &e);
  put_be32 (a + JSB, 0xc03b3998);
  put_be32 (a + JSB + 4, 4);    /* superblock v2 */
  put_be32 (a + JSB + 0x1c, 0); /* s_start: empty */
}

/* Is a changed at [off, off + n) to v housekeeping, the image passed
 * whole or (from > 0) from byte from on?
 */
static bool
changed_from (const uint8_t *a, size_t off, size_t n, uint8_t v,
              size_t from)
{
  uint8_t *b = malloc (IMG);
  struct extfs_change ch = {
    .offset = from, .base = a + from, .cur = b + from, .len = IMG - from,
  };
  bool r;

  memcpy (b, a, IMG);
  memset (b + off, v, n);
  r = extfs_housekeeping_only (&ch, 1);
  free (b);
  return r;
}

static bool
changed (const uint8_t *a, size_t off, size_t n, uint8_t v)
{
  return changed_from (a, off, n, v, 0);
}

static void
test_housekeeping (void **state)
{
  uint8_t *a = malloc (IMG), *b = malloc (IMG);
  struct extfs_change ch[2];

  (void) state;
  make_image (a);
  ch[0] = (struct extfs_change) { 0, a, a, IMG };
  assert_true (extfs_housekeeping_only (ch, 1));
  /* The kernel's own: times, mount count, kbytes written, last
   * mounted, orphan head, checksum, needs_recovery, the valid bit.
   */
  assert_true (changed (a, SB + 0x2c, 10, 0x77));
  assert_true (changed (a, SB + 0x88, 64, 0));
  assert_true (changed (a, SB + 0xe8, 4, 0));
  assert_true (changed (a, SB + 0x178, 8, 0x11));
  assert_true (changed (a, SB + 0x274, 2, 0x01));
  assert_true (changed (a, SB + 0x3fc, 4, 0x99));
  assert_true (changed (a, SB + 0x3a, 1, 0));
  assert_true (changed (a, SB + 0x60, 1, a[SB + 0x60] ^ 4));
  /* The journal's: sequence, start, errno, head, checksum. */
  assert_true (changed (a, JSB + 0x18, 4, 0x33));
  assert_true (changed (a, JSB + 0x20, 4, 0x33));
  assert_true (changed (a, JSB + 0x58, 4, 0x33));
  assert_true (changed (a, JSB + 0xfc, 4, 0x33));
  /* Its log, while it is empty before and after. */
  assert_true (changed (a, JSB + 4096, 4096, 0x44));
  assert_true (changed (a, JEND - 1, 1, a[JEND - 1] ^ 1));
  memcpy (b, a, IMG);
  b[JSB + 0x1f] = 9;                    /* not empty after */
  b[JSB + 4096] ^= 1;
  ch[0] = (struct extfs_change) { 0, a, b, IMG };
  assert_false (extfs_housekeeping_only (ch, 1));
  b[JSB + 0x1f] = 0;
  assert_true (extfs_housekeeping_only (ch, 1));
  /* Anything else is a real change. */
  assert_false (changed (a, JEND, 1, a[JEND] ^ 1));
  assert_false (changed (a, SB + 0x04, 1, a[SB + 0x04] ^ 1));
  assert_false (changed (a, SB + 0x3a, 1, 2));        /* errors */
  assert_false (changed (a, SB + 0x60, 1, a[SB + 0x60] ^ 8));
  assert_false (changed (a, SB + 0x2c, 12, 0x77));    /* + max mounts */
  assert_false (changed (a, JSB + 0x10, 4, 0x33));    /* s_maxlen */
  assert_false (changed (a, 0, 4, 0));
  /* A journal in contiguous extents is found; in scattered ones not. */
  {
    struct ext3_extent e2[2] = {
      { .ee_len = htole16 (3), .ee_start = htole32 (JSB / 4096) },
      { .ee_block = htole32 (3), .ee_len = htole16 (5),
        .ee_start = htole32 (JSB / 4096 + 3) },
    };
    set_journal (a, 2, e2);
    assert_true (changed (a, JEND - 1, 1, a[JEND - 1] ^ 1));
    e2[1].ee_start = htole32 (JSB / 4096 + 4);
    set_journal (a, 2, e2);
    assert_false (changed (a, JEND - 1, 1, a[JEND - 1] ^ 1));
    e2[0].ee_len = htole16 (8);
    set_journal (a, 1, e2);
  }
  /* Without the superblock, the journal is not known. */
  assert_false (changed_from (a, JSB + 4096, 1, 0x44, JSB));
  assert_true (changed_from (a, JSB + 0x18, 4, 0x33, JSB));
  /* Only the primary superblock's place on the device counts. */
  memcpy (b, a, IMG);
  b[SB + 0x30] ^= 1;
  ch[0] = (struct extfs_change) { 2048, a + SB, b + SB, IMG - SB };
  assert_false (extfs_housekeeping_only (ch, 1));
  /* Two chunks: the superblock in one, the journal's log in the other;
   * then a journal superblock that is one in only one image.
   */
  b[JSB + 5000] ^= 1;
  ch[0] = (struct extfs_change) { 0, a, b, JSB };
  ch[1] = (struct extfs_change) { JSB, a + JSB, b + JSB, IMG - JSB };
  assert_true (extfs_housekeeping_only (ch, 2));
  assert_false (extfs_housekeeping_only (ch + 1, 1));
  a[JSB] = 0;
  assert_false (extfs_housekeeping_only (ch, 2));
  free (b);
  free (a);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_trim_zeros_clean),
    cmocka_unit_test (test_trim_data_zeroes),
    cmocka_unit_test (test_trim_whole_chunks),
    cmocka_unit_test (test_noise),
    cmocka_unit_test (test_housekeeping),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
