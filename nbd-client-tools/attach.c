/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: attach, status, commit, reload (detach and recover:
 * detach.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

int
cli_need_root (const char *verb)
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
              struct attachment *a, uint64_t *head)
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
  if (r == EXIT_OK)
    r = cli_check_key (vs, a->volume, &info);
  cli_close_volstore (os, vs);
  *head = r == EXIT_OK ? info.head : 0;
  return r;
}

/* Open name (relative to dfd) as a directory, not a link, of this
 * user's own (or root's) that no one else may write to, creating it
 * (mode 0700) if create: an fd, or -1 with errno set (EPERM: someone
 * else's, ELOOP: a link).
 */
static int
own_dir_at (int dfd, const char *name, bool create)
{
  struct stat st;
  int fd;

  if (create && mkdirat (dfd, name, 0700) == -1 && errno != EEXIST)
    return -1;
  fd = openat (dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd == -1)
    return -1;
  if (fstat (fd, &st) == -1 ||
      (st.st_uid != geteuid () && st.st_uid != 0) ||
      (st.st_mode & (S_IWGRP | S_IWOTH))) {
    close (fd);
    errno = EPERM;
    return -1;
  }
  return fd;
}

/* a's cache directory of its own, $XDG_CACHE_HOME/s3vol/NAME/ID: the
 * directories above it checked (not links, this user's), NAME made.
 */
static int
own_cache_dir (struct attachment *a)
{
  char dir[PATH_MAX], *slash;
  int pfd = -1, fd = -1;

  if (s3vol_cache_dir (a->volume, NULL, dir, sizeof dir, &cli_log) < 0)
    return EXIT_FAIL;
  slash = strrchr (dir, '/');
  if (slash && slash != dir) {
    *slash = '\0';
    pfd = own_dir_at (AT_FDCWD, dir, false);
    *slash = '/';
  }
  if (pfd >= 0)
    fd = own_dir_at (pfd, slash + 1, true);
  if (fd == -1) {
    fprintf (stderr, "s3vol: cache directory %s: %s (a symbolic link, "
             "or not this user's own?); not using it\n", dir,
             strerror (errno));
    if (pfd >= 0)
      close (pfd);
    return EXIT_FAIL;
  }
  close (fd);
  close (pfd);
  if ((size_t) snprintf (a->cache_dir, sizeof a->cache_dir, "%s/%s", dir,
                         att_id (a)) >= sizeof a->cache_dir) {
    fprintf (stderr, "s3vol: cache directory %s: path too long\n", dir);
    return EXIT_FAIL;
  }
  a->cache_owned = true;
  return EXIT_OK;
}

int
cli_attach (struct attachment *a, const char *mountpoint,
            bool allow_setuid)
{
  bool made_cache = false;
  int r;

  snprintf (a->mountpoint, sizeof a->mountpoint, "%s", mountpoint);
  if (a->dir[0] == '\0')
    r = att_make_new_dir (a, &cli_log) < 0 ? EXIT_FAIL : EXIT_OK;
  else
    r = EXIT_OK;                /* reload: its directory, kept */
  if (r == EXIT_OK && a->cache_dir[0] == '\0') {
    r = own_cache_dir (a);
    made_cache = r == EXIT_OK;
  }
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
    att_teardown (a, 0);
    if (made_cache)
      cli_drop_cache (a);       /* new, and nothing was written */
  }
  return r;
}

/* A cache directory given to attach that holds changes made on top of
 * a version older than the volume's newest: say so, once.
 */
static void
warn_stale (const struct attachment *a, uint64_t head)
{
  char human[32], vol[CLI_ESC_SIZE (sizeof a->volume)];
  uint64_t base, dirty;

  if (a->readonly || !att_status_u64 (a, "base_version", &base) ||
      !att_status_u64 (a, "dirty_bytes", &dirty) || dirty == 0 ||
      base >= head)
    return;
  cli_esc (vol, sizeof vol, a->volume, 0);
  fprintf (stderr, "s3vol: warning: %s holds %s of changes to %s based "
           "on version %" PRIu64 ", but %s is at version %" PRIu64
           " now: committing them will conflict; mounted as they are at "
           "%s: copy what you need, then s3vol detach --discard %s\n",
           a->cache_dir, cli_human (dirty, human), vol, base, vol, head,
           a->mountpoint, a->mountpoint);
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
    "detach.  Needs root.\n--cache-size: the host chunk cache's size "
    "limit (see s3vol cache).\n";
  struct attachment a = { 0 };
  struct cli_args args;
  char real[PATH_MAX];
  uint64_t head;
  int r;

  r = cli_parse (argc, argv, OPT_READONLY | OPT_VERSION | OPT_SNAPSHOT |
                 OPT_CACHE_DIR | OPT_CACHE_SIZE | OPT_CREATE | OPT_SIZE |
                 OPT_INTERVAL | OPT_CHUNK_SIZE | OPT_ALLOW_SETUID, 2, 2,
                 &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = cli_need_root ("attach");
  if (r == EXIT_OK)
    r = check_mountpoint (args.pos[1], real);
  if (r != EXIT_OK)
    return r;
  snprintf (a.volume, sizeof a.volume, "%s", args.pos[0]);
  r = check_volume (g, &args, &a, &head);
  if (r != EXIT_OK)
    return r;
  if (cli_recover_volume (a.store, a.volume) != EXIT_OK)
    fprintf (stderr, "s3vol: warning: attaching %s all the same\n",
             args.pos[0]);
  a.version = args.version;
  snprintf (a.snapshot, sizeof a.snapshot, "%s",
            args.snapshot ? args.snapshot : "");
  a.readonly = args.readonly || args.version || args.snapshot;
  a.cache_size = args.cache_size;
  a.commit_interval = args.interval_set ? args.interval : 5;
  if (args.cache_dir)
    snprintf (a.cache_dir, sizeof a.cache_dir, "%s", args.cache_dir);
  r = cli_attach (&a, real, args.allow_setuid);
  if (r != EXIT_OK)
    return r;
  if (args.cache_dir)
    warn_stale (&a, head);
  printf ("attached %s at %s%s\n", a.volume, real,
          a.readonly ? " (read-only)" : "");
  return EXIT_OK;
}

int
cli_find (const char *verb, const char *path, struct attachment *a)
{
  int r = att_find (path, a, &cli_log);

  if (r == 0)
    return EXIT_OK;
  if (r != -ENOENT)
    return EXIT_FAIL;
  fprintf (stderr, "s3vol %s: nothing is attached at %s\n", verb, path);
  return EXIT_NOTFOUND;
}

/* One attachment as a JSON object on a line. */
static void
show_json (const struct attachment *a, bool alive, bool orphaned,
           const char *reply)
{
  printf ("{\"id\":");
  cli_json_str (att_id (a));
  printf (",\"mountpoint\":");
  cli_json_str (a->mountpoint);
  printf (",\"volume\":");
  cli_json_str (a->volume);
  printf (",\"device\":");
  cli_json_str (a->device);
  printf (",\"owner_pid\":%d,\"orphaned\":%s", (int) a->owner_pid,
          orphaned ? "true" : "false");
  printf (",\"alive\":%s,\"status\":%s}\n", alive ? "true" : "false",
          alive && strncmp (reply, "ok ", 3) == 0 ? reply + 3 : "null");
}

struct shown {
  bool json;
  unsigned n;                   /* attachments listed */
};

/* A field of a plugin's JSON status reply (after "ok "): a number, or
 * a bare word (true, false) or string copied into word (n bytes).
 * false if missing.
 */
static bool
reply_field (const char *reply, const char *key, char *word, size_t n)
{
  char pat[64];
  const char *p;
  size_t len;

  snprintf (pat, sizeof pat, "\"%s\":", key);
  p = strstr (reply, pat);
  if (p == NULL)
    return false;
  p += strlen (pat);
  if (*p == '"')
    p++;
  len = strcspn (p, "\",}");
  if (len == 0 || len >= n)
    return false;
  memcpy (word, p, len);
  word[len] = '\0';
  return true;
}

static uint64_t
reply_u64 (const char *reply, const char *key)
{
  char w[32];

  return reply_field (reply, key, w, sizeof w) ? strtoull (w, NULL, 10) : 0;
}

#define STATUS_HEADER "%-20s %7s %-4s %10s %10s %7s %-12s %s\n"

/* One attachment as a row of the table: what its plugin says, or why
 * it says nothing.
 */
static void
show_row (const struct attachment *a, bool alive, bool orphaned,
          const char *reply)
{
  char mp[CLI_ESC_SIZE (sizeof a->mountpoint)];
  char vol[CLI_ESC_SIZE (sizeof a->volume)];
  char ver[24], dirty[16], cached[16], commits[24], last[64], ro[8];

  cli_esc (mp, sizeof mp, a->mountpoint, 0);
  cli_esc (vol, sizeof vol, a->volume, 0);
  if (orphaned || !alive) {
    printf ("%-20s %7s %-4s %10s %10s %7s %-12s %s: ", vol, "-", "-", "-",
            "-", "-", "-", mp);
    if (orphaned)
      printf ("ORPHANED: its s3vol run (pid %d) is gone; s3vol recover "
              "%s cleans up\n", (int) a->owner_pid, att_id (a));
    else
      printf ("NOT RUNNING (s3vol detach %s cleans up)\n", mp);
    return;
  }
  reply += 3;
  snprintf (ver, sizeof ver, "%" PRIu64, reply_u64 (reply, "base_version"));
  cli_human (reply_u64 (reply, "dirty_bytes"), dirty);
  cli_human (reply_u64 (reply, "cached_bytes"), cached);
  snprintf (commits, sizeof commits, "%" PRIu64,
            reply_u64 (reply, "commits"));
  if (!reply_field (reply, "last_commit_result", last, sizeof last))
    strcpy (last, "-");
  if (reply_u64 (reply, "commit_failures"))
    snprintf (last + strlen (last), sizeof last - strlen (last),
              " (%" PRIu64 " failed)", reply_u64 (reply, "commit_failures"));
  if (!reply_field (reply, "readonly", ro, sizeof ro))
    strcpy (ro, "?");
  printf ("%-20s %7s %-4s %10s %10s %7s %-12s %s\n", vol, ver,
          strcmp (ro, "true") == 0 ? "ro" : "rw", dirty, cached, commits,
          last, mp);
}

static int
show_one (void *opaque, const struct attachment *a)
{
  struct shown *sh = opaque;
  bool orphaned = cli_orphaned (a);
  char reply[1100] = "";
  bool alive = proc_alive (a->nbdkit_pid);

  if (alive && (att_ctl_request (a->ctl, "status", reply, sizeof reply) < 0
                || strncmp (reply, "ok ", 3) != 0))
    alive = false;
  if (sh->json)
    show_json (a, alive, orphaned, reply);
  else {
    if (sh->n == 0)
      printf (STATUS_HEADER, "VOLUME", "VERSION", "MODE", "DIRTY", "CACHED",
              "COMMITS", "LAST COMMIT", "MOUNTPOINT");
    show_row (a, alive, orphaned, reply);
  }
  sh->n++;
  return 0;
}

static int
status (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol status [--json]\n"
    "List attached volumes as a table: the version each is on, read-only "
    "or not,\nchanges not yet committed, what it caches, commits and the "
    "last one's result;\nthen the host's chunk cache (see s3vol cache).  "
    "--json: one JSON object a line\nwith all of the plugin's figures.\n";
  struct cli_args args;
  struct shown sh = { 0 };
  int r;

  (void) g;
  r = cli_parse (argc, argv, OPT_JSON, 0, 0, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  sh.json = args.json;
  r = att_each (show_one, &sh, &cli_log);
  /* The host's chunk cache, shared by them all (the JSON has its figures
   * in each attachment's status, and s3vol cache status --json).
   */
  if (!args.json && sh.n > 0)
    cli_show_chunk_cache ();
  return r < 0 ? EXIT_FAIL : EXIT_OK;
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
  r = cli_find ("commit", args.pos[0], &a);
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
  bool allow_setuid, replayed;
  uint64_t seq, dirty = 0;
  int r;

  (void) g;
  r = cli_parse (argc, argv, 0, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  r = cli_need_root ("reload");
  if (r == EXIT_OK)
    r = cli_find ("reload", args.pos[0], &a);
  if (r != EXIT_OK)
    return r;
  att_busy (a.mountpoint, busy, sizeof busy, &a);
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
  /* A read-only cache of its own holds changes only where the plugin
   * replayed the journal of its version: of no use on another one (and
   * refused there as changes), so it goes.
   */
  replayed = a.readonly && a.cache_owned &&
    att_status_u64 (&a, "dirty_bytes", &dirty) && dirty > 0;
  /* The same attachment (its id, run directory and cache) on the newest
   * version: whoever set it up (an s3vol run) still finds it.
   */
  r = att_teardown (&a, ATT_UNMOUNT | ATT_KEEP_DIR);
  if (r != EXIT_OK)
    return r;
  if (replayed)
    proc_run ((const char *[]) { "rm", "-rf", "--one-file-system",
                                 a.cache_dir, NULL }, NULL, 0, NULL, 0);
  /* A read-only attachment of a version or snapshot stays on it. */
  snprintf (mp, sizeof mp, "%s", a.mountpoint);
  r = cli_attach (&a, mp, allow_setuid);
  if (r == EXIT_OK)
    printf ("reloaded %s at %s\n", a.volume, mp);
  return r;
}

const struct cli_verb verb_attach = { "attach", "mount a volume", attach };
const struct cli_verb verb_status = { "status", "list attached volumes",
                                      status };
const struct cli_verb verb_commit = { "commit",
                                      "publish an attached volume's changes",
                                      commit };
const struct cli_verb verb_reload = { "reload",
                                      "move an attachment to the newest "
                                      "version", reload };
