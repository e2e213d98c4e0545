/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the XML the S3 backend reads and writes (libxml2).
 *
 * Private to lib/.  Parsing never prints: libxml2's own error output is
 * switched off, and a body that does not parse is reported by the caller.
 */
#ifndef S3VOL_S3_XML_H
#define S3VOL_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/buf.h"

/* Initialise libxml2 once per process (it wants this before threads
 * use it).
 */
void s3_xml_init (void);

/* <Error><Code>..</Code><Message>..</Message></Error>: copy Code and
 * Message (truncated, "" if absent).  Returns 0, or -EINVAL if body is
 * not such a document.
 */
int s3_xml_error (const void *body, size_t len, char *code, size_t codesz,
                  char *msg, size_t msgsz);

/* One <Contents> of a ListObjectsV2 page. */
struct s3_list_item {
  char *key;            /* the full key, as the store spelled it */
  uint64_t size;
  int64_t mtime;
  char etag[80];        /* quotes stripped */
};

struct s3_list_page {
  struct s3_list_item *items;
  size_t n;
  bool truncated;       /* IsTruncated: there are more pages */
  char *next_token;     /* NextContinuationToken, or NULL */
};

/* Parse a ListBucketResult.  Returns 0, -EINVAL (not a listing) or
 * -ENOMEM.  Free the page with s3_list_page_free even on failure.
 */
int s3_xml_list_page (const void *body, size_t len, struct s3_list_page *p);
void s3_list_page_free (struct s3_list_page *p);

/* Build a DeleteObjects request body in quiet mode for the n keys, each
 * prefixed with key_prefix, into out (cleared first).  Returns 0 or
 * -ENOMEM.
 */
int s3_xml_delete_body (struct s3vol_buf *out, const char *key_prefix,
                        const char *const *keys, size_t n);

/* Parse a DeleteResult: count its <Error>s other than NoSuchKey and copy
 * the first one's Key, Code and Message.  Returns the count, -EINVAL (not
 * a DeleteResult) or -ENOMEM.
 */
int s3_xml_delete_result (const void *body, size_t len,
                          char *key, size_t keysz,
                          char *code, size_t codesz,
                          char *msg, size_t msgsz);

/* Copy the len bytes of an ETag at src to dst without surrounding
 * whitespace and quotes, truncated to dstsz - 1.
 */
void s3_etag_copy (char *dst, size_t dstsz, const char *src, size_t len);

/* "2026-01-02T03:04:05.000Z" to seconds since the epoch, or -1. */
int64_t s3_parse_iso8601 (const char *s);

#endif /* S3VOL_S3_XML_H */
