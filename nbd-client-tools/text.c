/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: untrusted text on a terminal.
 *
 * Names from a volume's filesystem, commit messages and host names of
 * version roots, keys and whatever the library logs about them come from
 * whoever can write the store.  Printed raw, an ESC sequence could
 * rewrite the screen or the window title, and a newline could forge a
 * line of output.  Everything such passes through one function here:
 *
 *   printed as is   valid UTF-8 that is not a control character
 *   printed \xNN    each byte of: C0 controls (0x00-0x1f), DEL (0x7f),
 *                   C1 controls (U+0080-U+009F, bytes c2 80-c2 9f), a
 *                   byte that does not start a valid UTF-8 sequence
 *                   (stray continuation bytes, overlong forms,
 *                   surrogates, beyond U+10FFFF), and '\' itself, so
 *                   that the output reads back unambiguously
 *
 * with CLI_ESC_NAME also '/' and the dots of "." and "..", so that a
 * directory entry cannot pass for a path; with CLI_ESC_ESCAPED not '\'
 * (text the library has escaped already, in part).  JSON strings follow the same
 * rule with JSON's escapes: controls as \u00XX, a byte that is not
 * UTF-8 as \udcXX (a lone low surrogate, as Python's "surrogateescape"
 * reads it back into the byte).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The length of the valid UTF-8 sequence at s (len bytes left) that
 * needs no escape, or 0 if the byte at s must be escaped.
 */
static size_t
printable_len (const unsigned char *s, size_t len, unsigned flags,
               bool whole_dots)
{
  unsigned char c = s[0], lo = 0x80, hi = 0xbf;
  size_t n, i;

  if (c < 0x80) {
    if (c < 0x20 || c == 0x7f ||
        (c == '\\' && !(flags & CLI_ESC_ESCAPED)))
      return 0;
    if ((flags & CLI_ESC_NAME) && (c == '/' || (c == '.' && whole_dots)))
      return 0;
    return 1;
  }
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;                   /* continuation byte, c0, c1, f5-ff */
  if (n > len)
    return 0;
  /* The second byte's range excludes overlong forms, surrogates and
   * code points above U+10FFFF.
   */
  if (c == 0xe0)
    lo = 0xa0;
  else if (c == 0xed)
    hi = 0x9f;
  else if (c == 0xf0)
    lo = 0x90;
  else if (c == 0xf4)
    hi = 0x8f;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xbf)
      return 0;
  if (c == 0xc2 && s[1] <= 0x9f)
    return 0;                   /* C1 control */
  return n;
}

void
cli_esc_each (const char *s, unsigned flags,
             int (*out) (void *opaque, const char *p, size_t n),
             void *opaque)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t len = strlen (s), i = 0, run = 0, k;
  bool dots = (flags & CLI_ESC_NAME) &&
    (strcmp (s, ".") == 0 || strcmp (s, "..") == 0);
  char hex[5];

  while (i + run < len) {
    k = printable_len (u + i + run, len - i - run, flags, dots);
    if (k > 0) {
      run += k;
      continue;
    }
    if (run > 0 && out (opaque, s + i, run) != 0)
      return;
    i += run;
    run = 0;
    snprintf (hex, sizeof hex, "\\x%02x", u[i]);
    if (out (opaque, hex, 4) != 0)
      return;
    i++;
  }
  if (run > 0)
    out (opaque, s + i, run);
}

static int
out_file (void *opaque, const char *p, size_t n)
{
  return fwrite (p, 1, n, opaque) == n ? 0 : -1;
}

void
cli_put_esc (FILE *fp, const char *s, unsigned flags)
{
  cli_esc_each (s, flags, out_file, fp);
}

struct out_buf {
  char *buf;
  size_t len, cap;              /* cap: room for text, without the NUL */
  bool cut;
};

static int
out_buf (void *opaque, const char *p, size_t n)
{
  struct out_buf *b = opaque;

  if (n > b->cap - b->len) {
    b->cut = true;
    return -1;
  }
  memcpy (b->buf + b->len, p, n);
  b->len += n;
  return 0;
}

const char *
cli_esc (char *buf, size_t size, const char *s, unsigned flags)
{
  struct out_buf b = { .buf = buf, .cap = size > 4 ? size - 4 : 0 };

  if (size == 0)
    return "";
  cli_esc_each (s, flags, out_buf, &b);
  if (b.cut)
    b.len += snprintf (buf + b.len, size - b.len, "...");
  buf[b.len < size ? b.len : size - 1] = '\0';
  return buf;
}

void
cli_json_str (const char *s)
{
  const unsigned char *u = (const unsigned char *) s;
  size_t len = strlen (s), i = 0, k;
  unsigned c;

  putchar ('"');
  while (i < len) {
    c = u[i];
    k = c == '\\' ? 1 : printable_len (u + i, len - i, 0, false);
    if (c == '"' || c == '\\')
      printf ("\\%c", c);
    else if (k > 0)
      fwrite (u + i, 1, k, stdout);
    else if (c < 0x80)
      printf ("\\u%04x", c);                    /* C0 or DEL */
    else if (c == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
             u[i + 1] <= 0x9f) {
      printf ("\\u%04x", u[i + 1]);             /* C1 */
      k = 2;
    }
    else
      printf ("\\udc%02x", c);                  /* not UTF-8 */
    i += k > 0 ? k : 1;
  }
  putchar ('"');
}

void
cli_put_lines (FILE *fp, const char *s)
{
  char line[1024];
  size_t n;

  if (*s == '\0')
    fputc ('\n', fp);
  while (*s) {
    n = strcspn (s, "\n");
    snprintf (line, sizeof line, "%.*s", (int) n, s);
    cli_put_esc (fp, line, 0);
    fputc ('\n', fp);
    s += n + (s[n] == '\n');
  }
}

/* The log every library message of the CLI goes through: the messages
 * embed names, paths and keys from the store, so they are escaped like
 * any other untrusted text.
 */
static void
log_stderr (void *opaque, enum s3vol_log_level level, const char *msg)
{
  enum s3vol_log_level threshold = (enum s3vol_log_level) (intptr_t) opaque;
  static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };

  if (level > threshold || level > S3VOL_LOG_DEBUG)
    return;
  fprintf (stderr, "s3vol: %s", tag[level]);
  cli_put_esc (stderr, msg, 0);
  fputc ('\n', stderr);
}

const struct s3vol_log cli_log = {
  .fn = log_stderr,
  .opaque = (void *) (intptr_t) S3VOL_LOG_WARNING,
};
