/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: the object store interface.
 *
 * Everything s3vol keeps lives in an object store: a flat map from keys to
 * immutable byte strings.  A store is named by a URL:
 *
 *   file:///some/dir          a local directory (the embedded default)
 *   s3://bucket[/prefix]      an S3 bucket, optionally under a prefix
 *
 * Keys are relative to the store's root (the directory or the prefix);
 * nothing outside it is ever read, written, listed or deleted.
 *
 * Implementations are tables of function pointers (struct objstore_ops);
 * each store object embeds struct objstore as its first member.  Callers
 * use the objstore_* wrappers below, which check arguments once so the
 * backends need not.
 *
 * Thread safety: every operation may be called from any number of threads
 * at once on the same store.  objstore_close must not race with anything.
 *
 * Results: 0 (or a count) on success, a negative errno value on failure:
 *   -ENOENT        no such key (not logged)
 *   -EEXIST        create-only put found the key present (not logged)
 *   -EINVAL        bad key or argument
 *   -EACCES        the store refused the credentials or permissions
 *   -ENXIO         the bucket or directory does not exist
 *   -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH
 *                  the store could not be reached (after retries)
 *   -EIO           any other store failure (after retries)
 *   -ENOMEM, -ENOSPC, ...   local failures
 * Every failure other than -ENOENT and -EEXIST is logged once through the
 * store's log callback, with the key but never a secret.
 */
#ifndef S3VOL_OBJSTORE_H
#define S3VOL_OBJSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/buf.h"
#include "s3vol/fileio.h"
#include "s3vol/log.h"

/* Longest key accepted, in bytes (S3's own limit; on S3 it bounds the
 * store's prefix and the key together, so keep keys well below it).
 */
#define OBJSTORE_KEY_MAX 1024

/* objstore_get's len meaning "up to the end of the object". */
#define OBJSTORE_TO_END UINT64_MAX

/* objstore_put flags. */
#define OBJSTORE_CREATE_ONLY 1u  /* fail with -EEXIST if the key exists */

/* objstore_caps bits. */
#define OBJSTORE_CAP_CREATE_ONLY 1u /* create-only puts are honoured
                                       atomically by the store */

struct objstore_stat {
  uint64_t size;        /* bytes */
  int64_t mtime;        /* seconds since the epoch when last written */
  char etag[80];        /* opaque version tag, quotes stripped, or "" */
};

struct objstore_entry {
  const char *key;      /* relative to the store root; valid only
                           during the callback */
  struct objstore_stat st;
};

/* List callback: return 0 to go on, anything else to stop the listing
 * (objstore_list then returns that value).
 */
typedef int (*objstore_list_fn) (void *opaque,
                                 const struct objstore_entry *e);

struct objstore_config {
  const struct s3vol_log *log;  /* where failures are reported; may be NULL */
  unsigned connections;   /* s3: most connections kept open (0: 16) */
  unsigned attempts;      /* s3: tries for a transient failure (0: 8) */
  unsigned retry_base_ms; /* s3: first backoff delay (0: 100 ms) */
  unsigned timeout_s;     /* s3: a request making no progress for this
                             long is abandoned and retried (0: 30 s) */
  const struct s3vol_fileio *fileio; /* file: how the directory is
                             changed and synced (NULL: the system calls;
                             tests pass a simulated disk) */
};

struct objstore;

struct objstore_ops {
  /* URL scheme this backend serves, e.g. "file". */
  const char *scheme;

  /* Open a store.  rest is the URL after "scheme://".  On success sets
   * *out to a store whose first member is struct objstore, with ops and
   * log filled in.  Must not write anything to the store.
   */
  int (*open) (const char *rest, const struct objstore_config *cfg,
               struct objstore **out);

  /* Release everything.  Never fails. */
  void (*close) (struct objstore *s);

  /* Read bytes [off, off+len) of key, clipped to the object's size, and
   * append them to out (out->len grows by the number read).  A range that
   * starts at or past the end yields no bytes and succeeds.  If the object
   * is missing returns -ENOENT and out is unchanged.  The store is not
   * trusted: never more than off + len bytes are taken in (a reply that
   * is longer fails with -EIO), so readers of whole objects pass the
   * largest size the format allows plus one, not OBJSTORE_TO_END.
   */
  int (*get) (struct objstore *s, const char *key, uint64_t off,
              uint64_t len, struct s3vol_buf *out);

  /* Store len bytes under key, replacing any object there unless flags
   * has OBJSTORE_CREATE_ONLY, in which case an existing key gives -EEXIST
   * and leaves it untouched.  Atomic: readers see the old object or the
   * new one, never a part.  Durable when it returns 0.
   */
  int (*put) (struct objstore *s, const char *key, const void *data,
              size_t len, unsigned flags);

  /* Size, mtime and etag of key, or -ENOENT. */
  int (*head) (struct objstore *s, const char *key,
               struct objstore_stat *st);

  /* Delete key.  Deleting a missing key succeeds.  Durable when it
   * returns 0.
   */
  int (*del) (struct objstore *s, const char *key);

  /* Delete n keys (missing ones succeed).  May batch; on failure some of
   * the keys may be gone and others not.
   */
  int (*del_many) (struct objstore *s, const char *const *keys, size_t n);

  /* Call fn for every key that starts with prefix ("" for all) and sorts
   * bytewise after start_after (NULL: from the first), in bytewise key
   * order, fetching as many pages as needed.  Whatever the store sends,
   * only such keys are delivered, each after the one before; a listing
   * that does not advance fails with -EIO.
   */
  int (*list) (struct objstore *s, const char *prefix,
               const char *start_after, objstore_list_fn fn, void *opaque);

  /* OBJSTORE_CAP_* bits.  May probe the store the first time (the result
   * is remembered); a probe writes and deletes one key under ".probe/".
   */
  unsigned (*caps) (struct objstore *s);
};

struct objstore {
  const struct objstore_ops *ops;
  const struct s3vol_log *log;
  char *url;            /* the URL it was opened with, for messages */
};

/* Open the store named by url ("file:///dir", "s3://bucket/prefix").
 * A URL without a scheme is refused.  Unknown schemes, malformed URLs,
 * missing directories or buckets and missing credentials are each
 * reported with one line naming the problem.
 */
int objstore_open (const char *url, const struct objstore_config *cfg,
                   struct objstore **out);

/* Close a store opened by objstore_open (NULL is fine). */
void objstore_close (struct objstore *s);

/* Is key acceptable to every backend?  Keys are 1 to OBJSTORE_KEY_MAX
 * bytes, no NUL or other control characters (0x01-0x1f, 0x7f), and split
 * on '/' into non-empty segments other than "." and "..".  Returns 0 or
 * -EINVAL (not logged).
 */
int objstore_check_key (const char *key);

/* Wrappers: check arguments (logging -EINVAL once) and call the backend. */
int objstore_get (struct objstore *s, const char *key, uint64_t off,
                  uint64_t len, struct s3vol_buf *out);
int objstore_put (struct objstore *s, const char *key, const void *data,
                  size_t len, unsigned flags);
int objstore_head (struct objstore *s, const char *key,
                   struct objstore_stat *st);
int objstore_del (struct objstore *s, const char *key);
int objstore_del_many (struct objstore *s, const char *const *keys,
                       size_t n);
int objstore_list (struct objstore *s, const char *prefix,
                   const char *start_after, objstore_list_fn fn,
                   void *opaque);
unsigned objstore_caps (struct objstore *s);

/* The backends, for objstore_open and for tests. */
extern const struct objstore_ops objstore_dir_ops;
extern const struct objstore_ops objstore_s3_ops;

#endif /* S3VOL_OBJSTORE_H */
