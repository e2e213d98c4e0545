/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the command-line tool.
 *
 * main() picks the verb from a table and hands it argc/argv; each verb
 * lives in its own file and returns an exit code (see cli.h).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const struct cli_verb *const verbs[] = {
  &verb_create, &verb_list, &verb_info, &verb_rename, &verb_delete,
  &verb_cp, &verb_versions, &verb_snapshot, &verb_gc, &verb_verify,
  &verb_attach, &verb_detach, &verb_status, &verb_commit, &verb_reload,
  &verb_run, &verb_recover, &verb_serve, &verb_import, &verb_export,
  &verb_ls, &verb_get, &verb_cat, &verb_put, &verb_rm, &verb_mkdir,
  &verb_store_check, &verb_keygen, &verb_cache, &verb_web, &verb_merge,
};

static void
usage (FILE *fp)
{
  size_t i;

  fprintf (fp,
           "usage: s3vol [--store URL] [--key-file FILE] VERB [ARGS...]\n"
           "       s3vol --version | --help\n"
           "\n"
           "Named, versioned volumes on object storage.\n"
           "\n"
           "Verbs:\n");
  for (i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
    fprintf (fp, "  %-14s %s\n", verbs[i]->name, verbs[i]->summary);
  fprintf (fp,
           "\n"
           "The store is --store URL, else $S3VOL_STORE, else a directory\n"
           "under $XDG_DATA_HOME/s3vol (~/.local/share/s3vol).  URLs:\n"
           "file:///DIR or s3://BUCKET[/PREFIX].\n"
           "--key-file FILE (or $S3VOL_KEY_FILE) opens encrypted volumes,\n"
           "and makes new volumes encrypted; it may come anywhere.\n"
           "Run 's3vol VERB --help' for a verb's options.\n");
}

/* --key-file FILE may come anywhere before "--": take it out of argv
 * and pass it on as $S3VOL_KEY_FILE (an absolute path), which the verbs
 * and the nbdkit plugins they start read.  The key itself never goes
 * into an argument or the environment.  Returns argc, or -1.
 */
static int
take_key_file (int argc, char **argv)
{
  char abs[PATH_MAX];
  const char *f = NULL;
  int i, j, n;

  for (i = 1; i < argc && strcmp (argv[i], "--") != 0; i += n) {
    n = 1;
    if (strcmp (argv[i], "--key-file") == 0 && i + 1 < argc)
      f = argv[i + 1], n = 2;
    else if (strncmp (argv[i], "--key-file=", 11) == 0)
      f = argv[i] + 11;
    else
      continue;
    for (j = i; j + n <= argc; j++)
      argv[j] = argv[j + n];
    argc -= n;
    n = 0;
  }
  if (f == NULL)
    return argc;
  if (realpath (f, abs) == NULL) {
    fprintf (stderr, "s3vol: key file %s: %s\n", f, strerror (errno));
    return -1;
  }
  setenv ("S3VOL_KEY_FILE", abs, 1);
  return argc;
}

int
main (int argc, char **argv)
{
  struct cli_global g = { .store_url = NULL };
  int i = 1;
  size_t v;

  argc = take_key_file (argc, argv);
  if (argc < 0)
    return EXIT_USAGE;
  while (i < argc && argv[i][0] == '-') {
    if (strcmp (argv[i], "--version") == 0) {
      printf ("s3vol %s\n", S3VOL_VERSION);
      return EXIT_OK;
    }
    if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0) {
      usage (stdout);
      return EXIT_OK;
    }
    if (strcmp (argv[i], "--store") == 0 && i + 1 < argc) {
      g.store_url = argv[i + 1];
      i += 2;
      continue;
    }
    if (strncmp (argv[i], "--store=", 8) == 0) {
      g.store_url = argv[i] + 8;
      i++;
      continue;
    }
    fprintf (stderr, "s3vol: unknown option %s (see s3vol --help)\n",
             argv[i]);
    return EXIT_USAGE;
  }
  if (i == argc) {
    usage (stderr);
    return EXIT_USAGE;
  }
  for (v = 0; v < sizeof verbs / sizeof verbs[0]; v++)
    if (strcmp (argv[i], verbs[v]->name) == 0)
      return verbs[v]->run (&g, argc - i, argv + i);
  fprintf (stderr, "s3vol: unknown verb \"%s\" (see s3vol --help)\n",
           argv[i]);
  return EXIT_USAGE;
}
