/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: superblock fields libext2fs trusts too far.
 *
 * libext2fs (Debian's 1.47) checks a superblock as it opens it, but not
 * every field its later code relies on: a fuzzed image (fuzz_ext4_edit)
 * made ext2fs_read_bitmaps write past a heap buffer.  The I/O manager
 * (io.c) runs these checks each time libext2fs opens a channel, so such
 * an image is refused before libext2fs reads anything from it; after a
 * journal replay, which may rewrite the superblock, they run again.
 *
 * Each check names the field and the rule, as the kernel has it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "extfs_int.h"

/* The rule a superblock breaks, or NULL. */
static const char *
bad_field (const struct ext2_super_block *sb)
{
  uint32_t log_bs = sb->s_log_block_size;

  if (log_bs > EXT2_MAX_BLOCK_LOG_SIZE - EXT2_MIN_BLOCK_LOG_SIZE)
    return NULL;                /* libext2fs refuses it itself */
  /* Block 0 holds the superblock (at byte 1024) unless blocks are
   * 1 KiB: then the first data block is 1, or 0 with bigalloc.  Any
   * other value misplaces every group's bitmaps in libext2fs's arrays.
   */
  if (log_bs == 0 ? sb->s_first_data_block > 1
      : sb->s_first_data_block != 0)
    return "the first data block does not fit the block size";
  return NULL;
}

int
extfs_sb_check (struct extfs_io *io)
{
  struct ext2_super_block sb;
  const char *why;

  /* Unreadable or not ext2/3/4: libext2fs says what it is. */
  if (io->size < 2 * SUPERBLOCK_OFFSET ||
      cache_pread (io->cache, &sb, sizeof sb, SUPERBLOCK_OFFSET) < 0 ||
      sb.s_magic != EXT2_SUPER_MAGIC)
    return 0;
  why = bad_field (&sb);
  if (why == NULL)
    return 0;
  s3vol_error (io->log, "the ext4 superblock of this volume is corrupt: "
               "%s; s3vol will not open it (export the volume and run "
               "e2fsck -f)", why);
  return io->last_error = -EUCLEAN;
}
