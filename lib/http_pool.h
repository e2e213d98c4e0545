/* s3vol: a pool of libcurl easy handles.
 *
 * Private to lib/.  A handle keeps its connection open between requests,
 * so reusing handles is what makes small requests cheap.  All handles of
 * a pool share one DNS cache and one TLS session cache.
 *
 *   free list:  [h][h][h]      idle handles, connections kept alive
 *   in use:     nused handles   out with callers, at most max
 *
 * A caller that finds every handle in use waits until one comes back:
 * max bounds the connections a store opens.
 */
#ifndef S3VOL_HTTP_POOL_H
#define S3VOL_HTTP_POOL_H

#include <curl/curl.h>

struct http_pool;

/* Initialise libcurl once per process (curl_global_init is not
 * thread-safe in the curl we build against).  Returns 0 or -ENOMEM.
 */
int http_global_init (void);

/* A pool of at most max handles.  Returns 0 or -ENOMEM. */
int http_pool_new (unsigned max, struct http_pool **out);

/* Free every handle; none may be in use. */
void http_pool_free (struct http_pool *p);

/* Take a handle, waiting if all max are in use.  Its options are reset
 * to libcurl's defaults, apart from the share.  NULL only if out of
 * memory.
 */
CURL *http_pool_get (struct http_pool *p);

/* Give a handle back. */
void http_pool_put (struct http_pool *p, CURL *h);

#endif /* S3VOL_HTTP_POOL_H */
