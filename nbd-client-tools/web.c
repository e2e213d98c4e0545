/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: a read-only web view of a store (issue 17).
 *
 * HTTP is libmicrohttpd's, one thread per connection.  Every request
 * passes, in order: the Host check, GET or HEAD only, the token (the
 * query's ?token= once, then the cookie); then one of
 *
 *   /                          the volumes
 *   /volume/NAME               a volume: versions, snapshots, forks
 *   /files/NAME/SEQ/PATH       a directory's listing or a file's page
 *   /raw/NAME/SEQ/PATH         a file's bytes (Range requests too)
 *   /tar/NAME/SEQ/PATH         a directory as a pax tar stream
 *   /style.css                 the one style sheet
 *
 * SEQ is a version number, so every URL is a permalink; "head" is sent
 * on to the newest version's number.  Nothing here writes to the store.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web.h"

#define WEB_CSP "default-src 'none'; style-src 'self'; img-src 'self'; " \
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#define WEB_POOL_MAX 8
#define WEB_CONN_MAX 64
#define WEB_TLS_FILE_MAX (1u << 20)

/* ---- responses ---- */

void
web_common_headers (struct MHD_Response *resp)
{
  MHD_add_response_header (resp, "Content-Security-Policy", WEB_CSP);
  MHD_add_response_header (resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header (resp, "X-Frame-Options", "DENY");
  MHD_add_response_header (resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header (resp, "Cross-Origin-Resource-Policy",
                           "same-origin");
  MHD_add_response_header (resp, "Cache-Control", "no-store");
}

enum MHD_Result
web_queue (struct MHD_Connection *c, unsigned status,
           struct MHD_Response *resp)
{
  enum MHD_Result ret;

  if (resp == NULL)
    return MHD_NO;
  ret = MHD_queue_response (c, status, resp);
  MHD_destroy_response (resp);
  return ret;
}

struct MHD_Response *
web_empty (void)
{
  struct MHD_Response *resp;

  resp = MHD_create_response_from_buffer (0, (void *) "",
                                          MHD_RESPMEM_PERSISTENT);
  if (resp)
    web_common_headers (resp);
  return resp;
}

static enum MHD_Result
send_buf (struct MHD_Connection *c, unsigned status, const char *type,
          void *data, size_t len, enum MHD_ResponseMemoryMode mode)
{
  struct MHD_Response *resp;

  resp = MHD_create_response_from_buffer (len, data, mode);
  if (resp == NULL) {
    if (mode == MHD_RESPMEM_MUST_FREE)
      free (data);
    return MHD_NO;
  }
  web_common_headers (resp);
  MHD_add_response_header (resp, "Content-Type", type);
  return web_queue (c, status, resp);
}

/* Content-Disposition: attachment, the name as ASCII (others as '_')
 * and exactly (RFC 6266 filename*).  Never inline, and sandboxed: an
 * HTML file from a volume must not run as this site's page.
 */
static void
attachment (struct MHD_Response *resp, const char *name)
{
  struct html h = { S3VOL_BUF_INIT, 0 };
  const char *p;

  html_raw (&h, "attachment; filename=\"");
  for (p = name; *p; p++)
    html_printf (&h, "%c", (*p >= 'a' && *p <= 'z') ||
                 (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr ("-._ ", *p) ? *p : '_');
  html_raw (&h, "\"; filename*=UTF-8''");
  html_url (&h, name);
  if (h.err == 0)
    MHD_add_response_header (resp, "Content-Disposition",
                             (char *) h.b.data);
  MHD_add_response_header (resp, "Content-Security-Policy", "sandbox");
  s3vol_buf_free (&h.b);
}

struct MHD_Response *
web_stream (uint64_t size, MHD_ContentReaderCallback read, void *cls,
            MHD_ContentReaderFreeCallback done, const char *type,
            const char *name)
{
  struct MHD_Response *resp;

  resp = MHD_create_response_from_callback (size, 64 * 1024, read, cls,
                                            done);
  if (resp == NULL) {
    done (cls);
    return NULL;
  }
  web_common_headers (resp);
  MHD_add_response_header (resp, "Content-Type", type);
  attachment (resp, name);
  return resp;
}

enum MHD_Result
web_send_html (struct MHD_Connection *c, unsigned status,
               struct s3vol_buf *html)
{
  void *data = html->data;
  size_t len = html->len;

  *html = (struct s3vol_buf) S3VOL_BUF_INIT;
  return send_buf (c, status, "text/html; charset=utf-8", data, len,
                   MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result
web_send_text (struct MHD_Connection *c, unsigned status, const char *text)
{
  return send_buf (c, status, "text/plain; charset=utf-8", (void *) text,
                   strlen (text), MHD_RESPMEM_PERSISTENT);
}

enum MHD_Result
web_send_err (struct MHD_Connection *c, int err)
{
  switch (-err) {
  case ENOENT: case ENOTDIR: case ENAMETOOLONG: case ELOOP:
    return web_send_text (c, MHD_HTTP_NOT_FOUND, "not found\n");
  case EINVAL: case EISDIR:
    return web_send_text (c, MHD_HTTP_BAD_REQUEST,
                          "not something this can show\n");
  case ENOKEY: case EKEYREJECTED:
    return web_send_text (c, MHD_HTTP_FORBIDDEN,
                          "encrypted volume: no key for it (--key-file)\n");
  case ENOMEM:
    return web_send_text (c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory\n");
  default:
    return web_send_text (c, MHD_HTTP_BAD_GATEWAY,
                          "the store or the volume failed (see the "
                          "server's log)\n");
  }
}

/* A 303 to path (raw bytes: URL-encoded here), with extra header. */
static enum MHD_Result
redirect (struct MHD_Connection *c, const char *path, const char *hname,
          const char *hvalue)
{
  struct html loc = { S3VOL_BUF_INIT, 0 };
  struct MHD_Response *resp = web_empty ();

  html_url (&loc, path);
  if (resp && loc.err == 0) {
    MHD_add_response_header (resp, "Location", (char *) loc.b.data);
    if (hname)
      MHD_add_response_header (resp, hname, hvalue);
  }
  else if (resp) {
    MHD_destroy_response (resp);
    resp = NULL;
  }
  s3vol_buf_free (&loc.b);
  return web_queue (c, MHD_HTTP_SEE_OTHER, resp);
}

/* ---- routing ---- */

/* Split "NAME/SEQ/PATH" (after /KIND/).  SEQ "head" is sent on to the
 * newest version.  Returns MHD_YES with rq filled and *answered false,
 * or the answer queued.
 */
static enum MHD_Result
parse_req (struct web_req *rq, const char *kind, const char *rest,
           char name[S3VOL_NAME_MAX + 1], bool *answered)
{
  const char *slash = strchr (rest, '/'), *sp, *end;
  struct vol_info info;
  char digits[24], *loc;
  size_t n;
  int r;

  *answered = true;
  n = slash ? (size_t) (slash - rest) : strlen (rest);
  if (n == 0 || n > S3VOL_NAME_MAX || slash == NULL)
    return web_send_text (rq->c, MHD_HTTP_NOT_FOUND, "not found\n");
  memcpy (name, rest, n);
  name[n] = '\0';
  sp = slash + 1;
  end = strchr (sp, '/');
  n = end ? (size_t) (end - sp) : strlen (sp);
  rq->volume = name;
  rq->path = end ? end : "/";
  if (n == 4 && strncmp (sp, "head", 4) == 0) {
    r = volstore_info (rq->w->vs, name, &info);
    if (r < 0)
      return web_send_err (rq->c, r);
    if (asprintf (&loc, "/%s/%s/%" PRIu64 "%s", kind, name, info.head,
                  rq->path) < 0)
      return MHD_NO;
    r = redirect (rq->c, loc, NULL, NULL);
    free (loc);
    return r;
  }
  if (n == 0 || n >= sizeof digits || strspn (sp, "0123456789") < n)
    return web_send_text (rq->c, MHD_HTTP_NOT_FOUND, "not found\n");
  memcpy (digits, sp, n);
  digits[n] = '\0';
  errno = 0;
  rq->seq = strtoull (digits, NULL, 10);
  if (errno || rq->seq == 0)
    return web_send_text (rq->c, MHD_HTTP_NOT_FOUND, "not found\n");
  *answered = false;
  return MHD_YES;
}

static enum MHD_Result
route_version (struct web *w, struct MHD_Connection *c, const char *url)
{
  static const struct {
    const char *kind;
    enum MHD_Result (*fn) (struct web_req *rq);
  } kinds[] = {
    { "files", web_page_files }, { "raw", web_file }, { "tar", web_tar },
  };
  char name[S3VOL_NAME_MAX + 1];
  struct web_req rq = { .w = w, .c = c };
  enum MHD_Result ret;
  bool answered;
  size_t i, n;

  for (i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    n = strlen (kinds[i].kind);
    if (strncmp (url + 1, kinds[i].kind, n) || url[n + 1] != '/')
      continue;
    ret = parse_req (&rq, kinds[i].kind, url + n + 2, name, &answered);
    return answered ? ret : kinds[i].fn (&rq);
  }
  return web_send_text (c, MHD_HTTP_NOT_FOUND, "not found\n");
}

static enum MHD_Result
route (struct web *w, struct MHD_Connection *c, const char *url)
{
  char name[S3VOL_NAME_MAX + 2];
  size_t n;

  if (strcmp (url, "/") == 0)
    return web_page_volumes (w, c);
  if (strcmp (url, "/style.css") == 0)
    return send_buf (c, MHD_HTTP_OK, "text/css; charset=utf-8",
                     (void *) web_css, strlen (web_css),
                     MHD_RESPMEM_PERSISTENT);
  if (strncmp (url, "/volume/", 8) == 0) {
    n = strlen (url + 8);
    if (n > 0 && url[8 + n - 1] == '/')
      n--;
    if (n == 0 || n > S3VOL_NAME_MAX)
      return web_send_text (c, MHD_HTTP_NOT_FOUND, "not found\n");
    memcpy (name, url + 8, n);
    name[n] = '\0';
    return web_page_volume (w, c, name);
  }
  return route_version (w, c, url);
}

static enum MHD_Result
answer (void *cls, struct MHD_Connection *c, const char *url,
        const char *method, const char *version, const char *upload_data,
        size_t *upload_data_size, void **con_cls)
{
  struct web *w = cls;
  const char *token;
  struct MHD_Response *resp;
  char cookie[WEB_TOKEN_HEX + 80];

  (void) version; (void) upload_data;
  if (*con_cls == NULL) {
    /* The headers are in.  What is refused is refused now (an early
     * answer: the connection closes, no body is read); the rest waits
     * for the end of the request, so that the connection stays alive.
     */
    if (!web_host_ok (w, MHD_lookup_connection_value (c, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_HOST)))
      return web_send_text (c, MHD_HTTP_MISDIRECTED_REQUEST,
                            "wrong Host header: use the URL s3vol web "
                            "printed\n");
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
      resp = web_empty ();
      if (resp)
        MHD_add_response_header (resp, "Allow", "GET, HEAD");
      return web_queue (c, MHD_HTTP_METHOD_NOT_ALLOWED, resp);
    }
    *con_cls = w;
    return MHD_YES;
  }
  if (*upload_data_size) {
    *upload_data_size = 0;              /* a body on a GET: ignored */
    return MHD_YES;
  }
  token = MHD_lookup_connection_value (c, MHD_GET_ARGUMENT_KIND, "token");
  if (token && web_token_eq (w, token)) {
    /* Into the cookie, out of the address bar and the history. */
    web_cookie_value (w, cookie, sizeof cookie);
    return redirect (c, url, MHD_HTTP_HEADER_SET_COOKIE, cookie);
  }
  if (!web_cookie_ok (w, c))
    return web_send_text (c, MHD_HTTP_UNAUTHORIZED,
                          "token required: open the URL s3vol web "
                          "printed\n");
  return route (w, c, url);
}

/* ---- the verb ---- */

struct listen {
  struct sockaddr_storage ss;
  char addr[INET6_ADDRSTRLEN];
  unsigned port;
  bool v6, loopback;
};

/* ADDR, ADDR:PORT, [ADDR6] or [ADDR6]:PORT; a numeric, concrete
 * address (the Host header is checked against it).
 */
static int
parse_listen (const char *s, struct listen *l)
{
  struct sockaddr_in *in4 = (struct sockaddr_in *) &l->ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &l->ss;
  const char *colon, *close;
  char *end;
  size_t n;

  memset (l, 0, sizeof *l);
  close = s[0] == '[' ? strchr (s, ']') : NULL;
  colon = close ? (close[1] == ':' ? close + 1 : NULL) : strrchr (s, ':');
  if (s[0] == '[' && (close == NULL || (close[1] && close[1] != ':')))
    return -1;
  n = close ? (size_t) (close - s - 1) : colon ? (size_t) (colon - s)
    : strlen (s);
  if (n == 0 || n >= sizeof l->addr)
    return -1;
  memcpy (l->addr, s + (close != NULL), n);
  if (colon) {
    errno = 0;
    l->port = strtoul (colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || *end || l->port > 65535)
      return -1;
  }
  if (inet_pton (AF_INET, l->addr, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons (l->port);
    l->loopback = (ntohl (in4->sin_addr.s_addr) >> 24) == 127;
    return in4->sin_addr.s_addr == htonl (INADDR_ANY) ? -2 : 0;
  }
  if (close && inet_pton (AF_INET6, l->addr, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons (l->port);
    l->v6 = true;
    l->loopback = IN6_IS_ADDR_LOOPBACK (&in6->sin6_addr);
    return IN6_IS_ADDR_UNSPECIFIED (&in6->sin6_addr) ? -2 : 0;
  }
  return -1;
}

/* A PEM file for TLS, whole, NUL-terminated; NULL after one line. */
static char *
read_pem (const char *path)
{
  FILE *fp = fopen (path, "re");
  char *buf = NULL;
  size_t n = 0;

  if (fp == NULL) {
    fprintf (stderr, "s3vol web: %s: %s\n", path, strerror (errno));
    return NULL;
  }
  buf = malloc (WEB_TLS_FILE_MAX + 1);
  if (buf)
    n = fread (buf, 1, WEB_TLS_FILE_MAX + 1, fp);
  fclose (fp);
  if (buf == NULL || n == 0 || n > WEB_TLS_FILE_MAX) {
    fprintf (stderr, "s3vol web: %s: empty, unreadable or too big\n", path);
    free (buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static struct MHD_Daemon *
start_daemon (struct web *w, const struct listen *l, char *cert, char *key)
{
  struct MHD_OptionItem opts[] = {
    { MHD_OPTION_SOCK_ADDR, 0, (void *) &l->ss },
    { MHD_OPTION_CONNECTION_LIMIT, WEB_CONN_MAX, NULL },
    { MHD_OPTION_CONNECTION_TIMEOUT, 300, NULL },
    { cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert },
    { MHD_OPTION_HTTPS_MEM_KEY, 0, key },
    { MHD_OPTION_END, 0, NULL },
  };
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
    (l->v6 ? MHD_USE_IPv6 : 0) | (cert ? MHD_USE_TLS : 0);

  return MHD_start_daemon (flags, 0, NULL, NULL, answer, w,
                           MHD_OPTION_ARRAY, opts, MHD_OPTION_END);
}

static int
open_web (const struct cli_global *g, struct web *w)
{
  static const struct volstore_config quiet = { .log = NULL };
  int r;

  r = cli_open_volstore (g, &w->os, &w->vs);
  if (r != EXIT_OK)
    return r;
  if (volstore_open (w->os, &quiet, &w->quiet_vs) < 0)
    return EXIT_FAIL;
  r = cli_give_key (w->quiet_vs);
  if (r != EXIT_OK)
    return r;
  if (web_pool_new (w->vs, WEB_POOL_MAX, &w->pool) < 0 ||
      web_token_new (w) < 0) {
    fprintf (stderr, "s3vol web: cannot set up: %s\n", strerror (errno));
    return EXIT_FAIL;
  }
  return EXIT_OK;
}

static void
close_web (struct web *w)
{
  web_pool_free (w->pool);
  if (w->quiet_vs)
    volstore_close (w->quiet_vs);
  if (w->vs)
    cli_close_volstore (w->os, w->vs);
}

/* Serve until one of the signals in set (blocked in every thread). */
static int
serve (struct web *w, const struct listen *l, char *cert, char *key,
       const sigset_t *set)
{
  struct MHD_Daemon *d;
  const union MHD_DaemonInfo *di;
  unsigned port;
  int sig;

  d = start_daemon (w, l, cert, key);
  if (d == NULL) {
    fprintf (stderr, "s3vol web: cannot listen on %s%s%s:%u\n",
             l->v6 ? "[" : "", l->addr, l->v6 ? "]" : "", l->port);
    return EXIT_FAIL;
  }
  di = MHD_get_daemon_info (d, MHD_DAEMON_INFO_BIND_PORT);
  port = di ? di->port : l->port;
  snprintf (w->host, sizeof w->host, "%s%s%s:%u", l->v6 ? "[" : "",
            l->addr, l->v6 ? "]" : "", port);
  if (l->loopback)
    snprintf (w->host_alt, sizeof w->host_alt, "localhost:%u", port);
  printf ("%s://%s/?token=%s\n", cert ? "https" : "http", w->host,
          w->token);
  fflush (stdout);
  fprintf (stderr, "s3vol web: read-only; open the URL above (it holds the "
           "token); Ctrl-C stops\n");
  while (sigwait (set, &sig) != 0)
    ;
  MHD_stop_daemon (d);
  return EXIT_OK;
}

static int
web (const struct cli_global *g, int argc, char **argv)
{
  struct web w = { 0 };
  struct cli_args a;
  struct listen l;
  char *cert = NULL, *key = NULL;
  sigset_t set;
  int r;

  /* Blocked before any thread starts (the store's, the daemon's), so
   * that they inherit it and only sigwait in serve takes them.
   */
  sigemptyset (&set);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGHUP);
  pthread_sigmask (SIG_BLOCK, &set, NULL);
  r = cli_parse (argc, argv, OPT_LISTEN | OPT_TLS_CERT, 0, 0, &a);
  if (r != EXIT_OK || a.help)
    return a.help ? cli_usage (
      "usage: s3vol web [--listen ADDR[:PORT]] [--tls-cert FILE "
      "--tls-key FILE]\n"
      "Serve a read-only web view of the store: volumes, versions, "
      "snapshots, forks,\nfiles of any version, downloads (Range too) and "
      "directories as tar.  Listens\non 127.0.0.1 and a free port unless "
      "--listen; prints the URL to open, which\nholds a new secret token.  "
      "Requests must name ADDR:PORT in their Host header.\n--tls-cert, "
      "--tls-key: PEM files; HTTPS (the token is still required).\n",
      true) : r;
  r = parse_listen (a.listen ? a.listen : "127.0.0.1", &l);
  if (r < 0) {
    fprintf (stderr, "s3vol web: --listen wants %s (see s3vol web "
             "--help)\n", r == -2 ? "a concrete address, not a wildcard "
             "(requests must name it)" : "ADDR[:PORT] or [ADDR6][:PORT], "
             "numeric");
    return EXIT_USAGE;
  }
  if (!a.tls_cert != !a.tls_key) {
    fprintf (stderr, "s3vol web: --tls-cert and --tls-key go together\n");
    return EXIT_USAGE;
  }
  if (a.tls_cert && ((cert = read_pem (a.tls_cert)) == NULL ||
                     (key = read_pem (a.tls_key)) == NULL)) {
    free (cert);
    return EXIT_USAGE;
  }
  w.tls = cert != NULL;
  r = open_web (g, &w);
  if (r == EXIT_OK)
    r = serve (&w, &l, cert, key, &set);
  close_web (&w);
  free (cert);
  if (key)
    explicit_bzero (key, strlen (key));
  free (key);
  return r;
}

const struct cli_verb verb_web = { "web", "serve a read-only web view of "
                                   "the store", web };
