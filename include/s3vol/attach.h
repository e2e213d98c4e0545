/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: attachments and their records.
 *
 * An attachment is a volume served by nbdkit and the s3vol plugin on a
 * Unix socket, turned into a block device and usually mounted.  Whoever
 * sets one up (the CLI's attach and run) records it here, so that other
 * processes (commit, reload, detach, status, a web view) find it and talk
 * to its plugin through the control socket.  Starting processes and
 * mounting are the caller's business: nothing here forks, mounts or
 * signals.
 *
 * The run directory is $S3VOL_RUN_DIR when that is an absolute path,
 * else /run/s3vol.  Each attachment has a directory of its own there,
 * named after its id (16 random hex digits, att_make_new_dir), holding
 * the plugin's sockets and log, nbdfuse's mountpoint and "info": the
 * record, one KEY=VALUE line per field of struct attachment.  Nothing
 * about an attachment is derived from its volume or its mountpoint, so
 * any number of them, of one volume or at one path in different mount
 * namespaces, live side by side.
 *
 * Records are read with suspicion, since the run directory may be one
 * that other local users can write to.  A record is used only if its
 * directory and its info file are owned by this user or by root,
 * writable by nobody else, and not symbolic links; and only if it is at
 * most ATT_RECORD_MAX bytes of complete lines, each a known KEY=VALUE at
 * most once (unknown keys are skipped), with every field present, every
 * value fitting its field without truncation and free of control
 * characters, numbers plain decimal in range, the volume a valid volume
 * name, the mountpoint absolute (or empty), the device /dev/loopN or
 * /dev/nbdN (or empty).  Anything else is refused, logged: -EPERM for
 * who owns it or may write it, -ELOOP for a link, -EBADMSG for the
 * content.
 *
 * Thread safety: nothing here keeps state between calls, and any
 * function may be called from any thread; the run directory is read from
 * the environment on each call, so not while another thread changes it.
 *
 * Errors are negative errno values, logged once through the log passed
 * in (which may be NULL) unless said otherwise.
 */
#ifndef S3VOL_ATTACH_H
#define S3VOL_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3vol/log.h"

/* The largest record att_load accepts, and the longest control request
 * (without its newline) att_ctl_request sends.
 */
#define ATT_RECORD_MAX (32u << 10)
#define ATT_CTL_REQUEST_MAX 4096

struct attachment {
  char dir[1024];               /* its run directory */
  char mountpoint[PATH_MAX];    /* "" when not mounted (s3vol run) */
  char volume[80];
  char store[PATH_MAX];         /* the store URL */
  char cache_dir[PATH_MAX];
  char snapshot[80];            /* "" or the snapshot served */
  uint64_t version;             /* 0 or the version served */
  uint64_t cache_size;          /* 0: the plugin's default */
  bool readonly;
  unsigned commit_interval;     /* seconds; 0: only on request */
  /* Files in dir, set by att_make_dir and att_load. */
  char sock[PATH_MAX], ctl[PATH_MAX], fuse_dir[PATH_MAX], log[PATH_MAX];
  char device[64];              /* "", /dev/loopN or /dev/nbdN */
  pid_t nbdkit_pid, nbdfuse_pid;        /* 0: none */
  /* Optional in a record (0 when absent, as in older records). */
  pid_t owner_pid;              /* 0, or the s3vol run it belongs to */
  uint64_t owner_start;         /* owner_pid's start time (clock ticks
                                 * since boot, /proc/PID/stat field 22) */
  uint64_t mntns;               /* 0, or the inode of the mount namespace
                                 * the mountpoint is in, seen only there */
  bool cache_owned;             /* cache_dir is this attachment's own:
                                 * removed when it is detached clean */
  bool ephemeral;               /* an s3vol run's ephemeral volume, in a
                                 * store of its own that is deleted with
                                 * it, even by recover */
};

/* The run directory: $S3VOL_RUN_DIR if it is absolute, else /run/s3vol.
 * The string is the environment's or a constant; do not free it.
 */
const char *att_run_dir (void);

/* Create the run directory if missing and, in it, a's directory for key
 * (usually the mountpoint; the same key gives the same directory, which
 * may already exist if it is this user's).  Sets a->dir and the paths of
 * the files in it (sock, ctl, log, fuse_dir); leaves the other fields
 * alone.  -ENAMETOOLONG if the socket paths would not fit a Unix socket
 * address, -EPERM if the directory exists and is not this user's own.
 */
int att_make_dir (struct attachment *a, const char *key,
                  const struct s3vol_log *log);

/* Create the run directory if missing and, in it, a new directory for
 * a, named after a new random id (att_id), never one that exists.  Sets
 * a->dir and the paths of the files in it as att_make_dir does.
 * -ENAMETOOLONG or -EPERM as att_make_dir.
 */
int att_make_new_dir (struct attachment *a, const struct s3vol_log *log);

/* a's id: the last component of a->dir.  Points into a. */
const char *att_id (const struct attachment *a);

/* The inode of the calling process's mount namespace, or 0 if it cannot
 * be told (no /proc).
 */
uint64_t att_self_mntns (void);

/* The start time of process pid (field 22 of /proc/PID/stat, clock
 * ticks since boot), or 0 if it is gone or a zombie: with the pid it
 * names one process, whatever pids are reused.  Not logged.
 */
uint64_t att_proc_start (pid_t pid);

/* Write a's record into a->dir (atomically: readers see the old record
 * or the new one).  -EINVAL if a field could not be read back (see
 * above: control characters, a bad name or device), having written
 * nothing.
 */
int att_save (const struct attachment *a, const struct s3vol_log *log);

/* Read the record in dir into *a (zeroed first; dir and the file paths
 * are set even on failure).  -ENOENT or -ENOTDIR, not logged, when dir
 * holds no record (an attachment being set up or torn down); -EBADMSG
 * or -EPERM for a record that is refused (above).
 */
int att_load (const char *dir, struct attachment *a,
              const struct s3vol_log *log);

/* Call fn for every record in the run directory, in no particular order,
 * until fn returns nonzero; that value is returned.  Records that are
 * refused are skipped with a warning, entries without a record silently.
 * Returns 0 when there is no run directory; a negative errno (logged)
 * when it cannot be read.  *a is valid only during the call.
 */
int att_each (int (*fn) (void *opaque, const struct attachment *a),
              void *opaque, const struct s3vol_log *log);

/* Find the attachment mounted at path (made absolute and resolved, if it
 * exists, as attach records it) as the caller sees it: one whose mntns
 * is the caller's mount namespace, else one whose mntns is 0 (seen from
 * everywhere).  0 and *a filled; -ENOENT (not logged) if none is, or
 * path is empty; or att_each's errors.
 */
int att_find (const char *path, struct attachment *a,
              const struct s3vol_log *log);

/* Remove a's directory and what it holds, without following links or
 * going into subdirectories (a subdirectory that is not empty, such as
 * a FUSE mount still there, stays, and so does the directory).  Only a
 * directory of this user's own is touched (-EPERM).  Best effort and
 * quiet: 0 (also when it is gone already) or the negative errno of
 * removing a->dir, never logged.
 */
int att_remove_dir (const struct attachment *a);

/* Send one request line to the plugin's control socket sock and read
 * the one-line answer into reply (without its newline).  The protocol
 * is described in plugin/ctl.c: "commit [MESSAGE]", "snapshot NAME",
 * "status", ...; answers are "ok ..." or "error CODE TEXT".  Blocks
 * until the plugin answers (a commit may take a while).  Logs nothing:
 * -EINVAL for a request with a newline or longer than
 * ATT_CTL_REQUEST_MAX, -ENAMETOOLONG for a socket path too long, the
 * errno of connecting (the plugin is not running: -ENOENT,
 * -ECONNREFUSED), -EPIPE if the plugin hung up without answering,
 * -EMSGSIZE if the answer does not fit n bytes.  Never raises SIGPIPE.
 */
int att_ctl_request (const char *sock, const char *req, char *reply,
                     size_t n);

/* Commit a through its plugin ("commit [MESSAGE]"): the plugin freezes
 * the filesystem for an instant, cuts, uploads and publishes.  0 and the
 * new version in *seq (0 if the plugin named none).  Failures are logged
 * once, with where the changes are and where the plugin's log is, and
 * returned as:
 *   -EINVAL      the message is not one line of at most
 *                ATT_CTL_REQUEST_MAX - 7 bytes (nothing sent), or the
 *                plugin answered "invalid"
 *   -ENOTCONN    the plugin could not be reached
 *   -EEXIST      conflict: another writer published first; the changes
 *                stay in the cache
 *   -EIO         the store failed; the changes stay in the cache and are
 *                retried
 *   -EBUSY, -ENOENT, -EROFS   the plugin answered busy, notfound,
 *                readonly
 *   -EREMOTEIO   any other failure the plugin answered
 *   -EPROTO      an answer that is not the protocol's
 * Commits of one attachment from several threads or processes are
 * taken by the plugin one at a time.
 */
int att_commit (const struct attachment *a, const char *message,
                uint64_t *seq, const struct s3vol_log *log);

#endif /* S3VOL_ATTACH_H */
