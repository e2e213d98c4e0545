/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-s3vol-plugin: a volume as an NBD block device.
 *
 * Glue only: parameters, NBD callbacks and the plugin table.  The cache
 * (lib/cache*.c) does the work; committer.c commits in the background;
 * ctl.c serves the control socket; owner.c watches the s3vol run the
 * attachment belongs to.
 *
 *   nbdkit s3vol [store=URL] volume=NAME [version=N|snapshot=S]
 *                [readonly=BOOL] [cache-dir=DIR] [cache-size=SIZE]
 *                [commit-interval=SECONDS] [ctl=SOCKET] [threads=N]
 *                [force=BOOL] [freeze=MOUNTPOINT] [write-behind=BOOL]
 *                [owner=PID:START [recover=PROGRAM]] [replay=BOOL]
 *
 * With replay=true, a read-only volume whose ext4 journal was never
 * replayed (a version published without a freeze) has it replayed into
 * the cache, which then is a local overlay: the kernel can mount it
 * read-only without noload, which would hide what was fsynced.  Without
 * it, the version is served as it is stored (export).
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "s3vol/crypt.h"
#include "s3vol/defaults.h"
#include "s3vol/extfs.h"

struct served served = { .commit_interval = 5 };

static const char *store_url, *volume, *snapshot, *cache_dir, *ctl_path;
static const char *chunk_cache;  /* the host chunk store's directory */
static uint64_t version, clean_limit;
static unsigned threads = 8;
static int readonly_param = -1;  /* -1: not given */
static bool force;
static int write_behind_param = -1; /* write-behind=, -1: not given */
static bool no_write_behind;
static bool replay_param;       /* replay=: a read-only journal replayed */
static const char *key_file;    /* key-file=, else $S3VOL_KEY_FILE */
static struct s3vol_key user_key;       /* read from key-fd= */
static bool have_key;

/* Writes, shared; closed for good by s3vol_abandon. */
static pthread_rwlock_t io_lock = PTHREAD_RWLOCK_INITIALIZER;
static bool io_closed;

/* Errors go to nbdkit_error; identical errors in a row (a store down
 * during retried commits) are shown once, then only in debug output.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_error[512];

static void
log_fn (void *opaque, enum s3vol_log_level level, const char *msg)
{
  bool repeat;

  (void) opaque;
  if (level > S3VOL_LOG_WARNING) {
    if (level == S3VOL_LOG_INFO)
      nbdkit_error ("%s", msg);   /* state changes: shown */
    else
      nbdkit_debug ("%s", msg);
    if (level == S3VOL_LOG_INFO) {
      pthread_mutex_lock (&log_lock);
      last_error[0] = '\0';
      pthread_mutex_unlock (&log_lock);
    }
    return;
  }
  pthread_mutex_lock (&log_lock);
  repeat = strncmp (last_error, msg, sizeof last_error - 1) == 0;
  if (!repeat)
    snprintf (last_error, sizeof last_error, "%s", msg);
  pthread_mutex_unlock (&log_lock);
  if (repeat)
    nbdkit_debug ("(again) %s", msg);
  else
    nbdkit_error ("%s%s", level == S3VOL_LOG_WARNING ? "warning: " : "",
                  msg);
}

const struct s3vol_log plugin_log = { .fn = log_fn };

/* key-fd=N: read the key now and close the descriptor. */
static int
read_key_fd (const char *value)
{
  int fd, r;

  if (nbdkit_parse_int ("key-fd", value, &fd) == -1)
    return -1;
  r = s3vol_key_read (fd, &user_key);
  close (fd);
  if (r < 0) {
    nbdkit_error ("key-fd=%d: %s", fd, r == -EINVAL ?
                  "not a key (32 bytes, or 64 hex digits)" : strerror (-r));
    return -1;
  }
  have_key = true;
  return 0;
}

/* The user key, if one was given, handed to the volstore and wiped. */
static int
give_key (struct volstore *vs)
{
  const char *why;
  int r = 0;

  if (key_file == NULL)
    key_file = getenv ("S3VOL_KEY_FILE");
  if (!have_key && key_file && key_file[0]) {
    r = s3vol_key_load (key_file, &user_key, &why);
    if (r < 0)
      nbdkit_error ("key file %s %s%s%s", key_file, why,
                    r == -EACCES || r == -EINVAL ? "" : ": ",
                    r == -EACCES || r == -EINVAL ? "" : strerror (-r));
    have_key = r == 0;
  }
  if (have_key)
    r = volstore_add_key (vs, &user_key);
  s3vol_wipe (&user_key, sizeof user_key);
  return r;
}

static int
s3vol_config (const char *key, const char *value)
{
  if (strcmp (key, "store") == 0)
    store_url = value;
  else if (strcmp (key, "volume") == 0)
    volume = value;
  else if (strcmp (key, "version") == 0) {
    if (nbdkit_parse_uint64_t ("version", value, &version) == -1)
      return -1;
  }
  else if (strcmp (key, "snapshot") == 0)
    snapshot = value;
  else if (strcmp (key, "readonly") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    readonly_param = r;
  }
  else if (strcmp (key, "cache-dir") == 0)
    cache_dir = value;
  else if (strcmp (key, "chunk-cache") == 0)
    chunk_cache = value;
  else if (strcmp (key, "chunk-cache-size") == 0 ||
           strcmp (key, "cache-size") == 0) {  /* the old name */
    int64_t n = nbdkit_parse_size (value);
    if (n == -1)
      return -1;
    clean_limit = n;
  }
  else if (strcmp (key, "commit-interval") == 0) {
    if (nbdkit_parse_unsigned ("commit-interval", value,
                               &served.commit_interval) == -1)
      return -1;
  }
  else if (strcmp (key, "ctl") == 0)
    ctl_path = value;
  else if (strcmp (key, "freeze") == 0)
    committer_set_freeze (value);
  else if (strcmp (key, "threads") == 0) {
    if (nbdkit_parse_unsigned ("threads", value, &threads) == -1)
      return -1;
    if (threads == 0 || threads > 64) {
      nbdkit_error ("threads must be 1 to 64");
      return -1;
    }
  }
  else if (strcmp (key, "key-file") == 0)
    key_file = value;
  else if (strcmp (key, "key-fd") == 0)
    return read_key_fd (value);
  else if (strcmp (key, "owner") == 0 || strcmp (key, "recover") == 0)
    return owner_config (key, value);
  else if (strcmp (key, "replay") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    replay_param = r;
  }
  else if (strcmp (key, "force") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    force = r;
  }
  else if (strcmp (key, "write-behind") == 0) {
    int r = nbdkit_parse_bool (value);
    if (r == -1)
      return -1;
    write_behind_param = r;
  }
  else {
    nbdkit_error ("unknown parameter '%s' (see nbdkit s3vol --help)", key);
    return -1;
  }
  return 0;
}

static int
s3vol_config_complete (void)
{
  if (volume == NULL) {
    nbdkit_error ("volume=NAME is required");
    return -1;
  }
  if (version && snapshot) {
    nbdkit_error ("give version= or snapshot=, not both");
    return -1;
  }
  /* An older version is read-only unless asked otherwise. */
  served.readonly = readonly_param == -1 ? (version || snapshot)
    : readonly_param;
  served.volume = volume;
  /* The environment's default, for attachments the CLI starts. */
  if (write_behind_param == -1 && getenv ("S3VOL_WRITE_BEHIND"))
    write_behind_param = nbdkit_parse_bool (getenv ("S3VOL_WRITE_BEHIND"));
  no_write_behind = write_behind_param == 0;
  return owner_config_complete (ctl_path);
}

#define s3vol_config_help \
  "store=URL             file:///DIR or s3://BUCKET/PREFIX (default: \n" \
  "                      $S3VOL_STORE or ~/.local/share/s3vol/store)\n" \
  "volume=NAME           (required) the volume to serve\n" \
  "version=N             serve version N (read-only unless readonly=false)\n" \
  "snapshot=NAME         serve a snapshot (read-only unless readonly=false)\n" \
  "readonly=BOOL         refuse writes\n" \
  "cache-dir=DIR         local cache (default ~/.cache/s3vol/VOLUME)\n" \
  "chunk-cache=DIR       the host's cache of clean chunks, shared by\n" \
  "                      every attachment (default $S3VOL_CHUNK_CACHE,\n" \
  "                      else /var/cache/s3vol/chunks for root, else\n" \
  "                      ~/.cache/s3vol/.chunks)\n" \
  "chunk-cache-size=SIZE its size limit, host-wide (default: 10G or half\n" \
  "                      the free space)\n" \
  "cache-size=SIZE       the older name of chunk-cache-size\n" \
  "commit-interval=SECS  background commit period (default 5, 0: off)\n" \
  "ctl=SOCKET            control socket (commit, snapshot, status)\n" \
  "threads=N             parallel fetches and uploads (default 8)\n" \
  "force=BOOL            commits win over other writers (last write wins)\n" \
  "write-behind=BOOL     upload complete dirty chunks before the commit\n" \
  "                      (default $S3VOL_WRITE_BEHIND, else true)\n" \
  "key-file=FILE         key of an encrypted volume (default:\n" \
  "                      $S3VOL_KEY_FILE); key-fd=N reads it from fd N\n" \
  "freeze=MOUNTPOINT     freeze this filesystem around each commit's cut\n" \
  "owner=PID:START       the process this attachment belongs to; when it\n" \
  "                      is gone, run recover=PROGRAM recover ID (ID: the\n" \
  "                      directory of ctl=), which ends by stopping nbdkit\n" \
  "replay=BOOL           read-only: replay an ext4 journal into the cache"

/* A commit whose only changes are the kernel's housekeeping of an idle
 * ext4 (a mount, the freeze and thaw around each cut) publishes nothing.
 */
static bool
housekeeping (void *opaque, const struct cache_change *ch, size_t n)
{
  struct extfs_change *x = calloc (n, sizeof *x);
  bool only;
  size_t k;

  (void) opaque;
  if (x == NULL)
    return false;               /* then publish */
  for (k = 0; k < n; k++)
    x[k] = (struct extfs_change) {
      .offset = ch[k].offset, .base = ch[k].base, .cur = ch[k].cur,
      .len = ch[k].len,
    };
  only = extfs_housekeeping_only (x, n);
  free (x);
  return only;
}

/* Replay an ext4 journal the volume holds into the cache, unless it is
 * mounted: a read-only volume before serving it, or after the owner's
 * death a filesystem that was not unmounted cleanly.
 */
static int
replay_journal (void)
{
  unsigned n;
  int r = extfs_replay_cache (served.cache, served.volume, &plugin_log, &n);

  if (r == 0 && n)
    s3vol_info (&plugin_log, "replayed %u journal transactions of %s into "
                "the cache", n, served.volume);
  return r;
}

/* Open the store and the cache, and bind the control socket, before
 * nbdkit forks into the background, so that every mistake is reported
 * to whoever started it.  Threads start after the fork.
 */
static int
s3vol_get_ready (void)
{
  struct objstore_config ocfg = { .log = &plugin_log };
  struct volstore_config vcfg = { .log = &plugin_log };
  struct cache_config ccfg = {
    .log = &plugin_log, .volume = volume, .readonly = served.readonly,
    .max_clean_bytes = clean_limit, .store_dir = chunk_cache,
    .threads = threads, .force = force,
    .no_write_behind = no_write_behind,
    .ref = { .seq = version, .snapshot = snapshot },
    .overlay = served.readonly && replay_param,
  };
  char url[PATH_MAX + 16], dir[PATH_MAX], suffix[96] = "";
  int r;

  r = s3vol_store_url (store_url, url, sizeof url, &plugin_log);
  if (r == 0)
    r = objstore_open (url, &ocfg, &served.os);
  if (r == 0)
    r = volstore_open (served.os, &vcfg, &served.vs);
  if (r == 0)
    r = give_key (served.vs);
  if (r == 0 && cache_dir == NULL) {
    if (version)
      snprintf (suffix, sizeof suffix, "@v%llu",
                (unsigned long long) version);
    else if (snapshot)
      snprintf (suffix, sizeof suffix, "@%s", snapshot);
    r = s3vol_cache_dir (volume, suffix, dir, sizeof dir, &plugin_log);
    cache_dir = dir;
  }
  ccfg.dir = cache_dir;
  if (r == 0)
    r = cache_open (served.vs, &ccfg, &served.cache);
  cache_dir = NULL;             /* dir is on this stack */
  if (r == 0)
    cache_set_noise (served.cache, housekeeping, NULL);
  if (r == 0 && served.readonly && replay_param)
    r = replay_journal ();
  if (r == 0)
    r = ctl_bind (ctl_path);
  return r < 0 ? -1 : 0;
}

static int
s3vol_after_fork (void)
{
  int r = cache_start (served.cache);

  if (r == 0)
    r = committer_start ();
  if (r == 0)
    r = ctl_serve ();
  if (r == 0)
    r = owner_start_watch ();
  return r < 0 ? -1 : 0;
}

/* Everything is committed and flushed before nbdkit exits.  After the
 * owner's death, its filesystem is no longer mounted (recover unmounted
 * it and stopped nbdfuse first, or nbdkit is going and the kernel can
 * write nothing more): what its journal holds is replayed first, so the
 * last version is a clean filesystem.
 */
static void
s3vol_cleanup (void)
{
  owner_stop_watch ();
  ctl_stop ();
  committer_stop ();
  if (served.cache && !served.readonly && owner_gone ()) {
    committer_set_freeze (NULL);
    replay_journal ();
  }
  if (served.cache && !served.readonly && cache_is_dirty (served.cache))
    committer_commit_now (NULL, NULL);
  cache_close (served.cache);
  served.cache = NULL;
  volstore_close (served.vs);
  objstore_close (served.os);
}

void
s3vol_abandon (void)
{
  pthread_rwlock_wrlock (&io_lock);
  io_closed = true;
  pthread_rwlock_unlock (&io_lock);
  committer_stop ();
  if (!served.readonly) {
    committer_set_freeze (NULL);
    replay_journal ();
    if (cache_is_dirty (served.cache))
      committer_commit_now (NULL, NULL);
    cache_flush (served.cache);
  }
  nbdkit_error ("exiting: the owner is gone and nobody unmounts");
  _exit (EXIT_SUCCESS);
}

static void *
s3vol_open (int readonly)
{
  (void) readonly;
  return &served;
}

static int64_t
s3vol_get_size (void *handle)
{
  (void) handle;
  return cache_size (served.cache);
}

static int
s3vol_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                  uint32_t *maximum)
{
  (void) handle;
  *minimum = 512;
  *preferred = 4096;
  *maximum = 32 << 20;
  return 0;
}

static int
s3vol_can_write (void *handle)
{
  (void) handle;
  return !served.readonly;
}

static int
s3vol_can_fua (void *handle)
{
  (void) handle;
  return NBDKIT_FUA_NATIVE;
}

static int
s3vol_can_multi_conn (void *handle)
{
  (void) handle;
  return 1;                     /* one cache behind every connection */
}

static int
s3vol_can_true (void *handle)
{
  (void) handle;
  return 1;
}

/* Map a libs3vol result to nbdkit's: errno set, -1.  NBD carries only a
 * few errors, and nbdkit sends EINVAL ("invalid argument") for any
 * other; a store that is down (ECONNREFUSED, ETIMEDOUT...), refuses
 * access or holds a bad object is an I/O error to the client.
 */
static int
result (int r)
{
  if (r >= 0)
    return 0;
  switch (-r) {
  case EPERM: case EIO: case ENOMEM: case EINVAL: case ENOSPC:
  case EROFS: case EDQUOT: case EFBIG: case EOVERFLOW: case ENOTSUP:
  case ESHUTDOWN:
    nbdkit_set_error (-r);
    break;
  default:
    nbdkit_set_error (EIO);
    break;
  }
  return -1;
}

static int
s3vol_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  (void) handle; (void) flags;
  return result (cache_pread (served.cache, buf, count, offset));
}

/* Writes take io_lock shared: s3vol_abandon takes it to close the
 * device, after which the last commit stays the last state.
 */
static int
write_begin (void)
{
  pthread_rwlock_rdlock (&io_lock);
  if (!io_closed)
    return 0;
  pthread_rwlock_unlock (&io_lock);
  nbdkit_set_error (EIO);
  return -1;
}

static int
write_end (int r)
{
  pthread_rwlock_unlock (&io_lock);
  return result (r);
}

static int
s3vol_pwrite (void *handle, const void *buf, uint32_t count,
              uint64_t offset, uint32_t flags)
{
  (void) handle;
  if (write_begin () == -1)
    return -1;
  return write_end (cache_pwrite (served.cache, buf, count, offset,
                                  flags & NBDKIT_FLAG_FUA));
}

static int
s3vol_flush (void *handle, uint32_t flags)
{
  (void) handle; (void) flags;
  if (write_begin () == -1)
    return -1;
  return write_end (cache_flush (served.cache));
}

static int
s3vol_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) handle;
  if (write_begin () == -1)
    return -1;
  return write_end (cache_zero (served.cache, count, offset,
                                flags & NBDKIT_FLAG_FUA));
}

/* Whole chunks become holes; part of a chunk is zeroed unless it reads
 * as zeros already (cache_trim: the kernel's loop device sends its
 * write-zeroes requests through nbdfuse as trims).
 */
static int
s3vol_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) handle;
  if (write_begin () == -1)
    return -1;
  return write_end (cache_trim (served.cache, count, offset,
                                flags & NBDKIT_FLAG_FUA));
}

static int
add_extent (void *opaque, uint64_t off, uint64_t len, bool zero)
{
  return nbdkit_add_extent (opaque, off, len,
                            zero ? NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO
                            : 0);
}

static int
s3vol_extents (void *handle, uint32_t count, uint64_t offset,
               uint32_t flags, struct nbdkit_extents *extents)
{
  (void) handle; (void) flags;
  return result (cache_extents (served.cache, count, offset, add_extent,
                                extents));
}

/* Every connection shares one cache whose paths take their own locks, so
 * requests may run in parallel.
 */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static struct nbdkit_plugin plugin = {
  .name = "s3vol",
  .version = S3VOL_VERSION,
  .longname = "s3vol: versioned volumes on object storage",
  .description = "Serve an s3vol volume, cached locally, committed to an "
                 "object store.",
  .config = s3vol_config,
  .config_complete = s3vol_config_complete,
  .config_help = s3vol_config_help,
  .magic_config_key = "volume",
  .get_ready = s3vol_get_ready,
  .after_fork = s3vol_after_fork,
  .cleanup = s3vol_cleanup,
  .open = s3vol_open,
  .get_size = s3vol_get_size,
  .block_size = s3vol_block_size,
  .can_write = s3vol_can_write,
  .can_flush = s3vol_can_true,
  .can_trim = s3vol_can_true,
  .can_zero = s3vol_can_true,
  .can_fast_zero = s3vol_can_true,
  .can_extents = s3vol_can_true,
  .can_fua = s3vol_can_fua,
  .can_multi_conn = s3vol_can_multi_conn,
  .pread = s3vol_pread,
  .pwrite = s3vol_pwrite,
  .flush = s3vol_flush,
  .zero = s3vol_zero,
  .trim = s3vol_trim,
  .extents = s3vol_extents,
  .errno_is_preserved = 0,
};

NBDKIT_REGISTER_PLUGIN (plugin)
