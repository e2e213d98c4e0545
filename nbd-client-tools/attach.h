/* s3vol CLI: attachments: a volume served by nbdkit, turned into a block
 * device and mounted, recorded under the run directory so that commit,
 * reload, detach and status can find it.
 */
#ifndef S3VOL_ATTACH_H
#define S3VOL_ATTACH_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct attachment {
  char dir[1024];               /* its run directory */
  char mountpoint[PATH_MAX];    /* "" when not mounted (run) */
  char volume[80];
  char store[PATH_MAX];
  char cache_dir[PATH_MAX];
  char snapshot[80];
  uint64_t version;
  uint64_t cache_size;
  bool readonly;
  unsigned commit_interval;
  char sock[PATH_MAX], ctl[PATH_MAX], fuse_dir[PATH_MAX], log[PATH_MAX];
  char device[64];              /* /dev/loopN or /dev/nbdN */
  pid_t nbdkit_pid, nbdfuse_pid;
};

/* The run directory: $S3VOL_RUN_DIR, else /run/s3vol. */
const char *att_run_dir (void);

/* Fill a->dir for a key (usually the mountpoint) and create it. */
int att_make_dir (struct attachment *a, const char *key);
int att_save (const struct attachment *a);
int att_load (const char *dir, struct attachment *a);
/* Find the attachment mounted at path; 0 or -ENOENT. */
int att_find (const char *path, struct attachment *a);
/* Call fn for every recorded attachment. */
void att_each (void (*fn) (struct attachment *a, void *opaque),
               void *opaque);

/* Start nbdkit serving a (fills sock, ctl, log, nbdkit_pid), connect a
 * block device (fills device, fuse_dir, nbdfuse_pid).  Print one line
 * and return an exit code on failure, having undone what was done.
 */
int att_serve (struct attachment *a);
int att_connect (struct attachment *a);
/* Mount a->device at mountpoint (ext4).  Exit code. */
int att_mount (struct attachment *a, const char *mountpoint);

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

/* Serve, connect and mount a (volume, options and mountpoint set); on
 * failure undo it all.  Exit code.
 */
int cli_attach (struct attachment *a, const char *mountpoint);

/* Processes using files under path, as "PID (command)" lines. */
void att_busy (const char *path, char *out, size_t n);

/* Send one line to the plugin's control socket and read the answer. */
int ctl_request (const char *sock, const char *req, char *reply, size_t n);

/* Commit through the control socket, printing nothing; returns an exit
 * code and the version in *seq.  On failure prints one line.
 */
int att_commit (struct attachment *a, const char *message, uint64_t *seq);

#endif
