/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: run: a command with volumes mounted in a private mount
 * namespace, committed in the background while it runs, and committed
 * and detached when it ends.
 *
 *   s3vol run             unshare(CLONE_NEWNS): a mount namespace of its
 *                         own; in it, attaches each volume at its path as
 *                         attach does (nbdkit freezing that path around
 *                         each commit, every --commit-interval seconds)
 *     CMD                 runs in that namespace, exits
 *   s3vol run             unmounts (so the filesystems are clean),
 *                         commits, detaches, deletes ephemeral volumes,
 *                         exits with CMD's status
 *
 * nbdkit and nbdfuse are started in the namespace too, so the plugin's
 * freeze=PATH names the filesystem CMD sees, and s3vol commit PATH and
 * s3vol reload PATH work from inside CMD (the records carry the
 * namespace).  If s3vol run is killed, each plugin notices (owner=,
 * plugin/owner.c) and runs s3vol recover on its attachment, which stops
 * what is left of the command, unmounts, commits and stops nbdkit; with
 * S3VOL_AUTO_RECOVER=0 they wait for s3vol recover by hand (s3vol
 * status lists them as ORPHANED).
 *
 * An ephemeral volume lives in a store of its own under the main one
 * (.../ephemeral/ID), so deleting it removes every object it had, and
 * shares nothing with other volumes.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blockdev.h"
#include "cli.h"
#include "proc.h"
#include "s3vol/defaults.h"
#include "s3vol/volume.h"

struct mount_spec {
  struct attachment a;
  char path[PATH_MAX];
  bool ephemeral;
  char eph_store[PATH_MAX];     /* the ephemeral volume's own store */
};

static int
parse_spec (const char *spec, struct mount_spec *m)
{
  const char *colon = strchr (spec, ':'), *ro;

  if (colon == NULL || colon[1] != '/') {
    fprintf (stderr, "s3vol run: -v wants NAME:/PATH[:ro], not %s\n",
             spec);
    return EXIT_USAGE;
  }
  snprintf (m->a.volume, sizeof m->a.volume, "%.*s", (int) (colon - spec),
            spec);
  snprintf (m->path, sizeof m->path, "%s", colon + 1);
  ro = strrchr (m->path, ':');
  if (ro && strcmp (ro, ":ro") == 0) {
    *(char *) ro = '\0';
    m->a.readonly = true;
  }
  else if (ro && strcmp (ro, ":rw") == 0)
    *(char *) ro = '\0';
  return EXIT_OK;
}

/* Open a store by URL with the CLI's log. */
static int
open_url (const char *url, struct objstore **os, struct volstore **vs)
{
  struct cli_global g = { .store_url = url };

  return cli_open_volstore (&g, os, vs);
}

/* Create an ephemeral volume in a fresh store of its own. */
static int
make_ephemeral (const char *main_url, struct mount_spec *m, uint64_t size)
{
  struct objstore *os;
  struct volstore *vs;
  uint8_t rnd[8];
  char dir[PATH_MAX];
  int r;

  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    return EXIT_FAIL;
  if (m->a.volume[0] == '\0')
    snprintf (m->a.volume, sizeof m->a.volume, "ephemeral");
  snprintf (m->eph_store, sizeof m->eph_store,
            "%s/ephemeral/%02x%02x%02x%02x%02x%02x%02x%02x", main_url,
            rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  if (strncmp (m->eph_store, "file://", 7) == 0) {
    snprintf (dir, sizeof dir, "%s", m->eph_store + 7);
    *strrchr (dir, '/') = '\0';
    mkdir (dir, 0700);
    if (mkdir (m->eph_store + 7, 0700) == -1) {
      fprintf (stderr, "s3vol run: cannot create %s: %s\n",
               m->eph_store + 7, strerror (errno));
      return EXIT_FAIL;
    }
  }
  r = open_url (m->eph_store, &os, &vs);
  if (r != EXIT_OK)
    return r;
  r = volstore_create (vs, m->a.volume, size, 0, NULL);
  r = r < 0 ? cli_exit_code (r) : cli_format (vs, m->a.volume);
  cli_close_volstore (os, vs);
  m->ephemeral = true;
  m->a.ephemeral = true;
  return r;
}

static int
collect (void *opaque, const struct objstore_entry *e)
{
  struct { char **k; size_t n, cap; } *l = opaque;

  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 256;
    l->k = realloc (l->k, l->cap * sizeof *l->k);
    if (l->k == NULL)
      return -ENOMEM;
  }
  l->k[l->n] = strdup (e->key);
  return l->k[l->n++] ? 0 : -ENOMEM;
}

/* Is url an ephemeral volume's own store (.../ephemeral/16 hex)? */
static bool
is_ephemeral_store (const char *url)
{
  const char *id = strrchr (url, '/');
  size_t n = id ? strlen (id + 1) : 0;

  return n == 16 && strspn (id + 1, "0123456789abcdef") == n &&
    id - url > 10 && strncmp (id - 10, "/ephemeral", 10) == 0;
}

void
cli_purge_ephemeral (const char *url)
{
  struct objstore_config cfg = { .log = &cli_log };
  struct { char **k; size_t n, cap; } l = { 0 };
  struct objstore *os;
  size_t i;

  if (!is_ephemeral_store (url) || objstore_open (url, &cfg, &os) < 0)
    return;
  if (objstore_list (os, "", NULL, collect, &l) == 0 && l.n)
    objstore_del_many (os, (const char *const *) l.k, l.n);
  for (i = 0; i < l.n; i++)
    free (l.k[i]);
  free (l.k);
  objstore_close (os);
  if (strncmp (url, "file://", 7) == 0) {
    char dir[PATH_MAX];
    snprintf (dir, sizeof dir, "%s", url + 7);
    rmdir (dir);
    *strrchr (dir, '/') = '\0';
    rmdir (dir);                /* .../ephemeral, if now empty */
  }
}

/* mkdir -p, as root inside the namespace. */
static void
make_path (const char *path)
{
  char buf[PATH_MAX], *p;

  snprintf (buf, sizeof buf, "%s", path);
  for (p = buf + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    mkdir (buf, 0755);
    *p = '/';
  }
  mkdir (buf, 0755);
}

/* Into a mount namespace of this process's own, where mounts are not
 * seen from outside (nor those outside from here, from now on).  Before
 * any thread is started: unshare refuses a process with threads.
 */
static int
own_mntns (void)
{
  if (unshare (CLONE_NEWNS) == -1 ||
      mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
    fprintf (stderr, "s3vol run: cannot make a mount namespace: %s\n",
             strerror (errno));
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

/* Check, or create, the volume of m in the main store url. */
static int
check_volume (const char *url, const struct cli_args *args,
              struct mount_spec *m)
{
  struct vol_info info = { 0 };
  struct objstore *os;
  struct volstore *vs;
  uint64_t size = args->size ? args->size : 1ull << 40;
  int r;

  if (args->ephemeral)
    return make_ephemeral (url, m, size);
  r = open_url (url, &os, &vs);
  if (r != EXIT_OK)
    return r;
  if (args->create && volstore_exists (vs, m->a.volume) == 0) {
    r = cli_exit_code (volstore_create (vs, m->a.volume, size, 0, NULL));
    if (r == EXIT_OK)
      r = cli_format (vs, m->a.volume);
  }
  else
    r = cli_exit_code (volstore_info (vs, m->a.volume, &info));
  if (r == EXIT_OK)
    r = cli_check_key (vs, m->a.volume, &info);
  cli_close_volstore (os, vs);
  return r;
}

/* Serve, connect and mount m at its path, recorded as this run's. */
static int
bring_up (const char *url, const struct cli_args *args,
          struct mount_spec *m)
{
  struct attachment *a = &m->a;
  char real[PATH_MAX];

  snprintf (a->store, sizeof a->store, "%s",
            m->ephemeral ? m->eph_store : url);
  a->commit_interval = args->interval_set ? args->interval : 5;
  if (!m->ephemeral && cli_recover_volume (a->store, a->volume) != EXIT_OK)
    fprintf (stderr, "s3vol run: warning: mounting %s all the same\n",
             a->volume);
  a->owner_pid = getpid ();
  a->owner_start = att_proc_start (a->owner_pid);
  a->mntns = att_self_mntns ();
  make_path (m->path);
  if (realpath (m->path, real) == NULL) {
    fprintf (stderr, "s3vol run: %s: %s\n", m->path, strerror (errno));
    return EXIT_USAGE;
  }
  return cli_attach (a, real, args->allow_setuid);
}

/* Run CMD and wait: its exit status, or 128 + the signal that ended it.
 * CMD gets the terminal's signals; this process outlives it to clean
 * up.
 */
static int
run_command (char **cmd)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
  struct sigaction ign = { .sa_handler = SIG_IGN };
  int status = 0, i;
  pid_t pid;

  for (i = 0; i < 3; i++)
    sigaction (sigs[i], &ign, NULL);
  pid = fork ();
  if (pid == 0) {
    for (i = 0; i < 3; i++)
      signal (sigs[i], SIG_DFL);
    execvp (cmd[0], cmd);
    fprintf (stderr, "s3vol run: cannot run %s: %s\n", cmd[0],
             strerror (errno));
    _exit (127);
  }
  if (pid < 0) {
    fprintf (stderr, "s3vol run: cannot fork: %s\n", strerror (errno));
    return EXIT_FAIL;
  }
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  return WIFSIGNALED (status) ? 128 + WTERMSIG (status)
    : WEXITSTATUS (status);
}

/* Unmount, commit (unless read-only or ephemeral) and detach m.  A
 * reload from inside CMD gave the attachment a new nbdkit: its record
 * says which.
 */
static int
finish (struct mount_spec *m)
{
  struct attachment cur;
  uint64_t seq;
  int r;

  if (att_load (m->a.dir, &cur, NULL) == 0 && cur.owner_pid == getpid ())
    m->a = cur;
  r = cli_finish (&m->a, FINISH_LAZY | (m->ephemeral ? FINISH_DISCARD |
                                        FINISH_QUIET : 0), &seq);
  if (m->ephemeral)
    cli_purge_ephemeral (m->eph_store);
  return r;
}

static int
run (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol run -v NAME:/PATH[:ro] [-v ...] [--ephemeral] "
    "[--commit-interval SECS]\n"
    "         [--create-if-missing [--size SIZE]] [--allow-setuid] -- CMD "
    "[ARGS...]\n"
    "Run CMD with volumes mounted in a private mount namespace; commit "
    "them every\nfew seconds (default 5) while it runs, commit and "
    "detach them when it ends,\nand exit with its status (or 4 if a "
    "commit conflicts).  --ephemeral: each\nvolume is new and deleted "
    "afterwards, whatever happens to CMD.  Volumes are\nmounted "
    "nosuid,nodev unless --allow-setuid.  Needs root.\n";
  struct mount_spec ms[CLI_MAX_VOLUMES];
  struct cli_args args;
  char url[PATH_MAX];
  int r, i, n = 0, rc = EXIT_OK, fr;

  r = cli_parse (argc, argv, OPT_VOLUMES | OPT_EPHEMERAL | OPT_CREATE |
                 OPT_SIZE | OPT_ALLOW_SETUID | OPT_INTERVAL, 1, INT32_MAX,
                 &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  if (args.nvolumes == 0) {
    fprintf (stderr, "s3vol run: give at least one -v NAME:/PATH\n");
    return EXIT_USAGE;
  }
  if (geteuid () != 0) {
    fprintf (stderr, "s3vol run: needs root (mount namespaces, loop "
             "devices)\n");
    return EXIT_PERM;
  }
  memset (ms, 0, sizeof ms);
  r = own_mntns ();
  if (r == EXIT_OK && s3vol_store_url (g->store_url, url, sizeof url,
                                       &cli_log) < 0)
    r = EXIT_STORE;
  for (i = 0; i < args.nvolumes && r == EXIT_OK; i++)
    r = parse_spec (args.volumes[i], &ms[i]);
  /* Bring every volume up; on any failure, take down what is up. */
  for (i = 0; i < args.nvolumes && r == EXIT_OK; i++) {
    r = check_volume (url, &args, &ms[i]);
    if (r == EXIT_OK)
      r = bring_up (url, &args, &ms[i]);
    if (r == EXIT_OK)
      n++;
  }
  if (r == EXIT_OK)
    rc = run_command (args.pos);
  for (i = 0; i < n; i++) {
    fr = finish (&ms[i]);
    if (fr != EXIT_OK && rc == EXIT_OK)
      rc = fr;                  /* a conflict: 4, the changes kept */
  }
  for (i = n; i < args.nvolumes; i++)
    if (ms[i].ephemeral)
      cli_purge_ephemeral (ms[i].eph_store);
  return r != EXIT_OK ? r : rc;
}

const struct cli_verb verb_run = { "run", "run a command with volumes "
                                   "mounted", run };
