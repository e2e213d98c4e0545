/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: replaying an ext4 (jbd2) journal into the overlay.
 *
 * A version committed while its filesystem was mounted and busy, without
 * a freeze (a VM, a crash), is crash-consistent: the truth about recent
 * metadata changes may be only in the journal.  The kernel replays it at
 * mount; libext2fs cannot, so extfs does it here, into the private cache
 * (the version in the store is never changed), before anything reads the
 * metadata.  Written from the on-disk format (the kernel's
 * Documentation/filesystems/ext4/journal.rst).
 *
 * The log is a ring of blocks [s_first, last) in the journal inode, from
 * s_start on, transaction s_sequence first.  All fields are big-endian.
 *
 *   descriptor  header, then tags: each names the filesystem block the
 *               next log block is a copy of (its first 4 bytes zeroed if
 *               they were the magic: ESCAPE), with flags (SAME_UUID: no
 *               16-byte uuid follows; LAST_TAG) and, with checksums v2/v3,
 *               a checksum of the copy; a 4-byte tail checksum
 *   revoke      block numbers that no earlier (or this) transaction may
 *               write back: they were freed and reused meanwhile
 *   commit      the transaction is whole; its checksum (v2/v3), or with
 *               v1 a crc32 of all its blocks; the commit time
 *
 * Three passes over the log, as the kernel does:
 *   scan    find the end: the first transaction without a valid commit
 *   revoke  gather the revoke records of the transactions to replay
 *   replay  write every logged block not revoked by a later-or-equal
 *           transaction, in log order (later copies win)
 * then mark the journal empty (s_start 0, s_sequence past the end) and
 * clear the superblock's needs_recovery flag, as e2fsck does.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

#define J_MAGIC 0xc03b3998u
enum { J_DESCRIPTOR = 1, J_COMMIT = 2, J_SB_V1 = 3, J_SB_V2 = 4,
       J_REVOKE = 5 };
#define J_COMPAT_CHECKSUM 0x1u
#define J_INCOMPAT_REVOKE 0x1u
#define J_INCOMPAT_64BIT 0x2u
#define J_INCOMPAT_ASYNC_COMMIT 0x4u
#define J_INCOMPAT_CSUM_V2 0x8u
#define J_INCOMPAT_CSUM_V3 0x10u
#define J_INCOMPAT_FAST_COMMIT 0x20u
#define J_INCOMPAT_KNOWN 0x3fu
#define TAG_ESCAPE 1u
#define TAG_SAME_UUID 2u
#define TAG_LAST 8u
#define J_CRC32C 4

enum pass { SCAN, REVOKE, REPLAY };

struct revoke {
  uint64_t block;
  uint32_t seq;                 /* the latest transaction revoking it */
};
DEFINE_VECTOR (revoke_list, struct revoke);

struct journal {
  struct extfs *x;
  uint32_t bs;
  uint32_t first, last, maxlen;
  uint32_t seq0, start;
  uint32_t compat, incompat;
  uint32_t seed;                /* crc32c of the journal uuid */
  bool csum23, csum3, is64;
  size_t tag_bytes;
  struct extfs_runs map;        /* the journal inode's blocks */
  uint8_t sb[1024];
  uint8_t *buf, *data;
  struct revoke_list rv;
  struct hashmap rv_by_block;   /* block -> index + 1 in rv */
  uint32_t end;                 /* first transaction not replayed */
  bool end_set, failed;
  unsigned blocks, revoked, bad;
};

static uint32_t
be32 (const uint8_t *p)
{
  return (uint32_t) p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint16_t
be16 (const uint8_t *p)
{
  return p[0] << 8 | p[1];
}

static void
put_be32 (uint8_t *p, uint32_t v)
{
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

static bool
tid_geq (uint32_t a, uint32_t b)
{
  return (int32_t) (a - b) >= 0;
}

static int
corrupt (struct journal *j, const char *what)
{
  s3vol_error (j->x->log, "the journal of volume %s (version %" PRIu64
               ") is corrupt: %s; mount it once (attach, detach) or run "
               "e2fsck on an export", j->x->volume, j->x->seq, what);
  return -EUCLEAN;
}

/* ---- the journal's blocks ---- */

static int
add_map (void *opaque, const struct extfs_run *r)
{
  return extfs_runs_append (opaque, *r);
}

/* Read journal block b (logical, in the journal inode). */
static int
jread (struct journal *j, uint32_t b, uint8_t *buf)
{
  const struct extfs_run *map = j->map.ptr, *m;
  size_t lo = 0, hi = j->map.len, mid;
  int r;

  while (lo < hi) {
    mid = (lo + hi) / 2;
    if (map[mid].lblk + map[mid].len <= b)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == j->map.len || map[lo].lblk > b || map[lo].uninit)
    return corrupt (j, "a block of the log is not mapped");
  m = &map[lo];
  r = cache_pread (j->x->cache, buf, j->bs, (m->pblk + b - m->lblk) * j->bs);
  return r;
}

static int
jwrite_sb (struct journal *j)
{
  const struct extfs_run *m = &j->map.ptr[0];

  if (m->lblk != 0)
    return corrupt (j, "no superblock");
  return cache_pwrite (j->x->cache, j->sb, sizeof j->sb, m->pblk * j->bs,
                       false);
}

static uint32_t
next_block (struct journal *j, uint32_t b)
{
  b++;
  if (b >= j->last)
    b -= j->last - j->first;
  return b;
}

/* ---- checksums ---- */

static uint32_t
crc32c (uint32_t crc, const void *p, size_t n)
{
  return ext2fs_crc32c_le (crc, p, n);
}

/* The 4-byte tail of descriptor and revoke blocks. */
static bool
tail_ok (struct journal *j, uint8_t *buf)
{
  uint8_t *t = buf + j->bs - 4;
  uint32_t want = be32 (t), got;

  memset (t, 0, 4);
  got = crc32c (j->seed, buf, j->bs);
  put_be32 (t, want);
  return got == want;
}

static bool
commit_ok (struct journal *j, uint8_t *buf)
{
  uint32_t want = be32 (buf + 16), got;

  memset (buf + 16, 0, 4);
  got = crc32c (j->seed, buf, j->bs);
  put_be32 (buf + 16, want);
  return got == want;
}

static bool
tag_ok (struct journal *j, const uint8_t *tag, const uint8_t *data,
        uint32_t seq)
{
  uint8_t s[4];
  uint32_t c;

  put_be32 (s, seq);
  c = crc32c (crc32c (j->seed, s, 4), data, j->bs);
  if (j->csum3)
    return be32 (tag + 12) == c;
  return be16 (tag + 4) == (c & 0xffff);
}

/* ---- revoke records ---- */

static bool
rv_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct journal *j = ctx;

  return j->rv.ptr[val - 1].block == *(const uint64_t *) key;
}

/* The revoke record of block, or NULL. */
static struct revoke *
rv_find (struct journal *j, uint64_t block)
{
  uintptr_t i = hashmap_get (&j->rv_by_block, hashmap_hash_u64 (block),
                             &block);

  return i ? &j->rv.ptr[i - 1] : NULL;
}

static int
rv_add (struct journal *j, uint64_t block, uint32_t seq)
{
  struct revoke *s = rv_find (j, block);
  int r;

  if (s) {
    if (tid_geq (seq, s->seq))
      s->seq = seq;
    return 0;
  }
  /* Room first, so that the append after the put cannot fail. */
  r = revoke_list_reserve (&j->rv, 1);
  if (r == 0)
    r = hashmap_put (&j->rv_by_block, hashmap_hash_u64 (block),
                     j->rv.len + 1);
  if (r == 0)
    r = revoke_list_append (&j->rv, (struct revoke) { block, seq });
  return r;
}

/* Block logged by transaction seq, revoked by it or a later one? */
static bool
revoked (struct journal *j, uint64_t block, uint32_t seq)
{
  struct revoke *s = rv_find (j, block);

  return s && tid_geq (s->seq, seq);
}

static int
scan_revoke (struct journal *j, const uint8_t *buf, uint32_t seq)
{
  uint32_t count = be32 (buf + 12), off, rec = j->is64 ? 8 : 4;
  uint64_t block;
  int r;

  if (count > j->bs - (j->csum23 ? 4 : 0) || count < 16)
    return corrupt (j, "a revoke block is too long");
  for (off = 16; off + rec <= count; off += rec) {
    block = be32 (buf + off);
    if (j->is64)
      block = block << 32 | be32 (buf + off + 4);
    r = rv_add (j, block, seq);
    if (r < 0)
      return r;
  }
  return 0;
}

/* ---- the passes ---- */

/* Number of log blocks a descriptor's tags describe. */
static uint32_t
count_tags (struct journal *j, const uint8_t *buf)
{
  size_t off = 12, end = j->bs - (j->csum23 ? 4 : 0);
  uint32_t n = 0, flags;

  while (off + j->tag_bytes <= end) {
    flags = be16 (buf + off + 6);
    n++;
    off += j->tag_bytes + (flags & TAG_SAME_UUID ? 0 : 16);
    if (flags & TAG_LAST)
      break;
  }
  return n;
}

/* Replay: write the blocks one descriptor describes; *next advances. */
static int
replay_blocks (struct journal *j, const uint8_t *desc, uint32_t *next,
               uint32_t seq)
{
  struct extfs *x = j->x;
  uint64_t nblocks = ext2fs_blocks_count (x->fs->super), block;
  size_t off = 12, end = j->bs - (j->csum23 ? 4 : 0);
  const uint8_t *tag;
  uint32_t flags;
  int r;

  while (off + j->tag_bytes <= end) {
    tag = desc + off;
    flags = be16 (tag + 6);
    block = be32 (tag);
    if (j->is64)
      block |= (uint64_t) be32 (tag + 8) << 32;
    r = jread (j, *next, j->data);
    if (r < 0)
      return r;
    *next = next_block (j, *next);
    if (revoked (j, block, seq))
      j->revoked++;
    else if (j->csum23 && !tag_ok (j, tag, j->data, seq))
      j->bad++;                 /* the kernel skips it too, and fails */
    else if (block >= nblocks)
      j->bad++;
    else {
      if (flags & TAG_ESCAPE)
        put_be32 (j->data, J_MAGIC);
      r = cache_pwrite (x->cache, j->data, j->bs, block * j->bs, false);
      if (r < 0)
        return r;
      j->blocks++;
    }
    off += j->tag_bytes + (flags & TAG_SAME_UUID ? 0 : 16);
    if (flags & TAG_LAST)
      break;
  }
  return 0;
}

/* v1 checksums: crc32 of the descriptor and the blocks it describes. */
static int
crc_blocks (struct journal *j, const uint8_t *desc, uint32_t *next,
            uint32_t *crc)
{
  uint32_t n = count_tags (j, desc), k;
  int r;

  *crc = ext2fs_crc32_be (*crc, desc, j->bs);
  for (k = 0; k < n; k++) {
    r = jread (j, *next, j->data);
    if (r < 0)
      return r;
    *next = next_block (j, *next);
    *crc = ext2fs_crc32_be (*crc, j->data, j->bs);
  }
  return 0;
}

/* One pass over the log.  A log cannot hold more blocks than the ring
 * has: more, and its blocks go round the ring without end (a hostile
 * ring of descriptor or revoke blocks with no commit would otherwise
 * loop for ever).
 */
static int
walk (struct journal *j, enum pass pass)
{
  uint32_t seq = j->seq0, b = j->start, type, crc = ~0u;
  uint64_t when, last_when = 0, used = 0, ring = j->last - j->first;
  bool check_time = false, bad;
  uint8_t *buf = j->buf;
  int r;

  for (;;) {
    if (pass != SCAN && tid_geq (seq, j->end))
      break;
    r = jread (j, b, buf);
    if (r < 0)
      return r;
    b = next_block (j, b);
    if (be32 (buf) != J_MAGIC || be32 (buf + 8) != seq)
      break;
    type = be32 (buf + 4);
    used += 1 + (type == J_DESCRIPTOR ? count_tags (j, buf) : 0);
    if (used > ring)
      return corrupt (j, "its log goes round the whole ring without "
                      "ending");
    if (type == J_DESCRIPTOR) {
      if (j->csum23 && !tail_ok (j, buf)) {
        if (pass != SCAN)
          return corrupt (j, "a descriptor block's checksum is wrong");
        check_time = true;      /* stale, or corrupt: the commit says */
      }
      if (pass == REPLAY)
        r = replay_blocks (j, buf, &b, seq);
      else if (pass == SCAN && (j->compat & J_COMPAT_CHECKSUM) &&
               !check_time)
        r = crc_blocks (j, buf, &b, &crc);
      else {
        uint32_t k, n = count_tags (j, buf);
        for (k = 0; k < n; k++)
          b = next_block (j, b);
      }
      if (r < 0)
        return r;
    }
    else if (type == J_COMMIT) {
      when = (uint64_t) be32 (buf + 48) << 32 | be32 (buf + 52);
      if (check_time) {
        /* A bad checksum earlier in this transaction: a commit newer
         * than the last one means real damage; older, a stale block from
         * a previous use of the log, which ends it.
         */
        if (when >= last_when)
          return corrupt (j, "a block of a committed transaction has a "
                          "wrong checksum");
        break;
      }
      bad = false;
      if (pass == SCAN && (j->compat & J_COMPAT_CHECKSUM))
        bad = !((buf[12] == 1 && buf[13] == 4 && be32 (buf + 16) == crc) ||
                (buf[12] == 0 && buf[13] == 0 && be32 (buf + 16) == 0));
      crc = ~0u;
      if (pass == SCAN && j->csum23 && !commit_ok (j, buf))
        bad = true;
      if (bad) {
        if (when < last_when)
          break;                /* stale */
        j->end = seq;           /* a torn commit: stop before it */
        j->end_set = true;
        j->failed = true;
        break;
      }
      if (pass == SCAN)
        last_when = when;
      seq++;
    }
    else if (type == J_REVOKE) {
      if (pass == SCAN && j->csum23 && !tail_ok (j, buf))
        check_time = true;
      if (pass == REVOKE) {
        r = scan_revoke (j, buf, seq);
        if (r < 0)
          return r;
      }
    }
    else
      break;
  }
  if (pass == SCAN && !j->end_set) {
    j->end = seq;
    j->end_set = true;
  }
  else if (pass != SCAN && seq != j->end)
    return corrupt (j, "the passes over the log disagree");
  return 0;
}

/* ---- setting up and finishing ---- */

static int
load (struct journal *j)
{
  struct extfs *x = j->x;
  struct ext2_super_block *sb = x->fs->super;
  union extfs_inode in;
  uint32_t fc;
  int r;

  if (sb->s_journal_inum == 0) {
    s3vol_error (x->log, "volume %s needs its external journal replayed; "
                 "s3vol cannot do that", x->volume);
    return -ENOTSUP;
  }
  r = extfs_read_inode (x, sb->s_journal_inum, &in);
  if (r == 0)
    r = extfs_each_run (x, sb->s_journal_inum, &in, add_map, &j->map);
  if (r < 0)
    return r;
  if (j->map.len == 0)
    return corrupt (j, "the journal inode has no blocks");
  r = cache_pread (x->cache, j->sb, sizeof j->sb, j->map.ptr[0].pblk * j->bs);
  if (r < 0)
    return r;
  if (be32 (j->sb) != J_MAGIC ||
      (be32 (j->sb + 4) != J_SB_V1 && be32 (j->sb + 4) != J_SB_V2))
    return corrupt (j, "no journal superblock");
  if (be32 (j->sb + 12) != j->bs)
    return corrupt (j, "its block size is not the filesystem's");
  j->maxlen = be32 (j->sb + 16);
  j->first = be32 (j->sb + 20);
  j->seq0 = be32 (j->sb + 24);
  j->start = be32 (j->sb + 28);
  if (be32 (j->sb + 4) == J_SB_V2) {
    j->compat = be32 (j->sb + 36);
    j->incompat = be32 (j->sb + 40);
  }
  if (j->incompat & ~J_INCOMPAT_KNOWN) {
    s3vol_error (x->log, "the journal of volume %s uses features s3vol "
                 "does not know (0x%x)", x->volume, j->incompat);
    return -ENOTSUP;
  }
  j->csum3 = j->incompat & J_INCOMPAT_CSUM_V3;
  j->csum23 = j->csum3 || (j->incompat & J_INCOMPAT_CSUM_V2);
  j->is64 = j->incompat & J_INCOMPAT_64BIT;
  if (j->csum23) {
    uint32_t want = be32 (j->sb + 0xfc), got;
    if (j->sb[0x50] != J_CRC32C)
      return corrupt (j, "unknown checksum type");
    memset (j->sb + 0xfc, 0, 4);
    got = crc32c (~0u, j->sb, sizeof j->sb);
    put_be32 (j->sb + 0xfc, want);
    if (got != want)
      return corrupt (j, "its superblock checksum is wrong");
    j->seed = crc32c (~0u, j->sb + 0x30, 16);
  }
  j->tag_bytes = j->csum3 ? 16
    : 12 + (j->csum23 ? 2 : 0) - (j->is64 ? 0 : 4);
  j->last = j->maxlen;
  if (j->incompat & J_INCOMPAT_FAST_COMMIT) {
    fc = be32 (j->sb + 0x54);
    if (fc == 0)
      fc = 256;
    j->last = fc < j->maxlen ? j->maxlen - fc : 0;
  }
  if (j->first == 0 || j->first >= j->last ||
      (uint64_t) j->maxlen * j->bs > EXT2_I_SIZE (&in.small) ||
      (j->start && (j->start < j->first || j->start >= j->last)))
    return corrupt (j, "its superblock describes an impossible log");
  if (j->start && (j->incompat & J_INCOMPAT_FAST_COMMIT)) {
    s3vol_error (x->log, "volume %s (version %" PRIu64 ") needs its "
                 "fast-commit journal replayed, which s3vol cannot do; "
                 "attach it once (the kernel replays it) and commit",
                 x->volume, x->seq);
    return -ENOTSUP;
  }
  return 0;
}

/* The journal is empty now; the filesystem no longer needs recovery. */
static int
finish (struct journal *j)
{
  struct extfs *x = j->x;
  uint8_t sb[1024];
  uint32_t v, got;
  int r;

  if (j->start) {
    put_be32 (j->sb + 24, j->end + 1);
    put_be32 (j->sb + 28, 0);
    if (j->csum23) {
      memset (j->sb + 0xfc, 0, 4);
      got = crc32c (~0u, j->sb, sizeof j->sb);
      put_be32 (j->sb + 0xfc, got);
    }
    r = jwrite_sb (j);
    if (r < 0)
      return r;
  }
  /* The ext4 superblock as replayed (block 0 may have been in the log). */
  r = cache_pread (x->cache, sb, sizeof sb, 1024);
  if (r < 0)
    return r;
  v = ext2fs_le32_to_cpu (*(uint32_t *) (sb + 0x60));
  *(uint32_t *) (sb + 0x60) =
    ext2fs_cpu_to_le32 (v & ~EXT3_FEATURE_INCOMPAT_RECOVER);
  if (j->failed || j->bad) {
    uint16_t state = ext2fs_le16_to_cpu (*(uint16_t *) (sb + 0x3a));
    *(uint16_t *) (sb + 0x3a) = ext2fs_cpu_to_le16 (state | EXT2_ERROR_FS);
  }
  if (ext2fs_le32_to_cpu (*(uint32_t *) (sb + 0x64)) &
      EXT4_FEATURE_RO_COMPAT_METADATA_CSUM) {
    got = crc32c (~0u, sb, 0x3fc);
    *(uint32_t *) (sb + 0x3fc) = ext2fs_cpu_to_le32 (got);
  }
  return cache_pwrite (x->cache, sb, sizeof sb, 1024, false);
}

int
extfs_journal_replay (struct extfs *x, unsigned *replayed)
{
  struct journal j = { .x = x, .bs = x->fs->blocksize,
                       .rv_by_block = HASHMAP_INIT (rv_eq, &j) };
  int r;

  *replayed = 0;
  if (!ext2fs_has_feature_journal (x->fs->super))
    return finish (&j);
  j.buf = malloc (j.bs);
  j.data = malloc (j.bs);
  r = j.buf && j.data ? load (&j) : -ENOMEM;
  if (r == 0 && j.start) {
    r = walk (&j, SCAN);
    if (r == 0)
      r = walk (&j, REVOKE);
    if (r == 0)
      r = walk (&j, REPLAY);
  }
  if (r == 0)
    r = finish (&j);
  if (r == 0 && j.start) {
    *replayed = j.end - j.seq0;
    s3vol_debug (x->log, "volume %s version %" PRIu64 ": replayed %u "
                 "journal transactions (%u blocks, %u revoked)", x->volume,
                 x->seq, *replayed, j.blocks, j.revoked);
  }
  if (r == 0 && (j.failed || j.bad))
    s3vol_warn (x->log, "volume %s version %" PRIu64 ": the journal had "
                "%s; replayed what was whole, and marked the filesystem "
                "as needing e2fsck", x->volume, x->seq,
                j.failed ? "a torn transaction" : "blocks with wrong "
                "checksums");
  free (j.buf);
  free (j.data);
  extfs_runs_reset (&j.map);
  revoke_list_reset (&j.rv);
  hashmap_free (&j.rv_by_block);
  return r;
}
