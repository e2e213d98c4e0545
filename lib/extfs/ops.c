/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the changes a writable extfs handle makes, in one table, and
 * their log.
 *
 * A public call (extfs_put, extfs_mkdir, extfs_rm, extfs_cp) resolves
 * its arguments (a target inside an existing directory, say) and hands
 * the change to extfs_apply, which runs the table's row for its kind
 * and logs it as resolved.  A replay on a moved head (oplog.c) runs the
 * logged changes through the same rows, with the row's replay flags
 * (force: what the first run decided, the replay does), logging nothing.
 * Which paths a change touches is known only as it walks its trees, so
 * the rows call extfs_touch themselves.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "extfs_int.h"

/* One kind of change. */
struct op_type {
  const char *name;             /* for messages */
  /* a, b: as in struct extfs_op (b NULL where the kind has none). */
  int (*apply) (struct extfs *x, const char *a, const char *b,
                unsigned flags);
  unsigned redo_flags;          /* added when replaying */
};

static const struct op_type types[] = {
  [OP_PUT] = { "put", extfs_run_put, EXTFS_FORCE },
  [OP_MKDIR] = { "mkdir", extfs_run_mkdir, EXTFS_FORCE | EXTFS_PARENTS },
  [OP_RM] = { "rm", extfs_run_rm, EXTFS_FORCE },
  [OP_CP] = { "cp", extfs_run_cp, EXTFS_FORCE },
};

/* Append a change to the log, with copies of its paths. */
static int
log_op (struct extfs *x, enum extfs_op_kind kind, const char *a,
        const char *b, unsigned flags)
{
  struct extfs_op op = { .kind = kind, .flags = flags };
  int r = -ENOMEM;

  op.a = strdup (a);
  op.b = b ? strdup (b) : NULL;
  if (op.a && (b == NULL || op.b))
    r = extfs_op_list_append (&x->ops, op);
  if (r < 0) {
    free (op.a);
    free (op.b);
  }
  return r;
}

int
extfs_apply (struct extfs *x, enum extfs_op_kind kind, const char *a,
             const char *b, unsigned flags)
{
  int r;

  if (x->replaying)
    flags |= types[kind].redo_flags;
  x->now_ns = extfs_now ();
  r = types[kind].apply (x, a, b, flags);
  if (r < 0)
    return r;
  x->changed = true;
  return x->replaying ? 0 : log_op (x, kind, a, b, flags);
}

int
extfs_redo (struct extfs *x)
{
  const struct extfs_op *op = NULL;
  size_t i;
  int r = 0;

  x->replaying = true;
  for (i = 0; r == 0 && i < x->ops.len; i++) {
    op = &x->ops.ptr[i];
    r = extfs_apply (x, op->kind, op->a, op->b, op->flags);
  }
  x->replaying = false;
  if (r < 0)
    s3vol_error (x->log, "volume %s: could not redo %s %s%s%s on version %"
                 PRIu64 ", which another writer published meanwhile; "
                 "nothing was published", x->volume, types[op->kind].name,
                 op->a, op->b ? " " : "", op->b ? op->b : "", x->seq);
  return r;
}

void
extfs_free_ops (struct extfs *x)
{
  size_t i;

  for (i = 0; i < x->ops.len; i++) {
    free (x->ops.ptr[i].a);
    free (x->ops.ptr[i].b);
  }
  extfs_op_list_reset (&x->ops);
}
