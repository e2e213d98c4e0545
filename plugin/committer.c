/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-s3vol-plugin: background commits.
 *
 * Every commit-interval seconds, if the cache is dirty, commit it: sync
 * and flush first, then freeze the filesystem only for the cut (what
 * was written since, and an instant copy-on-write mark); uploads and
 * the publish run thawed, and most chunks went up already (the cache's
 * write-behind).  A
 * failure (store down, conflict) leaves everything dirty and durable in
 * the cache; it is logged once when the outcome changes, not on every
 * retry, and retried with a backoff that doubles up to five minutes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "plugin.h"

#define MAX_BACKOFF 300

static pthread_t thread;
static bool running;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static bool stopping;
static int last_error;          /* outcome of the last commit, for logging */

/* Commits are serialised here so that the log sees each outcome once. */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static char *freeze_path;       /* under commit_lock */
static int64_t longest_freeze_ns;

void
committer_set_freeze (const char *path)
{
  pthread_mutex_lock (&commit_lock);
  free (freeze_path);
  freeze_path = path && path[0] ? strdup (path) : NULL;
  pthread_mutex_unlock (&commit_lock);
}

/* Freeze the filesystem mounted at freeze_path, if any, so the cut is a
 * clean filesystem with an empty journal.  Returns an fd to thaw, or -1
 * when there is nothing to freeze (not mounted: then nothing writes
 * through a filesystem and the cut is consistent anyway).
 */
static int
freeze (void)
{
  int fd;

  if (freeze_path == NULL)
    return -1;
  fd = open (freeze_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1)
    return -1;
  if (ioctl (fd, FIFREEZE, 0) == -1) {
    if (errno != EOPNOTSUPP && errno != EINVAL)
      s3vol_warn (&plugin_log, "could not freeze %s (%s): committing "
                  "without freezing", freeze_path, strerror (errno));
    close (fd);
    return -1;
  }
  return fd;
}

static void
thaw (int fd, int64_t since)
{
  int64_t took;

  if (fd == -1)
    return;
  if (ioctl (fd, FITHAW, 0) == -1)
    s3vol_error (&plugin_log, "could not thaw %s: %s", freeze_path,
                 strerror (errno));
  close (fd);
  took = s3vol_now_ns () - since;
  if (took > longest_freeze_ns)
    longest_freeze_ns = took;
}

/* Before the freeze, without stopping anyone: the filesystem's dirty
 * pages and journal go down (syncfs), and the cache makes them durable
 * (cache_flush completes partial chunks, which may fetch, and syncs the
 * data and the map).  The freeze then only has what was written since,
 * and the cut's own flush finds almost nothing to do.  Failures here
 * are not errors: the freeze and the cut do it all again.
 */
static void
sync_ahead (void)
{
  int fd;

  if (freeze_path != NULL) {
    fd = open (freeze_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd != -1) {
      syncfs (fd);
      close (fd);
    }
  }
  cache_flush (served.cache);
}

int
committer_commit_now (const char *message, uint64_t *seq)
{
  struct vol_commit_opts o = { .message = message };
  struct vol_commit_result res;
  int64_t t0;
  int r, fd;

  pthread_mutex_lock (&commit_lock);
  sync_ahead ();
  t0 = s3vol_now_ns ();
  fd = freeze ();
  r = cache_commit_cut (served.cache);
  thaw (fd, t0);                /* always, even when the cut failed */
  if (r == 0)
    r = cache_commit_finish (served.cache, &o, &res);
  if (r != last_error && r == 0 && last_error != 0)
    s3vol_info (&plugin_log, "commits of %s succeed again", served.volume);
  last_error = r;
  pthread_mutex_unlock (&commit_lock);
  if (r == 0 && seq)
    *seq = res.seq;
  return r;
}

static void
wait_seconds (unsigned s)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  ts.tv_sec += s;
  pthread_mutex_lock (&lock);
  while (!stopping &&
         pthread_cond_timedwait (&wake, &lock, &ts) != ETIMEDOUT)
    ;
  pthread_mutex_unlock (&lock);
}

static void *
loop (void *arg)
{
  unsigned delay = served.commit_interval;
  int r;

  (void) arg;
  for (;;) {
    wait_seconds (delay);
    pthread_mutex_lock (&lock);
    if (stopping) {
      pthread_mutex_unlock (&lock);
      break;
    }
    pthread_mutex_unlock (&lock);
    if (!cache_is_dirty (served.cache)) {
      delay = served.commit_interval;
      continue;
    }
    r = committer_commit_now (NULL, NULL);
    if (r == 0)
      delay = served.commit_interval;
    else if (delay < MAX_BACKOFF)
      delay = delay * 2 > MAX_BACKOFF ? MAX_BACKOFF : delay * 2;
  }
  return NULL;
}

int
committer_start (void)
{
  if (served.commit_interval == 0 || served.readonly)
    return 0;
  if (pthread_create (&thread, NULL, loop, NULL) != 0)
    return -errno;
  running = true;
  return 0;
}

void
committer_stop (void)
{
  if (!running)
    return;
  pthread_mutex_lock (&lock);
  stopping = true;
  pthread_cond_broadcast (&wake);
  pthread_mutex_unlock (&lock);
  pthread_join (thread, NULL);
  running = false;
}

void
committer_status (char *buf, size_t n)
{
  struct cache_stats st;

  cache_stats (served.cache, &st);
  snprintf (buf, n,
            "{\"volume\":\"%s\",\"base_version\":%llu,\"readonly\":%s,"
            "\"dirty_bytes\":%llu,\"cached_bytes\":%llu,\"hits\":%llu,"
            "\"misses\":%llu,\"bytes_fetched\":%llu,\"bytes_uploaded\":%llu,"
            "\"uploads_in_flight\":%llu,\"commits\":%llu,"
            "\"commit_failures\":%llu,\"last_commit_version\":%llu,"
            "\"last_commit_result\":\"%s\",\"longest_freeze_ms\":%.3f,"
            "\"early_uploads\":%llu,\"early_named\":%llu,"
            "\"early_reputs\":%llu,"
            "\"chunk_cache\":{\"bytes\":%llu,\"max_bytes\":%llu,"
            "\"entries\":%llu,\"hits\":%llu,\"misses\":%llu,"
            "\"evictions\":%llu}}",
            served.volume, (unsigned long long) st.base,
            served.readonly ? "true" : "false",
            (unsigned long long) st.dirty_bytes,
            (unsigned long long) st.cached_bytes,
            (unsigned long long) st.hits, (unsigned long long) st.misses,
            (unsigned long long) st.bytes_fetched,
            (unsigned long long) st.bytes_uploaded,
            (unsigned long long) st.uploads_in_flight,
            (unsigned long long) st.commits,
            (unsigned long long) st.commit_failures,
            (unsigned long long) st.last_commit_seq,
            st.last_commit_error == -EEXIST ? "conflict"
            : st.last_commit_error ? strerror (-st.last_commit_error)
            : st.commits ? "ok" : "none", longest_freeze_ns / 1e6,
            (unsigned long long) st.early_uploads,
            (unsigned long long) st.early_named,
            (unsigned long long) st.early_reputs,
            (unsigned long long) st.store.bytes,
            (unsigned long long) st.store.max_bytes,
            (unsigned long long) st.store.entries,
            (unsigned long long) st.store.hits,
            (unsigned long long) st.store.misses,
            (unsigned long long) st.store.evictions);
}
