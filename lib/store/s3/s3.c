/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the S3 object store backend.
 *
 * A store is s3://BUCKET[/PREFIX]; key K lives at PREFIX/K.  Every
 * request goes through s3_request, which builds the URL, takes a pooled
 * curl handle, lets libcurl sign it (CURLOPT_AWS_SIGV4) and retries what
 * may pass.  It leaves the final HTTP status in the request; each
 * operation decides what the status means for it (a 404 is -ENOENT for
 * GET and success for DELETE) and hands the rest to s3_fail, the one
 * place that maps failures to errno values and logs them.
 *
 * What libcurl 7.88's SigV4 leaves to us:
 *  - it sends no x-amz-content-sha256, which S3 requires: we add it;
 *  - it signs the path and query exactly as given: we percent-encode the
 *    key and build the query sorted and encoded, in canonical form;
 *  - it signs every header we pass, removal entries ("Expect:") too,
 *    which the store then cannot verify: we pass none;
 *  - a body of unknown length goes chunked (RGW answers 411): we always
 *    give the length.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#include "s3vol/objstore.h"
#include "aws_config.h"
#include "http_pool.h"
#include "xml.h"

#define DEFAULT_CONNECTIONS 16
#define DEFAULT_ATTEMPTS 8
#define DEFAULT_RETRY_BASE_MS 100
#define DEFAULT_TIMEOUT_S 30
#define CONNECT_TIMEOUT_S 10
#define BACKOFF_CAP_MS 3000     /* longest single sleep between tries */
#define OPEN_ATTEMPTS 3         /* open's check fails fast */
#define DELETE_BATCH 1000       /* S3's limit per DeleteObjects */

struct s3_store {
  struct objstore base;         /* must be first */
  const struct s3vol_log *log;
  char *name;                   /* "s3://bucket/prefix", for messages */
  struct aws_config aws;        /* bucket, prefix, URL, credentials */
  struct http_pool *pool;
  unsigned attempts, retry_base_ms, timeout_s;

  pthread_mutex_t caps_lock;    /* protects the two below */
  bool caps_known;
  unsigned caps;
};

/* One request and, after s3_request, its outcome. */
struct s3_req {
  const char *op;               /* for messages: "GET", "list", ... */
  const char *key;              /* relative to the prefix; NULL: bucket */
  struct aws_param params[AWS_PARAMS_MAX];
  char range[64];               /* "bytes=A-B" or "" */
  bool create_only;             /* If-None-Match: * */
  const char *content_md5;      /* base64, or NULL */
  const char *content_type;     /* or NULL */
  unsigned attempts;            /* 0: the store's */
  struct http_xfer http;        /* method, body, out; the last outcome */

  unsigned tries;
  bool ambiguous;               /* an earlier send may have taken effect */
  char code[64];                /* S3's error code and message */
  char message[256];
};

/* Add "name: value" to *list. */
static int
add_header (struct curl_slist **list, const char *name, const char *value)
{
  struct curl_slist *l;
  char *h;

  if (asprintf (&h, "%s: %s", name, value) < 0)
    return -ENOMEM;
  l = curl_slist_append (*list, h);
  free (h);
  if (l == NULL)
    return -ENOMEM;
  *list = l;
  return 0;
}

/* Every header is signed by curl, so only real ones go here. */
static int
make_headers (const struct s3_store *s, const struct s3_req *r,
              struct curl_slist **list)
{
  char hash[65];
  int e;

  if ((e = aws_payload_hash (&s->aws, r->http.body, r->http.body_len,
                             hash)) < 0 ||
      (e = add_header (list, "x-amz-content-sha256", hash)) < 0)
    return e;
  if (s->aws.session_token &&
      (e = add_header (list, "x-amz-security-token",
                       s->aws.session_token)) < 0)
    return e;
  if (r->range[0] && (e = add_header (list, "Range", r->range)) < 0)
    return e;
  if (r->create_only && (e = add_header (list, "If-None-Match", "*")) < 0)
    return e;
  if (r->content_md5 &&
      (e = add_header (list, "Content-MD5", r->content_md5)) < 0)
    return e;
  if (r->content_type)
    e = add_header (list, "Content-Type", r->content_type);
  return e;
}

/* ---- one request, with retries ---- */

/* Longest XML reply taken in (a listing page of 1000 keys of 1024 bytes,
 * escaped, with their sizes, dates and etags, is well under it).
 */
#define S3_REPLY_MAX (16u << 20)

/* A local failure (out of memory, mostly), logged. */
static int
local_fail (struct s3_store *s, const char *op, int e)
{
  s3vol_error (s->log, "%s: %s: %s", s->name, op, strerror (-e));
  return e;
}

/* May trying again help? */
static bool
transient (const struct s3_req *r)
{
  switch (r->http.cc) {
  case CURLE_OK:
    break;
  case CURLE_COULDNT_CONNECT:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:  /* a reset during the handshake */
    return true;
  default:
    return false;
  }
  switch (r->http.status) {
  case 429: case 500: case 502: case 503: case 504:
    return true;                /* includes 503 SlowDown */
  case 400:
    return strcmp (r->code, "RequestTimeout") == 0;
  case 409:
    /* A conditional write raced another: trying again gives the loser
     * its 412, or succeeds if the other one failed.
     */
    return strcmp (r->code, "ConditionalRequestConflict") == 0 ||
      strcmp (r->code, "OperationAborted") == 0;
  default:
    return false;
  }
}

/* Full jitter: a uniform delay up to base * 2^(tries-1), capped. */
static unsigned
backoff_ms (const struct s3_store *s, unsigned tries)
{
  uint64_t ceiling = (uint64_t) s->retry_base_ms << (tries < 20 ? tries - 1
                                                                : 19);
  uint32_t rnd = 0;

  if (ceiling > BACKOFF_CAP_MS)
    ceiling = BACKOFF_CAP_MS;
  if (getrandom (&rnd, sizeof rnd, 0) != sizeof rnd)
    rnd = (uint32_t) time (NULL) * 2654435761u;
  return rnd % (ceiling + 1);
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000 };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

/* "OP KEY" or "OP", for messages. */
static const char *
what_of (const struct s3_req *r, char *buf, size_t n)
{
  snprintf (buf, n, "%s%s%s", r->op, r->key ? " " : "",
            r->key ? r->key : "");
  return buf;
}

/* What went wrong with the last try, in a few words. */
static void
describe (const struct s3_req *r, char *buf, size_t n)
{
  const struct http_xfer *x = &r->http;

  if (x->cc != CURLE_OK)
    snprintf (buf, n, "%s", x->os_errno ? strerror (x->os_errno)
              : x->curl_err[0] ? x->curl_err : curl_easy_strerror (x->cc));
  else
    snprintf (buf, n, "HTTP %ld%s%s", x->status, *r->code ? " " : "",
              r->code);
}

/* One try, with S3's error code and message taken from the body. */
static int
try_once (struct s3_store *s, struct s3_req *r)
{
  struct http_xfer *x = &r->http;
  int e = http_exchange (s->pool, x);

  r->code[0] = r->message[0] = '\0';
  if (e == 0 && x->status >= 300 && x->err.len > 0)
    s3_xml_error (x->err.data, x->err.len, r->code, sizeof r->code,
                  r->message, sizeof r->message);
  return e;
}

/* Send r, retrying what may pass, and leave the outcome in r.  Returns
 * 0 once the exchange is over, whatever the status or transfer result
 * (the caller judges them), or a negative errno for a local failure,
 * which is logged.
 */
static int
s3_request (struct s3_store *s, struct s3_req *r)
{
  struct http_xfer *x = &r->http;
  struct s3vol_buf url = S3VOL_BUF_INIT;
  unsigned attempts = r->attempts ? r->attempts : s->attempts;
  char why[CURL_ERROR_SIZE + 64], what[OBJSTORE_KEY_MAX + 32];
  bool logged = false;
  unsigned ms;
  int e;

  r->ambiguous = false;
  if ((e = aws_request_url (&s->aws, r->key, r->params, &url)) < 0 ||
      (e = make_headers (s, r, &x->headers)) < 0)
    goto out;
  x->url = (const char *) url.data;
  for (r->tries = 1; ; r->tries++) {
    e = try_once (s, r);
    if (x->sends > 1) {
      r->ambiguous = true;
      s3vol_debug (s->log, "%s: %s: sent %u times: curl sent it again on "
                   "a new connection", s->name,
                   what_of (r, what, sizeof what), x->sends);
    }
    if (e == -EFBIG) {
      s3vol_error (s->log, "%s: %s: the store sent a reply longer than "
                   "the %" PRIu64 " bytes asked for or allowed", s->name,
                   what_of (r, what, sizeof what), x->max_len);
      logged = true;
      e = -EIO;
      break;
    }
    if (e < 0 || !transient (r) || r->tries >= attempts)
      break;
    /* Did this try perhaps reach the store and take effect? */
    if (x->status >= 500 ||
        (x->cc != CURLE_OK && x->cc != CURLE_COULDNT_CONNECT &&
         x->cc != CURLE_COULDNT_RESOLVE_HOST))
      r->ambiguous = true;
    ms = backoff_ms (s, r->tries);
    describe (r, why, sizeof why);
    s3vol_debug (s->log, "%s: %s: %s; try %u of %u in %u ms", s->name,
                 what_of (r, what, sizeof what), why, r->tries + 1,
                 attempts, ms);
    sleep_ms (ms);
  }
 out:
  if (e < 0 && !logged)
    local_fail (s, what_of (r, what, sizeof what), e);
  curl_slist_free_all (x->headers);
  x->headers = NULL;
  x->url = NULL;
  http_xfer_free (x);
  s3vol_buf_free (&url);
  return e;
}

/* ---- mapping failures to errno values, with one log line ---- */

static int
transport_fail (struct s3_store *s, const struct s3_req *r,
                const char *what, const char *tries)
{
  char why[CURL_ERROR_SIZE + 64];
  int e = -EIO, oserr;

  describe (r, why, sizeof why);

  switch (r->http.cc) {
  case CURLE_COULDNT_CONNECT:
    oserr = r->http.os_errno;
    e = oserr == EHOSTUNREACH || oserr == ENETUNREACH ? -EHOSTUNREACH
      : oserr == ETIMEDOUT ? -ETIMEDOUT : -ECONNREFUSED;
    break;
  case CURLE_COULDNT_RESOLVE_HOST:
    e = -EHOSTUNREACH;
    break;
  case CURLE_OPERATION_TIMEDOUT:
    e = -ETIMEDOUT;
    break;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
    s3vol_error (s->log, "%s: %s: TLS problem with %s: %s "
                 "(set AWS_CA_BUNDLE to the CA certificate file if the "
                 "store uses a private CA)", s->name, what, s->aws.where,
                 why);
    return -EIO;
  default:
    break;
  }
  if (e != -EIO)
    s3vol_error (s->log, "%s: %s: store unreachable at %s%s: %s",
                 s->name, what, s->aws.where, tries, why);
  else
    s3vol_error (s->log, "%s: %s: transfer with %s failed%s: %s",
                 s->name, what, s->aws.where, tries, why);
  return e;
}

static int
s3_fail (struct s3_store *s, const struct s3_req *r)
{
  char what[OBJSTORE_KEY_MAX + 32], tries[32] = "";
  const char *code = r->code;

  what_of (r, what, sizeof what);
  if (r->tries > 1)
    snprintf (tries, sizeof tries, " after %u tries", r->tries);
  if (r->http.cc != CURLE_OK)
    return transport_fail (s, r, what, tries);

  if (r->http.status == 401 || r->http.status == 403) {
    if (strcmp (code, "RequestTimeTooSkewed") == 0) {
      s3vol_error (s->log, "%s: %s: access denied (RequestTimeTooSkewed): "
                   "this machine's clock is wrong", s->name, what);
      return -EACCES;
    }
    s3vol_error (s->log, "%s: %s: access denied%s%s%s: check "
                 "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) "
                 "and the bucket policy (credentials from %s)",
                 s->name, what, *code ? " (" : "", code, *code ? ")" : "",
                 s->aws.cred_source);
    return -EACCES;
  }
  if (r->http.status == 404 && strcmp (code, "NoSuchBucket") == 0) {
    s3vol_error (s->log, "%s: bucket %s does not exist at %s",
                 s->name, s->aws.bucket, s->aws.where);
    return -ENXIO;
  }
  if (r->http.status == 301 ||
      strcmp (code, "AuthorizationHeaderMalformed") == 0) {
    s3vol_error (s->log, "%s: %s: bucket %s is not in region %s: set "
                 "AWS_REGION to its region%s%s", s->name, what, s->aws.bucket,
                 s->aws.region, *r->message ? ": " : "", r->message);
    return -EIO;
  }
  s3vol_error (s->log, "%s: %s: store error %ld%s%s%s%s%s", s->name, what,
               r->http.status, *code ? " " : "", code, tries,
               *r->message ? ": " : "", r->message);
  return -EIO;
}

/* ---- operations ---- */

static int s3_head (struct objstore *os, const char *key,
                    struct objstore_stat *st);

/* Keep bytes [off, off+len) of what a GET appended after start: for a
 * store that ignored the Range header and sent the whole object.
 */
static void
clip (struct s3vol_buf *out, size_t start, uint64_t off, uint64_t len)
{
  uint64_t have = out->len - start;

  if (off >= have) {
    out->len = start;
    return;
  }
  if (len > have - off)
    len = have - off;
  memmove (out->data + start, out->data + start + off, len);
  out->len = start + len;
}

static int
s3_get (struct objstore *os, const char *key, uint64_t off, uint64_t len,
        struct s3vol_buf *out)
{
  struct s3_store *s = (struct s3_store *) os;
  struct s3_req r = { .op = "GET", .key = key,
                      .http = { .method = "GET", .out = out } };
  size_t start = out->len;
  struct objstore_stat st;
  int e;

  if (len == 0)
    return s3_head (os, key, &st);      /* only -ENOENT to report */
  if (len != OBJSTORE_TO_END && len <= UINT64_MAX - off) {
    snprintf (r.range, sizeof r.range, "bytes=%" PRIu64 "-%" PRIu64,
              off, off + len - 1);
    /* Never take in more than was asked for (a store that ignores the
     * Range sends from 0, hence off + len).
     */
    r.http.max_len = off + len;
  }
  else if (off > 0)
    snprintf (r.range, sizeof r.range, "bytes=%" PRIu64 "-", off);

  if ((e = s3_request (s, &r)) < 0)
    return e;
  switch (r.http.status) {
  case 200:
    if (r.range[0])
      clip (out, start, off, len);
    return 0;
  case 206:
  case 416:                     /* the range starts at or past the end */
    return 0;
  case 404:
    if (strcmp (r.code, "NoSuchBucket") != 0)
      return -ENOENT;
  }
  return s3_fail (s, &r);
}

static int
s3_head (struct objstore *os, const char *key, struct objstore_stat *st)
{
  struct s3_store *s = (struct s3_store *) os;
  struct s3_req r = { .op = "HEAD", .key = key,
                      .http = { .method = "HEAD" } };
  int e;

  if ((e = s3_request (s, &r)) < 0)
    return e;
  if (r.http.status == 200) {
    st->size = r.http.length;
    st->mtime = r.http.mtime;
    s3_etag_copy (st->etag, sizeof st->etag, r.http.etag,
                  strlen (r.http.etag));
    return 0;
  }
  if (r.http.status == 404)     /* HEAD has no body to tell more */
    return -ENOENT;
  return s3_fail (s, &r);
}

/* A create-only put got 412 after an earlier send of it may have
 * created the object and lost its reply (a try of ours, or curl's own
 * second send): is the object there the one it was writing?  An object
 * with our bytes means the put succeeded; if the store cannot tell us,
 * that is a failure, not a conflict.
 */
static int
own_object (struct s3_store *s, const char *key, const char *md5_hex)
{
  struct objstore_stat st;
  int e = s3_head (&s->base, key, &st);

  if (e == -ENOENT)
    return -EEXIST;             /* someone else's, deleted since */
  if (e < 0)
    return e;                   /* logged */
  if (strcasecmp (st.etag, md5_hex) != 0)
    return -EEXIST;
  s3vol_debug (s->log, "%s: PUT %s: created by an earlier try",
               s->name, key);
  return 0;
}

/* Carry out the PUT r describes; its outcome stays in r. */
static int
put_req (struct s3_store *s, struct s3_req *r)
{
  char md5_hex[33], md5_b64[25];
  int e;

  if (r->create_only) {
    /* The MD5 lets own_object recognise our object. */
    if ((e = aws_md5 (r->http.body, r->http.body_len, md5_hex,
                      md5_b64)) < 0)
      return local_fail (s, "PUT", e);
    r->content_md5 = md5_b64;
  }
  e = s3_request (s, r);
  r->content_md5 = NULL;
  if (e < 0)
    return e;
  if (r->http.status >= 200 && r->http.status <= 299)
    return 0;
  if (r->http.status == 412 && r->create_only)
    return r->ambiguous ? own_object (s, r->key, md5_hex) : -EEXIST;
  return s3_fail (s, r);
}

static int
s3_put (struct objstore *os, const char *key, const void *data, size_t len,
        unsigned flags)
{
  struct s3_req r = { .op = "PUT", .key = key,
                      .create_only = flags & OBJSTORE_CREATE_ONLY,
                      .http = { .method = "PUT", .body = data ? data : "",
                                .body_len = len } };

  return put_req ((struct s3_store *) os, &r);
}

static int
s3_del (struct objstore *os, const char *key)
{
  struct s3_store *s = (struct s3_store *) os;
  struct s3_req r = { .op = "DELETE", .key = key,
                      .http = { .method = "DELETE" } };
  int e;

  if ((e = s3_request (s, &r)) < 0)
    return e;
  if (r.http.status == 200 || r.http.status == 204 ||
      (r.http.status == 404 && strcmp (r.code, "NoSuchBucket") != 0))
    return 0;
  return s3_fail (s, &r);
}

/* One DeleteObjects request for up to DELETE_BATCH keys. */
static int
delete_batch (struct s3_store *s, const char *const *keys, size_t n,
              struct s3vol_buf *body, struct s3vol_buf *reply)
{
  struct s3_req r = { .op = "delete-many",
                      .params = { { "delete", "" } },
                      .content_type = "application/xml",
                      .http = { .method = "POST", .out = reply,
                                .max_len = S3_REPLY_MAX } };
  char md5_hex[33], md5_b64[25], key[OBJSTORE_KEY_MAX + 1];
  char code[64], msg[256];
  size_t plen = strlen (s->aws.prefix);
  int e;

  if ((e = s3_xml_delete_body (body, s->aws.prefix, keys, n)) < 0 ||
      (e = aws_md5 (body->data, body->len, md5_hex, md5_b64)) < 0)
    return local_fail (s, r.op, e);
  r.http.body = body->data;
  r.http.body_len = body->len;
  r.content_md5 = md5_b64;      /* S3 requires it for DeleteObjects */
  s3vol_buf_clear (reply);
  if ((e = s3_request (s, &r)) < 0)
    return e;
  if (r.http.status != 200)
    return s3_fail (s, &r);
  e = s3_xml_delete_result (reply->data, reply->len, key, sizeof key,
                            code, sizeof code, msg, sizeof msg);
  if (e == 0)
    return 0;
  if (e == -ENOMEM)
    return local_fail (s, r.op, e);
  if (e < 0) {
    s3vol_error (s->log, "%s: delete-many: the store's reply is not a "
                 "DeleteResult", s->name);
    return -EIO;
  }
  s3vol_error (s->log, "%s: delete-many: %d of %zu keys not deleted, "
               "e.g. %s: %s%s%s", s->name, e, n,
               strncmp (key, s->aws.prefix, plen) == 0 ? key + plen : key,
               code, *msg ? ": " : "", msg);
  return strcmp (code, "AccessDenied") == 0 ? -EACCES : -EIO;
}

static int
s3_del_many (struct objstore *os, const char *const *keys, size_t n)
{
  struct s3_store *s = (struct s3_store *) os;
  struct s3vol_buf body = S3VOL_BUF_INIT, reply = S3VOL_BUF_INIT;
  size_t i, m;
  int e = 0;

  for (i = 0; i < n && e == 0; i += m) {
    m = n - i < DELETE_BATCH ? n - i : DELETE_BATCH;
    e = delete_batch (s, keys + i, m, &body, &reply);
  }
  s3vol_buf_free (&body);
  s3vol_buf_free (&reply);
  return e;
}

struct list_state {
  const char *full;             /* store prefix + the requested prefix */
  char *last;                   /* last key listed in order (full), or the
                                   full start_after, or NULL */
  bool warned;                  /* logged a stray key already */
  unsigned stale;               /* pages in a row with no new key */
};

/* Truncated pages in a row that bring no new key before a listing is
 * judged not to advance (a store cycling through tokens).
 */
#define LIST_STALE_MAX 16

/* Give the callback each key of a page that is a valid key under the
 * prefix.  Anything else (a "folder" object "prefix/", say) was put
 * there by someone else and cannot be named through this interface.
 */
static int
list_deliver (struct s3_store *s, const struct s3_list_page *pg,
              struct list_state *ls, objstore_list_fn fn, void *opaque)
{
  size_t plen = strlen (s->aws.prefix), flen = strlen (ls->full), i;
  struct objstore_entry e;
  char *last;
  int r;

  for (i = 0; i < pg->n; i++) {
    const struct s3_list_item *it = &pg->items[i];

    /* The store is not trusted: a key outside the requested prefix, or
     * not after the previous one, is not what was asked for (callers
     * skip the prefix's length into the key).
     */
    if (strncmp (it->key, ls->full, flen) != 0 ||
        (ls->last && strcmp (it->key, ls->last) <= 0)) {
      if (!ls->warned)
        s3vol_warn (s->log, "%s: list: the store listed key \"%s\" "
                    "outside prefix \"%s\" or out of order; skipping it "
                    "(and any more such)", s->name, it->key, ls->full);
      ls->warned = true;
      continue;
    }
    if ((last = strdup (it->key)) == NULL) {
      local_fail (s, "list", -ENOMEM);
      return -ENOMEM;
    }
    free (ls->last);
    ls->last = last;
    ls->stale = 0;
    if (objstore_check_key (it->key + plen) != 0) {
      s3vol_debug (s->log, "%s: list: skipping key \"%s\"", s->name,
                   it->key);
      continue;
    }
    memset (&e, 0, sizeof e);
    e.key = it->key + plen;
    e.st.size = it->size;
    e.st.mtime = it->mtime;
    snprintf (e.st.etag, sizeof e.st.etag, "%s", it->etag);
    if ((r = fn (opaque, &e)) != 0)
      return r;
  }
  return 0;
}

/* One ListObjectsV2 page into *pg. */
static int
list_page (struct s3_store *s, const char *prefix, const char *start_after,
           const char *token, unsigned max_keys, unsigned attempts,
           const char *op, struct s3_list_page *pg)
{
  struct s3vol_buf reply = S3VOL_BUF_INIT;
  struct s3_req r = { .op = op, .attempts = attempts,
                      .http = { .method = "GET", .out = &reply,
                                .max_len = S3_REPLY_MAX } };
  char max[16];
  size_t n = 0;
  int e;

  r.params[n++] = (struct aws_param) { "list-type", "2" };
  if (*prefix)
    r.params[n++] = (struct aws_param) { "prefix", prefix };
  if (token)
    r.params[n++] = (struct aws_param) { "continuation-token", token };
  else if (start_after)
    r.params[n++] = (struct aws_param) { "start-after", start_after };
  if (max_keys) {
    snprintf (max, sizeof max, "%u", max_keys);
    r.params[n++] = (struct aws_param) { "max-keys", max };
  }
  if ((e = s3_request (s, &r)) < 0)
    goto out;
  if (r.http.status != 200) {
    e = s3_fail (s, &r);
    goto out;
  }
  e = s3_xml_list_page (reply.data, reply.len, pg);
  if (e == -ENOMEM)
    local_fail (s, op, e);
  else if (e == -EINVAL || (e == 0 && pg->truncated && !pg->next_token)) {
    s3vol_error (s->log, "%s: %s: the store's reply is not a "
                 "ListObjectsV2 page", s->name, op);
    e = -EIO;
  }
 out:
  s3vol_buf_free (&reply);
  return e;
}

static int
s3_list (struct objstore *os, const char *prefix, const char *start_after,
         objstore_list_fn fn, void *opaque)
{
  struct s3_store *s = (struct s3_store *) os;
  struct s3_list_page pg = { 0 };
  struct list_state ls = { 0 };
  char *full = NULL, *after = NULL, *token = NULL;
  int e = -ENOMEM;

  if (asprintf (&full, "%s%s", s->aws.prefix, prefix) < 0)
    full = NULL;
  if (start_after &&
      asprintf (&after, "%s%s", s->aws.prefix, start_after) < 0)
    after = NULL;
  if (full == NULL || (start_after && after == NULL) ||
      (after && (ls.last = strdup (after)) == NULL)) {
    local_fail (s, "list", e);
    goto out;
  }
  ls.full = full;
  for (;;) {
    e = list_page (s, full, after, token, 0, 0, "list", &pg);
    ls.stale++;
    if (e == 0)
      e = list_deliver (s, &pg, &ls, fn, opaque);
    if (e != 0 || !pg.truncated)
      break;
    /* A store that hands back the token it was given would have us
     * list forever.
     */
    if ((token && strcmp (token, pg.next_token) == 0) ||
        ls.stale > LIST_STALE_MAX) {
      s3vol_error (s->log, "%s: list: the store returned %s; giving up "
                   "on a listing that does not advance", s->name,
                   ls.stale > LIST_STALE_MAX ? "page after page with no "
                   "new key" : "the same continuation token again");
      e = -EIO;
      break;
    }
    free (token);
    token = pg.next_token;
    pg.next_token = NULL;
    s3_list_page_free (&pg);
  }
 out:
  s3_list_page_free (&pg);
  free (ls.last);
  free (full);
  free (after);
  free (token);
  return e;
}

/* Did the store turn r down as such (a 4xx or 501 that no retry
 * changes), rather than fail to carry it out?
 */
static bool
refused (const struct s3_req *r)
{
  return r->http.cc == CURLE_OK && !transient (r) &&
    (r->http.status / 100 == 4 || r->http.status == 501);
}

/* A create-only put of body at the probe's key; *no is set if the store
 * refused it as such.
 */
static int
probe_put (struct s3_store *s, const char *key, const char *body, bool *no)
{
  struct s3_req r = { .op = "PUT", .key = key, .create_only = true,
                      .http = { .method = "PUT", .body = body,
                                .body_len = strlen (body) } };
  int e = put_req (s, &r);

  *no = e == -EIO && refused (&r);
  return e;
}

/* Does the store honour If-None-Match: * on PUT?  Create a fresh key
 * twice; the second must be refused.  Returns 0 with *caps set (to be
 * remembered), or a negative errno (logged) if the store could not be
 * asked this time.
 */
static int
probe_create_only (struct s3_store *s, unsigned *caps)
{
  unsigned char rnd[8];
  char key[32], hex[17];
  bool no;
  int e, e2;

  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    return -errno;
  aws_hex (rnd, sizeof rnd, hex);
  snprintf (key, sizeof key, ".probe/%s", hex);
  e = probe_put (s, key, "probe 1", &no);
  if (e == -EACCES) {
    *caps = 0;                  /* no writes at all (logged) */
    return 0;
  }
  if (no) {
    /* The store rejects the conditional header outright (logged). */
    *caps = 0;
    goto unsupported;
  }
  if (e < 0)
    return e;                   /* the store failed: ask another time */
  /* Other bytes, so that the second put, retried, cannot take the
   * first one's object for its own.
   */
  e = probe_put (s, key, "probe 2", &no);
  e2 = s3_del (&s->base, key);
  if (e == -EEXIST) {
    *caps = OBJSTORE_CAP_CREATE_ONLY;
    return 0;
  }
  if (e < 0 && !no)
    return e;
  if (e2 < 0)
    return e2;
  *caps = 0;
 unsupported:
  s3vol_warn (s->log, "%s: the store does not honour conditional creates "
              "(If-None-Match); s3vol falls back to last-write-wins, so "
              "concurrent commits to one volume may overwrite each other",
              s->name);
  return 0;
}

static unsigned
s3_caps (struct objstore *os)
{
  struct s3_store *s = (struct s3_store *) os;
  unsigned caps = 0;

  /* The probe runs under the lock, network and all: it runs once, and
   * every caller needs its answer before it can go on anyway.
   */
  pthread_mutex_lock (&s->caps_lock);
  if (!s->caps_known && probe_create_only (s, &s->caps) == 0)
    s->caps_known = true;
  if (s->caps_known)
    caps = s->caps;
  pthread_mutex_unlock (&s->caps_lock);
  return caps;
}

/* ---- open and close ---- */

static void
s3_close (struct objstore *os)
{
  struct s3_store *s = (struct s3_store *) os;

  if (s == NULL)
    return;
  http_pool_free (s->pool);
  aws_config_free (&s->aws);
  pthread_mutex_destroy (&s->caps_lock);
  free (s->name);
  free (s);
}

/* Read one key under the prefix so that a wrong bucket, wrong
 * credentials or an unreachable store are reported now, in one line,
 * rather than at the first real request.  Fewer tries than usual: a
 * store that is down at open is reported quickly.
 */
static int
check_access (struct s3_store *s)
{
  struct s3_list_page pg = { 0 };
  unsigned attempts = s->attempts < OPEN_ATTEMPTS ? s->attempts
                                                  : OPEN_ATTEMPTS;
  int e = list_page (s, s->aws.prefix, NULL, NULL, 1, attempts, "open", &pg);

  s3_list_page_free (&pg);
  return e;
}

static int
s3_open (const char *rest, const struct objstore_config *cfg,
         struct objstore **out)
{
  struct http_opts opts = { .connect_timeout_s = CONNECT_TIMEOUT_S };
  struct s3_store *s;
  int e;

  *out = NULL;
  s = calloc (1, sizeof *s);
  if (s == NULL)
    return -ENOMEM;
  pthread_mutex_init (&s->caps_lock, NULL);
  s->log = cfg->log;
  s->attempts = cfg->attempts ? cfg->attempts : DEFAULT_ATTEMPTS;
  s->retry_base_ms = cfg->retry_base_ms ? cfg->retry_base_ms
                                        : DEFAULT_RETRY_BASE_MS;
  s->timeout_s = cfg->timeout_s ? cfg->timeout_s : DEFAULT_TIMEOUT_S;
  if (asprintf (&s->name, "s3://%s", rest) < 0) {
    s3vol_error (s->log, "s3://%s: out of memory", rest);
    free (s);
    return -ENOMEM;
  }
  if ((e = aws_config_load (&s->aws, rest, s->log, s->name)) < 0)
    goto fail;                  /* logged */
  if ((e = http_global_init ()) < 0) {
    local_fail (s, "open", e);
    goto fail;
  }
  s3_xml_init ();
  opts.sigv4 = s->aws.sigv4;
  opts.user = s->aws.access_key;
  opts.password = s->aws.secret_key;
  opts.cainfo = s->aws.https ? s->aws.ca_bundle : NULL;
  opts.stall_timeout_s = s->timeout_s;
  if ((e = http_pool_new (cfg->connections ? cfg->connections
                                           : DEFAULT_CONNECTIONS,
                          &opts, &s->pool)) < 0) {
    local_fail (s, "open", e);
    goto fail;
  }
  if ((e = check_access (s)) < 0)
    goto fail;                  /* logged */
  *out = &s->base;
  return 0;

 fail:
  s3_close (&s->base);
  return e;
}

const struct objstore_ops objstore_s3_ops = {
  .scheme = "s3",
  .open = s3_open,
  .close = s3_close,
  .get = s3_get,
  .put = s3_put,
  .head = s3_head,
  .del = s3_del,
  .del_many = s3_del_many,
  .list = s3_list,
  .caps = s3_caps,
};
