/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a libext2fs I/O manager whose "device" is a struct cache.
 *
 * libext2fs reaches storage only through an io_manager: a table of
 * functions (open, close, read and write blocks, flush, ...) that work on
 * an io_channel.  This one turns block numbers into byte ranges of the
 * volume and calls cache_pread / cache_pwrite, so reads fetch only the
 * chunks they touch and writes land in the cache, an overlay over the
 * version it was opened on.
 *
 * Small block I/O (metadata) goes through a write-back block cache
 * (bcache.c), flushed when libext2fs flushes and at close.
 *
 * The channel finds its struct extfs_io through the name handed to
 * ext2fs_open2: "s3vol-cache:" and the pointer, checked by a magic
 * number.  libext2fs calls a channel from one thread at a time.
 *
 * Errors go back to libext2fs as errno values (errcode_t below 256 is
 * an errno there too); the cache has already logged them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

#define NAME_PREFIX "s3vol-cache:"

/* A channel's private data. */
struct chan {
  struct extfs_io *io;
  struct bcache *bc;            /* for the channel's block size */
};

static struct chan *
chan_of (io_channel ch)
{
  return ch->private_data;
}

/* The byte range of count blocks (count < 0: -count bytes) at block. */
static errcode_t
range (io_channel ch, unsigned long long block, int count, uint64_t *off,
       uint64_t *len)
{
  struct extfs_io *io = chan_of (ch)->io;

  *off = (uint64_t) block * ch->block_size;
  *len = count < 0 ? (uint64_t) -(int64_t) count
    : (uint64_t) count * ch->block_size;
  if (*off > io->size || *len > io->size - *off)
    return EXT2_ET_LLSEEK_FAILED;
  return 0;
}

static errcode_t
s3_open (const char *name, int flags, io_channel *out)
{
  struct extfs_io *io = NULL;
  struct chan *c;
  io_channel ch;
  int r;

  (void) flags;
  if (name == NULL || strncmp (name, NAME_PREFIX, strlen (NAME_PREFIX)) ||
      sscanf (name + strlen (NAME_PREFIX), "%p", (void **) &io) != 1 ||
      io == NULL || io->magic != EXTFS_IO_MAGIC)
    return EXT2_ET_BAD_DEVICE_NAME;
  /* Superblocks libext2fs would trust too far are refused here, before
   * it reads them (sbcheck.c; logged, kept in io->last_error).
   */
  r = extfs_sb_check (io);
  if (r < 0)
    return -r;
  ch = calloc (1, sizeof *ch);
  c = calloc (1, sizeof *c);
  if (ch)
    ch->name = strdup (name);
  if (ch == NULL || c == NULL || ch->name == NULL ||
      extfs_bc_new (io, 1024, &c->bc) < 0) {
    if (ch)
      free (ch->name);
    free (ch);
    free (c);
    return EXT2_ET_NO_MEMORY;
  }
  c->io = io;
  ch->magic = EXT2_ET_MAGIC_IO_CHANNEL;
  ch->manager = extfs_io_manager ();
  ch->block_size = 1024;
  ch->refcount = 1;
  ch->private_data = c;
  *out = ch;
  return 0;
}

static errcode_t
s3_flush (io_channel ch)
{
  int r = extfs_bc_flush (chan_of (ch)->bc);

  return r < 0 ? -r : 0;
}

static errcode_t
s3_close (io_channel ch)
{
  struct chan *c = chan_of (ch);
  errcode_t e;

  if (--ch->refcount > 0)
    return 0;
  e = s3_flush (ch);
  extfs_bc_free (c->bc);
  free (c);
  free (ch->name);
  free (ch);
  return e;
}

static errcode_t
s3_set_blksize (io_channel ch, int blksize)
{
  struct chan *c = chan_of (ch);
  struct bcache *bc;
  int r;

  if (blksize <= 0)
    return EXT2_ET_INVALID_ARGUMENT;
  if (blksize == ch->block_size)
    return 0;
  r = extfs_bc_flush (c->bc);
  if (r == 0)
    r = extfs_bc_new (c->io, blksize, &bc);
  if (r < 0)
    return -r;
  extfs_bc_free (c->bc);
  c->bc = bc;
  ch->block_size = blksize;
  return 0;
}

static errcode_t
s3_read_blk64 (io_channel ch, unsigned long long block, int count,
               void *data)
{
  struct chan *c = chan_of (ch);
  uint64_t off, len;
  errcode_t e;
  int r;

  e = range (ch, block, count, &off, &len);
  if (e)
    return e;
  if (count < 0) {
    r = extfs_bc_forget (c->bc, off, len);
    if (r == 0)
      r = extfs_raw_read (c->io, data, len, off);
  }
  else
    r = extfs_bc_read (c->bc, block, count, data);
  if (r < 0 && ch->read_error)
    return ch->read_error (ch, block, count, data, len, 0, -r);
  return r < 0 ? -r : 0;
}

static errcode_t
s3_write_blk64 (io_channel ch, unsigned long long block, int count,
                const void *data)
{
  struct chan *c = chan_of (ch);
  uint64_t off, len;
  errcode_t e;
  int r;

  e = range (ch, block, count, &off, &len);
  if (e)
    return e;
  if (count < 0) {
    r = extfs_bc_forget (c->bc, off, len);
    if (r == 0)
      r = extfs_raw_write (c->io, data, len, off);
  }
  else
    r = extfs_bc_write (c->bc, block, count, data);
  if (r < 0 && ch->write_error)
    return ch->write_error (ch, block, count, data, len, 0, -r);
  return r < 0 ? -r : 0;
}

static errcode_t
s3_read_blk (io_channel ch, unsigned long block, int count, void *data)
{
  return s3_read_blk64 (ch, block, count, data);
}

static errcode_t
s3_write_blk (io_channel ch, unsigned long block, int count,
              const void *data)
{
  return s3_write_blk64 (ch, block, count, data);
}

/* Used for the superblock, which need not fill a block. */
static errcode_t
s3_write_byte (io_channel ch, unsigned long offset, int count,
               const void *data)
{
  struct chan *c = chan_of (ch);
  int r;

  if (count < 0 || offset > c->io->size ||
      (uint64_t) count > c->io->size - offset)
    return EXT2_ET_LLSEEK_FAILED;
  r = extfs_bc_forget (c->bc, offset, count);
  if (r == 0)
    r = extfs_raw_write (c->io, data, count, offset);
  return r < 0 ? -r : 0;
}

static errcode_t
s3_set_option (io_channel ch, const char *option, const char *arg)
{
  (void) ch;
  (void) option;
  (void) arg;
  return EXT2_ET_INVALID_ARGUMENT;
}

static errcode_t
s3_get_stats (io_channel ch, io_stats *out)
{
  struct extfs_io *io = chan_of (ch)->io;

  io->stats.num_fields = 2;
  io->stats.bytes_read = io->bytes_read;
  io->stats.bytes_written = io->bytes_written;
  *out = &io->stats;
  return 0;
}

/* Zeros are cheap in the cache: whole chunks become holes. */
static errcode_t
s3_zeroout (io_channel ch, unsigned long long block,
            unsigned long long count)
{
  struct chan *c = chan_of (ch);
  struct extfs_io *io = c->io;
  uint64_t off = (uint64_t) block * ch->block_size;
  uint64_t len = (uint64_t) count * ch->block_size, done = 0;
  uint32_t n;
  int r;

  if (off > io->size || len > io->size - off)
    return EXT2_ET_LLSEEK_FAILED;
  r = extfs_bc_forget (c->bc, off, len);
  while (r == 0 && done < len) {
    n = len - done > (1u << 30) ? 1u << 30 : (uint32_t) (len - done);
    r = cache_zero (io->cache, n, off + done, false);
    if (r < 0)
      io->last_error = r;
    done += n;
  }
  io->bytes_written += len;
  return r < 0 ? -r : 0;
}

static errcode_t
s3_discard (io_channel ch, unsigned long long block,
            unsigned long long count)
{
  return s3_zeroout (ch, block, count);
}

static const struct struct_io_manager manager = {
  .magic = EXT2_ET_MAGIC_IO_MANAGER,
  .name = "s3vol cache I/O manager",
  .open = s3_open,
  .close = s3_close,
  .set_blksize = s3_set_blksize,
  .read_blk = s3_read_blk,
  .write_blk = s3_write_blk,
  .flush = s3_flush,
  .write_byte = s3_write_byte,
  .set_option = s3_set_option,
  .get_stats = s3_get_stats,
  .read_blk64 = s3_read_blk64,
  .write_blk64 = s3_write_blk64,
  .discard = s3_discard,
  .zeroout = s3_zeroout,
};

io_manager
extfs_io_manager (void)
{
  return (io_manager) &manager;   /* libext2fs never writes to it */
}

void
extfs_io_name (struct extfs_io *io, char *buf, size_t n)
{
  snprintf (buf, n, NAME_PREFIX "%p", (void *) io);
}
