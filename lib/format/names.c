/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: which volume and snapshot names are valid (docs/FORMAT.md):
 * they become parts of object keys, so the rule belongs to the format.
 */
#include <errno.h>
#include <string.h>

#include "s3vol/manifest.h"

int
s3vol_check_name (const char *name)
{
  size_t i, n = name ? strlen (name) : 0;

  if (n == 0 || n > S3VOL_NAME_MAX || name[0] == '.' || name[0] == '-')
    return -EINVAL;
  for (i = 0; i < n; i++)
    if (!((name[i] >= 'a' && name[i] <= 'z') ||
          (name[i] >= 'A' && name[i] <= 'Z') ||
          (name[i] >= '0' && name[i] <= '9') ||
          name[i] == '.' || name[i] == '_' || name[i] == '-'))
      return -EINVAL;
  return 0;
}
