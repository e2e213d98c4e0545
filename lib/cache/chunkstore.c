/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the host-wide chunk store (see s3vol/chunkstore.h).
 *
 * Files, all under the store's directory DIR (mode 0700):
 *
 *   HH/HEX       entry: the chunk's len bytes, then the trailer:
 *                  0  8  magic "S3VCENT1"
 *                  8  4  flags (bit 0: synced before it was renamed)
 *                 12  4  len
 *                 16 16  boot: the first 16 bytes of the SHA-256 of the
 *                        boot id it was written (or last verified) in
 *                (little-endian).  Its mtime is its LRU time.
 *   HH/HEX.lock  the id's fetch lock (below)
 *   HH/HEX.tmp   the lock holder's temporary file
 *   lock         flock'ed while opening (counters) and while pruning
 *   stats        4096 bytes, mapped shared by every process that opened
 *                the store: struct cs_shared, native byte order (it
 *                never leaves the host; a foreign one fails the magic
 *                and is started afresh)
 *
 * The entry states and who may change them:
 *
 *   state        what it is                       changed by
 *   -----        ----------                       ----------
 *   absent       no HEX                           the lock holder (fill)
 *   trusted      HEX, trailer synced or this boot any get (reads it),
 *                                                 eviction (removes it)
 *   unverified   HEX, trailer of another boot     the lock holder
 *                                                 (verifies and marks,
 *                                                 or drops)
 *   bad          HEX that is not an entry of len  the lock holder (drops)
 *
 * Invariants:
 *  - HEX appears only by the rename of a whole HEX.tmp, by the holder of
 *    HEX.lock; HEX.tmp is written only by that holder.
 *  - A trusted entry holds id's plaintext: it was written whole before
 *    its rename, and either synced before it, or no crash of the host
 *    happened since (the boot id is the same), or it was verified
 *    (whole, through the caller's verify) in this boot.
 *  - Removing HEX (eviction, drop) never needs the lock: a reader keeps
 *    its descriptor, a fetcher finds it absent and fetches.
 *
 * The fetch lock protocol: open (creating) HEX.lock, flock it
 * exclusively, then fstat the descriptor: a link count of 0 means that
 * the previous holder removed the file before unlocking, so this lock
 * guards nothing; close and start again.  A holder removes HEX.lock
 * before closing it.  A new descriptor per attempt makes threads of one
 * process exclude each other too; the kernel releases the lock of a
 * process that dies.
 *
 * Counters: bytes and entries are kept in the shared page by whoever
 * adds or removes an entry; each scan (every prune, and an open after a
 * reboot or a day without one) makes them exact again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/chunkstore.h"
#include "s3vol/volume.h"
#include "byteorder.h"
#include "vector.h"

#define TRAILER 32
#define TRAILER_MAGIC "S3VCENT1"
#define TF_SYNCED 1u
#define BOOT_LEN 16
#define STATS_LEN 4096
#define STATS_MAGIC "S3VCSTAT"
#define STATS_VERSION 1
#define STALE_NS (60 * 1000000000ll)   /* a temp or lock file this old
                                          may be a dead process's */
#define TOUCH_DEFAULT_MS 60000
#define RESCAN_NS (86400 * 1000000000ll)  /* recount at open after a day
                                             without a scan */
/* DIR + "/HH/" + HEX + ".lock" */
#define SUFFIX_MAX (4 + S3VOL_ID_HEX + 5 + 1)

/* The shared page.  Counters change with atomic operations only. */
struct cs_shared {
  char magic[8];
  uint32_t version;
  uint32_t pad;
  uint8_t boot[BOOT_LEN];       /* of the last open that counted */
  int64_t bytes, entries;       /* running estimates */
  uint64_t hits, misses, verified, dropped, evictions, evicted_bytes;
  int64_t scan_ns;              /* time of the last scan */
};

struct chunkstore {
  const struct s3vol_log *log;
  const struct s3vol_fileio *io;
  char dir[PATH_MAX];
  uint64_t max_bytes;
  int64_t touch_ns;
  bool sync;
  bool have_boot;               /* else boot is zeros, and sync is on */
  uint8_t boot[BOOT_LEN];
  struct cs_shared *sh;
  int statsfd;
};

/* The names of one id's files. */
struct cs_paths {
  char sub[PATH_MAX], entry[PATH_MAX], tmp[PATH_MAX], lock[PATH_MAX];
};

/* What open_entry found. */
enum { ENTRY_TRUSTED, ENTRY_UNVERIFIED, ENTRY_BAD };

/* One entry seen by a scan. */
struct cs_entry {
  int64_t mtime_ns;
  uint64_t size;
  struct s3vol_id id;
};
DEFINE_VECTOR (cs_entries, struct cs_entry)

/* ---- small helpers ---- */

static int
sys_err (struct chunkstore *cs, const char *what, const char *path)
{
  int r = -errno;

  s3vol_error (cs->log, "chunk store %s: %s %s: %s", cs->dir, what, path,
               strerror (errno));
  return r;
}

#define ADD(cs, field, n) \
  __atomic_add_fetch (&(cs)->sh->field, (n), __ATOMIC_RELAXED)
#define GET(cs, field) __atomic_load_n (&(cs)->sh->field, __ATOMIC_RELAXED)

static int64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static int64_t
mtime_ns (const struct stat *st)
{
  return st->st_mtim.tv_sec * 1000000000ll + st->st_mtim.tv_nsec;
}

static void
id_paths (const struct chunkstore *cs, const struct s3vol_id *id,
          struct cs_paths *p)
{
  char hex[S3VOL_ID_HEX + 1];

  s3vol_id_hex (id, hex);
  snprintf (p->sub, sizeof p->sub, "%s/%.2s", cs->dir, hex);
  snprintf (p->entry, sizeof p->entry, "%s/%s", p->sub, hex);
  snprintf (p->tmp, sizeof p->tmp, "%s.tmp", p->entry);
  snprintf (p->lock, sizeof p->lock, "%s.lock", p->entry);
}

static int
read_all (int fd, void *buf, size_t len, off_t off)
{
  ssize_t n;

  while (len > 0) {
    n = pread (fd, buf, len, off);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      return n == 0 ? -EIO : -errno;
    buf = (char *) buf + n;
    len -= n;
    off += n;
  }
  return 0;
}

static int
write_all (const struct s3vol_fileio *io, int fd, const void *buf,
           size_t len, off_t off)
{
  ssize_t n;

  while (len > 0) {
    n = io->pwrite (io->opaque, fd, buf, len, off);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      return n == 0 ? -EIO : -errno;
    buf = (const char *) buf + n;
    len -= n;
    off += n;
  }
  return 0;
}

static void
put_trailer (const struct chunkstore *cs, uint8_t *t, size_t len,
             uint32_t flags)
{
  memcpy (t, TRAILER_MAGIC, 8);
  put_le32 (t + 8, flags);
  put_le32 (t + 12, (uint32_t) len);
  memcpy (t + 16, cs->boot, BOOT_LEN);
}

/* ---- the directory ---- */

int
chunkstore_default_dir (char *out, size_t n, const struct s3vol_log *log)
{
  const char *xdg = getenv ("XDG_CACHE_HOME"), *home = getenv ("HOME");
  const char *env = getenv ("S3VOL_CHUNK_CACHE");
  int len;

  if (env && env[0] == '/')
    len = snprintf (out, n, "%s", env);
  else if (geteuid () == 0)
    len = snprintf (out, n, "/var/cache/s3vol/chunks");
  else if (xdg && xdg[0] == '/')
    len = snprintf (out, n, "%s/s3vol/.chunks", xdg);
  else if (home && home[0] == '/')
    len = snprintf (out, n, "%s/.cache/s3vol/.chunks", home);
  else {
    s3vol_error (log, "neither XDG_CACHE_HOME nor HOME is set, so the "
                 "chunk store has no default place");
    return -EINVAL;
  }
  if (len < 0 || (size_t) len >= n) {
    s3vol_error (log, "chunk store: the default directory's name is too "
                 "long");
    return -ENAMETOOLONG;
  }
  return 0;
}

/* mkdir -p, mode 0700 for what it creates. */
static int
make_dirs (struct chunkstore *cs)
{
  const struct s3vol_fileio *io = cs->io;
  char path[PATH_MAX];
  char *p;

  snprintf (path, sizeof path, "%s", cs->dir);
  for (p = path + 1; ; p++) {
    if (*p != '/' && *p != '\0')
      continue;
    char c = *p;
    *p = '\0';
    if (io->mkdir (io->opaque, path, 0700) == -1 && errno != EEXIST)
      return sys_err (cs, "create", path);
    *p = c;
    if (c == '\0')
      return 0;
  }
}

/* Refuse a directory that others could change or read. */
static int
check_dir (struct chunkstore *cs)
{
  struct stat st;
  const char *why = NULL;

  if (lstat (cs->dir, &st) == -1)
    return sys_err (cs, "stat", cs->dir);
  if (S_ISLNK (st.st_mode))
    why = "it is a symbolic link";
  else if (!S_ISDIR (st.st_mode))
    why = "it is not a directory";
  else if (st.st_uid != geteuid ())
    why = "it is not owned by the user";
  else if (st.st_mode & 077)
    why = "group or others have access to it (it must be mode 0700)";
  if (why == NULL)
    return 0;
  s3vol_error (cs->log, "chunk store %s: refused: %s", cs->dir, why);
  return -EPERM;
}

/* flock DIR/lock exclusively (waiting or not) into *fd: 0, -EWOULDBLOCK
 * (not logged) or an error.
 */
static int
store_lock (struct chunkstore *cs, bool wait, int *fd)
{
  char path[PATH_MAX];
  int f, r;

  snprintf (path, sizeof path, "%s/lock", cs->dir);
  f = cs->io->open (cs->io->opaque, path, O_RDWR | O_CREAT | O_NOFOLLOW,
                    0600);
  if (f == -1)
    return sys_err (cs, "open", path);
  while ((r = flock (f, LOCK_EX | (wait ? 0 : LOCK_NB))) == -1 &&
         errno == EINTR)
    ;
  if (r == -1) {
    r = errno == EWOULDBLOCK ? -EWOULDBLOCK : sys_err (cs, "lock", path);
    cs->io->close (cs->io->opaque, f);
    return r;
  }
  *fd = f;
  return 0;
}

static void
store_unlock (struct chunkstore *cs, int fd)
{
  cs->io->close (cs->io->opaque, fd);
}

/* ---- the fetch lock of one id ---- */

static int
lock_id (struct chunkstore *cs, const struct cs_paths *p, bool wait,
         int *out)
{
  const struct s3vol_fileio *io = cs->io;
  struct stat st;
  int fd, r, tries = 0;

  for (;;) {
    fd = io->open (io->opaque, p->lock, O_RDWR | O_CREAT | O_NOFOLLOW,
                   0600);
    /* HH is made on first use (and may be removed by hand). */
    if (fd == -1 && errno == ENOENT && tries++ < 8 &&
        (io->mkdir (io->opaque, p->sub, 0700) == 0 || errno == EEXIST))
      continue;
    if (fd == -1)
      return sys_err (cs, "open", p->lock);
    while ((r = flock (fd, LOCK_EX | (wait ? 0 : LOCK_NB))) == -1 &&
           errno == EINTR)
      ;
    if (r == 0 && fstat (fd, &st) == 0 && st.st_nlink > 0) {
      *out = fd;
      return 0;
    }
    r = r == -1 && errno == EWOULDBLOCK ? -EWOULDBLOCK
        : r == -1 ? sys_err (cs, "lock", p->lock) : 0;
    io->close (io->opaque, fd);
    if (r < 0)
      return r;
    /* The holder before us removed it: lock the new one. */
  }
}

static void
unlock_id (struct chunkstore *cs, const struct cs_paths *p, int fd)
{
  cs->io->unlink (cs->io->opaque, p->lock);
  cs->io->close (cs->io->opaque, fd);
}

/* ---- entries ---- */

/* Open id's entry into *fd: ENTRY_TRUSTED or ENTRY_UNVERIFIED (with *fd
 * open and *st its stat), ENTRY_BAD (not an entry of len bytes; nothing
 * open), -ENOENT, or an error.
 */
static int
open_entry (struct chunkstore *cs, const struct cs_paths *p, size_t len,
            int *fd, struct stat *st)
{
  const struct s3vol_fileio *io = cs->io;
  uint8_t t[TRAILER];
  int f;

  f = io->open (io->opaque, p->entry, O_RDONLY | O_NOFOLLOW, 0);
  if (f == -1 && (errno == ENOENT || errno == ENOTDIR))
    return -ENOENT;
  if (f == -1 && errno == ELOOP)
    return ENTRY_BAD;
  if (f == -1)
    return sys_err (cs, "open", p->entry);
  if (fstat (f, st) == -1 || !S_ISREG (st->st_mode) ||
      (uint64_t) st->st_size != len + TRAILER ||
      read_all (f, t, TRAILER, len) < 0 ||
      memcmp (t, TRAILER_MAGIC, 8) != 0 || get_le32 (t + 12) != len) {
    io->close (io->opaque, f);
    return ENTRY_BAD;
  }
  *fd = f;
  if ((get_le32 (t + 8) & TF_SYNCED) ||
      (cs->have_boot && memcmp (t + 16, cs->boot, BOOT_LEN) == 0))
    return ENTRY_TRUSTED;
  return ENTRY_UNVERIFIED;
}

/* A hit moves its entry up the LRU order, now and then. */
static void
touch (struct chunkstore *cs, int fd, const struct stat *st)
{
  if (now_ns () - mtime_ns (st) >= cs->touch_ns)
    futimens (fd, NULL);        /* best effort: the order is a hint */
}

/* Remove a bad or unverifiable entry (the id's lock held). */
static void
drop_entry (struct chunkstore *cs, const struct cs_paths *p)
{
  struct stat st;

  if (lstat (p->entry, &st) == -1 ||
      cs->io->unlink (cs->io->opaque, p->entry) == -1)
    return;
  ADD (cs, dropped, 1);
  if (S_ISREG (st.st_mode)) {
    ADD (cs, bytes, -(int64_t) st.st_size);
    ADD (cs, entries, -1);
  }
}

/* Check an unverified entry with the caller's verify, and mark it as of
 * this boot: 0, or -EBADMSG when it must go.
 */
static int
reverify (struct chunkstore *cs, const struct cs_paths *p, size_t len,
          const struct s3vol_id *id, const struct chunkstore_source *src,
          int fd)
{
  const struct s3vol_fileio *io = cs->io;
  uint8_t t[TRAILER];
  void *buf;
  int r = -EBADMSG, w;

  if (src->verify == NULL || (buf = malloc (len)) == NULL)
    return -EBADMSG;
  if (read_all (fd, buf, len, 0) == 0 &&
      src->verify (src->opaque, id, buf, len) == 0)
    r = 0;
  free (buf);
  if (r < 0)
    return r;
  put_trailer (cs, t, len, 0);  /* not synced: a crash re-verifies */
  w = io->open (io->opaque, p->entry, O_WRONLY | O_NOFOLLOW, 0);
  if (w >= 0) {
    write_all (io, w, t, TRAILER, len);  /* if not, verify next time */
    io->close (io->opaque, w);
  }
  ADD (cs, verified, 1);
  return 0;
}

/* Write len + TRAILER bytes of buf as id's entry (the lock held), and
 * open it read-only into *fd.  Not logged (fill retries).
 */
static int
write_entry (struct chunkstore *cs, const struct cs_paths *p,
             const void *buf, size_t n, int *fd)
{
  const struct s3vol_fileio *io = cs->io;
  int w, rfd = -1, r = 0;

  /* A temporary file left by a holder that died. */
  io->unlink (io->opaque, p->tmp);
  w = io->open (io->opaque, p->tmp, O_WRONLY | O_CREAT | O_EXCL |
                O_NOFOLLOW, 0600);
  if (w == -1)
    return -errno;
  r = write_all (io, w, buf, n, 0);
  if (r == 0 && cs->sync && io->fsync (io->opaque, w) == -1)
    r = -errno;
  if (r == 0 &&
      (rfd = io->open (io->opaque, p->tmp, O_RDONLY | O_NOFOLLOW, 0)) == -1)
    r = -errno;
  if (io->close (io->opaque, w) == -1 && r == 0)
    r = -errno;
  if (r == 0 && io->rename (io->opaque, p->tmp, p->entry, 0) == -1)
    r = -errno;
  if (r < 0) {
    if (rfd >= 0)
      io->close (io->opaque, rfd);
    io->unlink (io->opaque, p->tmp);
    return r;
  }
  ADD (cs, bytes, (int64_t) n);
  ADD (cs, entries, 1);
  *fd = rfd;
  return 0;
}

static int prune_locked (struct chunkstore *cs, uint64_t target,
                         uint64_t *freed);

/* Fetch id and store it (the lock held). */
static int
fill (struct chunkstore *cs, const struct cs_paths *p,
      const struct s3vol_id *id, size_t len,
      const struct chunkstore_source *src, int *fd)
{
  uint8_t *buf = malloc (len + TRAILER);
  int r, lk;

  if (buf == NULL)
    return -ENOMEM;
  ADD (cs, misses, 1);
  r = src->fetch (src->opaque, id, buf, len);
  if (r < 0) {
    free (buf);
    return r;                   /* logged by the fetch */
  }
  put_trailer (cs, buf + len, len, cs->sync ? TF_SYNCED : 0);
  r = write_entry (cs, p, buf, len + TRAILER, fd);
  /* A full disk: make room (half the store) and try once more. */
  if (r == -ENOSPC && store_lock (cs, true, &lk) == 0) {
    prune_locked (cs, (uint64_t) GET (cs, bytes) / 2, NULL);
    store_unlock (cs, lk);
    r = write_entry (cs, p, buf, len + TRAILER, fd);
  }
  if (r < 0)
    s3vol_error (cs->log, "chunk store %s: write %s: %s", cs->dir, p->tmp,
                 strerror (-r));
  free (buf);
  return r;
}

/* An insert went over the limit: prune down to 7/8 of it, unless
 * someone is pruning already.  Then look again: an insert that found
 * the store locked while this prune ran (and whose scan may have missed
 * it) left its bytes counted, so the limit holds once the last pruner
 * is done.
 */
static void
maybe_evict (struct chunkstore *cs)
{
  int lk, r, round;

  for (round = 0; round < 4; round++) {
    if ((uint64_t) GET (cs, bytes) <= cs->max_bytes ||
        store_lock (cs, false, &lk) < 0)
      return;
    if ((uint64_t) GET (cs, bytes) > cs->max_bytes) {
      r = prune_locked (cs, cs->max_bytes - cs->max_bytes / 8, NULL);
      if (r < 0)
        s3vol_warn (cs->log, "chunk store %s: eviction failed: %s",
                    cs->dir, strerror (-r));
    }
    store_unlock (cs, lk);
  }
}

/* The slow path of a get: under id's lock. */
static int
get_locked (struct chunkstore *cs, const struct cs_paths *p,
            const struct s3vol_id *id, size_t len,
            const struct chunkstore_source *src, int *fd)
{
  struct stat st;
  bool filled = false;
  int lk, r;

  r = lock_id (cs, p, true, &lk);
  if (r < 0)
    return r;
  r = open_entry (cs, p, len, fd, &st);
  if (r == ENTRY_UNVERIFIED && reverify (cs, p, len, id, src, *fd) < 0) {
    cs->io->close (cs->io->opaque, *fd);
    r = ENTRY_BAD;
  }
  if (r == ENTRY_BAD)
    drop_entry (cs, p);
  if (r == ENTRY_BAD || r == -ENOENT) {
    r = fill (cs, p, id, len, src, fd);
    filled = r == 0;
  }
  else if (r >= 0) {
    ADD (cs, hits, 1);
    r = 0;
  }
  unlock_id (cs, p, lk);
  if (filled)
    maybe_evict (cs);
  return r;
}

int
chunkstore_get (struct chunkstore *cs, const struct s3vol_id *id,
                size_t len, const struct chunkstore_source *src, int *fd)
{
  struct cs_paths p;
  struct stat st;
  int r;

  if (cs == NULL || id == NULL || src == NULL || src->fetch == NULL ||
      fd == NULL || len == 0 || len > S3VOL_CHUNK_MAX ||
      s3vol_id_is_hole (id))
    return -EINVAL;
  id_paths (cs, id, &p);
  r = open_entry (cs, &p, len, fd, &st);
  if (r == ENTRY_TRUSTED) {
    ADD (cs, hits, 1);
    touch (cs, *fd, &st);
    return 0;
  }
  if (r == ENTRY_UNVERIFIED)
    cs->io->close (cs->io->opaque, *fd);
  else if (r < 0 && r != -ENOENT)
    return r;
  return get_locked (cs, &p, id, len, src, fd);
}

int
chunkstore_read (struct chunkstore *cs, const struct s3vol_id *id,
                 size_t len, const struct chunkstore_source *src, void *buf)
{
  int fd, r;

  r = chunkstore_get (cs, id, len, src, &fd);
  if (r < 0)
    return r;
  r = read_all (fd, buf, len, 0);
  if (r < 0)
    s3vol_error (cs->log, "chunk store %s: read: %s", cs->dir,
                 strerror (-r));
  cs->io->close (cs->io->opaque, fd);
  return r;
}

/* ---- scanning and eviction ---- */

/* 64 lowercase hex digits and a suffix ("" for an entry)? */
static bool
parse_name (const char *name, const char *suffix, struct s3vol_id *id)
{
  char hex[S3VOL_ID_HEX + 1];
  size_t i;

  for (i = 0; i < S3VOL_ID_HEX; i++)
    if (!((name[i] >= '0' && name[i] <= '9') ||
          (name[i] >= 'a' && name[i] <= 'f')))
      return false;
  if (strcmp (name + S3VOL_ID_HEX, suffix) != 0)
    return false;
  memcpy (hex, name, S3VOL_ID_HEX);
  hex[S3VOL_ID_HEX] = '\0';
  return s3vol_id_parse (hex, id) == 0;
}

/* Remove id's temporary and lock files if no one holds its lock. */
static void
clean_stale (struct chunkstore *cs, const struct s3vol_id *id)
{
  struct cs_paths p;
  int lk;

  id_paths (cs, id, &p);
  if (lock_id (cs, &p, false, &lk) < 0)
    return;
  cs->io->unlink (cs->io->opaque, p.tmp);
  unlock_id (cs, &p, lk);
}

/* One name found in DIR/HH: an entry goes into v. */
static int
scan_name (struct chunkstore *cs, int dfd, const char *name, uint8_t hh,
           struct cs_entries *v, int64_t now)
{
  struct s3vol_id id;
  struct stat st;

  if (fstatat (dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
    return 0;                   /* gone meanwhile */
  if (parse_name (name, "", &id) && id.b[0] == hh && S_ISREG (st.st_mode))
    return cs_entries_append (v, (struct cs_entry) {
        .mtime_ns = mtime_ns (&st), .size = st.st_size, .id = id });
  if (now - mtime_ns (&st) >= STALE_NS &&
      (parse_name (name, ".tmp", &id) || parse_name (name, ".lock", &id)))
    clean_stale (cs, &id);
  return 0;
}

static int
scan_sub (struct chunkstore *cs, unsigned hh, struct cs_entries *v,
          int64_t now)
{
  char sub[PATH_MAX];
  struct dirent *de;
  DIR *d;
  int r = 0;

  snprintf (sub, sizeof sub, "%s/%02x", cs->dir, hh);
  d = opendir (sub);
  if (d == NULL)
    return errno == ENOENT ? 0 : sys_err (cs, "list", sub);
  while (r == 0 && (errno = 0, de = readdir (d)) != NULL)
    if (de->d_name[0] != '.')
      r = scan_name (cs, dirfd (d), de->d_name, hh, v, now);
  if (r == 0 && errno != 0)
    r = sys_err (cs, "list", sub);
  closedir (d);
  return r;
}

/* Every entry into v (which the caller resets), *total their bytes. */
static int
scan (struct chunkstore *cs, struct cs_entries *v, uint64_t *total)
{
  int64_t now = now_ns ();
  unsigned hh;
  size_t i;
  int r;

  for (hh = 0; hh < 256; hh++) {
    r = scan_sub (cs, hh, v, now);
    if (r < 0)
      return r;
  }
  *total = 0;
  for (i = 0; i < v->len; i++)
    *total += v->ptr[i].size;
  __atomic_store_n (&cs->sh->scan_ns, now, __ATOMIC_RELAXED);
  return 0;
}

static int
by_mtime (const void *a, const void *b)
{
  const struct cs_entry *x = a, *y = b;

  return x->mtime_ns < y->mtime_ns ? -1 : x->mtime_ns > y->mtime_ns;
}

/* Remove e unless it was used since the scan: its bytes, or 0. */
static uint64_t
evict_one (struct chunkstore *cs, const struct cs_entry *e)
{
  struct cs_paths p;
  struct stat st;

  id_paths (cs, &e->id, &p);
  if (lstat (p.entry, &st) == -1 || mtime_ns (&st) != e->mtime_ns ||
      cs->io->unlink (cs->io->opaque, p.entry) == -1)
    return 0;
  ADD (cs, evictions, 1);
  ADD (cs, evicted_bytes, e->size);
  return e->size;
}

/* Scan, evict LRU first down to target, and make the counters exact
 * (DIR/lock held).
 */
static int
prune_locked (struct chunkstore *cs, uint64_t target, uint64_t *freed)
{
  struct cs_entries v = { 0 };
  int64_t bytes0 = GET (cs, bytes), entries0 = GET (cs, entries);
  uint64_t total, gone = 0, size;
  size_t i, n = 0;
  int r;

  r = scan (cs, &v, &total);
  if (r < 0)
    goto out;
  if (v.len > 0)
    qsort (v.ptr, v.len, sizeof *v.ptr, by_mtime);
  for (i = 0; i < v.len && total - gone > target; i++) {
    size = evict_one (cs, &v.ptr[i]);
    gone += size;
    n += size > 0;
  }
  /* Set the counters to what the scan saw, keeping what others changed
   * meanwhile.
   */
  ADD (cs, bytes, (int64_t) (total - gone) - bytes0);
  ADD (cs, entries, (int64_t) (v.len - n) - entries0);
  if (freed)
    *freed = gone;
 out:
  cs_entries_reset (&v);
  return r;
}

int
chunkstore_prune (struct chunkstore *cs, uint64_t target_bytes,
                  uint64_t *freed)
{
  int lk, r;

  if (freed)
    *freed = 0;
  r = store_lock (cs, true, &lk);
  if (r < 0)
    return r;
  r = prune_locked (cs, target_bytes, freed);
  store_unlock (cs, lk);
  return r;
}

/* ---- open, close, stats ---- */

static void
read_boot_id (struct chunkstore *cs, const char *given)
{
  char b[80];
  struct s3vol_id h;
  ssize_t n = 0;
  int fd;

  if (given == NULL) {
    fd = open ("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      n = read (fd, b, sizeof b - 1);
      close (fd);
    }
    if (n <= 0) {
      s3vol_info (cs->log, "chunk store %s: no boot id: every entry is "
                  "synced before use", cs->dir);
      cs->sync = true;
      return;
    }
    b[n] = '\0';
    b[strcspn (b, "\n")] = '\0';
    given = b;
  }
  s3vol_hash (given, strnlen (given, 64), &h);
  memcpy (cs->boot, h.b, BOOT_LEN);
  cs->have_boot = true;
}

/* Open and map DIR/stats; *fresh if it had to be started afresh. */
static int
map_stats (struct chunkstore *cs, bool *fresh)
{
  const struct s3vol_fileio *io = cs->io;
  struct cs_shared h = { .version = 0 };
  char path[PATH_MAX];
  static const uint8_t zero[STATS_LEN];
  struct stat st;
  int fd;

  snprintf (path, sizeof path, "%s/stats", cs->dir);
  fd = io->open (io->opaque, path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600);
  if (fd == -1)
    return sys_err (cs, "open", path);
  cs->statsfd = fd;
  *fresh = fstat (fd, &st) == -1 || st.st_size != STATS_LEN ||
           read_all (fd, &h, 12, 0) < 0 ||
           memcmp (h.magic, STATS_MAGIC, 8) != 0 ||
           h.version != STATS_VERSION;
  /* Rewritten in place, never shorter than STATS_LEN: another process
   * may have it mapped (a shorter file would be SIGBUS there).
   */
  if (*fresh) {
    memcpy (h.magic, STATS_MAGIC, 8);
    h.version = STATS_VERSION;
    if (write_all (io, fd, zero, STATS_LEN, 0) < 0 ||
        write_all (io, fd, &h, 12, 0) < 0 ||
        io->ftruncate (io->opaque, fd, STATS_LEN) == -1)
      return sys_err (cs, "write", path);
  }
  cs->sh = mmap (NULL, STATS_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (cs->sh == MAP_FAILED) {
    cs->sh = NULL;
    return sys_err (cs, "map", path);
  }
  return 0;
}

/* Should this open recount?  After a reboot (counts of processes that
 * died with the host are lost), with a fresh stats file, or a day after
 * the last scan (counts of processes killed between a change and its
 * count drift them).
 */
static bool
need_scan (struct chunkstore *cs, bool fresh)
{
  return fresh ||
         (cs->have_boot && memcmp (cs->sh->boot, cs->boot, BOOT_LEN)) ||
         now_ns () - GET (cs, scan_ns) > RESCAN_NS;
}

/* The counters, made exact when need_scan says so. */
static int
init_counters (struct chunkstore *cs)
{
  struct cs_entries v = { 0 };
  uint64_t total;
  bool fresh;
  int lk, r;

  r = store_lock (cs, true, &lk);
  if (r < 0)
    return r;
  r = map_stats (cs, &fresh);
  if (r == 0 && need_scan (cs, fresh)) {
    r = scan (cs, &v, &total);
    if (r == 0) {
      __atomic_store_n (&cs->sh->bytes, (int64_t) total, __ATOMIC_RELAXED);
      __atomic_store_n (&cs->sh->entries, (int64_t) v.len,
                        __ATOMIC_RELAXED);
      memcpy (cs->sh->boot, cs->boot, BOOT_LEN);
    }
    cs_entries_reset (&v);
  }
  store_unlock (cs, lk);
  return r;
}

/* The default limit: 10 GiB, or half of free space plus the store. */
static uint64_t
default_max (struct chunkstore *cs)
{
  struct statvfs sv;
  uint64_t room;

  if (statvfs (cs->dir, &sv) == -1)
    return CHUNKSTORE_MAX_DEFAULT;
  room = ((uint64_t) sv.f_bavail * sv.f_frsize +
          (uint64_t) GET (cs, bytes)) / 2;
  return room < CHUNKSTORE_MAX_DEFAULT ? room : CHUNKSTORE_MAX_DEFAULT;
}

static int
setup (struct chunkstore *cs, const struct chunkstore_config *cfg)
{
  int r;

  if (cfg->dir)
    snprintf (cs->dir, sizeof cs->dir, "%s", cfg->dir);
  else if ((r = chunkstore_default_dir (cs->dir, sizeof cs->dir,
                                        cs->log)) < 0)
    return r;
  if (cs->dir[0] != '/' || strlen (cs->dir) + SUFFIX_MAX > PATH_MAX) {
    s3vol_error (cs->log, "chunk store %s: the directory must be an "
                 "absolute path of at most %d bytes", cs->dir,
                 PATH_MAX - SUFFIX_MAX);
    return -EINVAL;
  }
  read_boot_id (cs, cfg->boot_id);
  r = make_dirs (cs);
  if (r == 0)
    r = check_dir (cs);
  if (r == 0)
    r = init_counters (cs);
  if (r == 0)
    cs->max_bytes = cfg->max_bytes ? cfg->max_bytes : default_max (cs);
  return r;
}

int
chunkstore_open (const struct chunkstore_config *cfg,
                 struct chunkstore **out)
{
  struct chunkstore *cs;
  int r;

  if (cfg == NULL || out == NULL)
    return -EINVAL;
  cs = calloc (1, sizeof *cs);
  if (cs == NULL)
    return -ENOMEM;
  cs->log = cfg->log;
  cs->io = cfg->fileio ? cfg->fileio : &s3vol_fileio_sys;
  cs->sync = cfg->sync;
  cs->touch_ns = (int64_t) (cfg->touch_interval_ms ? cfg->touch_interval_ms
                            : TOUCH_DEFAULT_MS) * 1000000;
  cs->statsfd = -1;
  r = setup (cs, cfg);
  if (r < 0) {
    chunkstore_close (cs);
    return r;
  }
  *out = cs;
  return 0;
}

void
chunkstore_close (struct chunkstore *cs)
{
  if (cs == NULL)
    return;
  if (cs->sh)
    munmap (cs->sh, STATS_LEN);
  if (cs->statsfd >= 0)
    cs->io->close (cs->io->opaque, cs->statsfd);
  free (cs);
}

static uint64_t
nonneg (int64_t v)
{
  return v < 0 ? 0 : (uint64_t) v;
}

void
chunkstore_stats (struct chunkstore *cs, struct chunkstore_stats *st)
{
  *st = (struct chunkstore_stats) {
    .bytes = nonneg (GET (cs, bytes)),
    .entries = nonneg (GET (cs, entries)),
    .max_bytes = cs->max_bytes,
    .hits = GET (cs, hits),
    .misses = GET (cs, misses),
    .verified = GET (cs, verified),
    .dropped = GET (cs, dropped),
    .evictions = GET (cs, evictions),
    .evicted_bytes = GET (cs, evicted_bytes),
  };
}

const char *
chunkstore_dir (const struct chunkstore *cs)
{
  return cs->dir;
}
