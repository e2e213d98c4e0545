/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: commit an attachment through its plugin's control socket. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s3vol/attach.h"

/* The plugin's error codes (plugin/ctl.c, code_of) as errno values. */
static int
errno_of (const char *text)
{
  static const struct { const char *code; int err; } codes[] = {
    { "conflict", EEXIST }, { "busy", EBUSY }, { "notfound", ENOENT },
    { "readonly", EROFS }, { "store", EIO }, { "invalid", EINVAL },
  };
  size_t i, len = strcspn (text, " ");

  for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (strlen (codes[i].code) == len &&
        strncmp (text, codes[i].code, len) == 0)
      return codes[i].err;
  return EREMOTEIO;
}

/* "ok" or "ok VERSION" into *seq; false for anything else. */
static bool
parse_ok (const char *reply, uint64_t *seq)
{
  const char *p;

  if (strcmp (reply, "ok") == 0)
    return true;
  if (strncmp (reply, "ok ", 3) != 0 || reply[3] == '\0')
    return false;
  for (p = reply + 3; *p; p++) {
    if (*p < '0' || *p > '9' || *seq > (UINT64_MAX - (*p - '0')) / 10)
      return false;
    *seq = *seq * 10 + (*p - '0');
  }
  return true;
}

int
att_commit (const struct attachment *a, const char *message,
            uint64_t *seq, const struct s3vol_log *log)
{
  char req[ATT_CTL_REQUEST_MAX + 1], reply[1024];
  int r;

  *seq = 0;
  if ((size_t) snprintf (req, sizeof req, "commit%s%s", message ? " " : "",
                         message ? message : "") >= sizeof req ||
      strpbrk (req, "\r\n")) {
    s3vol_error (log, "a commit message is one line of at most %d bytes",
                 ATT_CTL_REQUEST_MAX - 7);
    return -EINVAL;
  }
  r = att_ctl_request (a->ctl, req, reply, sizeof reply);
  if (r < 0 && r != -EMSGSIZE) {
    s3vol_error (log, "cannot reach the plugin serving %s (%s): see %s",
                 a->volume, strerror (-r), a->log);
    return -ENOTCONN;
  }
  if (r == 0 && parse_ok (reply, seq))
    return 0;
  *seq = 0;
  r = r == 0 && strncmp (reply, "error ", 6) == 0 ? -errno_of (reply + 6)
    : -EPROTO;
  if (r == -EEXIST)
    s3vol_error (log, "commit of %s conflicts: another writer published "
                 "a newer version; your changes are kept in %s (see %s)",
                 a->volume, a->cache_dir, a->log);
  else
    s3vol_error (log, "commit of %s failed: %s; changes are kept in the "
                 "cache and retried (see %s)", a->volume,
                 r == -EPROTO && reply[0] == '\0' ? "answer too long"
                 : reply + (strncmp (reply, "error ", 6) ? 0 : 6), a->log);
  return r;
}
