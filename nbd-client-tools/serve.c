/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: serve, import, export: a volume for QEMU and other NBD
 * clients, and raw or qcow2 disk images in and out.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* A private directory for temporary files, made by mkdtemp under
 * $TMPDIR (else /tmp), so that no other local user can plant a file or
 * a symbolic link at a name s3vol will use.  Prints and returns -1 on
 * failure.
 */
static int
private_tmpdir (const char *verb, char *dir, size_t n)
{
  const char *t = getenv ("TMPDIR");

  snprintf (dir, n, "%s/s3vol-%s-XXXXXX", t && t[0] ? t : "/tmp", verb);
  if (mkdtemp (dir) == NULL) {
    fprintf (stderr, "s3vol %s: cannot make a temporary directory %s: %s\n",
             verb, dir, strerror (errno));
    return -1;
  }
  return 0;
}

static void
remove_tmpdir (const char *dir)
{
  const char *rm[] = { "rm", "-rf", "--", dir, NULL };

  proc_run (rm, NULL, 0, NULL, 0);
}

static volatile pid_t serve_child;

static void
forward_signal (int sig)
{
  if (serve_child > 0)
    kill (serve_child, sig);
}

/* Serve on the Unix socket sock, which only this user may connect to:
 * nbdkit makes its socket with its own umask (022), so it binds in a
 * fresh private directory next to sock, and the socket is made mode
 * 0600 there before it is moved to sock.  Runs until nbdkit ends (the
 * signals that would end this program are passed on to it).  Exit code.
 */
static int
serve_unix (const char **nargv, int k, const char *sock, bool tls)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
  struct sigaction sa = { .sa_handler = forward_signal };
  char dir[PATH_MAX], bound[PATH_MAX + 16], *slash;
  int status = 0, r = EXIT_FAIL;
  bool moved = false;
  struct stat st;
  size_t i;
  pid_t pid;

  /* Replace a stale socket, but nothing else. */
  if (lstat (sock, &st) == 0 && !S_ISSOCK (st.st_mode)) {
    fprintf (stderr, "s3vol serve: %s exists and is not a socket\n", sock);
    return EXIT_EXISTS;
  }
  snprintf (dir, sizeof dir, "%s", sock);
  slash = strrchr (dir, '/');
  slash = slash ? slash + 1 : dir;
  snprintf (slash, sizeof dir - (slash - dir), ".s3vol-serve-XXXXXX");
  if (mkdtemp (dir) == NULL) {
    fprintf (stderr, "s3vol serve: cannot make a directory next to %s: "
             "%s\n", sock, strerror (errno));
    return EXIT_FAIL;
  }
  snprintf (bound, sizeof bound, "%s/nbd.sock", dir);
  nargv[k++] = "-U";
  nargv[k++] = bound;
  nargv[k] = NULL;
  umask (077);                  /* the cache files only for this user */
  for (i = 0; i < 3; i++)
    sigaction (sigs[i], &sa, NULL);
  pid = fork ();
  if (pid == 0) {
    execvp ("nbdkit", (char *const *) nargv);
    fprintf (stderr, "s3vol serve: cannot run nbdkit: %s\n",
             strerror (errno));
    _exit (EXIT_FAIL);
  }
  serve_child = pid;
  if (pid > 0 && proc_wait_path (bound, 120000, pid)) {
    moved = chmod (bound, 0600) == 0 && rename (bound, sock) == 0;
    if (moved) {
      rmdir (dir);
      printf ("%s:///?socket=%s\n", tls ? "nbds+unix" : "nbd+unix", sock);
      fflush (stdout);
      r = EXIT_OK;
    }
    else
      fprintf (stderr, "s3vol serve: %s: %s\n", sock, strerror (errno));
  }
  if (r != EXIT_OK && pid > 0)
    kill (pid, SIGTERM);
  while (pid > 0 && waitpid (pid, &status, 0) == -1 && errno == EINTR)
    ;
  if (r == EXIT_OK)
    r = WIFEXITED (status) ? WEXITSTATUS (status) : EXIT_OK;
  unlink (bound);
  rmdir (dir);
  if (moved)
    unlink (sock);
  return pid > 0 ? r : EXIT_FAIL;
}

static int
serve (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol serve NAME [--socket PATH | --port N (--tls-psk FILE |"
    " --insecure-tcp)]\n"
    "         [--read-only] [--version N | --snapshot S] [--cache-dir DIR]\n"
    "Serve a volume over NBD until interrupted (for QEMU: -drive "
    "file=URI,format=raw).\nPrints the URI.  The Unix socket is made mode "
    "0600 (only this user connects).\nTCP listens on 127.0.0.1 and needs "
    "TLS with a pre-shared key (--tls-psk, a\npsktool file) unless "
    "--insecure-tcp lets every local user read and write the\nvolume.  "
    "Changes are committed every 5 seconds and at exit.\n";
  char store[PATH_MAX], cache[PATH_MAX], sock[PATH_MAX], port[16];
  char p[8][PATH_MAX], psk[PATH_MAX + 16];
  const char *nargv[32];
  struct cli_args a;
  int r, k = 0;

  r = cli_parse (argc, argv, OPT_SOCKET | OPT_PORT | OPT_READONLY |
                 OPT_VERSION | OPT_SNAPSHOT | OPT_CACHE_DIR | OPT_TLS_PSK |
                 OPT_INSECURE_TCP, 1, 1, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (usage, true) : r;
  /* NBD has no authentication of its own: on TCP any local user could
   * read and write the volume.
   */
  if (a.port && !a.tls_psk && !a.insecure_tcp) {
    fprintf (stderr, "s3vol serve: --port needs --tls-psk FILE (or "
             "--insecure-tcp, which lets any local user use the volume)\n");
    return EXIT_USAGE;
  }
  if (a.socket && a.port) {
    fprintf (stderr, "s3vol serve: give --socket or --port, not both\n");
    return EXIT_USAGE;
  }
  if (a.tls_psk && access (a.tls_psk, R_OK) == -1) {
    fprintf (stderr, "s3vol serve: %s: %s\n", a.tls_psk, strerror (errno));
    return EXIT_USAGE;
  }
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
  if (a.tls_psk) {
    snprintf (psk, sizeof psk, "--tls-psk=%s", a.tls_psk);
    nargv[k++] = "--tls=require";
    nargv[k++] = psk;
  }
  if (a.port) {
    snprintf (port, sizeof port, "%u", a.port);
    nargv[k++] = "-i";
    nargv[k++] = "127.0.0.1";
    nargv[k++] = "-p";
    nargv[k++] = port;
    printf ("%s://127.0.0.1:%u\n", a.tls_psk ? "nbds" : "nbd", a.port);
  }
  else {
    if (a.socket)
      snprintf (sock, sizeof sock, "%s", a.socket);
    else
      snprintf (sock, sizeof sock, "%s.sock", cache);
    return serve_unix (nargv, k, sock, a.tls_psk != NULL);
  }
  nargv[k] = NULL;
  fflush (stdout);
  umask (077);                  /* the cache files only for this user */
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
  char tmp[PATH_MAX + 16], dir[PATH_MAX], fmt[256] = "raw", err[1024];
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
  tmp[0] = dir[0] = '\0';
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
    if (private_tmpdir ("import", dir, sizeof dir) < 0)
      return EXIT_FAIL;
    snprintf (tmp, sizeof tmp, "%s/image.raw", dir);
    if (proc_run (conv, NULL, 0, err, sizeof err) != 0) {
      fprintf (stderr, "s3vol import: qemu-img convert failed: ");
      cli_put_lines (stderr, err);
      remove_tmpdir (dir);
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
  if (dir[0])
    remove_tmpdir (dir);
  return r;
}

static int
export (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol export NAME IMAGE [--version N | --snapshot S]\n"
    "Write a volume version to a disk image: qcow2 if IMAGE ends in "
    ".qcow2\n(needs qemu-img), else a sparse raw file (nbdcopy).\n";
  char store[PATH_MAX], tmp[PATH_MAX], cache[PATH_MAX + 16];
  char sock[PATH_MAX + 16], log[PATH_MAX + 16], uri[PATH_MAX + 64];
  char image[PATH_MAX + 8], p[8][PATH_MAX], err[1024];
  const char *nargv[32];
  const char *qemu[] = { "qemu-img", "convert", "-f", "raw", "-O", "qcow2",
                         uri, image, NULL };
  const char *copy[] = { "nbdcopy", uri, image, NULL };
  struct cli_args a;
  size_t len;
  pid_t pid;
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
  /* IMAGE is only ever an argument, never shell code; "./" keeps a
   * relative name that looks like a URI or protocol a plain file.
   */
  snprintf (image, sizeof image, "%s%s", a.pos[1][0] == '/' ? "" : "./",
            a.pos[1]);
  if (private_tmpdir ("export", tmp, sizeof tmp) < 0)
    return EXIT_FAIL;
  snprintf (cache, sizeof cache, "%s/cache", tmp);
  snprintf (sock, sizeof sock, "%s/nbd.sock", tmp);
  snprintf (log, sizeof log, "%s/nbdkit.log", tmp);
  snprintf (uri, sizeof uri, "nbd+unix:///?socket=%s", sock);
  a.readonly = true;
  nbdkit_args (store, a.pos[0], cache, &a, nargv, p, &k);
  nargv[k++] = "-f";
  nargv[k++] = "-U";
  nargv[k++] = sock;
  nargv[k] = NULL;
  pid = proc_spawn (nargv, log);
  r = EXIT_FAIL;
  if (pid > 0 && proc_wait_path (sock, 120000, pid)) {
    len = strlen (a.pos[1]);
    if (len > 6 && strcmp (a.pos[1] + len - 6, ".qcow2") == 0)
      r = proc_run (qemu, NULL, 0, err, sizeof err);
    else
      r = proc_run (copy, NULL, 0, err, sizeof err);
    if (r != 0)
      cli_put_lines (stderr, err);
  }
  else
    fprintf (stderr, "s3vol export: nbdkit could not serve %s\n",
             a.pos[0]);
  if (pid > 0)
    proc_stop (pid, SIGTERM, 60000);
  remove_tmpdir (tmp);
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
