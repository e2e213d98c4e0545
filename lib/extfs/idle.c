/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: telling the kernel's housekeeping of a mounted, idle ext4
 * filesystem from real changes.
 *
 * A filesystem nobody writes to is still written: mounting it, and the
 * freeze and thaw around every commit's cut, make the kernel rewrite the
 * primary superblock (times, mount count, kbytes written, the state and
 * needs_recovery flags, its checksum) and, when the journal moved, the
 * jbd2 journal superblock (sequence, start, checksum; while the journal
 * is empty, at the first mount, its checksum features).  A commit whose
 * only changes are these need not publish a version.
 *
 * Bytes only: the chunks that changed are compared 1 KiB region by
 * region (the smallest ext4 block, so every superblock starts at one),
 * and a region that differs must be
 *   - the primary superblock, differing only in the fields below;
 *   - a journal superblock (found by its magic) in both images,
 *     differing only in the fields below;
 *   - or a block of the journal's log while the journal is empty in
 *     both images (s_start 0): then nothing reads the log.  The kernel
 *     logs the superblock once per mount, when it records where it is
 *     mounted (at the first open of a file), and the freeze checkpoints
 *     it.  The journal is found from the superblock's backup of the
 *     journal inode's extent root (one extent, as mkfs makes it), when
 *     the superblock is among the changes.
 * Offsets from the kernel's Documentation/filesystems/ext4/ (super.rst,
 * journal.rst); the ext4 superblock's from libext2fs's ext2_fs.h.
 */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ext2fs/ext2_fs.h>
#include <ext2fs/ext3_extents.h>

#include "s3vol/extfs.h"

#define REGION 1024u            /* the smallest ext4 block */
#define SB_OFFSET 1024u         /* the primary superblock, on the device */

/* The jbd2 superblock (big-endian). */
#define J_MAGIC 0xc03b3998u
#define J_SB_V1 3u
#define J_SB_V2 4u
#define J_SEQUENCE 0x18u        /* first transaction expected in the log */
#define J_START 0x1cu           /* first log block; 0: nothing to replay */
#define J_ERRNO 0x20u
#define J_COMPAT 0x24u          /* the three feature words */
#define J_CHECKSUM_TYPE 0x50u
#define J_HEAD 0x58u            /* head of the log, while clean */
#define J_CHECKSUM 0xfcu

struct field {
  size_t off, len;
};

#define SB_FIELD(f) \
  { offsetof (struct ext2_super_block, f), \
    sizeof ((struct ext2_super_block *) 0)->f }

/* What the kernel rewrites in the ext4 superblock by itself.  s_state
 * and s_feature_incompat are masked, not listed: only their valid,
 * orphan and needs_recovery bits are housekeeping (an error is not).
 */
static const struct field sb_fields[] = {
  SB_FIELD (s_mtime), SB_FIELD (s_wtime), SB_FIELD (s_mnt_count),
  SB_FIELD (s_last_mounted), SB_FIELD (s_last_orphan),
  SB_FIELD (s_kbytes_written), SB_FIELD (s_wtime_hi),
  SB_FIELD (s_mtime_hi), SB_FIELD (s_checksum),
};

static const struct field jsb_fields[] = {
  { J_SEQUENCE, 4 }, { J_START, 4 }, { J_ERRNO, 4 }, { J_HEAD, 4 },
  { J_CHECKSUM, 4 },
};

/* More of it while the journal is empty: the first mount of a
 * filesystem made by mke2fs or written by libext2fs sets the journal's
 * checksum features and type, which only say how the next transactions
 * will be written (nothing in the log is read by them).
 */
static const struct field jsb_empty_fields[] = {
  { J_COMPAT, 12 }, { J_CHECKSUM_TYPE, 1 },
};

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

_Static_assert (sizeof (struct ext2_super_block) == REGION,
                "an ext4 superblock is 1 KiB");

#define N_FIELDS(f) (sizeof f / sizeof *f)

/* Zero the given fields of a region. */
static void
mask (void *out, const struct field *f, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    memset ((uint8_t *) out + f[i].off, 0, f[i].len);
}

/* Copy a region with the given fields zeroed. */
static void
masked (void *out, const uint8_t *in, const struct field *f, size_t n)
{
  memcpy (out, in, REGION);
  mask (out, f, n);
}

static bool
is_ext4_sb (const uint8_t *p)
{
  uint16_t magic;

  memcpy (&magic, p + offsetof (struct ext2_super_block, s_magic),
          sizeof magic);
  return le16toh (magic) == EXT2_SUPER_MAGIC;
}

static bool
sb_housekeeping (const uint8_t *a, const uint8_t *b)
{
  struct ext2_super_block x, y;
  const uint16_t state = EXT2_VALID_FS | EXT3_ORPHAN_FS;
  const uint32_t recover = EXT3_FEATURE_INCOMPAT_RECOVER;

  if (!is_ext4_sb (a) || !is_ext4_sb (b))
    return false;
  masked (&x, a, sb_fields, N_FIELDS (sb_fields));
  masked (&y, b, sb_fields, N_FIELDS (sb_fields));
  x.s_state &= htole16 (~state);
  y.s_state &= htole16 (~state);
  x.s_feature_incompat &= htole32 (~recover);
  y.s_feature_incompat &= htole32 (~recover);
  return memcmp (&x, &y, REGION) == 0;
}

static bool
is_jsb (const uint8_t *p)
{
  return be32 (p) == J_MAGIC &&
    (be32 (p + 4) == J_SB_V1 || be32 (p + 4) == J_SB_V2);
}

static bool
jsb_housekeeping (const uint8_t *a, const uint8_t *b, bool empty)
{
  uint8_t x[REGION], y[REGION];

  if (!is_jsb (a) || !is_jsb (b))
    return false;
  masked (x, a, jsb_fields, N_FIELDS (jsb_fields));
  masked (y, b, jsb_fields, N_FIELDS (jsb_fields));
  if (empty) {
    mask (x, jsb_empty_fields, N_FIELDS (jsb_empty_fields));
    mask (y, jsb_empty_fields, N_FIELDS (jsb_empty_fields));
  }
  return memcmp (x, y, REGION) == 0;
}

/* Where the journal is, and whether it is empty in both images. */
struct journal {
  uint64_t start, end;          /* device bytes; its superblock first */
  bool empty;
};

/* The bytes [off, off + REGION) of the device in both images, if they
 * are among the changes.
 */
static bool
find (const struct extfs_change *ch, size_t n, uint64_t off,
      const uint8_t **a, const uint8_t **b)
{
  size_t k;

  for (k = 0; k < n; k++)
    if (off >= ch[k].offset && ch[k].len >= REGION &&
        off - ch[k].offset <= ch[k].len - REGION) {
      *a = (const uint8_t *) ch[k].base + (off - ch[k].offset);
      *b = (const uint8_t *) ch[k].cur + (off - ch[k].offset);
      return true;
    }
  return false;
}

/* The journal of the superblock sb, when its extent root (backed up in
 * the superblock) holds it whole, in physically contiguous extents (as
 * mkfs makes it): its bytes on the device.  False if there is none or
 * it is not found that way (a deeper tree: journals over 512 MiB).
 */
static bool
journal_extent (const struct ext2_super_block *sb, uint64_t *start,
                uint64_t *len)
{
  const struct ext3_extent_header *h = (const void *) sb->s_jnl_blocks;
  const struct ext3_extent *e = (const void *) (h + 1);
  uint32_t log = le32toh (sb->s_log_block_size);
  uint64_t blocks = 0, first = 0, at;
  unsigned k, n = le16toh (h->eh_entries);

  if (!(le32toh (sb->s_feature_compat) & EXT3_FEATURE_COMPAT_HAS_JOURNAL) ||
      sb->s_journal_inum == 0 ||
      sb->s_jnl_backup_type != EXT3_JNL_BACKUP_BLOCKS || log > 6 ||
      le16toh (h->eh_magic) != EXT3_EXT_MAGIC ||
      le16toh (h->eh_depth) != 0 || n == 0 || n > 4)
    return false;
  for (k = 0; k < n; k++) {
    at = (uint64_t) le16toh (e[k].ee_start_hi) << 32 |
      le32toh (e[k].ee_start);
    if (k == 0)
      first = at;
    if (le32toh (e[k].ee_block) != blocks || at != first + blocks ||
        le16toh (e[k].ee_len) == 0 ||
        le16toh (e[k].ee_len) > EXT_INIT_MAX_LEN)
      return false;
    blocks += le16toh (e[k].ee_len);
  }
  *start = first << (10 + log);
  *len = blocks << (10 + log);
  return true;
}

/* Find the journal from the superblock among the changes; empty only if
 * its superblock is among them too, with nothing to replay in either.
 */
static void
find_journal (const struct extfs_change *ch, size_t n, struct journal *j)
{
  struct ext2_super_block sa, sb;
  const uint8_t *a, *b;
  uint64_t start, len;

  j->empty = false;
  if (!find (ch, n, SB_OFFSET, &a, &b) || !is_ext4_sb (a) ||
      !is_ext4_sb (b))
    return;
  memcpy (&sa, a, sizeof sa);
  memcpy (&sb, b, sizeof sb);
  if (!journal_extent (&sa, &start, &len) ||
      !journal_extent (&sb, &j->start, &j->end) ||
      start != j->start || len != j->end)
    return;
  j->end += j->start;
  if (find (ch, n, j->start, &a, &b) && is_jsb (a) && is_jsb (b) &&
      be32 (a + J_START) == 0 && be32 (b + J_START) == 0)
    j->empty = true;
}

/* Is the difference in region [dev, dev + REGION) housekeeping? */
static bool
region_housekeeping (const struct journal *j, uint64_t dev,
                     const uint8_t *a, const uint8_t *b)
{
  if (dev == SB_OFFSET)
    return sb_housekeeping (a, b);
  if (j->empty && dev >= j->start && dev < j->end)
    return dev == j->start ? jsb_housekeeping (a, b, true) : true;
  return jsb_housekeeping (a, b, false);
}

static bool
chunk_housekeeping (const struct journal *j, const struct extfs_change *c)
{
  const uint8_t *a = c->base, *b = c->cur;
  size_t pos, next;

  for (pos = 0; pos < c->len; pos = next) {
    next = pos + REGION - (c->offset + pos) % REGION;
    if (next > c->len)
      next = c->len;
    if (memcmp (a + pos, b + pos, next - pos) == 0)
      continue;
    /* A superblock or a log block is a whole region of both images. */
    if (next - pos < REGION ||
        !region_housekeeping (j, c->offset + pos, a + pos, b + pos))
      return false;
  }
  return true;
}

bool
extfs_housekeeping_only (const struct extfs_change *ch, size_t n)
{
  struct journal j;
  size_t k;

  find_journal (ch, n, &j);
  for (k = 0; k < n; k++)
    if (!chunk_housekeeping (&j, &ch[k]))
      return false;
  return true;
}
