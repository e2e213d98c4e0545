/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: attachment records in the run directory.
 *
 * A record is "info" in the attachment's directory: KEY=VALUE lines, one
 * per field of struct attachment.  The table below describes each field
 * once, for writing and for reading, so that whatever att_save writes
 * att_load reads back, and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/attach.h"
#include "s3vol/manifest.h"
#include "attach_int.h"

enum kind {
  K_TEXT,               /* any text, not empty */
  K_MOUNT,              /* "" or an absolute path */
  K_NAME,               /* a volume name */
  K_OPTNAME,            /* "" or a snapshot name */
  K_DEVICE,             /* "", /dev/loopN or /dev/nbdN */
  K_U64, K_UINT, K_BOOL, K_PID,         /* numbers from here on */
};

struct field {
  const char *key;
  enum kind kind;
  size_t off, size;
  bool optional;        /* newer than the first records: 0 or "" if absent */
};

#define F(key, member, kind)                                            \
  { key, kind, offsetof (struct attachment, member),                   \
    sizeof ((struct attachment *) 0)->member, false }
#define FOPT(key, member, kind)                                         \
  { key, kind, offsetof (struct attachment, member),                   \
    sizeof ((struct attachment *) 0)->member, true }

/* In the order att_save writes them (as s3vol always has). */
static const struct field fields[] = {
  F ("mountpoint", mountpoint, K_MOUNT),
  F ("volume", volume, K_NAME),
  F ("store", store, K_TEXT),
  F ("cache_dir", cache_dir, K_TEXT),
  F ("snapshot", snapshot, K_OPTNAME),
  F ("version", version, K_U64),
  F ("cache_size", cache_size, K_U64),
  F ("readonly", readonly, K_BOOL),
  F ("commit_interval", commit_interval, K_UINT),
  F ("device", device, K_DEVICE),
  F ("nbdkit_pid", nbdkit_pid, K_PID),
  F ("nbdfuse_pid", nbdfuse_pid, K_PID),
  FOPT ("owner_pid", owner_pid, K_PID),
  FOPT ("owner_start", owner_start, K_U64),
  FOPT ("mntns", mntns, K_U64),
  FOPT ("cache_owned", cache_owned, K_BOOL),
  FOPT ("ephemeral", ephemeral, K_BOOL),
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static bool
is_device (const char *v)
{
  const char *p;
  size_t n;

  if (strncmp (v, "/dev/loop", 9) == 0)
    p = v + 9;
  else if (strncmp (v, "/dev/nbd", 8) == 0)
    p = v + 8;
  else
    return false;
  n = strspn (p, "0123456789");
  return n >= 1 && n <= 6 && p[n] == '\0';
}

/* Why v (len bytes, then a NUL if it fits) cannot be the value of text
 * field f, or NULL if it can.
 */
static const char *
bad_text (const struct field *f, const char *v, size_t len)
{
  size_t i;

  if (len >= f->size)
    return "is too long";
  for (i = 0; i < len; i++)
    if ((unsigned char) v[i] < 0x20 || v[i] == 0x7f)
      return "holds a control character";
  switch (f->kind) {
  case K_TEXT:
    return len ? NULL : "is empty";
  case K_MOUNT:
    return len == 0 || v[0] == '/' ? NULL : "is not an absolute path";
  case K_NAME:
    return s3vol_check_name (v) == 0 ? NULL : "is not a valid name";
  case K_OPTNAME:
    return len == 0 || s3vol_check_name (v) == 0 ? NULL
      : "is not a valid name";
  case K_DEVICE:
    return len == 0 || is_device (v) ? NULL
      : "is not /dev/loopN or /dev/nbdN";
  default:
    return NULL;
  }
}

static uint64_t
max_of (enum kind k)
{
  switch (k) {
  case K_BOOL: return 1;
  case K_UINT: return UINT_MAX;
  case K_PID: return INT_MAX;
  default: return UINT64_MAX;
  }
}

/* Plain decimal up to max: digits only, no sign, space or overflow. */
static bool
parse_num (const char *v, uint64_t max, uint64_t *out)
{
  uint64_t n = 0, d;

  if (*v == '\0')
    return false;
  for (; *v; v++) {
    if (*v < '0' || *v > '9')
      return false;
    d = *v - '0';
    if (d > max || n > (max - d) / 10)
      return false;
    n = n * 10 + d;
  }
  *out = n;
  return true;
}

/* Set field f of a from v (NUL-terminated); NULL or why not. */
static const char *
set_field (struct attachment *a, const struct field *f, const char *v)
{
  char *p = (char *) a + f->off;
  const char *why;
  uint64_t n;

  if (f->kind < K_U64) {
    why = bad_text (f, v, strlen (v));
    if (why == NULL)
      strcpy (p, v);
    return why;
  }
  if (!parse_num (v, max_of (f->kind), &n))
    return "is not a number in range";
  switch (f->kind) {
  case K_U64: *(uint64_t *) p = n; break;
  case K_UINT: *(unsigned *) p = n; break;
  case K_BOOL: *(bool *) p = n; break;
  default: *(pid_t *) p = n; break;
  }
  return NULL;
}

/* Why field f of a cannot be written to be read back, or NULL. */
static const char *
bad_field (const struct attachment *a, const struct field *f)
{
  const char *p = (const char *) a + f->off;

  if (f->kind == K_PID)
    return *(const pid_t *) p < 0 ? "is negative" : NULL;
  if (f->kind >= K_U64)
    return NULL;
  return bad_text (f, p, strnlen (p, f->size));
}

static void
put_field (FILE *fp, const struct attachment *a, const struct field *f)
{
  const char *p = (const char *) a + f->off;

  switch (f->kind) {
  case K_U64:
    fprintf (fp, "%s=%" PRIu64 "\n", f->key, *(const uint64_t *) p);
    break;
  case K_UINT:
    fprintf (fp, "%s=%u\n", f->key, *(const unsigned *) p);
    break;
  case K_BOOL:
    fprintf (fp, "%s=%d\n", f->key, *(const bool *) p ? 1 : 0);
    break;
  case K_PID:
    fprintf (fp, "%s=%d\n", f->key, (int) *(const pid_t *) p);
    break;
  default:
    fprintf (fp, "%s=%s\n", f->key, p);
  }
}

int
att_save (const struct attachment *a, const struct s3vol_log *log)
{
  char path[sizeof a->dir + 16], tmp[sizeof a->dir + 16];
  const char *why;
  bool bad;
  size_t i;
  FILE *fp;
  int fd, r;

  for (i = 0; i < NFIELDS; i++)
    if ((why = bad_field (a, &fields[i])) != NULL) {
      s3vol_error (log, "cannot record the attachment in %.*s: its %s %s",
                   (int) sizeof a->dir, a->dir, fields[i].key, why);
      return -EINVAL;
    }
  snprintf (path, sizeof path, "%.*s/info", (int) sizeof a->dir, a->dir);
  snprintf (tmp, sizeof tmp, "%.*s/info.tmp", (int) sizeof a->dir, a->dir);
  fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
             0600);
  fp = fd == -1 ? NULL : fdopen (fd, "w");
  if (fp == NULL)
    goto fail;
  for (i = 0; i < NFIELDS; i++)
    put_field (fp, a, &fields[i]);
  bad = ferror (fp) != 0;
  fd = -1;                      /* fclose closes it */
  if (fclose (fp) != 0)
    goto fail;
  if (bad) {
    errno = EIO;
    goto fail;
  }
  if (rename (tmp, path) == -1)
    goto fail;
  return 0;

 fail:
  r = -errno;
  if (fd >= 0 && fp == NULL)
    close (fd);
  unlink (tmp);
  s3vol_error (log, "cannot record the attachment in %s: %s", path,
               strerror (-r));
  return r;
}

/* Parse a record of len bytes (buf[len] is a NUL) into a.  0, or
 * -EBADMSG and why in msg.
 */
static int
parse (char *buf, size_t len, struct attachment *a, char *msg, size_t n)
{
  char *line, *next, *eq;
  const char *why;
  uint32_t seen = 0;
  int lineno = 0;
  size_t i;

  if (memchr (buf, '\0', len)) {
    snprintf (msg, n, "holds a NUL byte");
    return -EBADMSG;
  }
  if (len == 0 || buf[len - 1] != '\n') {
    snprintf (msg, n, "is incomplete (no final newline)");
    return -EBADMSG;
  }
  for (line = buf; line < buf + len; line = next) {
    next = strchr (line, '\n');
    *next++ = '\0';
    lineno++;
    eq = strchr (line, '=');
    if (eq == NULL) {
      snprintf (msg, n, "line %d is not KEY=VALUE", lineno);
      return -EBADMSG;
    }
    *eq = '\0';
    for (i = 0; i < NFIELDS && strcmp (fields[i].key, line) != 0; i++)
      ;
    if (i == NFIELDS)
      continue;                 /* a later s3vol's: not needed here */
    if (seen & (1u << i)) {
      snprintf (msg, n, "line %d repeats %s", lineno, line);
      return -EBADMSG;
    }
    seen |= 1u << i;
    why = set_field (a, &fields[i], eq + 1);
    if (why) {
      snprintf (msg, n, "line %d: %s %s", lineno, line, why);
      return -EBADMSG;
    }
  }
  for (i = 0; i < NFIELDS; i++)
    if (!(seen & (1u << i)) && !fields[i].optional) {
      snprintf (msg, n, "has no %s", fields[i].key);
      return -EBADMSG;
    }
  return 0;
}

/* Open dir's record, checking who may have written it: an fd, -ENOENT
 * or -ENOTDIR for none, or why not in msg.
 */
static int
open_record (const char *dir, char *msg, size_t n)
{
  struct stat st;
  int dfd, fd, r;

  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd == -1)
    goto fail;
  if (fstat (dfd, &st) == -1)
    goto fail;
  if (!att_trusted (&st)) {
    close (dfd);
    snprintf (msg, n, "its directory is not this user's or root's, or "
              "others may write to it");
    return -EPERM;
  }
  /* O_NONBLOCK: a FIFO put there must not hang the reader. */
  fd = openat (dfd, "info", O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
               O_CLOEXEC);
  if (fd == -1)
    goto fail;
  close (dfd);
  dfd = -1;
  if (fstat (fd, &st) == -1) {
    dfd = fd;                   /* for fail to close */
    goto fail;
  }
  if (!S_ISREG (st.st_mode) || !att_trusted (&st)) {
    close (fd);
    snprintf (msg, n, "it is not a file of this user's or root's, or "
              "others may write to it");
    return -EPERM;
  }
  return fd;

 fail:
  r = -errno;
  if (dfd >= 0)
    close (dfd);
  snprintf (msg, n, "%s", strerror (-r));
  return r;
}

int
att_load_at (const char *dir, struct attachment *a,
             const struct s3vol_log *log, enum s3vol_log_level level)
{
  char msg[256], *buf;
  ssize_t len;
  int fd, r;

  memset (a, 0, sizeof *a);
  if ((size_t) snprintf (a->dir, sizeof a->dir, "%s", dir)
      >= sizeof a->dir) {
    s3vol_logf (log, level, "attachment record in %s: path too long", dir);
    return -ENAMETOOLONG;
  }
  att_set_paths (a);                /* a socket too long fails when used */
  fd = open_record (dir, msg, sizeof msg);
  if (fd == -ENOENT || fd == -ENOTDIR)
    return fd;
  if (fd < 0) {
    s3vol_logf (log, level, "attachment record in %s refused: %s", dir,
                msg);
    return fd;
  }
  buf = malloc (ATT_RECORD_MAX + 1);
  len = buf ? att_read_up_to (fd, buf, ATT_RECORD_MAX + 1) : -ENOMEM;
  close (fd);
  if (len < 0) {
    r = len;
    snprintf (msg, sizeof msg, "%s", strerror (-r));
  }
  else if (len > ATT_RECORD_MAX) {
    r = -EBADMSG;
    snprintf (msg, sizeof msg, "larger than %u bytes", ATT_RECORD_MAX);
  }
  else {
    buf[len] = '\0';
    r = parse (buf, len, a, msg, sizeof msg);
  }
  free (buf);
  if (r < 0) {
    s3vol_logf (log, level, "attachment record in %s refused: %s", dir,
                msg);
    memset (a, 0, sizeof *a);
    snprintf (a->dir, sizeof a->dir, "%s", dir);
    att_set_paths (a);
  }
  return r;
}

int
att_load (const char *dir, struct attachment *a,
          const struct s3vol_log *log)
{
  return att_load_at (dir, a, log, S3VOL_LOG_ERROR);
}

