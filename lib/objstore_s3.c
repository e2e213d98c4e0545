/* s3vol: S3 object store backend (placeholder; being written). */
#include <errno.h>
#include "s3vol/objstore.h"

static int
s3_open (const char *rest, const struct objstore_config *cfg,
         struct objstore **out)
{
  (void) rest; (void) out;
  s3vol_error (cfg->log, "s3:// stores are not supported yet");
  return -ENOTSUP;
}

const struct objstore_ops objstore_s3_ops = {
  .scheme = "s3",
  .open = s3_open,
};
