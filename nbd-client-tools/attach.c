/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: attach, detach, status, commit, reload. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockdev.h"
#include "cli.h"
#include "proc.h"
#include "s3vol/defaults.h"
#include "s3vol/volume.h"

static int
need_root (const char *verb)
{
  if (geteuid () == 0)
    return EXIT_OK;
  fprintf (stderr, "s3vol %s: needs root (it mounts filesystems and "
           "uses loop devices); to read or write files without mounting "
           "use s3vol ls/get/put\n", verb);
  return EXIT_PERM;
}

/* The mountpoint must be an existing, empty directory, not mounted on. */
static int
check_mountpoint (const char *path, char *real)
{
  struct attachment other;
  struct dirent *de;
  struct stat st;
  int n = 0, r;
  DIR *d;

  if (realpath (path, real) == NULL || stat (real, &st) == -1) {
    fprintf (stderr, "s3vol: mountpoint %s: %s (create the directory "
             "first)\n", path, strerror (errno));
    return EXIT_USAGE;
  }
  if (!S_ISDIR (st.st_mode)) {
    fprintf (stderr, "s3vol: mountpoint %s is not a directory\n", path);
    return EXIT_USAGE;
  }
  r = att_find (real, &other, &cli_log);
  if (r == 0) {
    fprintf (stderr, "s3vol: %s is already attached (volume %s); detach "
             "it first\n", real, other.volume);
    return EXIT_BUSY;
  }
  if (r != -ENOENT)
    return EXIT_FAIL;
  d = opendir (real);
  while (d && (de = readdir (d)) != NULL)
    n += strcmp (de->d_name, ".") && strcmp (de->d_name, "..");
  if (d)
    closedir (d);
  if (n > 0) {
    fprintf (stderr, "s3vol: mountpoint %s is not empty\n", path);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

/* Make sure the volume exists (creating it if asked), fill a's store. */
static int
check_volume (const struct cli_global *g, const struct cli_args *args,
              struct attachment *a)
{
  struct objstore *os;
  struct volstore *vs;
  struct vol_info info;
  int r;

  r = cli_open_volstore (g, &os, &vs);
  if (r != EXIT_OK)
    return r;
  snprintf (a->store, sizeof a->store, "%s", os->url);
  if (args->create && s3vol_check_name (a->volume) == 0 &&
      volstore_exists (vs, a->volume) == 0) {
    r = volstore_create (vs, a->volume,
                         args->size ? args->size : 1ull << 40,
                         args->chunk_size, &info);
    r = r < 0 ? cli_exit_code (r) : cli_format (vs, a->volume);
  }
  else
    r = cli_exit_code (volstore_info (vs, a->volume, &info));
  cli_close_volstore (os, vs);
  return r;
}

int
cli_attach (struct attachment *a, const char *mountpoint,
            bool allow_setuid)
{
  int r;

  /* Without a mountpoint, the cache directory (one attachment's at a
   * time) keys the run directory: two runs of one volume do not share.
   */
  r = att_make_dir (a, mountpoint[0] ? mountpoint : a->cache_dir,
                    &cli_log) < 0 ? EXIT_FAIL : EXIT_OK;
  if (r == EXIT_OK)
    r = att_serve (a);
  if (r == EXIT_OK)
    r = att_connect (a);
  if (r == EXIT_OK && mountpoint[0])
    r = att_mount (a, mountpoint, allow_setuid);
  if (r == EXIT_OK)
    r = att_save (a, &cli_log) < 0 ? EXIT_FAIL : EXIT_OK;
  if (r != EXIT_OK) {
    a->mountpoint[0] = '\0';
    att_teardown (a, false);
  }
  return r;
}

static int
attach (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol attach NAME MOUNTPOINT [--read-only] [--version N | "
    "--snapshot S]\n"
    "         [--cache-dir DIR] [--cache-size SIZE] [--commit-interval "
    "SECS]\n"
    "         [--create-if-missing [--size SIZE]] [--allow-setuid]\n"
    "Mount a volume, nosuid,nodev unless --allow-setuid.  Changes are "
    "committed\nevery few seconds (default 5), by s3vol commit, and at "
    "detach.  Needs root.\n";
  struct attachment a = { 0 };
  struct cli_args args;
  char real[PATH_MAX], suffix[96] = "";
  int r;

  r = cli_parse (argc, argv, OPT_READONLY | OPT_VERSION | OPT_SNAPSHOT |
                 OPT_CACHE_DIR | OPT_CACHE_SIZE | OPT_CREATE | OPT_SIZE |
                 OPT_INTERVAL | OPT_CHUNK_SIZE | OPT_ALLOW_SETUID, 2, 2,
                 &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = need_root ("attach");
  if (r == EXIT_OK)
    r = check_mountpoint (args.pos[1], real);
  if (r != EXIT_OK)
    return r;
  snprintf (a.volume, sizeof a.volume, "%s", args.pos[0]);
  r = check_volume (g, &args, &a);
  if (r != EXIT_OK)
    return r;
  a.version = args.version;
  snprintf (a.snapshot, sizeof a.snapshot, "%s",
            args.snapshot ? args.snapshot : "");
  a.readonly = args.readonly || args.version || args.snapshot;
  a.cache_size = args.cache_size;
  a.commit_interval = args.interval_set ? args.interval : 5;
  snprintf (a.mountpoint, sizeof a.mountpoint, "%s", real);
  if (args.version)
    snprintf (suffix, sizeof suffix, "@v%" PRIu64, args.version);
  else if (args.snapshot)
    snprintf (suffix, sizeof suffix, "@%s", args.snapshot);
  if (args.cache_dir)
    snprintf (a.cache_dir, sizeof a.cache_dir, "%s", args.cache_dir);
  else if (s3vol_cache_dir (a.volume, suffix, a.cache_dir,
                            sizeof a.cache_dir, &cli_log) < 0)
    return EXIT_FAIL;
  r = cli_attach (&a, real, args.allow_setuid);
  if (r == EXIT_OK)
    printf ("attached %s at %s%s\n", a.volume, real,
            a.readonly ? " (read-only)" : "");
  return r;
}

/* Find the attachment at argv's mountpoint, or say there is none. */
static int
find (const char *verb, const char *path, struct attachment *a)
{
  int r = att_find (path, a, &cli_log);

  if (r == 0)
    return EXIT_OK;
  if (r != -ENOENT)
    return EXIT_FAIL;
  fprintf (stderr, "s3vol %s: nothing is attached at %s\n", verb, path);
  return EXIT_NOTFOUND;
}

static int
detach (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol detach MOUNTPOINT\n"
    "Unmount, commit, and stop serving a volume.  Also cleans up after a "
    "failed\nattach or a crashed nbdkit.\n";
  struct attachment a;
  struct cli_args args;
  uint64_t seq = 0;
  int r, rc = EXIT_OK;

  (void) g;
  r = cli_parse (argc, argv, 0, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = need_root ("detach");
  if (r == EXIT_OK)
    r = find ("detach", args.pos[0], &a);
  if (r != EXIT_OK)
    return r;
  /* Unmount first: the filesystem is then clean, and what is committed
   * below is exactly what it held.
   */
  r = att_unmount (&a);
  if (r != EXIT_OK)
    return r;
  if (!a.readonly && proc_alive (a.nbdkit_pid))
    rc = cli_exit_code (att_commit (&a, NULL, &seq, &cli_log));
  att_teardown (&a, false);
  if (rc == EXIT_OK)
    printf ("detached %s from %s\n", a.volume, a.mountpoint);
  return rc;
}

static int
show_one (void *opaque, const struct attachment *a)
{
  bool *json = opaque;
  char reply[1100] = "";
  char mp[CLI_ESC_SIZE (sizeof a->mountpoint)];
  char vol[CLI_ESC_SIZE (sizeof a->volume)];
  bool alive = proc_alive (a->nbdkit_pid);

  if (alive && att_ctl_request (a->ctl, "status", reply, sizeof reply) < 0)
    alive = false;
  if (*json) {
    printf ("{\"mountpoint\":");
    cli_json_str (a->mountpoint);
    printf (",\"volume\":");
    cli_json_str (a->volume);
    printf (",\"device\":");
    cli_json_str (a->device);
    printf (",\"alive\":%s,\"status\":%s}\n", alive ? "true" : "false",
            alive && strncmp (reply, "ok ", 3) == 0 ? reply + 3 : "null");
  }
  else {
    cli_esc (mp, sizeof mp, a->mountpoint, 0);
    cli_esc (vol, sizeof vol, a->volume, 0);
    if (alive)
      printf ("%s\t%s\t%s\t", vol, mp, a->device);
    else
      printf ("%s\t%s\t%s\tNOT RUNNING (s3vol detach %s cleans up)\n",
              vol, mp, a->device, mp);
    if (alive) {
      cli_put_esc (stdout, reply + 3, 0);
      putchar ('\n');
    }
  }
  return 0;
}

static int
status (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol status [--json]\n"
    "List attached volumes with their plugin's status (one JSON object a "
    "line\nwith --json).\n";
  struct cli_args args;
  int r;

  (void) g;
  r = cli_parse (argc, argv, OPT_JSON, 0, 0, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  return att_each (show_one, &args.json, &cli_log) < 0 ? EXIT_FAIL
    : EXIT_OK;
}

static int
commit (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol commit MOUNTPOINT [-m MESSAGE]\n"
    "Publish the attached volume's changes as a new version: the "
    "filesystem is\nfrozen for an instant while the plugin takes a "
    "copy-on-write cut, then the\nupload goes on while it is in use.\n";
  struct attachment a;
  struct cli_args args;
  uint64_t seq;
  int r;

  (void) g;
  r = cli_parse (argc, argv, OPT_MESSAGE, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = find ("commit", args.pos[0], &a);
  if (r != EXIT_OK)
    return r;
  if (a.readonly) {
    fprintf (stderr, "s3vol commit: %s is attached read-only\n",
             a.mountpoint);
    return EXIT_USAGE;
  }
  r = cli_exit_code (att_commit (&a, args.message, &seq, &cli_log));
  if (r == EXIT_OK)
    printf ("committed %s version %" PRIu64 "\n", a.volume, seq);
  return r;
}

static int
reload (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol reload MOUNTPOINT\n"
    "Move an attachment to the volume's newest version.  Local changes "
    "are\ncommitted first.  Fails with \"volume busy\" while files are open "
    "there.\n";
  struct attachment a;
  struct cli_args args;
  char busy[4096], mp[PATH_MAX];
  bool allow_setuid;
  uint64_t seq;
  int r;

  (void) g;
  r = cli_parse (argc, argv, 0, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = need_root ("reload");
  if (r == EXIT_OK)
    r = find ("reload", args.pos[0], &a);
  if (r != EXIT_OK)
    return r;
  att_busy (a.mountpoint, busy, sizeof busy);
  if (busy[0]) {
    fprintf (stderr, "s3vol: volume busy: %s is in use by:\n%s",
             a.mountpoint, busy);
    return EXIT_BUSY;
  }
  if (!a.readonly) {
    r = cli_exit_code (att_commit (&a, NULL, &seq, &cli_log));
    if (r != EXIT_OK) {
      fprintf (stderr, "s3vol reload: not reloaded; %s is unchanged\n",
               a.mountpoint);
      return r;
    }
  }
  allow_setuid = att_mounted_setuid (a.mountpoint);
  r = att_teardown (&a, true);
  if (r != EXIT_OK)
    return r;
  /* A read-only attachment of a version or snapshot stays on it. */
  snprintf (mp, sizeof mp, "%s", a.mountpoint);
  r = cli_attach (&a, mp, allow_setuid);
  if (r == EXIT_OK)
    printf ("reloaded %s at %s\n", a.volume, mp);
  return r;
}

const struct cli_verb verb_attach = { "attach", "mount a volume", attach };
const struct cli_verb verb_detach = { "detach", "unmount a volume", detach };
const struct cli_verb verb_status = { "status", "list attached volumes",
                                      status };
const struct cli_verb verb_commit = { "commit",
                                      "publish an attached volume's changes",
                                      commit };
const struct cli_verb verb_reload = { "reload",
                                      "move an attachment to the newest "
                                      "version", reload };
