/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: volumes, versions, snapshots and the commit protocol.
 *
 * A volstore is an object store seen as a set of named volumes.  Names
 * map to volume ids (names/NAME), so a rename is one small write and a
 * deleted name can be reused at once.  A volume is a sequence of
 * immutable versions (volumes/ID/versions/SEQ); each is a root manifest
 * (manifest.h) over content-addressed chunks and pages shared by every
 * volume of the store.  Object keys and layouts: docs/FORMAT.md.
 *
 * Commit protocol: upload the new chunks (volstore_put_chunk), then call
 * volume_commit with the changed chunk indexes.  It writes the changed
 * pages, then publishes the root with a create-only put at base + 1.  If
 * that key exists someone else published first: the result is -EEXIST
 * (a conflict) naming both versions, nothing is lost, and the caller may
 * call again with force, or rebase.  Everything a root references is
 * stored before the root, so a version is whole or absent.
 *
 * Thread safety: a volstore may be used from many threads.  A struct
 * volume is safe for concurrent reads (volume_read_chunk,
 * volume_chunk_id), also while one thread commits or reloads it (the
 * new root is swapped in atomically); volume_commit and volume_reload
 * must not run concurrently with each other.
 *
 * Errors are negative errno values, logged once where they arise:
 * -ENOENT (no such volume, version or snapshot), -EEXIST (name taken, or
 * commit conflict), -EINVAL (bad name or argument), -EBADMSG (corrupt
 * object), or the object store's errors.
 */
#ifndef S3VOL_VOLUME_H
#define S3VOL_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/chunk.h"
#include "s3vol/manifest.h"
#include "s3vol/objstore.h"
#include "s3vol/util.h"

#define S3VOL_CHUNK_MIN (64u << 10)
#define S3VOL_CHUNK_MAX (64u << 20)
#define S3VOL_CHUNK_DEFAULT (1u << 20)   /* see docs/FORMAT.md */
#define S3VOL_SIZE_MAX (1ull << 50)      /* 1 PiB */

/* The rule names follow, for messages. */
#define S3VOL_NAME_RULE \
  "1 to 64 characters from A-Z a-z 0-9 . _ -, not starting with . or -"

struct volstore_config {
  const struct s3vol_log *log;
  int zstd_level;               /* 0: default (3) */
  /* Retention of unnamed versions, applied by gc: keep the newest
   * keep_last versions and every version younger than keep_seconds.
   * 0 means the default (10 versions, 7 days).
   */
  unsigned keep_last;
  int64_t keep_seconds;
  /* gc deletes unreachable objects only when older than this, so a
   * commit in flight is never robbed.  0: the default, 1 hour.
   */
  int64_t grace_seconds;
};

struct volstore;

/* Open a volume store on top of an object store (which the volstore does
 * not own; close it after the volstore).  Checks whether create-only puts
 * are honoured; if not, warns once that concurrent commits fall back to
 * last-write-wins.
 */
int volstore_open (struct objstore *os, const struct volstore_config *cfg,
                   struct volstore **out);
void volstore_close (struct volstore *vs);
struct objstore *volstore_objstore (struct volstore *vs);
const struct s3vol_log *volstore_log (struct volstore *vs);

struct vol_info {
  char name[S3VOL_NAME_MAX + 1];
  struct s3vol_volid volid;
  uint64_t size;
  uint32_t chunk_size;
  uint64_t head;                /* newest version */
  uint64_t versions;            /* versions kept in the store */
  uint64_t snapshots;
  uint64_t chunks;              /* non-hole chunks in the head */
  uint64_t bytes_referenced;    /* chunks * chunk_size, head version */
  uint64_t bytes_stored;        /* sum of their stored sizes */
  int64_t last_commit_ns;       /* time of the head version */
  bool encrypted;               /* its head version is encrypted */
};

/* Create a volume: its name and an empty version 1 (all holes).  A
 * plain volume (chunks stored as they are, under their SHA-256), unless
 * a key was given (volstore_add_key): then it is encrypted.
 * chunk_size 0 means S3VOL_CHUNK_DEFAULT.  -EEXIST if the name is taken.
 */
int volstore_create (struct volstore *vs, const char *name, uint64_t size,
                     uint32_t chunk_size, struct vol_info *info);

/* Does a volume of this name exist?  1, 0, or a negative errno (a bad
 * name is -EINVAL); only store failures are logged.
 */
int volstore_exists (struct volstore *vs, const char *name);

/* Information about a volume by name. */
int volstore_info (struct volstore *vs, const char *name,
                   struct vol_info *info);

/* Call fn for every volume, in name order.  fn returns nonzero to stop. */
int volstore_list (struct volstore *vs,
                   int (*fn) (void *opaque, const struct vol_info *info),
                   void *opaque);

/* Rename: the new name is created (create-only) before the old one is
 * removed, so a reader always finds the volume under one of them.
 */
int volstore_rename (struct volstore *vs, const char *from, const char *to);

/* Delete a name.  The volume's versions and chunks go at the next gc. */
int volstore_delete (struct volstore *vs, const char *name);

/* Which version of a volume: seq, or a snapshot name, or the newest. */
struct vol_ref {
  uint64_t seq;                 /* 0: newest (unless snapshot is set) */
  const char *snapshot;         /* NULL: not by snapshot */
};

/* Fork: a new volume dst whose version 1 is src's version ref, sharing
 * every chunk and page (nothing is copied).
 */
int volstore_fork (struct volstore *vs, const char *src,
                   const struct vol_ref *ref, const char *dst,
                   struct vol_info *info);

/* Versions of a volume, oldest first. */
struct vol_version {
  uint64_t seq;
  uint64_t parent;
  int64_t time_ns;
  uint32_t pid;
  uint32_t flags;               /* ROOT_FLAG_* */
  uint64_t overwrote;
  const char *host;
  const char *message;          /* "" if none */
  uint64_t chunks;
  uint64_t bytes_stored;
};
int volstore_versions (struct volstore *vs, const char *name,
                       int (*fn) (void *opaque, const struct vol_version *v),
                       void *opaque);

/* Snapshots: a name (same rule as volume names) pinning one version
 * against retention and gc.  -EEXIST if taken.
 */
int volstore_snapshot_create (struct volstore *vs, const char *volume,
                              const char *snapshot, uint64_t seq);
int volstore_snapshot_delete (struct volstore *vs, const char *volume,
                              const char *snapshot);
int volstore_snapshot_list (struct volstore *vs, const char *volume,
                            int (*fn) (void *opaque, const char *snapshot,
                                       uint64_t seq),
                            void *opaque);

/* Store one chunk (or page) plaintext of a plain volume: hash it, and unless it is all
 * zero (then *id is S3VOL_HOLE and nothing is stored) or already known
 * to be in the store, encode and put it.  *stored_len gets the object's
 * size (0 for a hole).  Safe from many threads.
 */
int volstore_put_chunk (struct volstore *vs, const void *data, size_t len,
                        struct s3vol_id *id, uint32_t *stored_len);

/* Fetch and verify the chunk id, appending its plaintext to out. */
int volstore_get_chunk (struct volstore *vs, const struct s3vol_id *id,
                        struct s3vol_buf *out);

/* Give the volstore a user key (s3vol/crypt.h), copied and wiped at
 * close.  Opening an encrypted volume tries each key given; creating
 * one uses the first.  Once a key is given, a volume that is not
 * encrypted is refused (-EKEYREJECTED): a writer to the store could
 * have put it where an encrypted one was.  0 or -ENOSPC (more than 8).
 */
struct s3vol_key;
int volstore_add_key (struct volstore *vs, const struct s3vol_key *key);

/* As volstore_create, but an error (-ENOKEY) if no key was given: see docs/FORMAT.md, "Encrypted volumes".
 */
int volstore_create_encrypted (struct volstore *vs, const char *name,
                               uint64_t size, uint32_t chunk_size,
                               struct vol_info *info);

/* An open version of a volume. */
struct volume;

/* Open a version.  An encrypted volume needs one of the volstore's
 * keys: -ENOKEY if none was given, -EKEYREJECTED if none fits; its
 * roots are authenticated (their HMAC) before use.
 */
int volume_open (struct volstore *vs, const char *name,
                 const struct vol_ref *ref, struct volume **out);
void volume_close (struct volume *v);

uint64_t volume_size (const struct volume *v);
uint32_t volume_chunk_size (const struct volume *v);
uint64_t volume_seq (struct volume *v);
const char *volume_name (const struct volume *v);
bool volume_encrypted (const struct volume *v);

/* Store one chunk of this volume as volstore_put_chunk does, sealed and
 * with a keyed id when the volume is encrypted.  Writers of an open
 * volume (cache, import) use this.
 */
int volume_put_chunk (struct volume *v, const void *data, size_t len,
                      struct s3vol_id *id, uint32_t *stored_len);
/* The same, and *written gets when the object now relied on was
 * written (seconds since the epoch, the store's clock; 0 for a hole).
 * A commit may reference it without storing it again only while it is
 * younger than half of volume_grace_seconds (docs/FORMAT.md, "Retention
 * and garbage collection"): older, store it again first.
 */
int volume_put_chunk_at (struct volume *v, const void *data, size_t len,
                         struct s3vol_id *id, uint32_t *stored_len,
                         int64_t *written);
/* The store's gc grace period, in seconds. */
int64_t volume_grace_seconds (const struct volume *v);
/* The current root: only for the thread that commits or reloads. */
const struct root *volume_root (const struct volume *v);

/* The id of chunk index (S3VOL_HOLE for a hole). */
int volume_chunk_id (struct volume *v, uint64_t index, struct s3vol_id *id);

/* Read chunk index into buf (chunk_size bytes; a hole reads as zeros).
 * *hole, if not NULL, says whether it was a hole.
 */
int volume_read_chunk (struct volume *v, uint64_t index, void *buf,
                       bool *hole);

/* Read the chunk whose id is id (not a hole) into buf (len bytes, the
 * volume's chunk size), checked against id.  For the host chunk store,
 * which keys chunks by id: the id, once looked up, names the bytes
 * whatever version the handle moves to meanwhile.
 */
int volume_read_chunk_id (struct volume *v, const struct s3vol_id *id,
                          void *buf, size_t len);

/* 0 if data (len bytes) is the plaintext of id under this volume's ids
 * (SHA-256, or keyed for an encrypted volume), -EBADMSG if not.  Logs
 * nothing.
 */
int volume_check_chunk (struct volume *v, const struct s3vol_id *id,
                        const void *data, size_t len);

/* The newest version number of the volume, without moving the handle. */
int volume_head (struct volume *v, uint64_t *head);

/* Move the handle to the newest version (or keep it if already there). */
int volume_reload (struct volume *v);

/* A changed chunk, already stored with volstore_put_chunk. */
struct vol_change {
  uint64_t index;
  struct s3vol_id id;           /* S3VOL_HOLE to make it a hole */
  uint32_t stored_len;
};

struct vol_commit_opts {
  const char *message;          /* may be NULL */
  bool force;                   /* publish over a moved head */
  bool quiet_conflict;          /* return a conflict without logging it
                                   (the caller rebases and retries) */
};

struct vol_commit_result {
  uint64_t seq;                 /* the version published */
  uint64_t conflict_head;       /* on -EEXIST: the head found */
  uint64_t pages_written;
};

/* Publish a new version: the handle's version with the changes applied.
 * On success the handle moves to the new version.  On a conflict returns
 * -EEXIST with result->conflict_head set, logs one line naming both
 * versions, and leaves the handle where it was.  With force it publishes
 * at the head's successor instead, recording the head it replaced.
 */
int volume_commit (struct volume *v, const struct vol_change *changes,
                   size_t n, const struct vol_commit_opts *opts,
                   struct vol_commit_result *result);

/* Garbage collection of the whole store. */
struct gc_opts {
  bool dry_run;
  int64_t now;                  /* 0: the current time (tests set it) */
};
struct gc_report {
  uint64_t versions_pruned;
  uint64_t volumes_removed;     /* deleted names' data */
  uint64_t objects_deleted;     /* chunks and pages */
  uint64_t bytes_deleted;
  uint64_t objects_kept;
  uint64_t bytes_kept;
};
int volstore_gc (struct volstore *vs, const struct gc_opts *opts,
                 struct gc_report *report);

/* Verify: fetch every object the volume's kept versions (NULL: every
 * volume's) reference and check it.  fn gets each bad key with what is
 * wrong; the result is 0 if all is well, -EBADMSG if anything is missing
 * or corrupt.
 */
struct verify_report {
  uint64_t versions, pages, chunks, bytes;
  uint64_t missing, corrupt;
  uint64_t keyless;             /* objects of encrypted volumes checked
                                   for structure only: no key given */
};
int volstore_verify (struct volstore *vs, const char *name,
                     void (*fn) (void *opaque, const char *key,
                                 const char *problem),
                     void *opaque, struct verify_report *report);

#endif /* S3VOL_VOLUME_H */
