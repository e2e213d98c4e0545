/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: running other programs (nbdkit, nbdfuse, losetup, mount). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "s3vol/attach.h"

struct sink {
  int fd;
  char *buf;
  size_t n, len;
};

/* Read once from s->fd into its buffer; close it at the end. */
static void
drain (struct sink *s)
{
  char tmp[4096];
  ssize_t r = read (s->fd, tmp, sizeof tmp);
  size_t room;

  if (r < 0 && errno == EINTR)
    return;
  if (r <= 0) {
    close (s->fd);
    s->fd = -1;
    return;
  }
  if (s->buf == NULL || s->n == 0)
    return;
  room = s->n - 1 - s->len;
  if ((size_t) r > room)
    r = room;
  memcpy (s->buf + s->len, tmp, r);
  s->len += r;
  s->buf[s->len] = '\0';
}

int
proc_run (const char *const *argv, char *out, size_t n, char *errbuf,
          size_t en)
{
  struct sink sk[2] = { { -1, out, n, 0 }, { -1, errbuf, en, 0 } };
  int po[2], pe[2], status, k;
  struct pollfd pf[2];
  pid_t pid;

  if (out && n)
    out[0] = '\0';
  if (errbuf && en)
    errbuf[0] = '\0';
  if (pipe2 (po, O_CLOEXEC) == -1)
    return -1;
  if (pipe2 (pe, O_CLOEXEC) == -1) {
    close (po[0]);
    close (po[1]);
    return -1;
  }
  pid = fork ();
  if (pid == -1)
    return -1;
  if (pid == 0) {
    int null = open ("/dev/null", O_RDONLY);
    dup2 (null, 0);
    dup2 (po[1], 1);
    dup2 (pe[1], 2);
    execvp (argv[0], (char *const *) argv);
    fprintf (stderr, "cannot run %s: %s\n", argv[0], strerror (errno));
    _exit (127);
  }
  close (po[1]);
  close (pe[1]);
  sk[0].fd = po[0];
  sk[1].fd = pe[0];
  while (sk[0].fd >= 0 || sk[1].fd >= 0) {
    for (k = 0; k < 2; k++)
      pf[k] = (struct pollfd) { .fd = sk[k].fd, .events = POLLIN };
    if (poll (pf, 2, -1) == -1 && errno != EINTR)
      break;
    for (k = 0; k < 2; k++)
      if (sk[k].fd >= 0 && pf[k].revents)
        drain (&sk[k]);
  }
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return WEXITSTATUS (status);
}

pid_t
proc_spawn (const char *const *argv, const char *logfile)
{
  pid_t pid = fork ();
  int fd;

  if (pid != 0)
    return pid;
  setsid ();
  fd = open ("/dev/null", O_RDONLY);
  dup2 (fd, 0);
  fd = open (logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) {
    dup2 (fd, 1);
    dup2 (fd, 2);
  }
  execvp (argv[0], (char *const *) argv);
  fprintf (stderr, "cannot run %s: %s\n", argv[0], strerror (errno));
  _exit (127);
}

bool
proc_alive (pid_t pid)
{
  char path[64], buf[512], *p;
  FILE *fp;
  bool alive = false;

  if (pid <= 0)
    return false;
  waitpid (pid, NULL, WNOHANG);   /* reap our own children */
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fp = fopen (path, "r");
  if (fp == NULL)
    return false;
  if (fgets (buf, sizeof buf, fp) && (p = strrchr (buf, ')')) != NULL)
    alive = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
  fclose (fp);
  return alive;
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  nanosleep (&ts, NULL);
}

bool
proc_wait_path (const char *path, int ms, pid_t pid)
{
  struct stat st;

  for (; ms > 0; ms -= 20) {
    if (stat (path, &st) == 0)
      return true;
    if (pid > 0 && !proc_alive (pid))
      return false;
    sleep_ms (20);
  }
  return stat (path, &st) == 0;
}

void
proc_stop (pid_t pid, int sig, int ms)
{
  if (!proc_alive (pid))
    return;
  kill (pid, sig);
  for (; ms > 0 && proc_alive (pid); ms -= 20)
    sleep_ms (20);
  if (proc_alive (pid)) {
    kill (pid, SIGKILL);
    for (ms = 2000; ms > 0 && proc_alive (pid); ms -= 20)
      sleep_ms (20);
  }
}

bool
proc_have (const char *prog)
{
  const char *path = getenv ("PATH");
  char buf[PATH_MAX];
  const char *p, *e;

  if (strchr (prog, '/'))
    return access (prog, X_OK) == 0;
  for (p = path ? path : "/usr/bin:/bin"; *p; p = *e ? e + 1 : e) {
    e = strchrnul (p, ':');
    snprintf (buf, sizeof buf, "%.*s/%s", (int) (e - p), p, prog);
    if (access (buf, X_OK) == 0)
      return true;
  }
  return false;
}

bool
proc_owner_alive (pid_t pid, uint64_t start)
{
  return proc_alive (pid) && (start == 0 || att_proc_start (pid) == start);
}

uint64_t
proc_mntns (pid_t pid)
{
  char path[64];
  struct stat st;

  snprintf (path, sizeof path, "/proc/%d/ns/mnt", (int) pid);
  return stat (path, &st) == 0 ? (uint64_t) st.st_ino : 0;
}

/* Send sig to every process in mount namespace ns but those of skip[n]
 * and this one; how many were sent it.
 */
static int
signal_mntns (uint64_t ns, const pid_t *skip, size_t n, int sig)
{
  struct dirent *de;
  DIR *d = opendir ("/proc");
  int count = 0;
  size_t i;
  pid_t pid;

  while (d && (de = readdir (d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9')
      continue;
    pid = atoi (de->d_name);
    for (i = 0; i < n && skip[i] != pid; i++)
      ;
    if (i < n || pid == getpid () || !proc_alive (pid) ||
        proc_mntns (pid) != ns)
      continue;
    if (kill (pid, sig) == 0)
      count++;
  }
  if (d)
    closedir (d);
  return count;
}

int
proc_stop_mntns (uint64_t ns, const pid_t *skip, size_t n, int ms)
{
  int count;

  /* Never the host's namespace (pid 1's): only a private namespace a
   * run made holds nothing but its command.
   */
  /* Never the host's namespace (pid 1's, where it can be read): only a
   * private namespace a run made holds nothing but its command.
   */
  if (ns == 0 || ns == proc_mntns (1))
    return 0;
  /* Sending makes the count; a second pass finds those forked since. */
  count = signal_mntns (ns, skip, n, SIGTERM);
  signal_mntns (ns, skip, n, SIGTERM);
  for (; ms > 0 && signal_mntns (ns, skip, n, 0) > 0; ms -= 50)
    sleep_ms (50);
  signal_mntns (ns, skip, n, SIGKILL);
  for (ms = 2000; ms > 0 && signal_mntns (ns, skip, n, 0) > 0; ms -= 50)
    sleep_ms (50);
  return count;
}

bool
proc_comm_is (pid_t pid, const char *name)
{
  char path[64], comm[64] = "";
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/comm", (int) pid);
  fp = fopen (path, "r");
  if (fp == NULL)
    return false;
  if (fgets (comm, sizeof comm, fp))
    comm[strcspn (comm, "\n")] = '\0';
  fclose (fp);
  return strcmp (comm, name) == 0;
}

/* pid's parent, or 0. */
static pid_t
parent_of (pid_t pid)
{
  char path[64], buf[1024], *p;
  int ppid = 0;
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fp = fopen (path, "r");
  if (fp == NULL)
    return 0;
  /* After the command's ")": the state, then the parent. */
  if (fgets (buf, sizeof buf, fp) && (p = strrchr (buf, ')')) != NULL &&
      sscanf (p + 1, " %*c %d", &ppid) != 1)
    ppid = 0;
  fclose (fp);
  return ppid;
}

size_t
proc_ancestors (pid_t *out, size_t max)
{
  pid_t pid = getppid ();
  size_t n = 0;

  while (n < max && pid > 1) {
    out[n++] = pid;
    pid = parent_of (pid);
  }
  return n;
}
