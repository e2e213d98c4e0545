/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: where things go when the user does not say. */
#ifndef S3VOL_DEFAULTS_H
#define S3VOL_DEFAULTS_H

#include <stddef.h>

#include "s3vol/log.h"

/* The store URL: url if given (non-NULL, non-empty), else $S3VOL_STORE,
 * else file://$XDG_DATA_HOME/s3vol/store (or ~/.local/share/...), whose
 * directory is created on first use.  Returns 0 or a negative errno
 * (logged).
 */
int s3vol_store_url (const char *url, char *out, size_t n,
                     const struct s3vol_log *log);

/* A cache directory for a volume: $XDG_CACHE_HOME/s3vol/NAME (or
 * ~/.cache/s3vol/NAME), with suffix appended (e.g. "@v3" for a read-only
 * old version).  The parent is created; the directory itself is not.
 */
int s3vol_cache_dir (const char *name, const char *suffix, char *out,
                     size_t n, const struct s3vol_log *log);

#endif
