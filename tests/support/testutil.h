/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol unit tests: shared helpers. */
#ifndef S3VOL_TESTUTIL_H
#define S3VOL_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "s3vol/objstore.h"

/* Exit code that tells the runner a test binary skipped. */
#define TEST_SKIP 77

/* The store under test: $S3VOL_TEST_STORE, or a fresh temporary
 * directory store (removed by test_store_cleanup).  Fails the test
 * binary if it cannot be opened.
 */
/* Opening the test store also points the host chunk store
 * ($S3VOL_CHUNK_CACHE) at a directory of this process (removed at exit)
 * unless it is set: tests never share the host's.  Its path.
 */
const char *test_chunk_cache (void);
struct objstore *test_store_open (void);
void test_store_close (struct objstore *s);
const char *test_store_url (void);

/* A log that counts and remembers messages (thread-safe). */
struct test_log {
  struct s3vol_log log;
  int errors, warnings;
  int retries;                  /* debug lines announcing another try */
  int resends;                  /* debug lines: curl sent one again */
  char last_error[1024];
  char last_warning[1024];
};
void test_log_init (struct test_log *tl);

/* Seconds on the monotonic clock. */
double test_now (void);

/* Deterministic pseudo-random bytes from seed. */
void test_fill (void *buf, size_t len, uint64_t seed);
uint64_t test_rand (uint64_t *state);

/* Run fn(i, opaque) for i in [0, n) on nthreads threads. */
void test_parallel (unsigned nthreads, size_t n,
                    void (*fn) (size_t i, void *opaque), void *opaque);

/* Put a key with content from test_fill (len, seed); asserts success. */
void test_put (struct objstore *s, const char *key, size_t len,
               uint64_t seed);

/* Delete every key under prefix; asserts success. */
void test_clear_prefix (struct objstore *s, const char *prefix);

/* Bytes in the regular files below the first level of dir (a chunk
 * store's entries: DIR/HH/ID), as the file system has them.
 */
uint64_t test_du_bytes (const char *dir);

/* Skip the whole binary if the S3 test environment is missing. */
void test_require_s3 (void);

#endif
