/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a set of ids in the order they were added (volume_int.h). */
#include <errno.h>
#include <string.h>

#include "volume_int.h"

static bool
idset_eq (void *ctx, uintptr_t val, const void *key)
{
  const struct idset *s = ctx;

  return memcmp (s->ids.ptr[val - 1].b, key, S3VOL_ID_LEN) == 0;
}

void
idset_init (struct idset *s)
{
  *s = (struct idset) { .map = HASHMAP_INIT (idset_eq, s) };
}

int
idset_add (struct idset *s, const struct s3vol_id *id)
{
  uint64_t h = id_hash (id);
  int r;

  if (hashmap_get (&s->map, h, id))
    return 0;
  /* Room first, so that a failed put leaves nothing behind. */
  r = id_vec_reserve (&s->ids, 1);
  if (r == 0)
    r = hashmap_put (&s->map, h, s->ids.len + 1);
  if (r < 0)
    return r;
  s->ids.ptr[s->ids.len++] = *id;
  return 1;
}

bool
idset_has (const struct idset *s, const struct s3vol_id *id)
{
  return hashmap_get (&s->map, id_hash (id), id) != 0;
}

void
idset_free (struct idset *s)
{
  id_vec_reset (&s->ids);
  hashmap_free (&s->map);
}
