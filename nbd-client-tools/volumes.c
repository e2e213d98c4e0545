/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: volume verbs: create, list, info, rename, delete, cp,
 * versions, snapshot, gc, verify.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "s3vol/volume.h"

/* Parse, answer --help, open the store, run fn, close. */
static int
on_store (const struct cli_global *g, int argc, char **argv,
          unsigned allowed, int minpos, int maxpos, const char *usage,
          int (*fn) (struct volstore *vs, const struct cli_args *a))
{
  struct cli_args a;
  struct objstore *os;
  struct volstore *vs;
  int r;

  r = cli_parse (argc, argv, allowed, minpos, maxpos, &a);
  if (r != EXIT_OK)
    return r;
  if (a.help)
    return cli_usage (usage, true);
  r = cli_open_volstore (g, &os, &vs);
  if (r != EXIT_OK)
    return r;
  r = fn (vs, &a);
  cli_close_volstore (os, vs);
  return r;
}

/* The exit code of a verb that makes a name (create, rename, cp,
 * snapshot create): a taken name is 8 (exists), as for the file verbs.
 */
static int
naming_exit (int err)
{
  return err == -EEXIST ? EXIT_EXISTS : cli_exit_code (err);
}

static void
print_info (const struct vol_info *i, bool json)
{
  char h1[16], h2[16], h3[16], h4[16], t[32];
  char name[CLI_ESC_SIZE (S3VOL_NAME_MAX)];

  if (json) {
    printf ("{\"name\":");
    cli_json_str (i->name);
    printf (",\"size\":%" PRIu64 ",\"chunk_size\":%" PRIu32
            ",\"head\":%" PRIu64 ",\"versions\":%" PRIu64
            ",\"snapshots\":%" PRIu64 ",\"chunks\":%" PRIu64
            ",\"bytes_referenced\":%" PRIu64 ",\"bytes_stored\":%" PRIu64
            ",\"last_commit_ns\":%" PRId64 ",\"encrypted\":%s}",
            i->size, i->chunk_size, i->head, i->versions, i->snapshots,
            i->chunks, i->bytes_referenced, i->bytes_stored,
            i->last_commit_ns, i->encrypted ? "true" : "false");
    return;
  }
  printf ("name:         %s\n"
          "size:         %s\n"
          "chunk size:   %s\n"
          "head version: %" PRIu64 "\n"
          "versions:     %" PRIu64 " kept\n"
          "snapshots:    %" PRIu64 "\n"
          "used:         %s in %" PRIu64 " chunks (%s stored)\n"
          "last commit:  %s\n"
          "encrypted:    %s\n",
          cli_esc (name, sizeof name, i->name, 0), cli_human (i->size, h1),
          cli_human (i->chunk_size, h2),
          i->head, i->versions, i->snapshots,
          cli_human (i->bytes_referenced, h3), i->chunks,
          cli_human (i->bytes_stored, h4), cli_time (i->last_commit_ns, t),
          i->encrypted ? "yes" : "no");
}

static int
do_create (struct volstore *vs, const struct cli_args *a)
{
  struct vol_info info;
  int r;

  if (a->encrypt && getenv ("S3VOL_KEY_FILE") == NULL) {
    fprintf (stderr, "s3vol create: --encrypt needs a key: give --key-file "
             "FILE (make one with: s3vol keygen FILE)\n");
    return EXIT_USAGE;
  }
  r = (a->encrypt ? volstore_create_encrypted : volstore_create)
    (vs, a->pos[0], a->size ? a->size : 1ull << 40, a->chunk_size, &info);
  if (r < 0)
    return naming_exit (r);
  if (!a->no_format) {
    r = cli_format (vs, a->pos[0]);
    if (r != EXIT_OK) {
      /* Leave nothing half made: the name goes, gc takes the rest. */
      volstore_delete (vs, a->pos[0]);
      return r;
    }
    volstore_info (vs, a->pos[0], &info);
  }
  if (a->json) {
    print_info (&info, true);
    putchar ('\n');
  }
  else {
    char h1[16], h2[16], name[CLI_ESC_SIZE (S3VOL_NAME_MAX)];
    printf ("created %svolume %s (%s, %s chunks)\n",
            info.encrypted ? "encrypted " : "",
            cli_esc (name, sizeof name, info.name, 0),
            cli_human (info.size, h1), cli_human (info.chunk_size, h2));
  }
  return EXIT_OK;
}

static int
create (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv,
                   OPT_SIZE | OPT_CHUNK_SIZE | OPT_JSON | OPT_NO_FORMAT |
                   OPT_ENCRYPT,
                   1, 1,
                   "usage: s3vol create NAME [--size SIZE] "
                   "[--chunk-size SIZE] [--no-format] [--json]\n"
                   "                    [--encrypt --key-file FILE]\n"
                   "Create a volume holding an empty ext4 filesystem "
                   "(default size 1T, thin:\nonly written chunks are "
                   "stored; default chunk size 1M, a power of two from\n"
                   "64K to 64M).  --no-format leaves it all zeros (for a "
                   "VM disk).\n--encrypt encrypts it under the key in FILE "
                   "(with a key given, every new\nvolume is encrypted; "
                   "--encrypt makes sure).\n", do_create);
}

struct list_out {
  bool json;
  int n;
};

static int
list_one (void *opaque, const struct vol_info *i)
{
  struct list_out *lo = opaque;
  char h1[16], h2[16], t[32], name[CLI_ESC_SIZE (S3VOL_NAME_MAX)];

  if (lo->json) {
    printf ("%s", lo->n ? "," : "");
    print_info (i, true);
  }
  else {
    if (lo->n == 0)
      printf ("%-24s %10s %10s %8s  %s\n", "NAME", "SIZE", "USED",
              "VERSION", "LAST COMMIT");
    printf ("%-24s %10s %10s %8" PRIu64 "  %s\n",
            cli_esc (name, sizeof name, i->name, 0),
            cli_human (i->size, h1), cli_human (i->bytes_referenced, h2),
            i->head, cli_time (i->last_commit_ns, t));
  }
  lo->n++;
  return 0;
}

static int
do_list (struct volstore *vs, const struct cli_args *a)
{
  struct list_out lo = { .json = a->json };
  int r;

  if (a->json)
    putchar ('[');
  r = volstore_list (vs, list_one, &lo);
  if (a->json)
    printf ("]\n");
  return cli_exit_code (r);
}

static int
list (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_JSON, 0, 0,
                   "usage: s3vol list [--json]\n"
                   "List the volumes of the store.\n", do_list);
}

static int
do_info (struct volstore *vs, const struct cli_args *a)
{
  struct vol_info info;
  int r;

  r = volstore_info (vs, a->pos[0], &info);
  if (r < 0)
    return cli_exit_code (r);
  print_info (&info, a->json);
  if (a->json)
    putchar ('\n');
  return EXIT_OK;
}

static int
info (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_JSON, 1, 1,
                   "usage: s3vol info NAME [--json]\n"
                   "Show a volume's size, versions, snapshots and use.\n",
                   do_info);
}

/* What a verb did, on stdout: "VERB-ED volume NAME...", names escaped. */
static void
say_done (const char *what, const char *volume, const char *more,
          const char *other)
{
  char e1[CLI_ESC_SIZE (S3VOL_NAME_MAX)], e2[CLI_ESC_SIZE (S3VOL_NAME_MAX)];

  printf ("%s volume %s%s%s\n", what, cli_esc (e1, sizeof e1, volume, 0),
          more, other ? cli_esc (e2, sizeof e2, other, 0) : "");
}

static int
do_rename (struct volstore *vs, const struct cli_args *a)
{
  int r = volstore_rename (vs, a->pos[0], a->pos[1]);

  if (r < 0)
    return naming_exit (r);
  say_done ("renamed", a->pos[0], " to ", a->pos[1]);
  return EXIT_OK;
}

static int
rename_ (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, 0, 2, 2,
                   "usage: s3vol rename OLD NEW\n"
                   "Rename a volume.\n", do_rename);
}

static int
do_delete (struct volstore *vs, const struct cli_args *a)
{
  char answer[16] = "";
  int r;

  if (!a->yes) {
    if (!isatty (STDIN_FILENO)) {
      fprintf (stderr, "s3vol delete: refusing to delete volume %s "
               "without --yes\n", a->pos[0]);
      return EXIT_USAGE;
    }
    fprintf (stderr, "delete volume %s and all its versions? [y/N] ",
             a->pos[0]);
    if (fgets (answer, sizeof answer, stdin) == NULL ||
        (answer[0] != 'y' && answer[0] != 'Y')) {
      fprintf (stderr, "s3vol delete: not deleted\n");
      return EXIT_FAIL;
    }
  }
  r = volstore_delete (vs, a->pos[0]);
  if (r < 0)
    return cli_exit_code (r);
  say_done ("deleted", a->pos[0], " (its data goes at the next s3vol gc)",
            NULL);
  return EXIT_OK;
}

static int
delete (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_YES, 1, 1,
                   "usage: s3vol delete NAME [--yes]\n"
                   "Delete a volume: the name is free at once; its data "
                   "goes at the next gc.\n", do_delete);
}

static int
do_cp (struct volstore *vs, const struct cli_args *a)
{
  struct vol_ref ref = { .seq = a->version, .snapshot = a->snapshot };
  struct vol_info info;
  int r;

  r = volstore_fork (vs, a->pos[0], &ref, a->pos[1], &info);
  if (r < 0)
    return naming_exit (r);
  if (a->json) {
    print_info (&info, true);
    putchar ('\n');
  }
  else
    printf ("created volume %s from %s\n", a->pos[1], a->pos[0]);
  return EXIT_OK;
}

static int
cp (const struct cli_global *g, int argc, char **argv)
{
  struct cli_args a;
  int r;

  /* Three arguments: a copy inside a volume (files.c). */
  r = cli_parse (argc, argv, OPT_VERSION | OPT_SNAPSHOT | OPT_JSON |
                 OPT_RECURSIVE | OPT_FORCE | OPT_MESSAGE, 0, INT_MAX, &a);
  if (r != EXIT_OK)
    return r;
  if (!a.help && a.npos == 3)
    return cli_files_cp (g, argc, argv);
  return on_store (g, argc, argv, OPT_VERSION | OPT_SNAPSHOT | OPT_JSON,
                   2, 2,
                   "usage: s3vol cp SRC DST [--version N | --snapshot S] "
                   "[--json]\n"
                   "       s3vol cp NAME SRC DST [-r] [--force] "
                   "[-m MESSAGE]\n"
                   "Two arguments: fork a volume: DST starts as SRC's newest "
                   "version (or the\none given), sharing its data; nothing "
                   "is copied.\n"
                   "Three: copy SRC to DST inside volume NAME's filesystem "
                   "(into DST if it is\na directory; -r for directories), "
                   "published as one version.\n", do_cp);
}

static int
version_one (void *opaque, const struct vol_version *v)
{
  struct list_out *lo = opaque;
  char h[16], t[32];

  if (lo->json) {
    printf ("%s{\"seq\":%" PRIu64 ",\"parent\":%" PRIu64
            ",\"time_ns\":%" PRId64 ",\"host\":", lo->n ? "," : "",
            v->seq, v->parent, v->time_ns);
    cli_json_str (v->host);
    printf (",\"pid\":%" PRIu32 ",\"forced\":%s,\"overwrote\":%" PRIu64
            ",\"chunks\":%" PRIu64 ",\"bytes_stored\":%" PRIu64
            ",\"message\":", v->pid,
            v->flags & ROOT_FLAG_FORCED ? "true" : "false", v->overwrote,
            v->chunks, v->bytes_stored);
    cli_json_str (v->message);
    putchar ('}');
  }
  else {
    if (lo->n == 0)
      printf ("%8s %8s  %-19s %10s  %s\n", "VERSION", "PARENT", "TIME",
              "STORED", "WRITER / MESSAGE");
    /* Host and message are the writer's (anyone who can write the
     * store): escaped.
     */
    printf ("%8" PRIu64 " %8" PRIu64 "  %-19s %10s  ", v->seq, v->parent,
            cli_time (v->time_ns, t), cli_human (v->bytes_stored, h));
    cli_put_esc (stdout, v->host, 0);
    printf (":%" PRIu32 "%s%s", v->pid,
            v->flags & ROOT_FLAG_FORCED ? " (forced)" : "",
            v->message[0] ? "  " : "");
    cli_put_esc (stdout, v->message, 0);
    putchar ('\n');
  }
  lo->n++;
  return 0;
}

static int
do_versions (struct volstore *vs, const struct cli_args *a)
{
  struct list_out lo = { .json = a->json };
  int r;

  if (a->json)
    putchar ('[');
  r = volstore_versions (vs, a->pos[0], version_one, &lo);
  if (a->json)
    printf ("]\n");
  return cli_exit_code (r);
}

static int
versions (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_JSON, 1, 1,
                   "usage: s3vol versions NAME [--json]\n"
                   "List the kept versions of a volume, oldest first.\n",
                   do_versions);
}

static int
snapshot_one (void *opaque, const char *name, uint64_t seq)
{
  struct list_out *lo = opaque;

  if (lo->json) {
    printf ("%s{\"name\":", lo->n ? "," : "");
    cli_json_str (name);
    printf (",\"version\":%" PRIu64 "}", seq);
  }
  else {
    cli_put_esc (stdout, name, 0);
    printf ("\t%" PRIu64 "\n", seq);
  }
  lo->n++;
  return 0;
}

/* "created snapshot S of volume V at version N" (no version if 0). */
static void
say_snapshot (const char *what, const char *snap, const char *volume,
              uint64_t seq)
{
  char e1[CLI_ESC_SIZE (S3VOL_NAME_MAX)], e2[CLI_ESC_SIZE (S3VOL_NAME_MAX)];

  printf ("%s snapshot %s of volume %s", what,
          cli_esc (e1, sizeof e1, snap, 0),
          cli_esc (e2, sizeof e2, volume, 0));
  if (seq)
    printf (" at version %" PRIu64, seq);
  putchar ('\n');
}

struct find_snap {
  const char *name;
  uint64_t seq;
};

static int
find_snap (void *opaque, const char *name, uint64_t seq)
{
  struct find_snap *fs = opaque;

  if (strcmp (name, fs->name) == 0)
    fs->seq = seq;
  return 0;
}

/* snapshot create: says which version it names. */
static int
snapshot_create (struct volstore *vs, const struct cli_args *a)
{
  struct find_snap fs = { .name = a->pos[2] };
  int r;

  r = volstore_snapshot_create (vs, a->pos[1], a->pos[2], a->version);
  if (r < 0)
    return naming_exit (r);
  fs.seq = a->version;
  volstore_snapshot_list (vs, a->pos[1], find_snap, &fs);
  say_snapshot ("created", a->pos[2], a->pos[1], fs.seq);
  return EXIT_OK;
}

static int
do_snapshot (struct volstore *vs, const struct cli_args *a)
{
  const char *sub = a->pos[0];
  struct list_out lo = { .json = a->json };
  int r;

  if (strcmp (sub, "create") == 0 && a->npos == 3)
    return snapshot_create (vs, a);
  if (strcmp (sub, "delete") == 0 && a->npos == 3) {
    r = volstore_snapshot_delete (vs, a->pos[1], a->pos[2]);
    if (r < 0)
      return cli_exit_code (r);
    say_snapshot ("deleted", a->pos[2], a->pos[1], 0);
    return EXIT_OK;
  }
  if (strcmp (sub, "list") == 0 && a->npos == 2) {
    if (a->json)
      putchar ('[');
    r = volstore_snapshot_list (vs, a->pos[1], snapshot_one, &lo);
    if (a->json)
      printf ("]\n");
    return cli_exit_code (r);
  }
  fprintf (stderr, "s3vol snapshot: use create VOLUME SNAPSHOT, list "
           "VOLUME or delete VOLUME SNAPSHOT\n");
  return EXIT_USAGE;
}

static int
snapshot (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_VERSION | OPT_JSON, 2, 3,
                   "usage: s3vol snapshot create VOLUME SNAPSHOT "
                   "[--version N]\n"
                   "       s3vol snapshot list VOLUME [--json]\n"
                   "       s3vol snapshot delete VOLUME SNAPSHOT\n"
                   "A snapshot names a version and keeps it (and its data) "
                   "from gc.\n", do_snapshot);
}

static int
do_gc (struct volstore *vs, const struct cli_args *a)
{
  struct gc_opts o = { .dry_run = a->dry_run };
  struct gc_report rep;
  char h1[16], h2[16];
  int r;

  r = volstore_gc (vs, &o, &rep);
  if (r < 0)
    return cli_exit_code (r);
  if (a->json)
    printf ("{\"dry_run\":%s,\"versions_pruned\":%" PRIu64
            ",\"volumes_removed\":%" PRIu64 ",\"objects_deleted\":%" PRIu64
            ",\"bytes_deleted\":%" PRIu64 ",\"objects_kept\":%" PRIu64
            ",\"bytes_kept\":%" PRIu64 "}\n", a->dry_run ? "true" : "false",
            rep.versions_pruned, rep.volumes_removed, rep.objects_deleted,
            rep.bytes_deleted, rep.objects_kept, rep.bytes_kept);
  else
    printf ("%s%" PRIu64 " versions pruned, %" PRIu64 " deleted volumes "
            "removed, %" PRIu64 " objects (%s) deleted, %" PRIu64
            " objects (%s) kept\n", a->dry_run ? "dry run: would have: " : "",
            rep.versions_pruned, rep.volumes_removed, rep.objects_deleted,
            cli_human (rep.bytes_deleted, h1), rep.objects_kept,
            cli_human (rep.bytes_kept, h2));
  return EXIT_OK;
}

static int
gc (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_DRY_RUN | OPT_JSON, 0, 0,
                   "usage: s3vol gc [--dry-run] [--json]\n"
                   "Prune old unnamed versions and delete data no kept "
                   "version uses\n(only data older than the grace period, "
                   "1 hour).\n", do_gc);
}

static void
report_bad (void *opaque, const char *key, const char *problem)
{
  (void) opaque;
  fprintf (stderr, "s3vol verify: ");
  cli_put_esc (stderr, key, 0);
  fputs (": ", stderr);
  cli_put_esc (stderr, problem, 0);
  fputc ('\n', stderr);
}

static int
do_verify (struct volstore *vs, const struct cli_args *a)
{
  struct verify_report rep;
  char h[16];
  int r;

  r = volstore_verify (vs, a->npos ? a->pos[0] : NULL, report_bad, NULL,
                       &rep);
  if (r < 0 && r != -EBADMSG)
    return cli_exit_code (r);
  if (a->json)
    printf ("{\"ok\":%s,\"versions\":%" PRIu64 ",\"pages\":%" PRIu64
            ",\"chunks\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"missing\":%"
            PRIu64 ",\"corrupt\":%" PRIu64 ",\"keyless\":%" PRIu64 "}\n",
            r == 0 ? "true" : "false", rep.versions, rep.pages, rep.chunks,
            rep.bytes, rep.missing, rep.corrupt, rep.keyless);
  else {
    printf ("%s: %" PRIu64 " versions, %" PRIu64 " pages, %" PRIu64
            " chunks (%s) checked; %" PRIu64 " missing, %" PRIu64
            " corrupt\n", r == 0 ? "ok" : "FAILED", rep.versions, rep.pages,
            rep.chunks, cli_human (rep.bytes, h), rep.missing, rep.corrupt);
    if (rep.keyless)
      printf ("%" PRIu64 " objects of encrypted volumes were checked "
              "without the key (structure only): give --key-file to check "
              "their contents\n", rep.keyless);
  }
  return r == 0 ? EXIT_OK : EXIT_FAIL;
}

static int
verify (const struct cli_global *g, int argc, char **argv)
{
  return on_store (g, argc, argv, OPT_JSON, 0, 1,
                   "usage: s3vol verify [NAME] [--json]\n"
                   "Fetch and check every object the kept versions of NAME "
                   "(or of every\nvolume) use; report missing or corrupt "
                   "ones by key.\n", do_verify);
}

const struct cli_verb verb_create = { "create", "create a volume", create };
const struct cli_verb verb_list = { "list", "list volumes", list };
const struct cli_verb verb_info = { "info", "show a volume", info };
const struct cli_verb verb_rename = { "rename", "rename a volume", rename_ };
const struct cli_verb verb_delete = { "delete", "delete a volume", delete };
const struct cli_verb verb_cp = { "cp", "fork a volume (instant), or copy "
                                  "files in one", cp };
const struct cli_verb verb_versions = { "versions", "list versions",
                                        versions };
const struct cli_verb verb_snapshot = { "snapshot",
                                        "create, list, delete snapshots",
                                        snapshot };
const struct cli_verb verb_gc = { "gc", "delete unreferenced data", gc };
const struct cli_verb verb_verify = { "verify", "check stored data",
                                      verify };
