/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a pool of libcurl easy handles, and one HTTP exchange on one.
 *
 * Private to lib/.  A handle keeps its connection open between requests,
 * so reusing handles is what makes small requests cheap.  All handles of
 * a pool share one DNS cache and one TLS session cache.
 *
 *   idle:    [h][h][h]        handles with their connections kept alive
 *   in use:  nlive - nidle    out with callers; nlive <= max
 *
 * A caller that finds every handle in use waits until one comes back:
 * max bounds the connections a store opens.  This layer knows HTTP but
 * not S3: what a status means and whether to try again is the caller's.
 */
#ifndef S3VOL_HTTP_POOL_H
#define S3VOL_HTTP_POOL_H

#include <stdint.h>

#include <curl/curl.h>

#include "s3vol/buf.h"

struct http_pool;

/* How every request of a pool is sent.  The strings must outlive the
 * pool.
 */
struct http_opts {
  const char *sigv4;            /* CURLOPT_AWS_SIGV4, "aws:amz:REGION:s3" */
  const char *user;             /* the access key id */
  const char *password;         /* the secret key */
  const char *cainfo;           /* CA file, or NULL for the system's */
  long connect_timeout_s;
  long stall_timeout_s;         /* abort after this long without progress */
};

/* One exchange: the request, and after http_exchange its outcome. */
struct http_xfer {
  const char *method;           /* GET, HEAD, PUT, POST or DELETE */
  const char *url;
  struct curl_slist *headers;   /* all of them are signed */
  const void *body;             /* PUT and POST; the length is always
                                   sent, never chunked */
  size_t body_len;
  struct s3vol_buf *out;        /* a complete 2xx body is appended
                                   here; NULL: dropped */
  uint64_t max_len;             /* most 2xx body bytes accepted into out
                                   (0: no limit); a longer body, by its
                                   Content-Length or as it streams, ends
                                   the transfer and http_exchange
                                   returns -EFBIG */

  long status;                  /* final HTTP status; 0 if none */
  unsigned sends;               /* times the request went out: 2 if curl
                                   sent it again by itself (it does, on a
                                   new connection, when a reused one dies
                                   before any reply) */
  CURLcode cc;                  /* the transfer's result */
  int os_errno;                 /* its errno, or 0 */
  char curl_err[CURL_ERROR_SIZE];
  uint64_t length;              /* response Content-Length, or 0 */
  int64_t mtime;                /* Last-Modified, or -1 */
  char etag[80];                /* ETag header value, quotes and all */
  struct s3vol_buf err;         /* the start of a non-2xx body */
};

/* Initialise libcurl once per process (curl_global_init is not
 * thread-safe in the curl we build against).  Returns 0 or -ENOMEM.
 */
int http_global_init (void);

/* A pool of at most max handles.  Returns 0 or -ENOMEM. */
int http_pool_new (unsigned max, const struct http_opts *opts,
                   struct http_pool **out);

/* Free every handle; none may be in use. */
void http_pool_free (struct http_pool *p);

/* Carry out x once on a pooled handle, waiting for one if all are in
 * use, and fill in its outcome.  Unless the transfer succeeds with a 2xx
 * status, x->out is left as it was, so x can simply be tried again.
 * Returns 0 whatever the transfer's result, -EFBIG for a 2xx body over
 * x->max_len (nothing appended), or -ENOMEM.
 */
int http_exchange (struct http_pool *p, struct http_xfer *x);

/* Free what http_exchange allocated in x. */
void http_xfer_free (struct http_xfer *x);

#endif /* S3VOL_HTTP_POOL_H */
