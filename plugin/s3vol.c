/* nbdkit-s3vol-plugin: a volume as an NBD block device.
 *
 * Glue only: configuration, NBD callbacks and the plugin table.  The
 * cache and commit logic live in libs3vol.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

static void *
s3vol_open (int readonly)
{
  (void) readonly;
  nbdkit_error ("s3vol: serving volumes is not implemented yet");
  return NULL;
}

static int64_t
s3vol_get_size (void *handle)
{
  (void) handle;
  return 0;
}

static int
s3vol_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  (void) handle; (void) flags;
  (void) offset;
  memset (buf, 0, count);
  return 0;
}

static struct nbdkit_plugin plugin = {
  .name = "s3vol",
  .version = S3VOL_VERSION,
  .longname = "s3vol: versioned volumes on object storage",
  .open = s3vol_open,
  .get_size = s3vol_get_size,
  .pread = s3vol_pread,
};

NBDKIT_REGISTER_PLUGIN (plugin)
