/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: where an S3 store is and how to sign for it.
 *
 * Private to lib/.  From "bucket[/prefix]" and the user's AWS settings:
 * the bucket, the prefix, the bucket's URL, the credentials; and the
 * pieces of a SigV4 request that libcurl 7.88 leaves to its caller.
 *
 * Settings are resolved as the AWS CLI does, environment first:
 *
 *   credentials  AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *                [+ AWS_SESSION_TOKEN], else the profile (AWS_PROFILE,
 *                default "default") in AWS_SHARED_CREDENTIALS_FILE
 *                (~/.aws/credentials), else in AWS_CONFIG_FILE
 *                (~/.aws/config)
 *   region       AWS_REGION, AWS_DEFAULT_REGION, the profile's region,
 *                else us-east-1
 *   endpoint     AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
 *                endpoint_url, else none (real AWS)
 *   CA bundle    AWS_CA_BUNDLE, the profile's ca_bundle, CURL_CA_BUNDLE
 */
#ifndef S3VOL_AWS_CONFIG_H
#define S3VOL_AWS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "s3vol/buf.h"
#include "s3vol/log.h"

struct aws_config {
  char *access_key;
  char *secret_key;       /* never logged */
  char *session_token;    /* never logged; NULL if none */
  char *region;           /* checked: [a-z0-9-], at most 64 bytes */
  char *endpoint;         /* "http[s]://host[:port][/path]", no trailing
                             '/', or NULL for AWS itself */
  char *ca_bundle;        /* NULL: the system's CAs */
  char *cred_source;      /* where the keys came from, for messages */

  char *bucket;
  char *prefix;           /* "" or "some/prefix/" */
  char *base_url;         /* the bucket's URL, without a trailing '/':
                             path-style with an endpoint, virtual-hosted
                             on AWS */
  char *where;            /* the endpoint, for messages */
  char *sigv4;            /* CURLOPT_AWS_SIGV4: "aws:amz:REGION:s3" */
  bool https;
};

/* Fill *c for the store at rest ("bucket[/prefix]", the URL after
 * "s3://"); what names the store in messages.  A bad bucket name,
 * prefix, endpoint, region or profile gives -EINVAL, missing
 * credentials -EACCES, each logged as one line.  On failure *c is left
 * empty.
 */
int aws_config_load (struct aws_config *c, const char *rest,
                     const struct s3vol_log *log, const char *what);

/* Free everything (the secrets are wiped first).  Idempotent. */
void aws_config_free (struct aws_config *c);

/* A query parameter; unused slots have name NULL. */
struct aws_param {
  const char *name;
  const char *value;
};
#define AWS_PARAMS_MAX 4

/* Into b (appended, NUL-terminated): the URL of key (relative to the
 * prefix; NULL for the bucket itself), percent-encoded, and the query
 * in SigV4's canonical form (sorted by name, each "name=value"), since
 * curl signs both exactly as given.  Returns 0 or -ENOMEM.
 */
int aws_request_url (const struct aws_config *c, const char *key,
                     const struct aws_param params[AWS_PARAMS_MAX],
                     struct s3vol_buf *b);

/* Append s percent-encoded as SigV4 wants: everything but A-Za-z0-9-._~
 * (and '/' if keep_slash).  Returns 0 or -ENOMEM.
 */
int aws_uri_encode (struct s3vol_buf *b, const char *s, bool keep_slash);

/* The x-amz-content-sha256 value for a body (NULL: none): its SHA-256
 * in hex, or UNSIGNED-PAYLOAD over HTTPS, where TLS protects it.
 * Returns 0 or -ENOMEM.
 */
int aws_payload_hash (const struct aws_config *c, const void *body,
                      size_t len, char out[65]);

/* The MD5 of a body as hex (as in ETags) and base64 (for Content-MD5).
 * Returns 0 or -ENOMEM.
 */
int aws_md5 (const void *p, size_t len, char hex[33], char b64[25]);

/* n bytes as 2n lowercase hex digits and a NUL. */
void aws_hex (const unsigned char *p, size_t n, char *out);

#endif /* S3VOL_AWS_CONFIG_H */
