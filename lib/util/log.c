/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: logging through a caller-supplied callback. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "s3vol/log.h"

void
s3vol_vlogf (const struct s3vol_log *log, enum s3vol_log_level level,
             const char *fmt, va_list ap)
{
  int saved_errno = errno;
  char msg[2048];

  if (log != NULL && log->fn != NULL) {
    vsnprintf (msg, sizeof msg, fmt, ap);
    log->fn (log->opaque, level, msg);
  }
  errno = saved_errno;
}

void
s3vol_logf (const struct s3vol_log *log, enum s3vol_log_level level,
            const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  s3vol_vlogf (log, level, fmt, ap);
  va_end (ap);
}

void
s3vol_log_stderr (void *opaque, enum s3vol_log_level level, const char *msg)
{
  enum s3vol_log_level threshold = (enum s3vol_log_level) (intptr_t) opaque;
  static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };

  if (level <= threshold)
    fprintf (stderr, "s3vol: %s%s\n", tag[level], msg);
}
