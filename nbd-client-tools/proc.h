/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: running other programs. */
#ifndef S3VOL_PROC_H
#define S3VOL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* Is pid running and, unless start is 0, the process that started then
 * (not another one given its pid since)?
 */
bool proc_owner_alive (pid_t pid, uint64_t start);

/* The inode of pid's mount namespace, or 0 if it cannot be told. */
uint64_t proc_mntns (pid_t pid);

/* Stop every process in mount namespace ns but this one and
 * skip[0..n-1]: SIGTERM, up to ms to go, then SIGKILL.
 * Returns how many there were.
 */
int proc_stop_mntns (uint64_t ns, const pid_t *skip, size_t n, int ms);

/* The ancestors of this process (its parent, its parent's parent...,
 * not pid 1) into out[0..max): how many.
 */
size_t proc_ancestors (pid_t *out, size_t max);

/* Is pid's command name (/proc/PID/comm) name? */
bool proc_comm_is (pid_t pid, const char *name);

/* Is the program on PATH? */
bool proc_have (const char *prog);

#endif
