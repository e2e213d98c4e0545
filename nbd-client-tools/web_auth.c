/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: who may ask.
 *
 * A token of 32 random bytes, new at every start, is printed in the URL
 * to open and then kept in a cookie (HttpOnly: no script reads it;
 * SameSite=Strict: no other site's page sends it).  Every request needs
 * it, from loopback too: another local user can connect to a loopback
 * port.  It is compared in constant time, so its bytes cannot be found
 * one at a time by timing.
 *
 * The Host header must name the listen address: a page of another site
 * whose name a DNS server points at 127.0.0.1 (DNS rebinding) sends its
 * own name, and is refused before the token is looked at.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "web.h"

int
web_token_new (struct web *w)
{
  unsigned char b[WEB_TOKEN_BYTES];
  size_t got = 0;
  ssize_t n;
  int i;

  while (got < sizeof b) {
    n = getrandom (b + got, sizeof b - got, 0);
    if (n < 0 && errno != EINTR)
      return -errno;
    if (n > 0)
      got += n;
  }
  for (i = 0; i < WEB_TOKEN_BYTES; i++)
    snprintf (w->token + 2 * i, 3, "%02x", b[i]);
  return 0;
}

bool
web_host_ok (const struct web *w, const char *host)
{
  if (host == NULL)
    return false;
  return strcmp (host, w->host) == 0 ||
    (w->host_alt[0] && strcmp (host, w->host_alt) == 0);
}

/* Constant time: every byte of the token is looked at whatever s holds
 * (s is read no further than its NUL).
 */
bool
web_token_eq (const struct web *w, const char *s)
{
  volatile unsigned char diff = 0;
  size_t i, j = 0;

  if (s == NULL)
    return false;
  for (i = 0; i < WEB_TOKEN_HEX; i++) {
    diff |= (unsigned char) (w->token[i] ^ s[j]);
    j += s[j] != '\0';
  }
  diff |= (unsigned char) s[j];       /* s is no longer than the token */
  return diff == 0;
}

bool
web_cookie_ok (const struct web *w, struct MHD_Connection *c)
{
  return web_token_eq (w, MHD_lookup_connection_value (c, MHD_COOKIE_KIND,
                                                       WEB_COOKIE));
}

void
web_cookie_value (const struct web *w, char *buf, size_t n)
{
  snprintf (buf, n, "%s=%s; HttpOnly; SameSite=Strict; Path=/%s",
            WEB_COOKIE, w->token, w->tls ? "; Secure" : "");
}
