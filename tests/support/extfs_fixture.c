/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol tests: a fixture for tests of extfs on ext4 images. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3vol/import.h"
#include "extfs_fixture.h"

int
test_run (const char *fmt, ...)
{
  char cmd[4096];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (cmd, sizeof cmd, fmt, ap);
  va_end (ap);
  return system (cmd);
}

/* Print "SKIP: needs a, b and c" for tools "a b c", and skip. */
static void
skip_needs (const char *tools)
{
  const char *p = tools, *next;
  size_t n;

  fprintf (stderr, "SKIP: needs ");
  while (*p) {
    n = strcspn (p, " ");
    next = p + n + strspn (p + n, " ");
    fprintf (stderr, "%s%.*s", p == tools ? "" : !*next ? " and " : ", ",
             (int) n, p);
    p = next;
  }
  fprintf (stderr, "\n");
  exit (TEST_SKIP);
}

void
extfs_fixture_setup (struct extfs_fixture *fx, const char *tools,
                     const char *tag)
{
  struct volstore_config cfg = { .log = &fx->tlog.log };
  const char *tmp = getenv ("TMPDIR");

  if (test_run ("command -v %s >/dev/null", tools) != 0)
    skip_needs (tools);
  fx->os = test_store_open ();
  test_log_init (&fx->tlog);
  assert_int_equal (volstore_open (fx->os, &cfg, &fx->vs), 0);
  snprintf (fx->work, sizeof fx->work, "%s/%s-XXXXXX",
            tmp && tmp[0] ? tmp : "/tmp", tag);
  assert_non_null (mkdtemp (fx->work));
}

void
extfs_fixture_teardown (struct extfs_fixture *fx)
{
  if (test_run ("rm -rf '%s'", fx->work) != 0)
    fprintf (stderr, "warning: could not remove %s\n", fx->work);
  volstore_close (fx->vs);
  test_store_close (fx->os);
}

void
extfs_fixture_import (struct extfs_fixture *fx, const char *name,
                      const char *path, const char *message)
{
  struct volume *v;
  uint64_t seq;
  int fd = open (path, O_RDONLY);

  assert_true (fd >= 0);
  assert_int_equal (volume_open (fx->vs, name, NULL, &v), 0);
  assert_int_equal (volume_import_fd (v, fx->vs, fd, 4, message, NULL,
                                      &seq),
                    0);
  volume_close (v);
  close (fd);
}
