/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: run: a command with volumes mounted in a private mount
 * namespace, committed and detached when it ends.
 *
 *   s3vol (parent)          serves each volume, connects a block device
 *     namespace holder      unshare(CLONE_NEWNS), mounts the volumes
 *       CMD                 runs, exits
 *     namespace holder      unmounts (so the filesystems are clean)
 *   s3vol (parent)          commits, detaches, deletes ephemeral volumes,
 *                           exits with CMD's status
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

/* Delete every object of an ephemeral volume's store. */
static void
purge_ephemeral (struct mount_spec *m)
{
  struct objstore_config cfg = { .log = &cli_log };
  struct { char **k; size_t n, cap; } l = { 0 };
  struct objstore *os;
  size_t i;

  if (objstore_open (m->eph_store, &cfg, &os) < 0)
    return;
  if (objstore_list (os, "", NULL, collect, &l) == 0 && l.n)
    objstore_del_many (os, (const char *const *) l.k, l.n);
  for (i = 0; i < l.n; i++)
    free (l.k[i]);
  free (l.k);
  objstore_close (os);
  if (strncmp (m->eph_store, "file://", 7) == 0) {
    char dir[PATH_MAX];
    snprintf (dir, sizeof dir, "%s", m->eph_store + 7);
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

/* The namespace holder: mount, run CMD, unmount.  Never returns. */
static void
hold_namespace (struct mount_spec *ms, int n, char **cmd,
                bool allow_setuid)
{
  /* A setuid binary or a device file in a volume must not give CMD's
   * users root.
   */
  unsigned long flags = allow_setuid ? 0 : MS_NOSUID | MS_NODEV;
  int status = 0, i;
  pid_t pid;

  if (unshare (CLONE_NEWNS) == -1 ||
      mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1) {
    fprintf (stderr, "s3vol run: cannot make a mount namespace: %s\n",
             strerror (errno));
    _exit (EXIT_FAIL);
  }
  for (i = 0; i < n; i++) {
    make_path (ms[i].path);
    if (mount (ms[i].a.device, ms[i].path, "ext4",
               flags | (ms[i].a.readonly ? MS_RDONLY : 0),
               ms[i].a.readonly ? "" : "noinit_itable") == -1) {
      fprintf (stderr, "s3vol run: cannot mount %s at %s: %s\n",
               ms[i].a.volume, ms[i].path, strerror (errno));
      _exit (EXIT_FAIL);
    }
  }
  pid = fork ();
  if (pid == 0) {
    signal (SIGINT, SIG_DFL);
    signal (SIGTERM, SIG_DFL);
    signal (SIGHUP, SIG_DFL);
    execvp (cmd[0], cmd);
    fprintf (stderr, "s3vol run: cannot run %s: %s\n", cmd[0],
             strerror (errno));
    _exit (127);
  }
  while (waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  /* Unmount here, synchronously: the filesystems are clean before the
   * parent commits them.
   */
  for (i = n; i-- > 0;)
    if (umount2 (ms[i].path, 0) == -1)
      umount2 (ms[i].path, MNT_DETACH);
  _exit (WIFSIGNALED (status) ? 128 + WTERMSIG (status)
         : WEXITSTATUS (status));
}

static int
run (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol run -v NAME:/PATH[:ro] [-v ...] [--ephemeral]\n"
    "         [--create-if-missing [--size SIZE]] [--allow-setuid] -- CMD "
    "[ARGS...]\n"
    "Run CMD with volumes mounted in a private mount namespace; commit "
    "and detach\nthem when it ends, and exit with its status.  "
    "--ephemeral: each volume is new\nand deleted afterwards, whatever "
    "happens to CMD.  Volumes are\nmounted nosuid,nodev unless "
    "--allow-setuid.  Needs root.\n";
  struct mount_spec ms[CLI_MAX_VOLUMES];
  struct sigaction ign = { .sa_handler = SIG_IGN }, old[3];
  struct cli_args args;
  char url[PATH_MAX];
  int r, i, n = 0, status = 0, rc = EXIT_OK;
  uint64_t seq;
  pid_t holder;

  r = cli_parse (argc, argv, OPT_VOLUMES | OPT_EPHEMERAL | OPT_CREATE |
                 OPT_SIZE | OPT_ALLOW_SETUID, 1, INT32_MAX, &args);
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
  if (s3vol_store_url (g->store_url, url, sizeof url, &cli_log) < 0)
    return EXIT_STORE;
  memset (ms, 0, sizeof ms);
  for (i = 0; i < args.nvolumes && r == EXIT_OK; i++)
    r = parse_spec (args.volumes[i], &ms[i]);
  /* Bring every volume up; on any failure, take down what is up. */
  for (i = 0; i < args.nvolumes && r == EXIT_OK; i++, n++) {
    struct attachment *a = &ms[i].a;
    char key[PATH_MAX + 32];
    if (args.ephemeral)
      r = make_ephemeral (url, &ms[i], args.size ? args.size : 1ull << 40);
    else {
      struct cli_global vg = { .store_url = url };
      struct objstore *os;
      struct volstore *vs;
      r = cli_open_volstore (&vg, &os, &vs);
      if (r == EXIT_OK) {
        if (args.create && volstore_exists (vs, a->volume) == 0) {
          r = cli_exit_code (volstore_create (vs, a->volume,
                                              args.size ? args.size
                                              : 1ull << 40, 0, NULL));
          if (r == EXIT_OK)
            r = cli_format (vs, a->volume);
        }
        else
          r = cli_exit_code (volstore_info (vs, a->volume,
                                            &(struct vol_info) { 0 }));
        cli_close_volstore (os, vs);
      }
    }
    if (r != EXIT_OK)
      break;
    snprintf (a->store, sizeof a->store, "%s",
              ms[i].ephemeral ? ms[i].eph_store : url);
    a->commit_interval = 0;     /* committed when CMD ends */
    snprintf (key, sizeof key, "run-%d-%d", (int) getpid (), i);
    if (s3vol_cache_dir (a->volume, key + 3, a->cache_dir,
                         sizeof a->cache_dir, &cli_log) < 0) {
      r = EXIT_FAIL;
      break;
    }
    r = cli_attach (a, "", false);
    if (r != EXIT_OK)
      break;
  }
  if (r == EXIT_OK) {
    /* CMD gets the terminal's signals; this process outlives it to
     * clean up.
     */
    for (i = 0; i < 3; i++)
      sigaction ((int[]) { SIGINT, SIGTERM, SIGHUP }[i], &ign, &old[i]);
    holder = fork ();
    if (holder == 0)
      hold_namespace (ms, n, args.pos, args.allow_setuid);
    while (holder > 0 && waitpid (holder, &status, 0) == -1 &&
           errno == EINTR)
      ;
    rc = holder < 0 ? EXIT_FAIL
      : WIFSIGNALED (status) ? 128 + WTERMSIG (status)
      : WEXITSTATUS (status);
  }
  for (i = 0; i < n; i++) {
    const char *rm[] = { "rm", "-rf", ms[i].a.cache_dir, NULL };
    bool keep = false;
    if (r == EXIT_OK && !ms[i].a.readonly && !ms[i].ephemeral &&
        att_commit (&ms[i].a, NULL, &seq, &cli_log) < 0) {
      keep = true;              /* the changes live only there now */
      if (rc == 0)
        rc = EXIT_FAIL;
    }
    att_teardown (&ms[i].a, false);
    if (ms[i].ephemeral)
      purge_ephemeral (&ms[i]);
    if (!keep)
      proc_run (rm, NULL, 0, NULL, 0);
  }
  if (r != EXIT_OK)
    for (i = n; i < args.nvolumes; i++)
      if (ms[i].ephemeral)
        purge_ephemeral (&ms[i]);
  return r != EXIT_OK ? r : rc;
}

const struct cli_verb verb_run = { "run", "run a command with volumes "
                                   "mounted", run };
