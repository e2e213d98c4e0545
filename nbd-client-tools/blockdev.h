/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: from a recorded attachment (s3vol/attach.h) to a served,
 * connected and mounted volume, and back.  The records and the control
 * socket are the library's; starting processes and mounting are here.
 */
#ifndef S3VOL_CLI_BLOCKDEV_H
#define S3VOL_CLI_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>

#include "s3vol/attach.h"

/* Start nbdkit serving a (fills sock, ctl, log, nbdkit_pid), connect a
 * block device (fills device, fuse_dir, nbdfuse_pid).  Print one line
 * and return an exit code on failure, having undone what was done.
 */
int att_serve (struct attachment *a);
int att_connect (struct attachment *a);
/* Mount a->device at mountpoint (ext4), nosuid,nodev unless
 * allow_setuid (a volume's files may come from anyone who can write
 * the store or the volume).  Exit code.
 */
int att_mount (struct attachment *a, const char *mountpoint,
               bool allow_setuid);

/* Is a filesystem mounted at path without nosuid (so that a re-attach
 * keeps --allow-setuid)?
 */
bool att_mounted_setuid (const char *path);

/* Undo everything that exists of a, quietly: unmount (if mountpoint),
 * disconnect, stop nbdkit (which commits what is dirty), remove the run
 * directory.  Returns 0, or EXIT_BUSY (printed) if the filesystem is in
 * use, having changed nothing.
 */
int att_teardown (struct attachment *a, bool unmount);

/* Unmount a's filesystem if it is mounted.  EXIT_BUSY (printed, with
 * the processes using it) if it is in use.
 */
int att_unmount (struct attachment *a);

/* Make a's run directory, serve, connect and mount a (volume, options
 * and mountpoint set; "" for none; allow_setuid as att_mount's), and
 * record it; on failure undo it all.  Exit code.
 */
int cli_attach (struct attachment *a, const char *mountpoint,
                bool allow_setuid);

/* Processes using files under path, as "PID (command)" lines. */
void att_busy (const char *path, char *out, size_t n);

#endif
