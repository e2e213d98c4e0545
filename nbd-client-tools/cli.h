/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: shared declarations of the verbs. */
#ifndef S3VOL_CLI_H
#define S3VOL_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "s3vol/objstore.h"

/* Exit codes (documented in s3vol(1)). */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,        /* anything not listed below */
  EXIT_USAGE = 2,       /* bad command line or argument */
  EXIT_NOTFOUND = 3,    /* no such volume, version, snapshot or file */
  EXIT_CONFLICT = 4,    /* someone else published first */
  EXIT_BUSY = 5,        /* volume or mountpoint in use */
  EXIT_STORE = 6,       /* the store failed or could not be reached */
  EXIT_PERM = 7,        /* needs root (mount, loop devices) */
  EXIT_EXISTS = 8,      /* the destination exists (--force replaces it) */
  EXIT_NOSPACE = 9,     /* the volume is full */
  EXIT_KEY = 10,        /* encrypted volume: key missing, wrong or bad */
};

struct cli_global {
  const char *store_url;        /* --store, or NULL */
};

struct cli_verb {
  const char *name;
  const char *summary;
  int (*run) (const struct cli_global *g, int argc, char **argv);
};

extern const struct cli_verb verb_store_check, verb_keygen, verb_cache,
  verb_merge;
extern const struct cli_verb verb_create, verb_list, verb_info, verb_rename,
  verb_delete, verb_cp, verb_versions, verb_snapshot, verb_gc, verb_verify,
  verb_attach, verb_detach, verb_status, verb_commit, verb_reload,
  verb_run, verb_recover, verb_serve, verb_import, verb_export;
extern const struct cli_verb verb_ls, verb_get, verb_cat, verb_put,
  verb_rm, verb_mkdir, verb_web;
/* The in-volume copy: s3vol cp NAME SRC DST (volumes.c's cp hands the
 * three-argument form over).
 */
int cli_files_cp (const struct cli_global *g, int argc, char **argv);

/* The log that prints errors and warnings to stderr. */
extern const struct s3vol_log cli_log;

/* Resolve the store URL (--store, $S3VOL_STORE, default directory,
 * created on first use) and open it.  Prints one line and returns an
 * exit code on failure.
 */
int cli_open_store (const struct cli_global *g, struct objstore **out);

struct volstore;

/* Open the store and a volume store on it.  On failure prints one line
 * and returns an exit code; on success the caller closes both with
 * cli_close_volstore.
 */
int cli_open_volstore (const struct cli_global *g, struct objstore **os,
                       struct volstore **vs);
/* For an encrypted volume, whether a key given opens it (the error is
 * printed): checked before starting a plugin, whose own failure would
 * only say that it did not start.  Exit code.
 */
struct vol_info;
int cli_check_key (struct volstore *vs, const char *name,
                   const struct vol_info *info);
void cli_close_volstore (struct objstore *os, struct volstore *vs);
/* Hand vs the key in $S3VOL_KEY_FILE (main puts --key-file there), if
 * any (cli_open_volstore does).  Prints one line and returns an exit
 * code on failure.
 */
int cli_give_key (struct volstore *vs);

/* "1.5 GiB" into out (at least 16 bytes). */
char *cli_human (uint64_t bytes, char *out);

/* "2026-11-22 08:01:02" (local time) into out (at least 32 bytes). */
char *cli_time (int64_t ns, char *out);

/* Print a verb's usage: to stdout with exit 0 for --help, else to stderr
 * with EXIT_USAGE.
 */
int cli_usage (const char *usage, bool help);

/* One line about the host's chunk cache (chunkcache.c), for status;
 * nothing if it cannot be opened (the error is logged).
 */
void cli_show_chunk_cache (void);

/* Untrusted text (names, messages, host names, keys from a store; see
 * text.c): control characters, bytes that are not UTF-8 and '\\' are
 * printed as \xNN.  With CLI_ESC_NAME, a directory entry: also '/' and
 * the dots of "." and "..".
 */
#define CLI_ESC_NAME 1u
#define CLI_ESC_ESCAPED 2u      /* s holds \xNN already: keep '\\' */
void cli_put_esc (FILE *fp, const char *s, unsigned flags);
/* The same into buf (size bytes, at most 4 per byte of s are needed;
 * cut with "..." if it does not fit).  Returns buf.
 */
const char *cli_esc (char *buf, size_t size, const char *s,
                     unsigned flags);
#define CLI_ESC_SIZE(n) (4 * (n) + 4)
/* The rule itself: out (opaque, piece, length) gets s split into runs
 * that need no escape and "\\xNN" escapes, in order; it stops when out
 * returns non-zero.  For other outputs (HTML: web_pages.c).
 */
void cli_esc_each (const char *s, unsigned flags,
                   int (*out) (void *opaque, const char *p, size_t n),
                   void *opaque);
/* A program's output (lines, quoting what it read): each line escaped,
 * then a newline.
 */
void cli_put_lines (FILE *fp, const char *s);

/* Print s as a JSON string (with quotes), control characters as \u00XX
 * and bytes that are not UTF-8 as \udcXX.
 */
void cli_json_str (const char *s);

/* Options a verb may take. */
#define OPT_JSON 1u
#define OPT_YES 2u
#define OPT_DRY_RUN 4u
#define OPT_FORCE 8u
#define OPT_SIZE 16u
#define OPT_CHUNK_SIZE 32u
#define OPT_VERSION 64u
#define OPT_SNAPSHOT 128u
#define OPT_MESSAGE 256u
#define OPT_NO_FORMAT 512u
#define OPT_READONLY 1024u
#define OPT_CACHE_DIR 2048u
#define OPT_CACHE_SIZE 4096u
#define OPT_CREATE 8192u
#define OPT_INTERVAL 16384u
#define OPT_EPHEMERAL 32768u
#define OPT_VOLUMES 65536u
#define OPT_SOCKET 131072u
#define OPT_PORT 262144u
#define OPT_RECURSIVE 524288u
#define OPT_LONG 1048576u
#define OPT_PARENTS 2097152u
#define OPT_ALLOW_SETUID 4194304u
#define OPT_TLS_PSK 8388608u
#define OPT_INSECURE_TCP 16777216u
#define OPT_ENCRYPT 33554432u
#define OPT_DISCARD 67108864u
#define OPT_LISTEN 134217728u
#define OPT_TLS_CERT 268435456u   /* --tls-cert FILE and --tls-key FILE */
#define OPT_HUMAN 536870912u    /* -h: sizes as 1.5 MiB (-h is --help for
                                   the verbs without it) */

#define CLI_MAX_VOLUMES 16

struct cli_args {
  bool help, json, yes, dry_run, force, no_format, readonly, create;
  bool ephemeral, interval_set;
  bool recursive, long_, parents;
  bool allow_setuid;            /* mount without nosuid,nodev */
  bool encrypt;                 /* create --encrypt */
  bool insecure_tcp;            /* serve --port without TLS */
  bool discard;                 /* detach --discard */
  bool human;                   /* ls -h */
  uint64_t size, chunk_size, version, cache_size;
  unsigned interval, port;
  const char *snapshot, *message, *cache_dir, *socket;
  const char *tls_psk;          /* serve --tls-psk FILE */
  const char *listen;           /* web --listen ADDR[:PORT] */
  const char *tls_cert, *tls_key;       /* web --tls-cert/--tls-key */
  const char *volumes[CLI_MAX_VOLUMES];   /* -v NAME:PATH[:ro] */
  int nvolumes;
  int npos;                     /* positional arguments */
  char **pos;
};

/* Parse argv (argv[0] is the verb) allowing the OPT_* bits and minpos to
 * maxpos positional arguments.  Returns EXIT_OK (check a->help) or
 * EXIT_USAGE after printing one line.
 */
int cli_parse (int argc, char **argv, unsigned allowed, int minpos,
               int maxpos, struct cli_args *a);

/* Progress of a long operation: shown on stderr when it is a terminal,
 * as bytes, percent and rate; nothing otherwise.
 */
struct cli_progress {
  const char *what;
  bool tty, shown;
  int64_t start, last;
};
void cli_progress_init (struct cli_progress *p, const char *what);
void cli_progress_update (struct cli_progress *p, uint64_t done,
                          uint64_t total);
void cli_progress_done (struct cli_progress *p);
/* An import_progress-style callback; opaque is a struct cli_progress. */
void cli_progress_cb (void *opaque, uint64_t done, uint64_t total);

/* The nbdkit plugin to use: $S3VOL_PLUGIN, else the one next to this
 * program, else "s3vol" from nbdkit's plugin directory.
 */
const char *cli_plugin_path (char buf[4096]);

/* Put an empty ext4 filesystem on volume name (a new version). */
int cli_format (struct volstore *vs, const char *name);

/* Map a negative errno from libs3vol to an exit code. */
int cli_exit_code (int err);

#endif /* S3VOL_CLI_H */
