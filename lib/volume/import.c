/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: copy a raw image file into a volume as one new version.
 *
 * The image is read chunk by chunk on a few threads; each chunk is stored
 * (or found to be a hole, or already in the store) and becomes one
 * change of a single commit.  Chunks the file has no data in are holes
 * without being read.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/import.h"
#include "s3vol/parallel.h"
#include "vector.h"

DEFINE_VECTOR (chunk_indexes, uint64_t);

struct job {
  struct volume *v;
  struct volstore *vs;
  int fd;
  uint64_t filesize;
  uint32_t cs;
  struct chunk_indexes chunks;  /* indexes with data */
  struct vol_change *changes;
  const struct import_progress *progress;
  pthread_mutex_t lock;
  uint64_t done;
};

/* Chunk indexes that hold file data, by SEEK_DATA/SEEK_HOLE. */
static int
data_chunks (struct job *j)
{
  off_t data = 0, hole;
  uint64_t i, last = UINT64_MAX;

  for (;;) {
    data = lseek (j->fd, data, SEEK_DATA);
    if (data == -1)
      return errno == ENXIO ? 0 : -errno;
    hole = lseek (j->fd, data, SEEK_HOLE);
    if (hole == -1)
      return -errno;
    for (i = data / j->cs; i <= (uint64_t) (hole - 1) / j->cs; i++) {
      if (i == last)
        continue;
      if (chunk_indexes_append (&j->chunks, i) < 0)
        return -ENOMEM;
      last = i;
    }
    data = hole;
  }
}

static int
import_one (size_t k, void *opaque)
{
  struct job *j = opaque;
  uint64_t i = j->chunks.ptr[k], off = i * j->cs;
  uint8_t *buf = calloc (1, j->cs);
  size_t want = j->filesize - off < j->cs ? j->filesize - off : j->cs;
  size_t got = 0;
  ssize_t r = 0;

  if (buf == NULL)
    return -ENOMEM;
  while (got < want) {
    r = pread (j->fd, buf + got, want - got, off + got);
    if (r <= 0)
      break;
    got += r;
  }
  if (got < want) {
    free (buf);
    s3vol_error (volstore_log (j->vs), "read of the image at %" PRIu64
                 " failed: %s", off, r < 0 ? strerror (errno) : "short");
    return r < 0 ? -errno : -EIO;
  }
  j->changes[k].index = i;
  r = volume_put_chunk (j->v, buf, j->cs, &j->changes[k].id,
                          &j->changes[k].stored_len);
  free (buf);
  if (r == 0 && j->progress && j->progress->fn) {
    pthread_mutex_lock (&j->lock);
    j->done += j->cs;
    j->progress->fn (j->progress->opaque, j->done, 0);
    pthread_mutex_unlock (&j->lock);
  }
  return r;
}

int
volume_import_fd (struct volume *v, struct volstore *vs, int fd,
                  unsigned threads, const char *message,
                  const struct import_progress *progress, uint64_t *seq)
{
  struct job j = { .v = v, .vs = vs, .fd = fd, .progress = progress,
                   .cs = volume_chunk_size (v) };
  struct vol_commit_opts o = { .message = message };
  struct vol_commit_result res;
  struct stat st;
  size_t n;
  int r;

  if (fstat (fd, &st) == -1)
    return -errno;
  j.filesize = st.st_size;
  if (j.filesize > volume_size (v)) {
    s3vol_error (volstore_log (vs), "the image (%" PRIu64 " bytes) is "
                 "larger than volume %s (%" PRIu64 " bytes)", j.filesize,
                 volume_name (v), volume_size (v));
    return -EFBIG;
  }
  pthread_mutex_init (&j.lock, NULL);
  r = data_chunks (&j);
  n = j.chunks.len;
  if (r == 0) {
    j.changes = calloc (n + 1, sizeof *j.changes);
    r = j.changes ? 0 : -ENOMEM;
  }
  if (r == 0)
    r = s3vol_parallel (threads ? threads : 8, n, import_one, &j);
  if (r == 0)
    r = volume_commit (v, j.changes, n, &o, &res);
  if (r == 0)
    *seq = res.seq;
  pthread_mutex_destroy (&j.lock);
  chunk_indexes_reset (&j.chunks);
  free (j.changes);
  return r;
}
