/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: from a volume to a mounted filesystem and back.
 *
 *   nbdkit + s3vol plugin  (Unix socket)
 *     -> kernel NBD via nbd-client, where /dev/nbd* exists
 *     -> else nbdfuse (the export as a file) + a loop device
 *       -> mount -t ext4
 *
 * Every step is undone by att_teardown, which tolerates steps that never
 * happened, so it also cleans up after a half-failed attach or a crashed
 * nbdkit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blockdev.h"
#include "cli.h"
#include "proc.h"

#define SERVE_TIMEOUT_MS 120000

/* The plugin: $S3VOL_PLUGIN, else next to this program (a build tree),
 * else by name from nbdkit's plugin directory.
 */
const char *
cli_plugin_path (char buf[PATH_MAX])
{
  const size_t n = PATH_MAX;
  const char *env = getenv ("S3VOL_PLUGIN");
  char exe[PATH_MAX];
  ssize_t len;

  if (env && env[0])
    return env;
  len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    *strrchr (exe, '/') = '\0';
    snprintf (buf, n, "%s/nbdkit-s3vol-plugin.so", exe);
    if (access (buf, R_OK) == 0)
      return buf;
  }
  return "s3vol";
}

/* The last error line nbdkit logged, for a one-line message. */
static void
last_error (const char *log, char *out, size_t n)
{
  char line[1024];
  FILE *fp = fopen (log, "r");

  snprintf (out, n, "see %s", log);
  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp)) {
    line[strcspn (line, "\n")] = '\0';
    if (strstr (line, "error") || strstr (line, "rror:"))
      cli_esc (out, n, line, 0);    /* may quote the store */
  }
  fclose (fp);
}

static pid_t
read_pid (const char *path)
{
  FILE *fp = fopen (path, "r");
  int pid = 0;

  if (fp) {
    if (fscanf (fp, "%d", &pid) != 1)
      pid = 0;
    fclose (fp);
  }
  return pid;
}

/* nbdkit checks everything, forks, and its first process exits: 0 if
 * the daemon is on its way (it then writes pidfile), else an error.
 */
static bool
wait_daemon (pid_t parent, const char *pidfile)
{
  int ms, status;

  for (ms = 0; ms < SERVE_TIMEOUT_MS; ms += 20) {
    if (read_pid (pidfile) > 0)     /* written whole, not just created */
      return true;
    if (waitpid (parent, &status, WNOHANG) == parent &&
        !(WIFEXITED (status) && WEXITSTATUS (status) == 0))
      return false;
    usleep (20000);
  }
  return false;
}

int
att_serve (struct attachment *a)
{
  char plugin[PATH_MAX], p[10][PATH_MAX + 32], why[1024];
  char pidfile[PATH_MAX + 16];
  const char *argv[24];
  int k = 0, i = 0;
  pid_t parent;

  if (!proc_have ("nbdkit")) {
    fprintf (stderr, "s3vol: nbdkit is not installed (run "
             "scripts/install-deps, or apt-get install nbdkit)\n");
    return EXIT_FAIL;
  }
  unlink (a->sock);
  unlink (a->ctl);
  snprintf (pidfile, sizeof pidfile, "%s/nbdkit.pid", a->dir);
  unlink (pidfile);
  /* nbdkit forks into the background itself (in the foreground, -f, it
   * would not outlive this program).
   */
  argv[k++] = "nbdkit";
  argv[k++] = "-P";
  argv[k++] = pidfile;
  argv[k++] = "--log=stderr";
  argv[k++] = "-U";
  argv[k++] = a->sock;
  argv[k++] = cli_plugin_path (plugin);
#define PARAM(fmt, ...)                                                 \
  (snprintf (p[i], sizeof p[i], fmt, __VA_ARGS__), argv[k++] = p[i++])
  PARAM ("store=%s", a->store);
  PARAM ("volume=%s", a->volume);
  PARAM ("cache-dir=%s", a->cache_dir);
  PARAM ("ctl=%s", a->ctl);
  PARAM ("commit-interval=%u", a->commit_interval);
  if (a->mountpoint[0])
    PARAM ("freeze=%s", a->mountpoint);
  if (a->version)
    PARAM ("version=%" PRIu64, a->version);
  if (a->snapshot[0])
    PARAM ("snapshot=%s", a->snapshot);
  /* The plugin of an s3vol run cleans up when the run is killed: it
   * runs this program's recover (an absolute path: /proc/self/exe is
   * this process's own); with S3VOL_AUTO_RECOVER=0, it waits for
   * s3vol recover by hand (to look at what the run left first).
   */
  if (a->owner_pid > 0) {
    const char *manual = getenv ("S3VOL_AUTO_RECOVER");
    ssize_t len;
    PARAM ("owner=%d:%" PRIu64, (int) a->owner_pid, a->owner_start);
    len = readlink ("/proc/self/exe", why, sizeof why - 1);
    if (len > 0 && why[0] == '/' && !(manual && strcmp (manual, "0") == 0)) {
      why[len] = '\0';
      PARAM ("recover=%s", why);
    }
  }
#undef PARAM
  if (a->readonly)
    argv[k++] = "readonly=true";
  /* A read-only mount of a version with an unreplayed journal: replayed
   * into the cache, so the kernel mounts it without noload (which would
   * hide fsynced writes).  Only into a cache of its own (removed at
   * detach, or by reload when it holds a replay): a --cache-dir may hold
   * changes of a read-write attachment, not to be mixed with a replay.
   */
  if (a->readonly && a->mountpoint[0] && a->cache_owned)
    argv[k++] = "replay=true";
  if (a->cache_size) {
    static char cs[48];
    snprintf (cs, sizeof cs, "chunk-cache-size=%" PRIu64, a->cache_size);
    argv[k++] = cs;
  }
  argv[k] = NULL;
  parent = proc_spawn (argv, a->log);
  a->nbdkit_pid = parent > 0 && wait_daemon (parent, pidfile) ?
    read_pid (pidfile) : 0;
  if (a->nbdkit_pid > 0 &&
      proc_wait_path (a->ctl, SERVE_TIMEOUT_MS, a->nbdkit_pid) &&
      proc_wait_path (a->sock, 5000, a->nbdkit_pid))
    return EXIT_OK;
  last_error (a->log, why, sizeof why);
  fprintf (stderr, "s3vol: could not serve volume %s: %s\n", a->volume,
           why);
  proc_stop (a->nbdkit_pid, SIGTERM, 5000);
  a->nbdkit_pid = 0;
  return EXIT_FAIL;
}

static bool
have_kernel_nbd (void)
{
  return access ("/dev/nbd0", F_OK) == 0 && proc_have ("nbd-client");
}

/* A kernel NBD device nobody uses (no pid file in sysfs). */
static int
free_nbd_device (char *dev, size_t n)
{
  char path[64];
  int i;

  for (i = 0; i < 256; i++) {
    snprintf (path, sizeof path, "/dev/nbd%d", i);
    if (access (path, F_OK) == -1)
      break;
    snprintf (path, sizeof path, "/sys/block/nbd%d/pid", i);
    if (access (path, F_OK) == -1) {
      snprintf (dev, n, "/dev/nbd%d", i);
      return 0;
    }
  }
  return -ENODEV;
}

static int
connect_kernel_nbd (struct attachment *a)
{
  char err[1024];
  const char *argv[] = { "nbd-client", "-unix", a->sock, a->device,
                         "-b", "4096", a->readonly ? "-readonly" : NULL,
                         NULL };

  if (free_nbd_device (a->device, sizeof a->device) < 0) {
    fprintf (stderr, "s3vol: no free /dev/nbd device\n");
    return EXIT_BUSY;
  }
  if (proc_run (argv, NULL, 0, err, sizeof err) != 0) {
    fprintf (stderr, "s3vol: nbd-client failed: ");
    cli_put_lines (stderr, err);
    a->device[0] = '\0';
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static int
connect_fuse_loop (struct attachment *a)
{
  char file[PATH_MAX + 8], log[PATH_MAX + 16], out[128], err[1024];
  const char *fuse[] = { "nbdfuse", file, "--unix", a->sock, NULL, NULL };
  const char *loop[] = { "losetup", "-f", "--show", file,
                         a->readonly ? "-r" : NULL, NULL };

  if (!proc_have ("nbdfuse") || !proc_have ("losetup")) {
    fprintf (stderr, "s3vol: nbdfuse and losetup are needed without "
             "kernel NBD (run scripts/install-deps)\n");
    return EXIT_FAIL;
  }
  if (mkdir (a->fuse_dir, 0700) == -1 && errno != EEXIST) {
    fprintf (stderr, "s3vol: %s: %s\n", a->fuse_dir, strerror (errno));
    return EXIT_FAIL;
  }
  snprintf (file, sizeof file, "%s/nbd", a->fuse_dir);
  if (a->readonly) {            /* nbdfuse -r FILE --unix SOCK */
    memmove (fuse + 2, fuse + 1, 4 * sizeof *fuse);
    fuse[1] = "-r";
  }
  snprintf (log, sizeof log, "%s/nbdfuse.log", a->dir);
  a->nbdfuse_pid = proc_spawn (fuse, log);
  if (a->nbdfuse_pid <= 0 ||
      !proc_wait_path (file, 20000, a->nbdfuse_pid)) {
    fprintf (stderr, "s3vol: nbdfuse could not expose the volume (see "
             "%s; is /dev/fuse there?)\n", log);
    return EXIT_FAIL;
  }
  if (proc_run (loop, out, sizeof out, err, sizeof err) != 0) {
    fprintf (stderr, "s3vol: losetup failed: ");
    cli_put_lines (stderr, err);
    return EXIT_FAIL;
  }
  out[strcspn (out, "\n")] = '\0';
  snprintf (a->device, sizeof a->device, "%s", out);
  return EXIT_OK;
}

int
att_connect (struct attachment *a)
{
  return have_kernel_nbd () ? connect_kernel_nbd (a) : connect_fuse_loop (a);
}

/* The options of every mount s3vol makes (attach, reload and run). */
static void
mount_opts (char *opts, size_t n, bool readonly, bool noload,
            bool allow_setuid)
{
  /* noinit_itable: the kernel would otherwise zero every lazily
   * initialised inode table after mount, dirtying chunks across the
   * whole volume for nothing.  noatime: reading a file must not dirty a
   * chunk to commit.  discard: deleted files become holes, not chunks
   * uploaded again.  nosuid,nodev: a setuid binary or a device file in a
   * volume must not give a local user root.
   */
  snprintf (opts, n, "%s,noatime,discard%s", readonly
            ? (noload ? "ro,noload" : "ro") : "rw,noinit_itable",
            allow_setuid ? "" : ",nosuid,nodev");
}

int
att_mount (struct attachment *a, const char *mountpoint, bool allow_setuid)
{
  char err[1024], opts[96];
  const char *argv[] = { "mount", "-t", "ext4", "-o", opts, a->device,
                         mountpoint, NULL };

  mount_opts (opts, sizeof opts, a->readonly, false, allow_setuid);
  if (proc_run (argv, NULL, 0, err, sizeof err) == 0)
    return EXIT_OK;
  if (a->readonly) {
    /* A version published without a freeze (a VM's, or after a crash)
     * may hold a journal that a read-only device cannot replay.
     */
    mount_opts (opts, sizeof opts, true, true, allow_setuid);
    if (proc_run (argv, NULL, 0, NULL, 0) == 0) {
      fprintf (stderr, "s3vol: warning: %s has an unreplayed journal; "
               "mounted without replaying it\n", a->volume);
      return EXIT_OK;
    }
  }
  err[strcspn (err, "\n")] = '\0';
  fprintf (stderr, "s3vol: cannot mount volume %s: ", a->volume);
  cli_put_esc (stderr, err, 0);
  fprintf (stderr, " (volumes made by s3vol create hold ext4)\n");
  return EXIT_FAIL;
}

static bool
is_mounted (const char *path)
{
  char line[4096], mp[PATH_MAX];
  bool found = false;
  FILE *fp = fopen ("/proc/self/mountinfo", "r");

  if (fp == NULL)
    return false;
  while (!found && fgets (line, sizeof line, fp))
    found = sscanf (line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
      strcmp (mp, path) == 0;
  fclose (fp);
  return found;
}

bool
att_mounted_setuid (const char *path)
{
  char line[4096], mp[PATH_MAX], opts[1024];
  bool found = false, setuid = false;
  FILE *fp = fopen ("/proc/self/mountinfo", "r");

  if (fp == NULL)
    return false;
  while (!found && fgets (line, sizeof line, fp)) {
    found = sscanf (line, "%*s %*s %*s %*s %4095s %1023s", mp, opts) == 2 &&
      strcmp (mp, path) == 0;
    if (found) {
      char *o, *save = NULL;
      setuid = true;
      for (o = strtok_r (opts, ",", &save); o;
           o = strtok_r (NULL, ",", &save))
        if (strcmp (o, "nosuid") == 0)
          setuid = false;
    }
  }
  fclose (fp);
  return setuid;
}

/* Does link (a /proc symlink) point at or under path? */
static bool
points_under (const char *link, const char *path)
{
  char target[PATH_MAX];
  ssize_t n = readlink (link, target, sizeof target - 1);
  size_t pl = strlen (path);

  if (n <= 0)
    return false;
  target[n] = '\0';
  return strncmp (target, path, pl) == 0 &&
    (target[pl] == '\0' || target[pl] == '/');
}

static bool
pid_uses (const char *pid, const char *path)
{
  static const char *const links[] = { "cwd", "root", "exe" };
  char p[PATH_MAX];
  struct dirent *de;
  bool used = false;
  DIR *d;
  size_t i;

  for (i = 0; i < 3 && !used; i++) {
    snprintf (p, sizeof p, "/proc/%s/%s", pid, links[i]);
    used = points_under (p, path);
  }
  snprintf (p, sizeof p, "/proc/%s/fd", pid);
  d = used ? NULL : opendir (p);
  while (d && !used && (de = readdir (d)) != NULL) {
    snprintf (p, sizeof p, "/proc/%s/fd/%s", pid, de->d_name);
    used = points_under (p, path);
  }
  if (d)
    closedir (d);
  return used;
}

/* Is pid one of a's own processes, or this one? */
static bool
own_pid (const struct attachment *a, pid_t pid)
{
  return pid == getpid () ||
    (a && pid > 0 && (pid == a->nbdkit_pid || pid == a->nbdfuse_pid));
}

void
att_busy (const char *path, char *out, size_t n, const struct attachment *a)
{
  char comm[64], p[64], esc[CLI_ESC_SIZE (64)];
  struct dirent *de;
  size_t len = 0;
  FILE *fp;
  DIR *d = opendir ("/proc");

  out[0] = '\0';
  while (d && (de = readdir (d)) != NULL) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
        own_pid (a, atoi (de->d_name)) || !pid_uses (de->d_name, path))
      continue;
    snprintf (p, sizeof p, "/proc/%s/comm", de->d_name);
    comm[0] = '\0';
    if ((fp = fopen (p, "r")) != NULL) {
      if (fgets (comm, sizeof comm, fp))
        comm[strcspn (comm, "\n")] = '\0';
      fclose (fp);
    }
    /* Any user names their process: escape its name. */
    len += snprintf (out + len, len < n ? n - len : 0, "  %s (%s)\n",
                     de->d_name, cli_esc (esc, sizeof esc, comm, 0));
  }
  if (d)
    closedir (d);
}

/* Tell a's plugin which filesystem to freeze around its commits' cuts
 * (NULL: none).  Best effort: a plugin that is gone freezes nothing.
 * Clearing it waits for a commit under way, which holds the mountpoint
 * open while it freezes.
 */
static void
set_freeze (const struct attachment *a, const char *path)
{
  char req[ATT_CTL_REQUEST_MAX + 1], reply[256];

  if ((size_t) snprintf (req, sizeof req, "freeze%s%s", path ? " " : "",
                         path ? path : "") < sizeof req)
    att_ctl_request (a->ctl, req, reply, sizeof reply);
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  nanosleep (&ts, NULL);
}

/* umount, tried again for a while when only a's own processes (or none
 * that /proc shows) hold it: the reference of a plugin's commit or of
 * nbdfuse goes away by itself.  EXIT_OK, or EXIT_BUSY with the users in
 * busy, or EXIT_FAIL (errno set).
 */
static int
umount_retrying (struct attachment *a, char *busy, size_t n)
{
  int ms;

  busy[0] = '\0';
  for (ms = 0; ; ms += 50) {
    if (umount (a->mountpoint) == 0)
      return EXIT_OK;
    if (errno != EBUSY)
      return EXIT_FAIL;
    att_busy (a->mountpoint, busy, n, a);
    if (busy[0] || ms >= 10000)
      return EXIT_BUSY;
    sleep_ms (50);
  }
}

void
att_thaw (const char *path)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  if (fd == -1)
    return;
  if (ioctl (fd, FITHAW, 0) == 0)
    fprintf (stderr, "s3vol: %s was left frozen (by a plugin that was "
             "killed?): thawed\n", path);
  close (fd);
}

int
att_unmount (struct attachment *a, bool lazy)
{
  char busy[4096];
  int r;

  if (!a->mountpoint[0] || !is_mounted (a->mountpoint))
    return EXIT_OK;
  set_freeze (a, NULL);
  /* No commit of a live plugin freezes it now (set_freeze waited for
   * the one under way); a freeze still there is a dead plugin's, and a
   * frozen filesystem cannot be unmounted.
   */
  att_thaw (a->mountpoint);
  r = umount_retrying (a, busy, sizeof busy);
  if (r == EXIT_BUSY && lazy && umount2 (a->mountpoint, MNT_DETACH) == 0) {
    fprintf (stderr, "s3vol: warning: %s is still in use%s%s"
             "detached lazily: the last commit may not be of a clean "
             "filesystem\n", a->mountpoint, busy[0] ? " by:\n" : "; ",
             busy);
    return EXIT_OK;
  }
  if (r == EXIT_OK)
    return EXIT_OK;
  if (r == EXIT_BUSY)
    fprintf (stderr, "s3vol: volume busy: %s is in use%s%s",
             a->mountpoint, busy[0] ? " by:\n" : "\n", busy);
  else
    fprintf (stderr, "s3vol: cannot unmount %s: %s\n", a->mountpoint,
             strerror (errno));
  set_freeze (a, a->mountpoint);        /* still mounted: as before */
  return r;
}

int
att_teardown (struct attachment *a, unsigned flags)
{
  const char *nbdd[] = { "nbd-client", "-d", a->device, NULL };
  const char *lod[] = { "losetup", "-d", a->device, NULL };
  const char *fum[] = { "fusermount3", "-u", a->fuse_dir, NULL };
  int r;

  if ((flags & ATT_UNMOUNT) && (r = att_unmount (a, false)) != EXIT_OK)
    return r;
  if (strncmp (a->device, "/dev/nbd", 8) == 0)
    proc_run (nbdd, NULL, 0, NULL, 0);
  else if (a->device[0])
    proc_run (lod, NULL, 0, NULL, 0);
  a->device[0] = '\0';
  if (is_mounted (a->fuse_dir))
    proc_run (fum, NULL, 0, NULL, 0);
  proc_stop (a->nbdfuse_pid, SIGTERM, 5000);
  /* nbdkit commits what is dirty and flushes the cache on the way out;
   * killed, it commits nothing, and the cache (crash-safe) stays as it
   * was.
   */
  if (flags & ATT_DISCARD)
    proc_stop (a->nbdkit_pid, SIGKILL, 0);
  else
    proc_stop (a->nbdkit_pid, SIGTERM, 300000);
  if (!(flags & ATT_KEEP_DIR))
    att_remove_dir (a);
  return EXIT_OK;
}
