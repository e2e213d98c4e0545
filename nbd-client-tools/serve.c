/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: serve, import, export: a volume for QEMU and other NBD
 * clients, and raw or qcow2 disk images in and out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"
#include "s3vol/defaults.h"
#include "s3vol/import.h"
#include "s3vol/volume.h"

/* argv for nbdkit serving volume (ends before the listening options). */
static int
nbdkit_args (const char *store, const char *volume, const char *cache_dir,
             const struct cli_args *a, const char **argv, char p[][PATH_MAX],
             int *k)
{
  int i = 0;

  argv[(*k)++] = "nbdkit";
  argv[(*k)++] = cli_plugin_path (p[i++]);
  snprintf (p[i], PATH_MAX, "store=%s", store);
  argv[(*k)++] = p[i++];
  snprintf (p[i], PATH_MAX, "volume=%s", volume);
  argv[(*k)++] = p[i++];
  snprintf (p[i], PATH_MAX, "cache-dir=%s", cache_dir);
  argv[(*k)++] = p[i++];
  if (a->version) {
    snprintf (p[i], PATH_MAX, "version=%" PRIu64, a->version);
    argv[(*k)++] = p[i++];
  }
  if (a->snapshot) {
    snprintf (p[i], PATH_MAX, "snapshot=%s", a->snapshot);
    argv[(*k)++] = p[i++];
  }
  if (a->readonly)
    argv[(*k)++] = "readonly=true";
  return EXIT_OK;
}

static int
serve (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol serve NAME [--socket PATH | --port N] [--read-only]\n"
    "         [--version N | --snapshot S] [--cache-dir DIR]\n"
    "Serve a volume over NBD until interrupted (for QEMU: -drive "
    "file=URI,format=raw).\nPrints the URI.  TCP listens on 127.0.0.1 only."
    "  Changes are committed every\n5 seconds and at exit.\n";
  char store[PATH_MAX], cache[PATH_MAX], sock[PATH_MAX], port[16];
  char p[8][PATH_MAX];
  const char *nargv[32];
  struct cli_args a;
  int r, k = 0;

  r = cli_parse (argc, argv, OPT_SOCKET | OPT_PORT | OPT_READONLY |
                 OPT_VERSION | OPT_SNAPSHOT | OPT_CACHE_DIR, 1, 1, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  if (!proc_have ("nbdkit")) {
    fprintf (stderr, "s3vol serve: nbdkit is not installed\n");
    return EXIT_FAIL;
  }
  if (s3vol_store_url (g->store_url, store, sizeof store, &cli_log) < 0 ||
      (a.cache_dir == NULL &&
       s3vol_cache_dir (a.pos[0], a.version || a.snapshot ? "@serve" : "",
                        cache, sizeof cache, &cli_log) < 0))
    return EXIT_FAIL;
  if (a.cache_dir)
    snprintf (cache, sizeof cache, "%s", a.cache_dir);
  a.readonly |= a.version || a.snapshot;
  nbdkit_args (store, a.pos[0], cache, &a, nargv, p, &k);
  nargv[k++] = "-f";
  if (a.port) {
    snprintf (port, sizeof port, "%u", a.port);
    nargv[k++] = "-i";
    nargv[k++] = "127.0.0.1";
    nargv[k++] = "-p";
    nargv[k++] = port;
    printf ("nbd://127.0.0.1:%u\n", a.port);
  }
  else {
    if (a.socket)
      snprintf (sock, sizeof sock, "%s", a.socket);
    else
      snprintf (sock, sizeof sock, "%s.sock", cache);
    nargv[k++] = "-U";
    nargv[k++] = sock;
    printf ("nbd+unix:///?socket=%s\n", sock);
  }
  nargv[k] = NULL;
  fflush (stdout);
  execvp ("nbdkit", (char *const *) nargv);
  fprintf (stderr, "s3vol serve: cannot run nbdkit: %s\n", strerror (errno));
  return EXIT_FAIL;
}

static int
import (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol import NAME IMAGE [--create-if-missing] [-m MESSAGE]\n"
    "Replace the volume's contents with a disk image (raw, or anything "
    "qemu-img\nreads), as one new version.  Only the image's data is "
    "uploaded.\n";
  char tmp[PATH_MAX], fmt[256] = "raw", err[1024];
  const char *info[] = { "qemu-img", "info", "--output=human", NULL, NULL };
  struct import_progress ip;
  struct cli_progress pr;
  struct objstore *os;
  struct volstore *vs;
  struct volume *v = NULL;
  struct cli_args a;
  const char *image;
  uint64_t seq;
  int r, fd = -1;

  r = cli_parse (argc, argv, OPT_CREATE | OPT_MESSAGE | OPT_SIZE, 2, 2, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  image = a.pos[1];
  tmp[0] = '\0';
  if (proc_have ("qemu-img")) {
    info[3] = image;
    if (proc_run (info, fmt, sizeof fmt, err, sizeof err) == 0) {
      char *f = strstr (fmt, "file format: ");
      snprintf (fmt, sizeof fmt, "%s", f ? f + 13 : "raw");
      fmt[strcspn (fmt, "\n")] = '\0';
    }
  }
  if (strcmp (fmt, "raw") != 0) {
    /* Convert to a sparse raw file first; the import reads its data. */
    const char *conv[] = { "qemu-img", "convert", "-O", "raw", image, tmp,
                           NULL };
    snprintf (tmp, sizeof tmp, "%s/s3vol-import-%d.raw",
              getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp", (int) getpid ());
    if (proc_run (conv, NULL, 0, err, sizeof err) != 0) {
      fprintf (stderr, "s3vol import: qemu-img convert failed: %s", err);
      unlink (tmp);
      return EXIT_FAIL;
    }
    image = tmp;
  }
  fd = open (image, O_RDONLY | O_CLOEXEC);
  if (fd == -1) {
    fprintf (stderr, "s3vol import: %s: %s\n", image, strerror (errno));
    r = EXIT_USAGE;
    goto out;
  }
  r = cli_open_volstore (g, &os, &vs);
  if (r != EXIT_OK)
    goto out;
  if (a.create && volstore_exists (vs, a.pos[0]) == 0) {
    off_t size = lseek (fd, 0, SEEK_END);
    r = cli_exit_code (volstore_create (vs, a.pos[0],
                                        a.size ? a.size : (uint64_t) size,
                                        0, NULL));
  }
  if (r == EXIT_OK)
    r = cli_exit_code (volume_open (vs, a.pos[0], NULL, &v));
  if (r == EXIT_OK) {
    cli_progress_init (&pr, "importing");
    ip.fn = cli_progress_cb;
    ip.opaque = &pr;
    r = cli_exit_code (volume_import_fd (v, vs, fd, 8,
                                         a.message ? a.message : "import",
                                         &ip, &seq));
    cli_progress_done (&pr);
    if (r == EXIT_OK)
      printf ("imported %s into %s version %" PRIu64 "\n", a.pos[1],
              a.pos[0], seq);
  }
  volume_close (v);
  cli_close_volstore (os, vs);
 out:
  if (fd >= 0)
    close (fd);
  if (tmp[0])
    unlink (tmp);
  return r;
}

static int
export (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol export NAME IMAGE [--version N | --snapshot S]\n"
    "Write a volume version to a disk image: qcow2 if IMAGE ends in "
    ".qcow2\n(needs qemu-img), else a sparse raw file (nbdcopy).\n";
  char store[PATH_MAX], cache[PATH_MAX], p[8][PATH_MAX], run[PATH_MAX * 2];
  const char *nargv[32];
  struct cli_args a;
  size_t len;
  int r, k = 0;

  r = cli_parse (argc, argv, OPT_VERSION | OPT_SNAPSHOT, 2, 2, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  if (!proc_have ("nbdkit") || !proc_have ("nbdcopy")) {
    fprintf (stderr, "s3vol export: needs nbdkit and nbdcopy (run "
             "scripts/install-deps)\n");
    return EXIT_FAIL;
  }
  if (s3vol_store_url (g->store_url, store, sizeof store, &cli_log) < 0)
    return EXIT_STORE;
  snprintf (cache, sizeof cache, "%s/s3vol-export-%d",
            getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp", (int) getpid ());
  a.readonly = true;
  nbdkit_args (store, a.pos[0], cache, &a, nargv, p, &k);
  len = strlen (a.pos[1]);
  if (len > 6 && strcmp (a.pos[1] + len - 6, ".qcow2") == 0)
    snprintf (run, sizeof run, "qemu-img convert -O qcow2 \"$uri\" '%s'",
              a.pos[1]);
    else
    snprintf (run, sizeof run, "nbdcopy %s \"$uri\" '%s'",
              isatty (STDERR_FILENO) ? "--progress" : "", a.pos[1]);
  nargv[k++] = "-U";
  nargv[k++] = "-";
  nargv[k++] = "--run";
  nargv[k++] = run;
  nargv[k] = NULL;
  r = proc_run (nargv, NULL, 0, NULL, 0);
  {
    const char *rm[] = { "rm", "-rf", cache, NULL };
    proc_run (rm, NULL, 0, NULL, 0);
  }
  if (r != 0) {
    fprintf (stderr, "s3vol export: copying %s to %s failed\n", a.pos[0],
             a.pos[1]);
    return EXIT_FAIL;
  }
  printf ("exported %s to %s\n", a.pos[0], a.pos[1]);
  return EXIT_OK;
}

const struct cli_verb verb_serve = { "serve", "serve a volume over NBD",
                                     serve };
const struct cli_verb verb_import = { "import", "copy a disk image in",
                                      import };
const struct cli_verb verb_export = { "export", "copy a volume out to an "
                                      "image", export };
