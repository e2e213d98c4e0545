/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the cache directory (the attachment's private overlay): files,
 * the on-disk map, recovery and flush.
 *
 *   DIR/lock    flock'ed by the owner; holds its pid
 *   DIR/state   which volume and version the cache holds (below)
 *   DIR/data    sparse: dirty chunk i at i * chunk_size
 *   DIR/map     2 bits a chunk, as of the last flush: 11 dirty, 00 not
 *               here (chunk i: byte i / 4, bits 2 * (i % 4)); 01, clean,
 *               was written by earlier versions and reads as 00
 *
 * state (128 bytes, little-endian): "S3VCACHE", u32 version 1, u32 flags
 * (bit 0: closed cleanly), 16-byte volume id, u64 base version, u64
 * volume size, u32 chunk size, u32 pid of the last owner, 65-byte volume
 * name (NUL-padded), zero padding.  Written to state.tmp, fsynced and
 * renamed.
 *
 * Every change to these files, and every sync, goes through c->io (the
 * system calls unless a test passes a simulated disk).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache_int.h"
#include "byteorder.h"

#define STATE_MAGIC "S3VCACHE"
#define STATE_LEN 128
#define MAP_PAGE 4096
#define CHUNKS_PER_PAGE (4 * MAP_PAGE)

struct cache_state {
  uint32_t flags;
  struct s3vol_volid volid;
  uint64_t base, size;
  uint32_t chunk_size, pid;
  char name[S3VOL_NAME_MAX + 1];
};

static int
sys_error (struct cache *c, const char *what, const char *file)
{
  int r = -errno;

  s3vol_error (c->log, "cache %s: %s %s: %s", c->dir, what, file,
               strerror (errno));
  return r;
}

static int
open_file (struct cache *c, const char *name, int flags)
{
  char path[PATH_MAX];
  int fd;

  snprintf (path, sizeof path, "%s/%s", c->dir, name);
  /* Never through a symbolic link planted in the directory. */
  fd = c->io->open (c->io->opaque, path, flags | O_NOFOLLOW, 0600);
  if (fd == -1 && !(errno == ENOENT && !(flags & O_CREAT)))
    sys_error (c, "open", name);
  return fd;
}

static int
fsync_dir (struct cache *c, const char *dir)
{
  const struct s3vol_fileio *io = c->io;
  int fd = io->open_dir (io->opaque, dir), r = 0;

  if (fd == -1 || io->fsync (io->opaque, fd) == -1)
    r = sys_error (c, "sync", dir);
  if (fd >= 0)
    io->close (io->opaque, fd);
  return r;
}

static int
fsync_dirfd (struct cache *c)
{
  return fsync_dir (c, c->dir);
}

/* ---- state ---- */

static int
read_state (struct cache *c, struct cache_state *s)
{
  uint8_t b[STATE_LEN];
  int fd = open_file (c, "state", O_RDONLY);
  ssize_t n;

  if (fd == -1)
    return -errno;
  n = read (fd, b, sizeof b);
  c->io->close (c->io->opaque, fd);
  if (n != STATE_LEN || memcmp (b, STATE_MAGIC, 8) != 0 ||
      get_le32 (b + 8) != 1) {
    s3vol_error (c->log, "cache %s: state file is not an s3vol cache "
                 "state (remove the directory to start afresh)", c->dir);
    return -EBADMSG;
  }
  s->flags = get_le32 (b + 12);
  memcpy (s->volid.b, b + 16, S3VOL_VOLID_LEN);
  s->base = get_le64 (b + 32);
  s->size = get_le64 (b + 40);
  s->chunk_size = get_le32 (b + 48);
  s->pid = get_le32 (b + 52);
  memcpy (s->name, b + 56, S3VOL_NAME_MAX);
  s->name[S3VOL_NAME_MAX] = '\0';
  return 0;
}

int
cache_save_state (struct cache *c, bool clean)
{
  const struct s3vol_fileio *io = c->io;
  const struct root *root = volume_root (c->vol);
  uint8_t b[STATE_LEN] = { 0 };
  char tmp[PATH_MAX], path[PATH_MAX];
  int fd, r = 0;

  memcpy (b, STATE_MAGIC, 8);
  put_le32 (b + 8, 1);
  put_le32 (b + 12, clean ? 1 : 0);
  memcpy (b + 16, root->volid.b, S3VOL_VOLID_LEN);
  put_le64 (b + 32, root->seq);
  put_le64 (b + 40, c->size);
  put_le32 (b + 48, c->chunk_size);
  put_le32 (b + 52, getpid ());
  memcpy (b + 56, c->name, strnlen (c->name, S3VOL_NAME_MAX));
  snprintf (tmp, sizeof tmp, "%s/state.tmp", c->dir);
  snprintf (path, sizeof path, "%s/state", c->dir);
  /* Overwrite state.tmp in place: it was left allocated by the last
   * save (below), so this needs no room on a full disk.
   */
  fd = io->open (io->opaque, tmp, O_WRONLY | O_CREAT | O_NOFOLLOW, 0600);
  if (fd == -1 || io->pwrite (io->opaque, fd, b, sizeof b, 0) != sizeof b ||
      io->ftruncate (io->opaque, fd, sizeof b) == -1 ||
      io->fsync (io->opaque, fd) == -1)
    r = sys_error (c, "write", "state");
  if (fd >= 0)
    io->close (io->opaque, fd);
  if (r == 0 && io->rename (io->opaque, tmp, path, 0) == -1)
    r = sys_error (c, "rename", "state");
  if (r == 0)
    r = fsync_dirfd (c);
  if (r == 0)
    c->owner = getpid ();
  /* Keep the room for the next save: a new state.tmp, allocated (not
   * synced: losing it in a crash costs nothing).
   */
  if (r == 0 &&
      (fd = io->open (io->opaque, tmp, O_WRONLY | O_CREAT | O_EXCL |
                      O_TRUNC | O_NOFOLLOW, 0600)) >= 0) {
    if (io->pwrite (io->opaque, fd, b, sizeof b, 0) != sizeof b)
      io->unlink (io->opaque, tmp);
    io->close (io->opaque, fd);
  }
  return r;
}

/* ---- the map ---- */

static unsigned
map_bits (const uint8_t *map, uint64_t i)
{
  return map[i / 4] >> 2 * (i % 4) & 3;
}

static void
set_map_bits (uint8_t *map, uint64_t i, unsigned bits)
{
  map[i / 4] = (map[i / 4] & ~(3 << 2 * (i % 4))) | bits << 2 * (i % 4);
}

static unsigned
bits_of_state (unsigned s)
{
  return s == CS_DIRTY ? 3 : 0;
}

static int
write_map_page (struct cache *c, size_t page, const uint8_t *src)
{
  ssize_t n = c->io->pwrite (c->io->opaque, c->mapfd, src, MAP_PAGE,
                             (off_t) page * MAP_PAGE);

  if (n != MAP_PAGE) {
    if (n >= 0)
      errno = EIO;
    return sys_error (c, "write", "map");
  }
  return 0;
}

static int
sync_map (struct cache *c)
{
  if (c->io->fdatasync (c->io->opaque, c->mapfd) == -1) {
    c->broken = true;
    return sys_error (c, "sync", "map");
  }
  return 0;
}

int
cache_disk_flush (struct cache *c)
{
  uint8_t *changed, *pages = NULL;
  size_t p, k, nchanged = 0, *which = NULL;
  uint64_t i, end;
  int r = 0;

  pthread_mutex_lock (&c->maplock);
  /* Snapshot which pages changed, and their new contents, before the
   * data is synced: what the map will claim is then on disk.
   */
  changed = chunkmap_take_changed (&c->chunks);
  if (changed == NULL) {
    r = -ENOMEM;
    goto out;
  }
  for (p = 0; p < c->chunks.npages; p++)
    nchanged += changed[p / 8] >> p % 8 & 1;
  pages = malloc (nchanged * MAP_PAGE + 1);
  which = malloc (nchanged * sizeof *which + 1);
  if (pages == NULL || which == NULL) {
    r = -ENOMEM;
    goto out;
  }
  for (p = k = 0; p < c->chunks.npages; p++) {
    if (!(changed[p / 8] >> p % 8 & 1))
      continue;
    which[k] = p;
    memcpy (pages + k * MAP_PAGE, c->durable + p * MAP_PAGE, MAP_PAGE);
    end = (p + 1) * CHUNKS_PER_PAGE;
    for (i = p * CHUNKS_PER_PAGE; i < end && i < c->nchunks; i++)
      set_map_bits (pages + k * MAP_PAGE, i - p * CHUNKS_PER_PAGE,
                    bits_of_state (state_of (c, i)));
    k++;
  }
  if (c->io->fdatasync (c->io->opaque, c->datafd) == -1) {
    c->broken = true;
    r = sys_error (c, "sync", "data");
    goto out;
  }
  for (k = 0; r == 0 && k < nchanged; k++)
    r = write_map_page (c, which[k], pages + k * MAP_PAGE);
  if (r == 0 && nchanged)
    r = sync_map (c);
  for (k = 0; r == 0 && k < nchanged; k++)
    memcpy (c->durable + which[k] * MAP_PAGE, pages + k * MAP_PAGE,
            MAP_PAGE);
 out:
  if (r < 0 && changed)         /* write those pages next time */
    chunkmap_mark_changed (&c->chunks, changed);
  pthread_mutex_unlock (&c->maplock);
  free (changed);
  free (pages);
  free (which);
  return r;
}

/* ---- data ---- */

int
cache_punch (struct cache *c, uint64_t i)
{
  if (c->io->fallocate (c->io->opaque, c->datafd,
                        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        (off_t) (i * c->chunk_size), c->chunk_size) == 0)
    return 0;
  return -errno;
}

/* ---- opening ---- */

static int
write_lock_pid (struct cache *c)
{
  char pid[32];

  snprintf (pid, sizeof pid, "%d\n", (int) getpid ());
  if (c->io->ftruncate (c->io->opaque, c->lockfd, 0) == -1 ||
      c->io->pwrite (c->io->opaque, c->lockfd, pid, strlen (pid), 0) < 0)
    return sys_error (c, "write", "lock");
  return 0;
}

/* The directory that holds path, into out (PATH_MAX bytes). */
static char *
parent_of (const char *path, char *out)
{
  char *slash;

  snprintf (out, PATH_MAX, "%s", path);
  slash = strrchr (out, '/');
  if (slash == out)
    slash[1] = '\0';
  else if (slash)
    *slash = '\0';
  else
    strcpy (out, ".");
  return out;
}

/* May a directory above the cache be trusted: only this user or root
 * can change what its names point to (not writable by others, or
 * sticky as /tmp is)?
 */
static bool
safe_parent (const struct stat *st)
{
  return (st->st_uid == geteuid () || st->st_uid == 0) &&
    ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0 || (st->st_mode & S_ISVTX));
}

/* Walk up from directory fd (whose stat is st; fd is closed) to the
 * root through "..", refusing a directory another user can change.
 */
static int
check_above (struct cache *c, int fd, struct stat st)
{
  struct stat up_st;
  int up, r = 0;

  for (;;) {
    /* O_PATH: a directory above may be searchable only (0711). */
    up = openat (fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up == -1 || fstat (up, &up_st) == -1) {
      r = sys_error (c, "open", "parent directory");
      if (up >= 0)
        close (up);
      break;
    }
    close (fd);
    fd = up;
    if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino)
      break;                    /* the root */
    if (!safe_parent (&up_st)) {
      s3vol_error (c->log, "cache directory %s is below a directory that "
                   "another user can change (owner uid %u, mode %03o); not "
                   "using it", c->dir, (unsigned) up_st.st_uid,
                   (unsigned) (up_st.st_mode & 0777));
      r = -EPERM;
      break;
    }
    st = up_st;
  }
  close (fd);
  return r;
}

/* Before creating the cache directory: the directory it goes into, and
 * each above, must be safe (so nothing is created where another user
 * could move it).
 */
static int
check_parent (struct cache *c)
{
  char parent[PATH_MAX];
  struct stat st;
  int fd;

  fd = open (parent_of (c->dir, parent), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || fstat (fd, &st) == -1) {
    int r = sys_error (c, "open", "parent directory");
    if (fd >= 0)
      close (fd);
    return r;
  }
  if (!safe_parent (&st)) {
    s3vol_error (c->log, "cache directory %s is in a directory that "
                 "another user can change (owner uid %u, mode %03o); not "
                 "using it", c->dir, (unsigned) st.st_uid,
                 (unsigned) (st.st_mode & 0777));
    close (fd);
    return -EPERM;
  }
  return check_above (c, fd, st);
}

/* The cache directory must be this user's own: not a symbolic link
 * (another local user may have planted one where the cache will be), a
 * directory owned by this user that no one else may write to, below
 * directories that no other user can change (walked up through "..",
 * from the directory opened, to the root).  Then no other user can
 * make a path into it lead elsewhere.  One error line if not.
 */
static int
check_dir (struct cache *c)
{
  struct stat st;
  int fd, r;

  fd = open (c->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1 && (errno == ELOOP || errno == ENOTDIR)) {
    s3vol_error (c->log, "cache directory %s is a symbolic link or not a "
                 "directory; not using it", c->dir);
    return -ELOOP;
  }
  if (fd == -1 || fstat (fd, &st) == -1) {
    r = sys_error (c, "open", "directory");
    if (fd >= 0)
      close (fd);
    return r;
  }
  if (st.st_uid != geteuid () || (st.st_mode & (S_IWGRP | S_IWOTH))) {
    s3vol_error (c->log, "cache directory %s is not this user's own (owner "
                 "uid %u, mode %03o); not using it", c->dir,
                 (unsigned) st.st_uid, (unsigned) (st.st_mode & 0777));
    close (fd);
    return -EPERM;
  }
  return check_above (c, fd, st);
}

static int
lock_dir (struct cache *c)
{
  char pid[32] = "";
  ssize_t n;
  int r = check_parent (c);

  if (r < 0)
    return r;
  if (c->io->mkdir (c->io->opaque, c->dir, 0700) == 0) {
    /* Its name must outlast a crash as much as what it will hold. */
    char parent[PATH_MAX];
    if (fsync_dir (c, parent_of (c->dir, parent)) < 0)
      return -EIO;
  }
  else if (errno != EEXIST)
    return sys_error (c, "create", "directory");
  r = check_dir (c);
  if (r < 0)
    return r;
  c->lockfd = open_file (c, "lock", O_RDWR | O_CREAT);
  if (c->lockfd == -1)
    return -errno;
  if (flock (c->lockfd, LOCK_EX | LOCK_NB) == -1) {
    n = pread (c->lockfd, pid, sizeof pid - 1, 0);
    pid[n > 0 ? n : 0] = '\0';
    pid[strcspn (pid, "\n")] = '\0';
    s3vol_error (c->log, "cache directory %s is in use by another s3vol "
                 "process (pid %s)", c->dir, pid[0] ? pid : "?");
    return -EBUSY;
  }
  return write_lock_pid (c);
}

/* The process that opened the cache may fork into a daemon (nbdkit does,
 * after get_ready) that then owns it.  The lock file must name the
 * owner, and the state file the pid its commits carry, which is how a
 * restart after a crash recognises them (adopt_own_commits).
 */
int
cache_disk_set_owner (struct cache *c)
{
  int r = write_lock_pid (c);

  if (r == 0 && c->owner != getpid ())
    r = cache_save_state (c, false);
  return r;
}

/* Commits this cache published before a crash, after its base: adopt
 * them, since their content is what the dirty chunks already hold.
 */
static int
adopt_own_commits (struct cache *c, const struct cache_state *s,
                   uint64_t *base)
{
  char host[S3VOL_HOST_MAX + 1] = "";
  const struct root *r;
  struct volume *v;
  struct vol_ref ref;
  uint64_t head;
  int ret;

  gethostname (host, sizeof host - 1);
  ret = volume_head (c->vol, &head);
  while (ret == 0 && *base < head) {
    ref.seq = *base + 1;
    ref.snapshot = NULL;
    ret = volume_open (c->vs, c->name, &ref, &v);
    if (ret < 0)
      break;
    r = volume_root (v);
    if (r->parent != *base || r->pid != s->pid || strcmp (r->host, host)) {
      volume_close (v);
      break;
    }
    s3vol_info (c->log, "cache %s: adopting version %" PRIu64 ", which "
                "this cache published before it stopped", c->dir, r->seq);
    *base = r->seq;
    volume_close (v);
  }
  return ret;
}

/* A map of the earlier format calls some chunks clean (01): those read
 * from the chunk store now.  Write the map without them, then punch
 * their bytes.
 */
static int
forget_clean (struct cache *c)
{
  size_t len = c->chunks.npages * MAP_PAGE;
  uint8_t *old;
  uint64_t i, n = 0;
  int r = 0;

  for (i = 0; i < c->nchunks; i++)
    n += map_bits (c->durable, i) == 1;
  if (n == 0)
    return 0;
  old = malloc (len);
  if (old == NULL)
    return -ENOMEM;
  memcpy (old, c->durable, len);
  for (i = 0; i < c->nchunks; i++)
    if (map_bits (old, i) == 1)
      set_map_bits (c->durable, i, 0);
  for (i = 0; r == 0 && i < c->chunks.npages; i++)
    r = write_map_page (c, i, c->durable + i * MAP_PAGE);
  if (r == 0)
    r = sync_map (c);
  for (i = 0; r == 0 && i < c->nchunks; i++)
    if (map_bits (old, i) == 1)
      cache_punch (c, i);
  free (old);
  return r;
}

static int
load_map (struct cache *c)
{
  size_t len = c->chunks.npages * MAP_PAGE;
  ssize_t n;
  uint64_t i;
  unsigned b;

  if (c->io->ftruncate (c->io->opaque, c->mapfd, len) == -1)
    return sys_error (c, "size", "map");
  /* Allocated, so that writing the map never needs room: with the disk
   * full of dirty data, a commit must still be able to flush.
   */
  if (c->io->fallocate (c->io->opaque, c->mapfd, 0, 0, len) == -1 &&
      errno != EOPNOTSUPP)
    return sys_error (c, "allocate", "map");
  n = pread (c->mapfd, c->durable, len, 0);
  if (n != (ssize_t) len)
    return n < 0 ? sys_error (c, "read", "map") : -EIO;
  for (i = 0; i < c->nchunks; i++) {
    b = map_bits (c->durable, i);
    chunk_load_state (&c->chunks, i, b == 3 ? CS_DIRTY : CS_ABSENT);
  }
  return forget_clean (c);
}

static int
open_version (struct cache *c, uint64_t seq, struct volume **v)
{
  struct vol_ref ref = { .seq = seq };

  return volume_open (c->vs, c->name, &ref, v);
}

/* Settle which version the cache serves: a new cache takes cfg->ref; an
 * existing one keeps its base while it has dirty chunks, else moves
 * (nothing local to drop: the rest reads by id from the chunk store).
 */
static int
choose_base (struct cache *c, const struct cache_config *cfg, bool fresh,
             const struct cache_state *s)
{
  struct volume *want = NULL;
  uint64_t base = s->base;
  int r;

  r = volume_open (c->vs, cfg->volume, &cfg->ref, &want);
  if (r < 0)
    return r;
  if (fresh) {
    c->vol = want;
    return 0;
  }
  if (memcmp (volume_root (want)->volid.b, s->volid.b, S3VOL_VOLID_LEN) ||
      s->chunk_size != volume_chunk_size (want) ||
      s->size != volume_size (want)) {
    s3vol_error (c->log, "cache directory %s belongs to another volume "
                 "(%s); use another directory", c->dir, s->name);
    volume_close (want);
    return -EINVAL;
  }
  r = open_version (c, base, &c->vol);
  if (r == 0 && c->chunks.ndirty)
    r = adopt_own_commits (c, s, &base);
  if (r == 0 && base != volume_seq (c->vol)) {
    volume_close (c->vol);
    r = open_version (c, base, &c->vol);
  }
  if (r < 0 || volume_seq (want) == base) {
    volume_close (want);
    return r;
  }
  if (c->chunks.ndirty) {
    if (cfg->readonly || cfg->ref.seq || cfg->ref.snapshot) {
      s3vol_error (c->log, "cache directory %s holds changes to volume %s "
                   "not yet committed (based on version %" PRIu64 "); "
                   "attach it read-write to commit them first", c->dir,
                   c->name, base);
      volume_close (want);
      return -EBUSY;
    }
    s3vol_warn (c->log, "cache %s has changes based on version %" PRIu64
                " but the volume is at version %" PRIu64 "; committing "
                "them will conflict", c->dir, base, volume_seq (want));
    volume_close (want);
    return 0;
  }
  volume_close (c->vol);
  c->vol = want;
  return 0;
}

int
cache_disk_open (struct cache *c, const struct cache_config *cfg)
{
  struct cache_state s = { 0 };
  struct volume *probe;
  bool fresh;
  int r;

  r = lock_dir (c);
  if (r < 0)
    return r;
  r = read_state (c, &s);
  if (r < 0 && r != -ENOENT)
    return r;
  fresh = r == -ENOENT;
  /* Sizes come from the volume, so the files can be laid out. */
  r = volume_open (c->vs, cfg->volume, &cfg->ref, &probe);
  if (r < 0)
    return r;
  c->size = volume_size (probe);
  c->chunk_size = volume_chunk_size (probe);
  volume_close (probe);
  c->nchunks = c->size / c->chunk_size;
  r = chunkmap_alloc (&c->chunks, c->nchunks, CHUNKS_PER_PAGE);
  c->durable = calloc (c->chunks.npages, MAP_PAGE);
  if (r < 0 || !c->durable)
    return -ENOMEM;
  c->datafd = open_file (c, "data", O_RDWR | O_CREAT);
  c->mapfd = open_file (c, "map", O_RDWR | O_CREAT);
  if (c->datafd == -1 || c->mapfd == -1)
    return -EIO;
  if (fresh && (c->io->ftruncate (c->io->opaque, c->datafd, 0) == -1 ||
                c->io->ftruncate (c->io->opaque, c->mapfd, 0) == -1))
    return sys_error (c, "reset", "files");
  if (c->io->ftruncate (c->io->opaque, c->datafd, c->size) == -1)
    return sys_error (c, "size", "data");
  r = load_map (c);
  if (r == 0)
    r = choose_base (c, cfg, fresh, &s);
  if (r == 0)
    r = cache_save_state (c, false);
  return r;
}

void
cache_disk_close (struct cache *c)
{
  if (c->datafd >= 0)
    c->io->close (c->io->opaque, c->datafd);
  if (c->mapfd >= 0)
    c->io->close (c->io->opaque, c->mapfd);
  if (c->lockfd >= 0)
    c->io->close (c->io->opaque, c->lockfd);
}
