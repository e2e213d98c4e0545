/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: from a recorded attachment (s3vol/attach.h) to a served,
 * connected and mounted volume, and back.  The records and the control
 * socket are the library's; starting processes and mounting are here.
 */
#ifndef S3VOL_CLI_BLOCKDEV_H
#define S3VOL_CLI_BLOCKDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* Undo everything that exists of a, quietly: unmount (ATT_UNMOUNT),
 * disconnect, stop nbdkit (which commits what is dirty; with
 * ATT_DISCARD it is killed and commits nothing), remove the run
 * directory (unless ATT_KEEP_DIR).  Returns 0, or EXIT_BUSY (printed) if the filesystem is in
 * use, having changed nothing.
 */
#define ATT_UNMOUNT 1u
#define ATT_DISCARD 2u
#define ATT_KEEP_DIR 4u
int att_teardown (struct attachment *a, unsigned flags);

/* Unmount a's filesystem if it is mounted.  The plugin stops freezing
 * it first (waiting for a commit under way), and a's own processes are
 * never taken for users: an unmount they hold up is tried again.
 * EXIT_BUSY (printed, with the processes using it) if it is in use,
 * the plugin freezing it again; with lazy, it is detached lazily
 * instead, with a warning.
 */
int att_unmount (struct attachment *a, bool lazy);

/* Thaw the filesystem mounted at path if it is frozen (FITHAW), saying
 * so: a plugin killed between its freeze and its thaw leaves it frozen.
 */
void att_thaw (const char *path);

/* Make a new run directory for a (a new id; or use a->dir if set),
 * serve, connect and mount
 * a at mountpoint ("" for none; allow_setuid as att_mount's; the
 * plugin freezes it around each commit's cut) and record it; on failure
 * undo it all.  A cache directory of a's own is made when a->cache_dir
 * is "" ($XDG_CACHE_HOME/s3vol/NAME/ID: attachments share none).  Exit
 * code.
 */
int cli_attach (struct attachment *a, const char *mountpoint,
                bool allow_setuid);

/* The end of an attachment (detach, recover, the end of s3vol run):
 * unmount (FINISH_LAZY: lazily if in use), commit unless read-only,
 * tear down, and remove the cache directory if it is a's own and
 * nothing is left in it to publish.  FINISH_DISCARD: commit nothing and
 * drop the local changes with the cache directory, saying what they
 * were (unless FINISH_QUIET).  *seq: the version committed, or 0.  Exit
 * code (EXIT_CONFLICT, ... printed); a conflict keeps the changes in
 * the cache directory, and says so.
 */
#define FINISH_LAZY 1u
#define FINISH_DISCARD 2u
#define FINISH_QUIET 4u
int cli_finish (struct attachment *a, unsigned flags, uint64_t *seq);

/* Recover (as s3vol recover) every orphaned attachment of volume on
 * store, saying so: what a killed run left is committed before the
 * volume is attached again.  Exit code: the first failure's.
 */
int cli_recover_volume (const char *store, const char *volume);

/* Delete every object of url, if it names an ephemeral volume's own
 * store (.../ephemeral/ID, as s3vol run --ephemeral makes them), and
 * the store's directory if it is file://.  Best effort.
 */
void cli_purge_ephemeral (const char *url);

/* Is a an attachment of an s3vol run that is gone? */
bool cli_orphaned (const struct attachment *a);

/* Remove a's cache directory (and its parent, if a's own and empty). */
void cli_drop_cache (const struct attachment *a);

/* A number from the JSON status of a's plugin; false if not had. */
bool att_status_u64 (const struct attachment *a, const char *key,
                     uint64_t *out);

/* EXIT_OK for root, else EXIT_PERM (printed). */
int cli_need_root (const char *verb);

/* The attachment at path as this process sees it, or EXIT_NOTFOUND
 * (printed).
 */
int cli_find (const char *verb, const char *path, struct attachment *a);

/* Processes using files under path, as "PID (command)" lines, leaving
 * out this one and a's nbdkit and nbdfuse (a may be NULL).
 */
void att_busy (const char *path, char *out, size_t n,
               const struct attachment *a);

#endif
