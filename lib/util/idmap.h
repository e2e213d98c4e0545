/* s3vol: a hash map from 32-byte ids to two 64-bit values (private).
 *
 * Open addressing with linear probing; ids are SHA-256 values, so their
 * first 8 bytes are already a good hash.  Not thread-safe: callers lock.
 */
#ifndef S3VOL_IDMAP_H
#define S3VOL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "s3vol/chunk.h"

struct idmap_entry {
  struct s3vol_id id;
  uint64_t a, b;
  int used;
};

struct idmap {
  struct idmap_entry *e;
  size_t n, cap;                /* cap is a power of two or 0 */
};

/* Look up id; NULL if absent.  The pointer is valid until the next put. */
struct idmap_entry *idmap_get (const struct idmap *m,
                               const struct s3vol_id *id);

/* Insert or update id.  Returns the entry, or NULL on -ENOMEM. */
struct idmap_entry *idmap_put (struct idmap *m, const struct s3vol_id *id,
                               uint64_t a, uint64_t b);

void idmap_clear (struct idmap *m);
void idmap_free (struct idmap *m);

#endif
