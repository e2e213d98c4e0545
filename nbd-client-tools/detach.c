/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: the end of an attachment: detach (committing, or
 * discarding the local changes), and recover, for the attachments of an
 * s3vol run that was killed.
 *
 * An attachment of s3vol run lives in the run's private mount namespace
 * (nbdkit and nbdfuse were started there, its filesystem is mounted
 * only there) and belongs to the run's process (owner_pid).  When that
 * process is gone, the attachment is orphaned: recover enters its
 * namespace through one of its processes, thaws its filesystem if a
 * killed plugin left it frozen, stops what is left of the command there
 * (but not the processes recover runs under), and detaches it as detach
 * does.  The plugin of an orphan runs recover on it by itself
 * (plugin/owner.c), unless S3VOL_AUTO_RECOVER=0 was set for the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockdev.h"
#include "cli.h"
#include "proc.h"

bool
att_status_u64 (const struct attachment *a, const char *key,
                uint64_t *out)
{
  char reply[1100], pat[64];
  const char *p;
  char *end;

  if (att_ctl_request (a->ctl, "status", reply, sizeof reply) < 0 ||
      strncmp (reply, "ok ", 3) != 0)
    return false;
  snprintf (pat, sizeof pat, "\"%s\":", key);
  p = strstr (reply, pat);
  if (p == NULL || p[strlen (pat)] < '0' || p[strlen (pat)] > '9')
    return false;
  errno = 0;
  *out = strtoull (p + strlen (pat), &end, 10);
  return errno == 0;
}

bool
cli_orphaned (const struct attachment *a)
{
  return a->owner_pid > 0 && !proc_owner_alive (a->owner_pid,
                                                a->owner_start);
}

void
cli_drop_cache (const struct attachment *a)
{
  const char *rm[] = { "rm", "-rf", "--one-file-system", a->cache_dir,
                       NULL };
  char parent[PATH_MAX];
  char *slash;

  if (a->cache_dir[0] == '\0')
    return;
  proc_run (rm, NULL, 0, NULL, 0);
  /* $XDG_CACHE_HOME/s3vol/NAME, when its last attachment goes. */
  snprintf (parent, sizeof parent, "%s", a->cache_dir);
  slash = strrchr (parent, '/');
  if (a->cache_owned && slash && slash != parent) {
    *slash = '\0';
    rmdir (parent);
  }
}

/* Drop a's local changes: unmounted, nbdkit killed (so that it commits
 * nothing on the way out), its cache removed.  Says what was dropped.
 */
static int
discard (struct attachment *a, bool quiet)
{
  char human[32], vol[CLI_ESC_SIZE (sizeof a->volume)];
  uint64_t base = 0, dirty = 0;
  bool known;

  known = att_status_u64 (a, "base_version", &base) &&
    att_status_u64 (a, "dirty_bytes", &dirty);
  att_teardown (a, ATT_DISCARD);
  cli_drop_cache (a);
  if (quiet)
    return EXIT_OK;
  cli_esc (vol, sizeof vol, a->volume, 0);
  if (!known)
    printf ("discarded the local changes to %s, if any (cache %s "
            "removed)\n", vol, a->cache_dir);
  else if (dirty == 0)
    printf ("no local changes to %s to discard (version %" PRIu64 ")\n",
            vol, base);
  else
    printf ("discarded %s (%" PRIu64 " bytes) of local changes to %s "
            "based on version %" PRIu64 " (cache %s removed)\n",
            cli_human (dirty, human), dirty, vol, base, a->cache_dir);
  return EXIT_OK;
}

int
cli_finish (struct attachment *a, unsigned flags, uint64_t *seq)
{
  bool alive = proc_alive (a->nbdkit_pid);
  int r, rc = EXIT_OK;

  *seq = 0;
  /* Unmount first: the filesystem is then clean, and what is committed
   * below is exactly what it held.
   */
  r = att_unmount (a, flags & FINISH_LAZY);
  if (r != EXIT_OK)
    return r;
  if (flags & FINISH_DISCARD)
    return discard (a, flags & FINISH_QUIET);
  if (!a->readonly && alive)
    rc = cli_exit_code (att_commit (a, NULL, seq, &cli_log));
  att_teardown (a, 0);
  if (!a->readonly && !alive)
    fprintf (stderr, "s3vol: the plugin serving %s was not running: "
             "changes not committed, if any, are kept in %s\n",
             a->volume, a->cache_dir);
  else if (rc == EXIT_OK && a->cache_owned)
    cli_drop_cache (a);
  return rc;
}

static int
detach (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol detach MOUNTPOINT [--discard]\n"
    "Unmount, commit, and stop serving a volume.  --discard drops the "
    "local changes\ninstead (after a conflict: copy what you need "
    "first).  Also cleans up after a\nfailed attach or a crashed "
    "nbdkit.\n";
  struct attachment a;
  struct cli_args args;
  uint64_t seq;
  int r;

  (void) g;
  r = cli_parse (argc, argv, OPT_DISCARD, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = cli_need_root ("detach");
  if (r == EXIT_OK)
    r = cli_find ("detach", args.pos[0], &a);
  if (r != EXIT_OK)
    return r;
  if (a.owner_pid > 0 && !cli_orphaned (&a)) {
    fprintf (stderr, "s3vol detach: %s belongs to s3vol run (pid %d), "
             "which detaches it when its command ends\n", a.mountpoint,
             (int) a.owner_pid);
    return EXIT_BUSY;
  }
  r = cli_finish (&a, args.discard ? FINISH_DISCARD : 0, &seq);
  if (r == EXIT_OK)
    printf ("detached %s from %s\n", a.volume, a.mountpoint);
  return r;
}

/* Enter the mount namespace of a, through its nbdkit or nbdfuse (the
 * inode of a namespace that is gone may be another's now): 0, or 1 when
 * neither is left there (then its mounts are gone, or going with the
 * last of the command), or an exit code (printed).
 */
static int
enter_mntns (const struct attachment *a)
{
  static const char *const comms[] = { "nbdkit", "nbdfuse" };
  const pid_t pids[] = { a->nbdkit_pid, a->nbdfuse_pid };
  char path[64];
  struct stat st;
  size_t i;
  int fd;

  if (a->mntns == 0 || a->mntns == att_self_mntns ())
    return 0;
  for (i = 0; i < 2; i++) {
    if (pids[i] <= 0 || proc_mntns (pids[i]) != a->mntns ||
        !proc_comm_is (pids[i], comms[i]))
      continue;
    snprintf (path, sizeof path, "/proc/%d/ns/mnt", (int) pids[i]);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat (fd, &st) == -1 || st.st_ino != a->mntns ||
        setns (fd, CLONE_NEWNS) == -1) {
      fprintf (stderr, "s3vol recover: cannot enter the mount namespace "
               "of %s: %s\n", a->volume, strerror (errno));
      if (fd >= 0)
        close (fd);
      return EXIT_FAIL;
    }
    close (fd);
    return 0;
  }
  return 1;
}

/* Hold a's directory locked while recovering it, so that two recovers
 * of one orphan (the plugin's own and an attach's, say) take turns; the
 * second then finds the record gone.  The fd, or -1 if there is no
 * directory any more.
 */
static int
lock_orphan (const struct attachment *a)
{
  int fd = open (a->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  while (fd >= 0 && flock (fd, LOCK_EX) == -1 && errno == EINTR)
    ;
  return fd;
}

static int
recover_locked (struct attachment *a)
{
  pid_t own[66] = { a->nbdkit_pid, a->nbdfuse_pid };
  size_t nown = 2;
  uint64_t seq;
  int r, n = 0;

  r = enter_mntns (a);
  if (r == 1)
    a->mountpoint[0] = '\0';    /* not to be found from here */
  else if (r != 0)
    return r;
  /* A dead plugin's freeze would keep what is left of the command
   * stuck in its writes, beyond signals.
   */
  if (r == 0 && a->mountpoint[0])
    att_thaw (a->mountpoint);
  /* What is left of the command, but not the processes this recover
   * runs under (a shell of the command's, or the plugin that started
   * it on the run's death).
   */
  nown += proc_ancestors (own + 2, sizeof own / sizeof own[0] - 2);
  if (r == 0)
    n = proc_stop_mntns (a->mntns, own, nown, 5000);
  if (n > 0)
    printf ("stopped %d process%s left by the s3vol run of %s\n", n,
            n > 1 ? "es" : "", a->volume);
  if (a->ephemeral) {
    r = cli_finish (a, FINISH_DISCARD | FINISH_QUIET, &seq);
    if (r == EXIT_OK) {
      cli_purge_ephemeral (a->store);
      printf ("recovered the ephemeral volume of a killed s3vol run "
              "(attachment %s): deleted\n", att_id (a));
    }
    return r;
  }
  r = cli_finish (a, 0, &seq);
  if (r == EXIT_OK && seq)
    printf ("recovered %s (attachment %s): committed version %" PRIu64
            "\n", a->volume, att_id (a), seq);
  else if (r == EXIT_OK)
    printf ("recovered %s (attachment %s)\n", a->volume, att_id (a));
  return r;
}

/* Recover a unless another recover did, waiting for one under way. */
static int
recover_one (struct attachment *a)
{
  struct attachment now;
  int fd = lock_orphan (a), r = EXIT_OK;

  if (fd >= 0 && att_load (a->dir, &now, NULL) == 0 &&
      now.nbdkit_pid == a->nbdkit_pid && cli_orphaned (&now))
    r = recover_locked (&now);
  if (fd >= 0)
    close (fd);
  return r;
}

struct orphans {
  struct attachment *a;
  size_t n;
  int err;
};

static int
collect_orphan (void *opaque, const struct attachment *a)
{
  struct orphans *o = opaque;
  struct attachment *p;

  if (!cli_orphaned (a))
    return 0;
  p = realloc (o->a, (o->n + 1) * sizeof *p);
  if (p == NULL) {
    o->err = -ENOMEM;
    return 1;
  }
  o->a = p;
  o->a[o->n++] = *a;
  return 0;
}

/* Recover the orphans in o, saying so: an exit code. */
static int
recover_each (struct orphans *o)
{
  int r, rc = EXIT_OK;
  size_t k;

  for (k = 0; k < o->n; k++) {
    printf ("recovering attachment %s of %s: its s3vol run (pid %d) is "
            "gone\n", att_id (&o->a[k]), o->a[k].volume,
            (int) o->a[k].owner_pid);
    r = recover_one (&o->a[k]);
    if (r != EXIT_OK && rc == EXIT_OK)
      rc = r;
  }
  return rc;
}

/* The orphans of volume on store, found here; recovered in a child
 * process: recovering enters other mount namespaces, and the caller goes
 * on in its own.
 */
int
cli_recover_volume (const char *store, const char *volume)
{
  struct orphans o = { 0 };
  size_t k, n = 0;
  pid_t pid;
  int status;

  if (att_each (collect_orphan, &o, &cli_log) < 0 || o.err) {
    free (o.a);
    return EXIT_FAIL;
  }
  for (k = 0; k < o.n; k++)
    if (strcmp (o.a[k].volume, volume) == 0 &&
        strcmp (o.a[k].store, store) == 0)
      o.a[n++] = o.a[k];
  o.n = n;
  if (n == 0) {
    free (o.a);
    return EXIT_OK;
  }
  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  if (pid == 0) {
    status = recover_each (&o);
    fflush (stdout);
    _exit (status);
  }
  free (o.a);
  if (pid == -1) {
    fprintf (stderr, "s3vol: fork: %s\n", strerror (errno));
    return EXIT_FAIL;
  }
  while (waitpid (pid, &status, 0) == -1)
    if (errno != EINTR)
      return EXIT_FAIL;
  return WIFEXITED (status) ? WEXITSTATUS (status) : EXIT_FAIL;
}

/* Is a named by one of ids[n] (every one when n is 0)? */
static bool
wanted (const struct attachment *a, char **ids, int n, bool *used)
{
  int i;

  if (n == 0)
    return true;
  for (i = 0; i < n; i++)
    if (strcmp (ids[i], att_id (a)) == 0) {
      used[i] = true;
      return true;
    }
  return false;
}

static int
recover (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol recover [ID...]\n"
    "Clean up the attachments of an s3vol run that was killed (s3vol "
    "status lists\nthem as ORPHANED, with their ID): stop what is left "
    "of its command, unmount,\ncommit what the volume holds and detach.  "
    "Without ID, every orphaned one.\nThe plugins of a killed run do "
    "this by themselves, unless the run had\nS3VOL_AUTO_RECOVER=0 (or "
    "its plugin was killed too).\n";
  struct orphans o = { 0 };
  struct cli_args args;
  bool used[64] = { false };
  int r, rc = EXIT_OK, i;
  size_t k;

  (void) g;
  r = cli_parse (argc, argv, 0, 0, 64, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = cli_need_root ("recover");
  if (r != EXIT_OK)
    return r;
  if (att_each (collect_orphan, &o, &cli_log) < 0 || o.err) {
    free (o.a);
    return EXIT_FAIL;
  }
  for (k = 0; k < o.n; k++)
    if (wanted (&o.a[k], args.pos, args.npos, used) &&
        (r = recover_one (&o.a[k])) != EXIT_OK && rc == EXIT_OK)
      rc = r;
  free (o.a);
  for (i = 0; i < args.npos; i++)
    if (!used[i]) {
      fprintf (stderr, "s3vol recover: no orphaned attachment %s (see "
               "s3vol status)\n", args.pos[i]);
      if (rc == EXIT_OK)
        rc = EXIT_NOTFOUND;
    }
  if (o.n == 0 && args.npos == 0)
    printf ("no orphaned attachments\n");
  return rc;
}

const struct cli_verb verb_detach = { "detach", "unmount a volume", detach };
const struct cli_verb verb_recover = { "recover",
                                       "clean up after a killed s3vol run",
                                       recover };
