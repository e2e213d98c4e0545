/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-s3vol-plugin: the control socket.
 *
 * A Unix stream socket (mode 0600) taking one request per line and
 * answering each with one line:
 *
 *   commit [MESSAGE]   commit now          -> ok VERSION
 *   cut                complete partial chunks, take the instant cut (the
 *                      caller has frozen the filesystem) -> ok
 *   finish [MESSAGE]   flush, upload, publish what cut took -> ok VERSION
 *   snapshot NAME      commit, then name the version    -> ok VERSION
 *   status             -> ok {JSON}
 *   freeze [PATH]      freeze the filesystem at PATH around each
 *                      commit's cut (no PATH: stop freezing) -> ok
 *
 * Failures answer "error CODE TEXT" (CODE: conflict, busy, notfound,
 * readonly, store, invalid, failed).  A connection that took a cut and
 * goes away finishes the commit anyway, so a commit is never left half
 * done.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "plugin.h"

static int listen_fd = -1;
static pthread_t accept_thread;
static bool accepting;
static char *sock_path;

/* Open connections, so that ctl_stop can end them and wait. */
#define MAX_CONNS 64
static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t conns_done = PTHREAD_COND_INITIALIZER;
static int conns[MAX_CONNS];
static int nconns;

static bool
add_conn (int fd)
{
  bool ok;

  pthread_mutex_lock (&conns_lock);
  ok = nconns < MAX_CONNS;
  if (ok)
    conns[nconns++] = fd;
  pthread_mutex_unlock (&conns_lock);
  return ok;
}

static void
remove_conn (int fd)
{
  int i;

  pthread_mutex_lock (&conns_lock);
  for (i = 0; i < nconns; i++)
    if (conns[i] == fd)
      conns[i] = conns[--nconns];
  pthread_cond_broadcast (&conns_done);
  pthread_mutex_unlock (&conns_lock);
}

static const char *
code_of (int r)
{
  switch (-r) {
  case EEXIST: return "conflict";
  case EBUSY: return "busy";
  case ENOENT: return "notfound";
  case EROFS: return "readonly";
  case EINVAL: return "invalid";
  case EACCES: case ENXIO: case ETIMEDOUT: case ECONNREFUSED:
  case EHOSTUNREACH: case EIO:
    return "store";
  default: return "failed";
  }
}

static void
reply_error (FILE *fp, int r)
{
  /* "readonly" means this attachment is read-only; a writable one that
   * gets EROFS got it from a store on a read-only filesystem.
   */
  fprintf (fp, "error %s %s\n",
           r == -EROFS && !served.readonly ? "store" : code_of (r),
           r == -EEXIST ? "another writer published first; see the log"
           : strerror (-r));
}

/* Handle one request line; *cut_open tracks a cut awaiting finish. */
static void
handle (FILE *fp, char *line, bool *cut_open)
{
  char *arg = strchr (line, ' '), status[1024];
  struct vol_commit_opts o = { 0 };
  struct vol_commit_result res;
  uint64_t seq = 0;
  int r;

  if (arg)
    *arg++ = '\0';
  if (strcmp (line, "status") == 0) {
    committer_status (status, sizeof status);
    fprintf (fp, "ok %s\n", status);
    return;
  }
  if (strcmp (line, "freeze") == 0) {
    committer_set_freeze (arg);
    fprintf (fp, "ok\n");
    return;
  }
  if (strcmp (line, "commit") == 0 || strcmp (line, "snapshot") == 0) {
    if (*cut_open) {
      fprintf (fp, "error invalid finish the cut first\n");
      return;
    }
    r = committer_commit_now (strcmp (line, "commit") == 0 ? arg : NULL,
                              &seq);
    if (r == 0 && line[0] == 's')
      r = volstore_snapshot_create (served.vs, served.volume,
                                    arg ? arg : "", seq);
  }
  else if (strcmp (line, "cut") == 0) {
    r = *cut_open ? -EINVAL : cache_commit_cut (served.cache);
    if (r == 0)
      *cut_open = true;
  }
  else if (strcmp (line, "finish") == 0) {
    o.message = arg;
    r = *cut_open ? cache_commit_finish (served.cache, &o, &res) : -EINVAL;
    *cut_open = false;
    seq = res.seq;
  }
  else {
    fprintf (fp, "error invalid unknown request (commit, cut, finish, "
             "snapshot, status, freeze)\n");
    return;
  }
  if (r < 0)
    reply_error (fp, r);
  else if (seq)
    fprintf (fp, "ok %llu\n", (unsigned long long) seq);
  else
    fprintf (fp, "ok\n");
}

static void *
serve_conn (void *arg)
{
  int fd = (int) (intptr_t) arg;
  struct vol_commit_result res;
  FILE *fp = fdopen (fd, "r+");
  bool cut_open = false;
  char line[4200];

  if (fp == NULL) {
    close (fd);
    return NULL;
  }
  setvbuf (fp, NULL, _IOLBF, 0);
  while (fgets (line, sizeof line, fp)) {
    line[strcspn (line, "\r\n")] = '\0';
    handle (fp, line, &cut_open);
    fflush (fp);
  }
  if (cut_open)
    cache_commit_finish (served.cache, NULL, &res);
  remove_conn (fd);
  fclose (fp);
  return NULL;
}

static void *
accept_loop (void *arg)
{
  pthread_t t;
  int fd;

  (void) arg;
  for (;;) {
    fd = accept4 (listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd == -1) {
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      break;                    /* the socket was shut down */
    }
    if (!add_conn (fd)) {
      close (fd);
      continue;
    }
    if (pthread_create (&t, NULL, serve_conn, (void *) (intptr_t) fd) != 0) {
      remove_conn (fd);
      close (fd);
    }
    else
      pthread_detach (t);
  }
  return NULL;
}

int
ctl_bind (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  mode_t old;

  if (path == NULL)
    return 0;
  if (strlen (path) >= sizeof sa.sun_path) {
    s3vol_error (&plugin_log, "ctl socket path %s is too long", path);
    return -ENAMETOOLONG;
  }
  strcpy (sa.sun_path, path);
  unlink (path);
  listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  old = umask (0177);           /* the socket is created 0600 */
  if (listen_fd == -1 ||
      bind (listen_fd, (struct sockaddr *) &sa, sizeof sa) == -1 ||
      listen (listen_fd, 16) == -1) {
    int r = -errno;
    umask (old);
    s3vol_error (&plugin_log, "ctl socket %s: %s", path, strerror (-r));
    return r;
  }
  umask (old);
  sock_path = strdup (path);
  return 0;
}

int
ctl_serve (void)
{
  if (listen_fd == -1)
    return 0;
  if (pthread_create (&accept_thread, NULL, accept_loop, NULL) != 0)
    return -errno;
  accepting = true;
  return 0;
}

void
ctl_stop (void)
{
  if (listen_fd == -1)
    return;
  shutdown (listen_fd, SHUT_RDWR);
  if (accepting)
    pthread_join (accept_thread, NULL);
  accepting = false;
  pthread_mutex_lock (&conns_lock);
  for (int i = 0; i < nconns; i++)
    shutdown (conns[i], SHUT_RD);
  while (nconns > 0)
    pthread_cond_wait (&conns_done, &conns_lock);
  pthread_mutex_unlock (&conns_lock);
  close (listen_fd);
  listen_fd = -1;
  if (sock_path)
    unlink (sock_path);
  free (sock_path);
  sock_path = NULL;
}
