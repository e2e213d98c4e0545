/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the plain system calls as a struct s3vol_fileio. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "s3vol/fileio.h"

static int
sys_open (void *opaque, const char *path, int flags, mode_t mode)
{
  (void) opaque;
  return open (path, flags | O_CLOEXEC, mode);
}

static int
sys_open_dir (void *opaque, const char *path)
{
  (void) opaque;
  return open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int
sys_close (void *opaque, int fd)
{
  (void) opaque;
  return close (fd);
}

static ssize_t
sys_pwrite (void *opaque, int fd, const void *buf, size_t len, off_t off)
{
  (void) opaque;
  return pwrite (fd, buf, len, off);
}

static int
sys_ftruncate (void *opaque, int fd, off_t len)
{
  (void) opaque;
  return ftruncate (fd, len);
}

static int
sys_fallocate (void *opaque, int fd, int mode, off_t off, off_t len)
{
  (void) opaque;
  return fallocate (fd, mode, off, len);
}

static int
sys_fsync (void *opaque, int fd)
{
  (void) opaque;
  return fsync (fd);
}

static int
sys_fdatasync (void *opaque, int fd)
{
  (void) opaque;
  return fdatasync (fd);
}

static int
sys_rename (void *opaque, const char *from, const char *to, unsigned flags)
{
  (void) opaque;
  if (flags == 0)
    return rename (from, to);
  return renameat2 (AT_FDCWD, from, AT_FDCWD, to, flags);
}

static int
sys_link (void *opaque, const char *from, const char *to)
{
  (void) opaque;
  return link (from, to);
}

static int
sys_unlink (void *opaque, const char *path)
{
  (void) opaque;
  return unlink (path);
}

static int
sys_mkdir (void *opaque, const char *path, mode_t mode)
{
  (void) opaque;
  return mkdir (path, mode);
}

static int
sys_rmdir (void *opaque, const char *path)
{
  (void) opaque;
  return rmdir (path);
}

const struct s3vol_fileio s3vol_fileio_sys = {
  .opaque = NULL,
  .open = sys_open,
  .open_dir = sys_open_dir,
  .close = sys_close,
  .pwrite = sys_pwrite,
  .ftruncate = sys_ftruncate,
  .fallocate = sys_fallocate,
  .fsync = sys_fsync,
  .fdatasync = sys_fdatasync,
  .rename = sys_rename,
  .link = sys_link,
  .unlink = sys_unlink,
  .mkdir = sys_mkdir,
  .rmdir = sys_rmdir,
};
