/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the local file I/O that durability depends on.
 *
 * The directory store (file://) and the cache directory change their
 * files through a table of functions rather than the system calls
 * themselves, so that a test can put a simulated disk underneath and
 * check what survives a crash of the host, which the page cache hides
 * from any test that only kills a process (tests/support/powerfail.h).
 *
 * Only what changes a file or a directory, or makes a change durable,
 * goes through the table: creating and opening files for writing,
 * writing, truncating, punching, renaming, linking, removing, making
 * directories, syncing and closing those descriptors.  Reads, stat and
 * directory listings use the system calls directly: an implementation
 * must keep the real files showing every change at once, as the kernel
 * does, and may only differ in what a crash leaves.
 *
 * Every function behaves as the system call it is named after, on the
 * same arguments: it returns what the call returns and sets errno on
 * failure (these are the only functions of libs3vol that do not return
 * a negative errno).  Paths are absolute or relative to the working
 * directory.  Each is called with opaque as its first argument.
 *
 * Durability is the system calls' own: data written to a file is
 * durable once fsync or fdatasync of it returns 0; a name created,
 * renamed, linked or removed in a directory, once fsync of a descriptor
 * of that directory (opened with open_dir) returns 0.
 *
 * The functions may be called from many threads at once.
 */
#ifndef S3VOL_FILEIO_H
#define S3VOL_FILEIO_H

#include <sys/types.h>

struct s3vol_fileio {
  void *opaque;

  /* open(2) of a regular file, flags as open's (O_CREAT, O_EXCL,
   * O_TRUNC, O_RDWR, ...).  mode is used with O_CREAT.
   */
  int (*open) (void *opaque, const char *path, int flags, mode_t mode);
  /* open(2) of a directory, read-only, for fsync. */
  int (*open_dir) (void *opaque, const char *path);
  int (*close) (void *opaque, int fd);

  ssize_t (*pwrite) (void *opaque, int fd, const void *buf, size_t len,
                     off_t off);
  int (*ftruncate) (void *opaque, int fd, off_t len);
  /* fallocate(2): mode 0 (allocate) or FALLOC_FL_PUNCH_HOLE |
   * FALLOC_FL_KEEP_SIZE.
   */
  int (*fallocate) (void *opaque, int fd, int mode, off_t off, off_t len);
  int (*fsync) (void *opaque, int fd);
  int (*fdatasync) (void *opaque, int fd);

  /* renameat2(2) with AT_FDCWD: flags 0 (rename(2)) or RENAME_NOREPLACE.
   * Both names are in one directory.
   */
  int (*rename) (void *opaque, const char *from, const char *to,
                 unsigned flags);
  int (*link) (void *opaque, const char *from, const char *to);
  int (*unlink) (void *opaque, const char *path);
  int (*mkdir) (void *opaque, const char *path, mode_t mode);
  int (*rmdir) (void *opaque, const char *path);
};

/* The system calls themselves: what a NULL fileio in a configuration
 * means.
 */
extern const struct s3vol_fileio s3vol_fileio_sys;

#endif /* S3VOL_FILEIO_H */
