/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-s3vol-plugin: the owner of an attachment, and its death.
 *
 * s3vol run passes owner=PID:START (its pid and start time, as in
 * /proc/PID/stat) and recover=PROGRAM (itself).  A thread looks at the
 * owner every OWNER_POLL_MS; once it is gone (killed: a run that ends
 * detaches its volumes itself), the plugin cleans up after it:
 *
 *   thread     runs PROGRAM recover ID (ID: the attachment's, the
 *              directory of ctl=), without waiting for it
 *   recover    stops what is left of the command in the run's mount
 *              namespace, unmounts, commits through ctl, tears the
 *              block device down, then stops nbdkit (SIGTERM)
 *   cleanup    (s3vol_cleanup) replays a journal the filesystem still
 *              has (unmounted lazily, or not at all) into the cache, and
 *              commits: the newest version is a clean filesystem holding
 *              everything the command fsynced
 *
 * If recover cannot be run or fails, the plugin ends it itself
 * (s3vol_abandon): it refuses writes from then on, replays the journal
 * and commits, and the process exits (nbdkit would wait for its
 * clients, nbdfuse under a mount nobody unmounts).  Without recover=,
 * the owner's death is only logged (then s3vol recover, by hand, cleans
 * up).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "plugin.h"
#include "s3vol/attach.h"

#define OWNER_POLL_MS 250

static pid_t owner_pid;
static uint64_t owner_start;
static const char *recover_prog;
static const char *attachment_id;       /* points into ctl= */

static pthread_t thread;
static bool running;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool stopping;
static bool gone;               /* under lock */

int
owner_config (const char *key, const char *value)
{
  unsigned long long start;
  int pid, n = 0;

  if (strcmp (key, "recover") == 0) {
    if (value[0] != '/') {
      nbdkit_error ("recover=%s: give an absolute path", value);
      return -1;
    }
    recover_prog = value;
    return 0;
  }
  if (sscanf (value, "%d:%llu%n", &pid, &start, &n) != 2 ||
      value[n] != '\0' || pid <= 0) {
    nbdkit_error ("owner=%s: want PID:START", value);
    return -1;
  }
  owner_pid = pid;
  owner_start = start;
  return 0;
}

static bool
owner_alive (void)
{
  uint64_t t = att_proc_start (owner_pid);

  return t != 0 && (owner_start == 0 || t == owner_start);
}

/* The attachment id: the last directory of the ctl socket's path. */
int
owner_config_complete (const char *ctl)
{
  static char id[64];
  const char *end, *p;

  if (owner_pid == 0)
    return 0;
  if (ctl == NULL || (end = strrchr (ctl, '/')) == NULL || end == ctl) {
    nbdkit_error ("owner= needs ctl=RUNDIR/ID/SOCKET");
    return -1;
  }
  for (p = end - 1; p > ctl && p[-1] != '/'; p--)
    ;
  if ((size_t) (end - p) >= sizeof id) {
    nbdkit_error ("owner=: the ctl socket's directory name is too long");
    return -1;
  }
  snprintf (id, sizeof id, "%.*s", (int) (end - p), p);
  attachment_id = id;
  return 0;
}

/* Start recover_prog recover ID in a session of its own; not waited
 * for here (it stops this nbdkit and waits for it).  Its pid, or -1.
 */
static pid_t
spawn_recover (void)
{
  const char *argv[] = { recover_prog, "recover", attachment_id, NULL };
  sigset_t all;
  pid_t pid;
  int fd;

  pid = fork ();
  if (pid != 0)
    return pid;
  sigemptyset (&all);
  sigprocmask (SIG_SETMASK, &all, NULL);
  setsid ();
  fd = open ("/dev/null", O_RDONLY);
  if (fd > 0) {
    dup2 (fd, 0);
    close (fd);
  }
  /* Nothing of nbdkit's (the cache's lock, the sockets) outlives it in
   * recover, which waits for nbdkit to exit.
   */
  if (syscall (SYS_close_range, 3, ~0u, 0) == -1)
    for (fd = 3; fd < 4096; fd++)
      close (fd);
  execv (argv[0], (char **) argv);
  _exit (127);
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  nanosleep (&ts, NULL);
}

static bool
should_stop (void)
{
  bool s;

  pthread_mutex_lock (&lock);
  s = stopping;
  pthread_mutex_unlock (&lock);
  return s;
}

static void *
watch (void *arg)
{
  pid_t helper = -1;
  int status;

  (void) arg;
  while (!should_stop () && owner_alive ())
    sleep_ms (OWNER_POLL_MS);
  if (should_stop ())
    return NULL;
  pthread_mutex_lock (&lock);
  gone = true;
  pthread_mutex_unlock (&lock);
  if (recover_prog == NULL) {
    nbdkit_error ("the owner of this attachment (pid %d) is gone: run "
                  "s3vol recover %s", (int) owner_pid, attachment_id);
    return NULL;
  }
  nbdkit_error ("the owner of this attachment (pid %d) is gone: "
                "unmounting, committing and exiting (%s recover %s)",
                (int) owner_pid, recover_prog, attachment_id);
  helper = spawn_recover ();
  if (helper < 0) {
    nbdkit_error ("cannot run %s: %s; exiting", recover_prog,
                  strerror (errno));
    s3vol_abandon ();
    return NULL;
  }
  /* recover ends by stopping nbdkit (then should_stop); if it ends
   * first, it failed: exit anyway, committing what there is.
   */
  while (!should_stop ()) {
    if (waitpid (helper, &status, WNOHANG) == helper) {
      nbdkit_error ("%s recover %s failed (status 0x%x); exiting",
                    recover_prog, attachment_id, status);
      s3vol_abandon ();
      break;
    }
    sleep_ms (OWNER_POLL_MS);
  }
  return NULL;
}

int
owner_start_watch (void)
{
  if (owner_pid == 0)
    return 0;
  if (!owner_alive ()) {
    nbdkit_error ("owner=%d:%" PRIu64 ": no such process", (int) owner_pid,
                  owner_start);
    return -ESRCH;
  }
  errno = pthread_create (&thread, NULL, watch, NULL);
  if (errno)
    return -errno;
  running = true;
  return 0;
}

void
owner_stop_watch (void)
{
  if (!running)
    return;
  pthread_mutex_lock (&lock);
  stopping = true;
  pthread_mutex_unlock (&lock);
  pthread_join (thread, NULL);
  running = false;
}

bool
owner_gone (void)
{
  bool g;

  pthread_mutex_lock (&lock);
  g = gone;
  pthread_mutex_unlock (&lock);
  return g;
}
