/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol tests: a fixture for tests of extfs on ext4 images.
 *
 * extfs_fixture_setup opens the store under test and a volstore on it
 * with a counting log, and makes a private work directory for images
 * and files; extfs_fixture_teardown removes the directory and closes
 * both.  A test builds images with mkfs.ext4 (test_run) in the work
 * directory, creates a volume and extfs_fixture_import's the image as
 * its newest version, then opens it with extfs_open on fx->vs.
 */
#ifndef S3VOL_EXTFS_FIXTURE_H
#define S3VOL_EXTFS_FIXTURE_H

#include "s3vol/volume.h"
#include "testutil.h"

struct extfs_fixture {
  struct objstore *os;
  struct volstore *vs;
  struct test_log tlog;         /* the volstore's log */
  char work[256];               /* the work directory */
};

/* system () on a command built like printf; its status. */
int test_run (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Skip the binary (exit TEST_SKIP) unless every command in tools (names
 * separated by spaces) is found; then open fx and make its work
 * directory $TMPDIR/TAG-XXXXXX (TMPDIR defaults to /tmp).  Asserts
 * success.
 */
void extfs_fixture_setup (struct extfs_fixture *fx, const char *tools,
                          const char *tag);
void extfs_fixture_teardown (struct extfs_fixture *fx);

/* Import image file path as the newest version of the existing volume
 * name, with message message; asserts success.
 */
void extfs_fixture_import (struct extfs_fixture *fx, const char *name,
                           const char *path, const char *message);

#endif
