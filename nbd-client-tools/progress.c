/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: progress lines for long operations, on a terminal only. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "s3vol/volume.h"

void
cli_progress_init (struct cli_progress *p, const char *what)
{
  memset (p, 0, sizeof *p);
  p->what = what;
  p->tty = isatty (STDERR_FILENO);
  p->start = s3vol_now_ns ();
}

void
cli_progress_update (struct cli_progress *p, uint64_t done, uint64_t total)
{
  int64_t now = s3vol_now_ns ();
  double secs = (now - p->start) / 1e9;
  char h1[16], h2[16], h3[16];

  if (!p->tty || now - p->last < 100000000)   /* 10 a second at most */
    return;
  p->last = now;
  p->shown = true;
  cli_human (done, h1);
  cli_human (secs > 0 ? done / secs : 0, h3);
  if (total)
    fprintf (stderr, "\r%s: %s of %s (%.0f%%), %s/s   ", p->what, h1,
             cli_human (total, h2), 100.0 * done / total, h3);
  else
    fprintf (stderr, "\r%s: %s, %s/s   ", p->what, h1, h3);
  fflush (stderr);
}

void
cli_progress_done (struct cli_progress *p)
{
  if (p->shown)
    fprintf (stderr, "\r\033[K");
}

void
cli_progress_cb (void *opaque, uint64_t done, uint64_t total)
{
  cli_progress_update (opaque, done, total);
}
