/* SPDX-License-Identifier: BSD-3-Clause */
/* nbdkit-s3vol-plugin: state shared by the plugin's files. */
#ifndef S3VOL_PLUGIN_H
#define S3VOL_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>

#include "s3vol/cache.h"

/* Everything the plugin serves: one volume through one cache, shared by
 * every NBD connection (which is why multi-conn is safe).
 */
struct served {
  struct objstore *os;
  struct volstore *vs;
  struct cache *cache;
  const char *volume;
  unsigned commit_interval;     /* seconds, 0: only on request and exit */
  bool readonly;
};

extern struct served served;
extern const struct s3vol_log plugin_log;

/* committer.c: background commits. */
int committer_start (void);
void committer_stop (void);
/* Commit now (serialised with the background commits). */
int committer_commit_now (const char *message, uint64_t *seq);
/* Freeze this mountpoint around each commit's cut (NULL: none). */
void committer_set_freeze (const char *path);
/* One line of JSON describing the last commit's outcome. */
void committer_status (char *buf, size_t n);

/* ctl.c: the control socket: bound before nbdkit forks (so errors
 * show), served after.
 */
int ctl_bind (const char *path);
int ctl_serve (void);
void ctl_stop (void);

/* owner.c: the process an attachment belongs to (owner=, recover=),
 * watched after the fork; when it is gone, recover is run and the
 * plugin exits.
 */
int owner_config (const char *key, const char *value);
int owner_config_complete (const char *ctl);
int owner_start_watch (void);
void owner_stop_watch (void);
/* Was the owner found gone? */
bool owner_gone (void);

/* s3vol.c: the owner is gone and nobody tears the block device down:
 * refuse writes from now on, replay the filesystem's journal into the
 * cache, commit, and exit the process.  Does not return.
 */
void s3vol_abandon (void);

#endif
