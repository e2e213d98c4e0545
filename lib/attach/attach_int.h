/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: what the files of lib/attach share, not exported. */
#ifndef S3VOL_ATTACH_INT_H
#define S3VOL_ATTACH_INT_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "s3vol/attach.h"

/* Set the paths of the files in a->dir (sock, ctl, log, fuse_dir);
 * -ENAMETOOLONG if the sockets' do not fit a socket address.
 */
int att_set_paths (struct attachment *a);

/* Owned by this user or root, and writable by no one else? */
bool att_trusted (const struct stat *st);

/* att_load, logging a refused record at level. */
int att_load_at (const char *dir, struct attachment *a,
                 const struct s3vol_log *log, enum s3vol_log_level level);

/* Read fd until end of file or n bytes: the count, or a negative
 * errno.  A count of n may mean there is more.
 */
ssize_t att_read_up_to (int fd, char *buf, size_t n);

#endif
