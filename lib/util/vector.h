/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: one growable array for all of lib/ (private).
 *
 *   DEFINE_VECTOR (name, type)
 *
 * defines struct name { type *ptr; size_t len, cap; } and
 *
 *   int  name_reserve (struct name *v, size_t n)   room for n more
 *   int  name_append (struct name *v, type elem)   add one at the end
 *   type *name_grow (struct name *v)               add one zeroed, return it
 *   void name_reset (struct name *v)               free, back to empty
 *
 * An all-zero struct is an empty vector.  Growth doubles the capacity and
 * is checked for overflow: reserve, append and grow return 0 (or the new
 * element) or -ENOMEM / NULL with errno ENOMEM, leaving v as it was.
 * Pointers into ptr are invalid after any call that grows.  Not
 * thread-safe: callers lock.
 */
#ifndef S3VOL_VECTOR_H
#define S3VOL_VECTOR_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Make room for n more elements of elem bytes after len: 0 or -ENOMEM. */
int s3vol_vector_reserve (void **ptr, size_t *cap, size_t len, size_t n,
                          size_t elem);

#define DEFINE_VECTOR(name, type)                                       \
  struct name {                                                         \
    type *ptr;                                                          \
    size_t len, cap;                                                    \
  };                                                                    \
                                                                        \
  static inline int __attribute__ ((__unused__))                        \
  name##_reserve (struct name *v, size_t n)                             \
  {                                                                     \
    return s3vol_vector_reserve ((void **) &v->ptr, &v->cap, v->len,    \
                                 n, sizeof (type));                     \
  }                                                                     \
                                                                        \
  static inline int __attribute__ ((__unused__))                        \
  name##_append (struct name *v, type elem)                             \
  {                                                                     \
    int r = name##_reserve (v, 1);                                      \
    if (r < 0)                                                          \
      return r;                                                         \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  static inline type * __attribute__ ((__unused__))                     \
  name##_grow (struct name *v)                                          \
  {                                                                     \
    int r = name##_reserve (v, 1);                                      \
    if (r < 0) {                                                        \
      errno = -r;             /* overflow checks do not set it */       \
      return NULL;                                                      \
    }                                                                   \
    memset (&v->ptr[v->len], 0, sizeof (type));                         \
    return &v->ptr[v->len++];                                           \
  }                                                                     \
                                                                        \
  static inline void __attribute__ ((__unused__))                       \
  name##_reset (struct name *v)                                         \
  {                                                                     \
    free (v->ptr);                                                      \
    v->ptr = NULL;                                                      \
    v->len = v->cap = 0;                                                \
  }

#endif
