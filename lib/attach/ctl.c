/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the client of a plugin's control socket.
 *
 * One request line out, then end of input, so that the plugin answers
 * one line and closes (plugin/ctl.c has the protocol).  Plain send and
 * read rather than stdio, so that a plugin that goes away raises no
 * SIGPIPE in the caller and a long answer is refused rather than cut.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "s3vol/attach.h"
#include "attach_int.h"

ssize_t
att_read_up_to (int fd, char *buf, size_t n)
{
  size_t len = 0;
  ssize_t got;

  while (len < n) {
    got = read (fd, buf + len, n - len);
    if (got == -1 && errno == EINTR)
      continue;
    if (got == -1)
      return -errno;
    if (got == 0)
      break;
    len += got;
  }
  return len;
}

static int
send_all (int fd, const char *p, size_t len)
{
  ssize_t w;

  while (len > 0) {
    w = send (fd, p, len, MSG_NOSIGNAL);
    if (w == -1 && errno == EINTR)
      continue;
    if (w == -1)
      return -errno;
    p += w;
    len -= w;
  }
  return shutdown (fd, SHUT_WR) == 0 ? 0 : -errno;
}

/* The answer: one line, the newline becoming the NUL. */
static int
read_answer (int fd, char *reply, size_t n)
{
  ssize_t len = att_read_up_to (fd, reply, n);
  char *nl;

  if (len < 0)
    return len;
  nl = memchr (reply, '\n', len);
  if (nl == NULL)
    return (size_t) len == n ? -EMSGSIZE : -EPIPE;
  *nl = '\0';
  return 0;
}

int
att_ctl_request (const char *sock, const char *req, char *reply, size_t n)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  char line[ATT_CTL_REQUEST_MAX + 1];
  size_t len = strlen (req);
  int fd, r;

  if (n == 0 || len > ATT_CTL_REQUEST_MAX || strpbrk (req, "\r\n"))
    return -EINVAL;
  reply[0] = '\0';
  if (strlen (sock) >= sizeof sa.sun_path)
    return -ENAMETOOLONG;
  strcpy (sa.sun_path, sock);
  memcpy (line, req, len);
  line[len] = '\n';
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return -errno;
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) == -1)
    r = -errno;
  else if ((r = send_all (fd, line, len + 1)) == 0)
    r = read_answer (fd, reply, n);
  close (fd);
  if (r < 0)
    reply[0] = '\0';
  return r;
}
