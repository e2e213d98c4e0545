/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: an object store wrapper with its own clock, for tests.
 *
 * objstore_clock_wrap returns a store that forwards every operation to
 * an inner store, and reports each object's mtime (head and list) as if
 * more time had passed since it was written than really has:
 * objstore_clock_advance (s, n) makes every object there is look n
 * seconds older than before, and an object put through the wrapper
 * after that looks as new as the inner store says.  The real clock does
 * not move: objects are made older instead, so that gc and the
 * volstore, which compare mtimes with the real time, see time pass.
 * (Objects already in the inner store when it was wrapped count as put
 * then.)  A key looks new from the moment its put begins; a put that
 * fails leaves its age as it was, even if the store acted.  That a put
 * over an existing object makes it new is the wrapper's doing: whether
 * the inner store moves its mtime is not tested here.
 *
 * One thing does not follow: a volstore trusts an object it wrote less
 * than grace / 4 ago by the real clock, without looking.  A test that
 * advances the clock past that must use a volstore opened after the
 * advance, as a process would be after that long.
 *
 * A hook stops an operation to let the test act in between: when an
 * operation of the chosen kinds whose key (for a list: prefix) starts
 * with the chosen prefix arrives, fn runs on that thread, before the
 * operation is forwarded or after it has returned.  The hook fires once
 * and disarms itself before fn runs (unless every is set), so fn may use
 * the store freely.  The operations fn does are forwarded as usual.
 *
 * The wrapper does not own the inner store: objstore_close on the
 * wrapper leaves it open, and it must outlive the wrapper.  Every
 * function here is thread-safe; advance while operations are in flight,
 * and their keys may come out a little older or younger than meant.
 */
#ifndef S3VOL_OBJSTORE_CLOCK_H
#define S3VOL_OBJSTORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "s3vol/objstore.h"

/* Kinds of operation, for struct objstore_clock_hook.ops. */
#define OBJSTORE_CLOCK_GET  1u
#define OBJSTORE_CLOCK_PUT  2u
#define OBJSTORE_CLOCK_HEAD 4u
#define OBJSTORE_CLOCK_DEL  8u          /* del and del_many (first key) */
#define OBJSTORE_CLOCK_LIST 16u

struct objstore_clock_hook {
  unsigned ops;                 /* OBJSTORE_CLOCK_* that trigger it */
  const char *prefix;           /* key or list prefix starts with it;
                                   NULL: any (copied) */
  bool after;                   /* run fn after the operation, not before */
  bool every;                   /* every time, not only the first */
  void (*fn) (void *opaque, const char *key);
  void *opaque;
};

/* Wrap inner.  Returns 0 or -ENOMEM. */
int objstore_clock_wrap (struct objstore *inner, struct objstore **out);

/* Let seconds pass for every object in the store. */
void objstore_clock_advance (struct objstore *s, int64_t seconds);

/* Arm a hook (NULL: disarm), replacing any armed one. */
void objstore_clock_set_hook (struct objstore *s,
                              const struct objstore_clock_hook *h);

/* How many times a hook has fired since the last objstore_clock_set_hook
 * (it may be running still).
 */
unsigned objstore_clock_fired (struct objstore *s);

#endif /* S3VOL_OBJSTORE_CLOCK_H */
