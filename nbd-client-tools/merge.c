/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: merge (internal): three-way merge of a local version onto
 * a volume's head by file (libs3vol's merge.h), published as one new
 * version.  The committer of a read-write attachment will run it (in a
 * child process, not in nbdkit); tests and operators can run it by hand.
 *
 *   s3vol merge NAME --base [VOL:]SEQ --local [VOL:]SEQ [-m MESSAGE]
 *
 * Prints one line per path where the local change replaced another
 * writer's (and per directory kept for another writer's entries), then
 * the version published.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "s3vol/merge.h"
#include "s3vol/volume.h"

static const char usage[] =
  "usage: s3vol merge NAME --base [VOL:]SEQ --local [VOL:]SEQ "
  "[-m MESSAGE]\n"
  "Merge, file by file, what version --local changed since version --base\n"
  "onto the newest version of volume NAME, and publish the result as one\n"
  "new version (VOL: another volume of the store, such as a fork; default\n"
  "NAME).  Where both changed a path the local change wins; each such path\n"
  "is printed.  Exit codes: 3 no such volume or version, 4 other writers\n"
  "kept publishing first.\n";

/* "[VOL:]SEQ" into *vol (NULL: the target) and ref->seq. */
static int
parse_ref (const char *opt, char *arg, const char **vol, struct vol_ref *ref)
{
  char *colon = strrchr (arg, ':'), *num = colon ? colon + 1 : arg, *end;

  if (colon) {
    *colon = '\0';
    *vol = arg;
  }
  errno = 0;
  ref->seq = strtoull (num, &end, 10);
  if (errno || *num == '\0' || *end != '\0' || ref->seq == 0) {
    fprintf (stderr, "s3vol merge: %s wants a version number (or "
             "VOLUME:NUMBER), not \"%s\"\n", opt, num);
    return EXIT_USAGE;
  }
  return EXIT_OK;
}

static void
tell (void *opaque, enum merge_event ev, const char *path, uint64_t seq)
{
  char esc[CLI_ESC_SIZE (256)];

  (void) opaque;
  path = cli_esc (esc, sizeof esc, path, 0);
  switch (ev) {
  case MERGE_EV_OVERWROTE:
    printf ("overwrote %s (changed in version %" PRIu64 "; the local "
            "change wins)\n", path, seq);
    break;
  case MERGE_EV_KEPT:
    printf ("kept %s (deleted locally; version %" PRIu64 " added entries "
            "to it)\n", path, seq);
    break;
  case MERGE_EV_LOST:
    printf ("not merged %s (version %" PRIu64 " removed where it "
            "lived)\n", path, seq);
    break;
  case MERGE_EV_RETRY:
    fprintf (stderr, "s3vol merge: the head moved to version %" PRIu64
             ": merging again\n", seq);
    break;
  }
}

static int
parse (int argc, char **argv, struct merge_config *cfg, bool *help)
{
  static const struct option opts[] = {
    { "help", no_argument, NULL, 'h' },
    { "base", required_argument, NULL, 'b' },
    { "local", required_argument, NULL, 'l' },
    { "message", required_argument, NULL, 'm' },
    { NULL, 0, NULL, 0 },
  };
  int c, r = EXIT_OK;

  optind = 1;
  while (r == EXIT_OK && (c = getopt_long (argc, argv, "hm:", opts,
                                           NULL)) != -1) {
    if (c == 'h')
      *help = true;
    else if (c == 'b')
      r = parse_ref ("--base", optarg, &cfg->base_volume, &cfg->base);
    else if (c == 'l')
      r = parse_ref ("--local", optarg, &cfg->local_volume, &cfg->local);
    else if (c == 'm')
      cfg->message = optarg;
    else
      r = EXIT_USAGE;
  }
  if (r != EXIT_OK || *help)
    return r;
  if (optind + 1 != argc || cfg->base.seq == 0 || cfg->local.seq == 0) {
    fprintf (stderr, "s3vol merge: give NAME, --base and --local (see "
             "s3vol merge --help)\n");
    return EXIT_USAGE;
  }
  cfg->volume = argv[optind];
  return EXIT_OK;
}

static int
merge (const struct cli_global *g, int argc, char **argv)
{
  struct merge_config cfg = { .log = &cli_log, .notify = { tell, NULL } };
  struct merge_result res;
  struct objstore *os;
  struct volstore *vs;
  char h[16];
  bool help = false;
  int r;

  r = parse (argc, argv, &cfg, &help);
  if (r != EXIT_OK || help)
    return help ? cli_usage (usage, true) : r;
  if (cfg.message == NULL)
    cfg.message = "merge";
  r = cli_open_volstore (g, &os, &vs);
  if (r != EXIT_OK)
    return r;
  r = merge_run (vs, &cfg, &res);
  cli_close_volstore (os, vs);
  if (r < 0)
    return cli_exit_code (r);
  if (!res.changed)
    printf ("%s: nothing to merge (version %" PRIu64 ")\n", cfg.volume,
            res.seq);
  else
    printf ("%s: version %" PRIu64 " (merged %" PRIu64 " changed inodes, "
            "%" PRIu64 " directories; %s of file data copied; %" PRIu64
            " conflicts)\n", cfg.volume, res.seq, res.inodes_changed,
            res.dirs_diffed, cli_human (res.bytes_copied, h),
            res.conflicts);
  return EXIT_OK;
}

const struct cli_verb verb_merge = {
  "merge", "merge a local version onto the head by file (internal)", merge,
};
