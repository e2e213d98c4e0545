/* s3vol: a hash map from 32-byte ids to two 64-bit values. */
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

static size_t
slot_of (const struct s3vol_id *id, size_t cap)
{
  uint64_t h;

  memcpy (&h, id->b, sizeof h);
  return h & (cap - 1);
}

struct idmap_entry *
idmap_get (const struct idmap *m, const struct s3vol_id *id)
{
  size_t i;

  if (m->cap == 0)
    return NULL;
  for (i = slot_of (id, m->cap); m->e[i].used; i = (i + 1) & (m->cap - 1))
    if (memcmp (m->e[i].id.b, id->b, S3VOL_ID_LEN) == 0)
      return &m->e[i];
  return NULL;
}

static int
grow (struct idmap *m)
{
  size_t cap = m->cap ? 2 * m->cap : 1024, i, j;
  struct idmap_entry *e = calloc (cap, sizeof *e);

  if (e == NULL)
    return -1;
  for (i = 0; i < m->cap; i++) {
    if (!m->e[i].used)
      continue;
    for (j = slot_of (&m->e[i].id, cap); e[j].used; j = (j + 1) & (cap - 1))
      ;
    e[j] = m->e[i];
  }
  free (m->e);
  m->e = e;
  m->cap = cap;
  return 0;
}

struct idmap_entry *
idmap_put (struct idmap *m, const struct s3vol_id *id, uint64_t a,
           uint64_t b)
{
  struct idmap_entry *x = idmap_get (m, id);
  size_t i;

  if (x == NULL) {
    /* Keep the load under 3/4 so probes stay short. */
    if ((m->n + 1) * 4 > m->cap * 3 && grow (m) < 0)
      return NULL;
    for (i = slot_of (id, m->cap); m->e[i].used; i = (i + 1) & (m->cap - 1))
      ;
    x = &m->e[i];
    x->id = *id;
    x->used = 1;
    m->n++;
  }
  x->a = a;
  x->b = b;
  return x;
}

void
idmap_clear (struct idmap *m)
{
  if (m->cap)
    memset (m->e, 0, m->cap * sizeof *m->e);
  m->n = 0;
}

void
idmap_free (struct idmap *m)
{
  free (m->e);
  memset (m, 0, sizeof *m);
}
