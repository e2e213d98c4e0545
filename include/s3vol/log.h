/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: logging through a caller-supplied callback.
 *
 * libs3vol never prints.  Every object takes a struct s3vol_log in its
 * configuration and reports through it; the CLI prints to stderr, the
 * plugin forwards to nbdkit_error / nbdkit_debug.
 *
 * Error convention used everywhere in libs3vol: functions return 0 (or a
 * non-negative count) on success and a negative errno value on failure.
 * A failure is logged once, at the place where its cause is known, and
 * then only propagated.  Results a caller routinely expects (-ENOENT for
 * a missing key, -EEXIST for a create-only put that lost) are returned
 * without logging; the caller decides whether they are errors.
 */
#ifndef S3VOL_LOG_H
#define S3VOL_LOG_H

#include <stdarg.h>

enum s3vol_log_level {
  S3VOL_LOG_ERROR = 0,   /* an operation failed; the user should see it */
  S3VOL_LOG_WARNING = 1, /* something degraded but went on */
  S3VOL_LOG_INFO = 2,    /* a state change worth one line */
  S3VOL_LOG_DEBUG = 3,   /* developer detail */
};

struct s3vol_log {
  /* Receives one formatted message, without a trailing newline.  May be
   * called from any thread at once; must not call back into libs3vol.
   * NULL means: discard everything.
   */
  void (*fn) (void *opaque, enum s3vol_log_level level, const char *msg);
  void *opaque;
};

/* Format and deliver a message.  A NULL log or a NULL fn discards it.
 * errno is preserved across the call.
 */
void s3vol_logf (const struct s3vol_log *log, enum s3vol_log_level level,
                 const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));
void s3vol_vlogf (const struct s3vol_log *log, enum s3vol_log_level level,
                  const char *fmt, va_list ap);

#define s3vol_error(log, ...) s3vol_logf ((log), S3VOL_LOG_ERROR, __VA_ARGS__)
#define s3vol_warn(log, ...) s3vol_logf ((log), S3VOL_LOG_WARNING, __VA_ARGS__)
#define s3vol_info(log, ...) s3vol_logf ((log), S3VOL_LOG_INFO, __VA_ARGS__)
#define s3vol_debug(log, ...) s3vol_logf ((log), S3VOL_LOG_DEBUG, __VA_ARGS__)

/* A ready callback that writes "PREFIX: MSG\n" to stderr for levels up
 * to the threshold passed as opaque (cast from intptr_t).
 */
void s3vol_log_stderr (void *opaque, enum s3vol_log_level level,
                       const char *msg);

#endif /* S3VOL_LOG_H */
