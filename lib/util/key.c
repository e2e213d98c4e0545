/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the syntax of an object key (include/s3vol/objstore.h).
 *
 * It lives below the store layer because both the store's wrappers and
 * its backends check keys: the wrappers check what callers pass, the S3
 * backend checks what a server lists.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "s3vol/objstore.h"

int
objstore_check_key (const char *key)
{
  size_t len, seg = 0;
  const unsigned char *p;

  if (key == NULL)
    return -EINVAL;
  len = strlen (key);
  if (len == 0 || len > OBJSTORE_KEY_MAX)
    return -EINVAL;
  for (p = (const unsigned char *) key; ; p++) {
    if (*p == '/' || *p == '\0') {
      /* Segment is p[-seg .. -1]. */
      if (seg == 0)
        return -EINVAL;
      if ((seg == 1 && p[-1] == '.') ||
          (seg == 2 && p[-1] == '.' && p[-2] == '.'))
        return -EINVAL;
      if (*p == '\0')
        return 0;
      seg = 0;
      continue;
    }
    if (*p < 0x20 || *p == 0x7f)
      return -EINVAL;
    seg++;
  }
}
