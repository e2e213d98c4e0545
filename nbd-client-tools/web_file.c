/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: a file's bytes, /raw/NAME/SEQ/PATH.
 *
 * Streamed: libmicrohttpd asks for the next bytes as the client takes
 * them; they are read from the volume WEB_PIECE at a time (extfs_pread,
 * holes as zeros), so memory stays a few MiB per download whatever the
 * file's size.  One "bytes=" range is answered with 206 and its
 * Content-Range; a range past the end with 416; several ranges with the
 * whole file (allowed by RFC 9110).  The version is immutable, so
 * pieces of one file fetched in many requests fit together.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "web.h"

struct download {
  struct web *w;
  struct web_handle *h;
  char *path;
  uint64_t start, end;          /* the bytes sent: [start, end) */
  char *buf;                    /* file bytes [buf_off, buf_off + have) */
  uint64_t buf_off;
  size_t have;
};

static ssize_t
download_read (void *cls, uint64_t pos, char *out, size_t max)
{
  struct download *d = cls;
  uint64_t off = d->start + pos;
  size_t want, got, n;
  int r;

  if (off >= d->end)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (off < d->buf_off || off >= d->buf_off + d->have) {
    want = d->end - off < WEB_PIECE ? d->end - off : WEB_PIECE;
    pthread_mutex_lock (&d->h->lock);
    r = extfs_pread (d->h->x, d->path, d->buf, want, off, &got);
    pthread_mutex_unlock (&d->h->lock);
    if (r < 0 || got == 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    d->buf_off = off;
    d->have = got;
  }
  n = d->buf_off + d->have - off;
  if (n > max)
    n = max;
  memcpy (out, d->buf + (off - d->buf_off), n);
  return n;
}

static void
download_free (void *cls)
{
  struct download *d = cls;

  web_pool_put (d->w->pool, d->h);
  free (d->path);
  free (d->buf);
  free (d);
}

/* A decimal number at *s, moving *s past it; false if none. */
static bool
number (const char **s, uint64_t *v)
{
  const char *p = *s;

  *v = 0;
  if (*p < '0' || *p > '9')
    return false;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (*v > (UINT64_MAX - 9) / 10)
      return false;
    *v = *v * 10 + (*p - '0');
  }
  *s = p;
  return true;
}

/* A Range header against a file of size bytes: 0 for the whole file
 * (none, several ranges, or not understood), 1 with [*a, *b) set, -1 if
 * unsatisfiable.
 */
static int
parse_range (const char *h, uint64_t size, uint64_t *a, uint64_t *b)
{
  uint64_t first, last;

  if (h == NULL || strncmp (h, "bytes=", 6) || strchr (h, ','))
    return 0;
  h += 6;
  if (*h == '-') {                      /* the last N bytes */
    h++;
    if (!number (&h, &last) || *h)
      return 0;
    if (last == 0 || size == 0)
      return -1;
    *a = last < size ? size - last : 0;
    *b = size;
    return 1;
  }
  if (!number (&h, &first) || *h++ != '-')
    return 0;
  if (*h == '\0')
    last = UINT64_MAX - 1;
  else if (!number (&h, &last) || *h || last < first)
    return 0;
  if (first >= size)
    return -1;
  *a = first;
  *b = last < size - 1 ? last + 1 : size;
  return 1;
}

static const char *
content_type (const char *path)
{
  static const char *const types[][2] = {
    { ".txt", "text/plain; charset=utf-8" }, { ".log", "text/plain" },
    { ".md", "text/markdown" }, { ".csv", "text/csv" },
    { ".html", "text/html" }, { ".htm", "text/html" },
    { ".css", "text/css" }, { ".js", "text/javascript" },
    { ".json", "application/json" }, { ".xml", "application/xml" },
    { ".pdf", "application/pdf" }, { ".zip", "application/zip" },
    { ".gz", "application/gzip" }, { ".tar", "application/x-tar" },
    { ".zst", "application/zstd" }, { ".png", "image/png" },
    { ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" },
    { ".gif", "image/gif" }, { ".svg", "image/svg+xml" },
    { ".webp", "image/webp" }, { ".mp4", "video/mp4" },
    { ".mp3", "audio/mpeg" }, { ".wasm", "application/wasm" },
  };
  const char *dot = strrchr (path, '.');
  size_t i;

  if (dot && strchr (dot, '/') == NULL)
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp (dot, types[i][0]) == 0)
        return types[i][1];
  return "application/octet-stream";
}

static enum MHD_Result
respond (struct MHD_Connection *c, struct download *d, uint64_t size,
         bool ranged)
{
  const char *base = strrchr (d->path, '/');
  struct MHD_Response *resp;
  char cr[80];

  resp = web_stream (d->end - d->start, download_read, d, download_free,
                     content_type (d->path), base ? base + 1 : d->path);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header (resp, "Accept-Ranges", "bytes");
  if (ranged) {
    snprintf (cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
              d->start, d->end - 1, size);
    MHD_add_response_header (resp, "Content-Range", cr);
  }
  return web_queue (c, ranged ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK,
                    resp);
}

static enum MHD_Result
unsatisfiable (struct MHD_Connection *c, uint64_t size)
{
  struct MHD_Response *resp = web_empty ();
  char cr[40];

  snprintf (cr, sizeof cr, "bytes */%" PRIu64, size);
  if (resp)
    MHD_add_response_header (resp, "Content-Range", cr);
  return web_queue (c, MHD_HTTP_RANGE_NOT_SATISFIABLE, resp);
}

enum MHD_Result
web_file (struct web_req *rq)
{
  struct download *d = calloc (1, sizeof *d);
  struct extfs_stat st;
  int r, ranged;

  if (d == NULL || (d->path = strdup (rq->path)) == NULL ||
      (d->buf = malloc (WEB_PIECE)) == NULL) {
    if (d)
      free (d->path);
    free (d);
    return web_send_err (rq->c, -ENOMEM);
  }
  d->w = rq->w;
  r = web_pool_get (rq->w->pool, rq->volume, rq->seq, &d->h);
  if (r == 0) {
    pthread_mutex_lock (&d->h->lock);
    r = extfs_stat (d->h->x, d->path, &st);
    pthread_mutex_unlock (&d->h->lock);
  }
  if (r == 0 && !S_ISREG (st.mode))
    r = S_ISDIR (st.mode) ? -EISDIR : -EINVAL;
  if (r < 0) {
    download_free (d);
    return web_send_err (rq->c, r);
  }
  d->end = st.size;
  ranged = parse_range (MHD_lookup_connection_value (rq->c, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_RANGE),
                        st.size, &d->start, &d->end);
  if (ranged < 0) {
    download_free (d);
    return unsatisfiable (rq->c, st.size);
  }
  return respond (rq->c, d, st.size, ranged > 0);
}
