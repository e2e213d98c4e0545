/* s3vol: where the S3 backend finds its credentials, region and endpoint.
 *
 * Private to lib/.  Resolution follows the AWS CLI, environment first:
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
};

/* Fill *c.  what names the store in messages ("s3://bucket/prefix").
 * Missing credentials give -EACCES, a bad endpoint, region or profile
 * -EINVAL, each logged as one line.  On failure *c is left empty.
 */
int aws_config_load (struct aws_config *c, const struct s3vol_log *log,
                     const char *what);

/* Free everything (the secrets are wiped first).  Idempotent. */
void aws_config_free (struct aws_config *c);

#endif /* S3VOL_AWS_CONFIG_H */
