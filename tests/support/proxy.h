/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol tests: tests/support/s3proxy.py, a fault-injecting proxy in
 * front of the test S3 server.  Tests that use it run from the
 * repository root, as tests/run-all does.
 */
#ifndef S3VOL_PROXY_H
#define S3VOL_PROXY_H

#include "s3vol/buf.h"
#include "testutil.h"

/* Start the proxy in front of $AWS_ENDPOINT_URL and point
 * AWS_ENDPOINT_URL at it.  It prints its port once it listens, and
 * exits by itself if this process dies.  Exits the binary (status 1) if
 * it cannot be started.
 */
void proxy_start (void);
void proxy_stop (void);

/* One control request (POST json, or GET if json is NULL); the reply,
 * NUL-terminated, is appended to out.  Asserts status 200.
 */
void proxy_ctl (const char *what, const char *json, struct s3vol_buf *out);

/* Arm a fault: a JSON rule (see s3proxy.py), built like printf. */
void proxy_fault (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

/* Drop the rules and the request log. */
void proxy_clear (void);

/* Open url (whose endpoint is the proxy) with the given tries and
 * timeout, logging to tl; the rules and tl are cleared after the open's
 * own requests.  Fails the test if it cannot.
 */
struct objstore *proxy_open_store (const char *url, struct test_log *tl,
                                   unsigned attempts, unsigned timeout_s);

/* Clear the rules, empty the store's prefix, close it. */
void proxy_close_store (struct objstore *s);

#endif
