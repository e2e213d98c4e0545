/* s3vol CLI: shared declarations of the verbs. */
#ifndef S3VOL_CLI_H
#define S3VOL_CLI_H

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
};

struct cli_global {
  const char *store_url;        /* --store, or NULL */
};

struct cli_verb {
  const char *name;
  const char *summary;
  int (*run) (const struct cli_global *g, int argc, char **argv);
};

extern const struct cli_verb verb_store_check;

/* The log that prints errors and warnings to stderr. */
extern const struct s3vol_log cli_log;

/* Resolve the store URL (--store, $S3VOL_STORE, default directory,
 * created on first use) and open it.  Prints one line and returns an
 * exit code on failure.
 */
int cli_open_store (const struct cli_global *g, struct objstore **out);

/* Map a negative errno from libs3vol to an exit code. */
int cli_exit_code (int err);

#endif /* S3VOL_CLI_H */
