/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: what the files of `s3vol web` share.
 *
 *   web.c        the verb, the HTTP daemon (libmicrohttpd), routing,
 *                responses and the headers every response carries
 *   web_auth.c   the token, its cookie, the Host header check
 *   web_pool.c   open read-only versions (extfs handles), an LRU
 *   web_pages.c  the HTML pages and their escaping
 *   web_file.c   a file's bytes: streamed, Range requests
 *   web_tar.c    a directory as a pax tar stream
 *
 * Threads: libmicrohttpd runs one thread per connection.  The volstore
 * is thread-safe; an extfs handle is not, so each open version has a
 * lock held around every call into it (web_pool.c).
 */
#ifndef S3VOL_WEB_H
#define S3VOL_WEB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "cli.h"
#include "s3vol/buf.h"
#include "s3vol/extfs.h"
#include "s3vol/volume.h"

#define WEB_TOKEN_BYTES 32
#define WEB_TOKEN_HEX (2 * WEB_TOKEN_BYTES)
#define WEB_COOKIE "s3vol_token"
#define WEB_PIECE (4u << 20)    /* bytes read from a volume at once */
#define WEB_HOST_MAX 300

struct web_pool;

struct web {
  struct objstore *os;
  struct volstore *vs;
  struct volstore *quiet_vs;    /* the same store, logging nothing: for
                                   probes that may fail (fork origins) */
  struct web_pool *pool;
  char token[WEB_TOKEN_HEX + 1];
  char host[WEB_HOST_MAX];      /* the Host header a request must have */
  char host_alt[WEB_HOST_MAX];  /* also "localhost:PORT" on loopback */
  bool tls;
};

/* ---- web_auth.c ---- */

/* A fresh random token (hex) into w->token.  0 or -errno. */
int web_token_new (struct web *w);
/* Is the Host header the listen address?  (DNS rebinding.) */
bool web_host_ok (const struct web *w, const char *host);
/* Does s hold the token?  Constant time in the token's bytes. */
bool web_token_eq (const struct web *w, const char *s);
/* Does the request carry the token in its cookie? */
bool web_cookie_ok (const struct web *w, struct MHD_Connection *c);
/* "s3vol_token=...; HttpOnly; SameSite=Strict; Path=/" (+ Secure). */
void web_cookie_value (const struct web *w, char *buf, size_t n);

/* ---- web_pool.c ---- */

/* One open version of a volume. */
struct web_handle {
  char volume[S3VOL_NAME_MAX + 1];
  uint64_t seq;
  struct extfs *x;              /* use only between lock and unlock */
  pthread_mutex_t lock;
  unsigned refs;                /* the pool's lock guards refs, used */
  uint64_t used;
  struct web_handle *next;
};

int web_pool_new (struct volstore *vs, unsigned max, struct web_pool **out);
void web_pool_free (struct web_pool *p);
/* The handle of volume's version seq (opened if need be), held until
 * web_pool_put.  Negative errno (logged) on failure.
 */
int web_pool_get (struct web_pool *p, const char *volume, uint64_t seq,
                  struct web_handle **out);
void web_pool_put (struct web_pool *p, struct web_handle *h);

/* ---- web.c: responses ---- */

/* What a request names: /KIND/VOLUME/SEQ/PATH. */
struct web_req {
  struct web *w;
  struct MHD_Connection *c;
  const char *volume;           /* NUL-terminated copies */
  uint64_t seq;
  const char *path;             /* "/..." inside the volume */
};

/* Add the headers every response carries (CSP, nosniff, ...). */
void web_common_headers (struct MHD_Response *resp);
/* An empty response with those headers, or NULL. */
struct MHD_Response *web_empty (void);
/* A streamed download: read gives the bytes, done (called also when
 * this fails) frees cls; type is its Content-Type, name its file name
 * (an attachment, sandboxed).  NULL on failure.
 */
struct MHD_Response *web_stream (uint64_t size,
                                 MHD_ContentReaderCallback read, void *cls,
                                 MHD_ContentReaderFreeCallback done,
                                 const char *type, const char *name);
/* Queue resp (NULL: MHD_NO) and drop our reference. */
enum MHD_Result web_queue (struct MHD_Connection *c, unsigned status,
                           struct MHD_Response *resp);
/* Queue a page (html is taken over and freed). */
enum MHD_Result web_send_html (struct MHD_Connection *c, unsigned status,
                               struct s3vol_buf *html);
/* Queue a short plain-text answer. */
enum MHD_Result web_send_text (struct MHD_Connection *c, unsigned status,
                               const char *text);
/* The status for a libs3vol error, and its answer queued. */
enum MHD_Result web_send_err (struct MHD_Connection *c, int err);

/* ---- web_pages.c ---- */

/* HTML under construction; err sticks at the first failure. */
struct html {
  struct s3vol_buf b;
  int err;
};
void html_raw (struct html *h, const char *s);
void html_printf (struct html *h, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
/* Untrusted text: escaped for a terminal's eyes (cli_esc_each: bytes
 * that are not UTF-8 and controls as \xNN), then for HTML.
 */
void html_text (struct html *h, const char *s, unsigned esc_flags);
/* Untrusted bytes into a URL path: all but [A-Za-z0-9-._~/] encoded. */
void html_url (struct html *h, const char *s);

enum MHD_Result web_page_volumes (struct web *w, struct MHD_Connection *c);
enum MHD_Result web_page_volume (struct web *w, struct MHD_Connection *c,
                                 const char *volume);
/* A directory's listing, or a file's page. */
enum MHD_Result web_page_files (struct web_req *rq);
extern const char web_css[];

/* ---- web_file.c ---- */

enum MHD_Result web_file (struct web_req *rq);

/* ---- web_tar.c ---- */

enum MHD_Result web_tar (struct web_req *rq);

#endif /* S3VOL_WEB_H */
