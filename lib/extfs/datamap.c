/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a volume file's data runs (s3vol/extfs_map.h): its extents,
 * written ones only, in bytes, merged when adjacent.
 */
#include <errno.h>
#include <inttypes.h>

#include "extfs_int.h"
#include "s3vol/extfs_map.h"

struct datamap {
  struct extfs *x;
  const char *path;
  uint64_t size;
  uint64_t off, len;            /* the run pending (len 0: none) */
  int (*fn) (void *opaque, uint64_t off, uint64_t len);
  void *opaque;
};

/* Hand the pending run on. */
static int
flush_run (struct datamap *m)
{
  int r = 0;

  if (m->len > 0)
    r = m->fn (m->opaque, m->off, m->len);
  m->len = 0;
  return r;
}

static int
add_run (void *opaque, const struct extfs_run *run)
{
  struct datamap *m = opaque;
  uint64_t bs = m->x->fs->blocksize, off, end;
  int r;

  if (run->lblk > UINT64_MAX / bs - run->len) {
    s3vol_error (m->x->log, "%s: corrupt block map (blocks %" PRIu64 "+%"
                 PRIu64 ")", m->path, run->lblk, run->len);
    return -EUCLEAN;
  }
  if (run->uninit || run->len == 0)
    return 0;
  off = run->lblk * bs;
  if (off >= m->size)
    return 0;
  end = (run->lblk + run->len) * bs;
  if (end > m->size)
    end = m->size;
  if (m->len > 0 && m->off + m->len == off) {
    m->len += end - off;
    return 0;
  }
  if (m->len > 0 && off < m->off + m->len) {
    s3vol_error (m->x->log, "%s: corrupt block map (runs out of order)",
                 m->path);
    return -EUCLEAN;
  }
  r = flush_run (m);
  m->off = off;
  m->len = end - off;
  return r;
}

int
extfs_data_runs (struct extfs *x, const char *path,
                 int (*fn) (void *opaque, uint64_t off, uint64_t len),
                 void *opaque)
{
  struct datamap m = { .x = x, .path = path, .fn = fn, .opaque = opaque };
  union extfs_inode in;
  ext2_ino_t ino;
  int r = extfs_find_file (x, path, &ino, &in);

  if (r < 0)
    return r;
  m.size = EXT2_I_SIZE (&in.small);
  if (m.size == 0)
    return 0;
  if (in.small.i_flags & EXT4_INLINE_DATA_FL)
    return fn (opaque, 0, m.size);
  r = extfs_each_run (x, ino, &in, add_run, &m);
  if (r == 0)
    r = flush_run (&m);
  return r;
}
