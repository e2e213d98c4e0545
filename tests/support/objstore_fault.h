/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: an object store wrapper that injects faults, for tests.
 *
 * objstore_fault_wrap returns a store that forwards every operation to an
 * inner store and counts it, and that can make chosen operations fail
 * the way a real backend does: with a negative errno (default -EIO) and
 * one error line through the inner store's log, naming the store and
 * the key.  It is not a URL scheme; tests build it around a store they
 * opened.
 *
 *   mode                  what fails
 *   ----                  ----------
 *   OBJSTORE_FAULT_OFF    nothing
 *   OBJSTORE_FAULT_ONCE   the nth operation of the chosen kinds, only it
 *   OBJSTORE_FAULT_FROM   the nth operation of the chosen kinds and every
 *                         operation after it, of any kind ("store down")
 *   OBJSTORE_FAULT_CRASH  every operation after the nth of the chosen
 *                         kinds (default: puts) has gone through, as if
 *                         the process died there; what was done stays
 *
 * Operations are numbered from 1, in the order the wrapper sees them
 * (with several threads, the order they take the wrapper's lock).  get,
 * put, head, del, del_many and list each count as one operation; caps
 * is forwarded uncounted and never fails.  n == 0 means: never, for ONCE
 * and FROM; before the first operation, for CRASH.
 *
 * With lost_reply, a failing ONCE operation reaches the inner store
 * first and only its answer is lost: a put or delete takes effect, a
 * list calls its callback for every key, and the caller still sees the
 * error.  This is what a client sees when a connection drops after the
 * store acted, or when a retried create-only put finds its own first
 * try.  A failing ONCE del_many (without lost_reply) deletes the first
 * half of its keys and fails, as the contract allows.
 *
 * If a forwarded operation fails by itself, its own error is returned.
 *
 * The wrapper does not own the inner store: objstore_close on the
 * wrapper leaves it open, and it must outlive the wrapper.  Messages
 * name the inner store's URL and go to its log (as it was at wrap time).
 * Every function here is thread-safe.
 */
#ifndef S3VOL_OBJSTORE_FAULT_H
#define S3VOL_OBJSTORE_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "s3vol/objstore.h"

enum objstore_fault_mode {
  OBJSTORE_FAULT_OFF = 0,
  OBJSTORE_FAULT_ONCE,
  OBJSTORE_FAULT_FROM,
  OBJSTORE_FAULT_CRASH,
};

/* Kinds of operation, for objstore_fault_config.kinds. */
#define OBJSTORE_FAULT_GET  1u
#define OBJSTORE_FAULT_PUT  2u
#define OBJSTORE_FAULT_HEAD 4u
#define OBJSTORE_FAULT_DEL  8u          /* del and del_many */
#define OBJSTORE_FAULT_LIST 16u
#define OBJSTORE_FAULT_ALL  31u

struct objstore_fault_config {
  enum objstore_fault_mode mode;
  uint64_t n;                   /* which operation, counting from 1 */
  unsigned kinds;               /* kinds counted towards n; 0: every
                                   kind (for CRASH: puts only) */
  int err;                      /* negative errno to fail with; 0: -EIO */
  bool lost_reply;              /* ONCE: the operation happens, then
                                   fails (see above) */
};

struct objstore_fault_counts {
  uint64_t ops;                 /* operations seen, failed ones too */
  uint64_t gets, puts, heads, dels, lists;
  uint64_t matched;             /* operations of the configured kinds */
  uint64_t injected;            /* operations failed by the wrapper */
};

/* Wrap inner.  cfg may be NULL (no faults).  Returns 0 or -ENOMEM. */
int objstore_fault_wrap (struct objstore *inner,
                         const struct objstore_fault_config *cfg,
                         struct objstore **out);

/* Replace the configuration (NULL: no faults) and zero the counts, so
 * that n counts from the next operation.
 */
void objstore_fault_arm (struct objstore *s,
                         const struct objstore_fault_config *cfg);

/* The counts since the wrapper was made or last armed. */
void objstore_fault_counts (struct objstore *s,
                            struct objstore_fault_counts *out);

/* The wrapped store. */
struct objstore *objstore_fault_inner (struct objstore *s);

#endif /* S3VOL_OBJSTORE_FAULT_H */
