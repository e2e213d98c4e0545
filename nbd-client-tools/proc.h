/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: running other programs. */
#ifndef S3VOL_PROC_H
#define S3VOL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Run argv (NULL-terminated) and wait.  Its stdout goes to out (up to
 * n - 1 bytes, NUL-terminated; NULL discards it), its stderr to errbuf
 * likewise.  Returns the exit status (0..255), 128 + signal, or -1 if it
 * could not be run (errno set).
 */
int proc_run (const char *const *argv, char *out, size_t n, char *errbuf,
              size_t en);

/* Start argv in the background, in its own session, with stdin from
 * /dev/null and stdout+stderr appended to logfile.  Returns its pid or -1.
 */
pid_t proc_spawn (const char *const *argv, const char *logfile);

/* Wait up to ms for path to exist (and, if pid > 0, while pid lives). */
bool proc_wait_path (const char *path, int ms, pid_t pid);

/* Is pid running (and not a zombie)? */
bool proc_alive (pid_t pid);

/* Send sig to pid and wait up to ms for it to go; SIGKILL after that. */
void proc_stop (pid_t pid, int sig, int ms);

/* Is the program on PATH? */
bool proc_have (const char *prog);

#endif
