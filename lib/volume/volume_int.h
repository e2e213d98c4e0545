/* s3vol: the volume store's internals, shared by volstore.c, volume.c,
 * gc.c and verify.c (private to lib/).
 */
#ifndef S3VOL_VOLUME_INT_H
#define S3VOL_VOLUME_INT_H

#include <pthread.h>
#include <string.h>

#include "s3vol/crypt.h"
#include "s3vol/record.h"
#include "s3vol/volume.h"
#include "hashmap.h"
#include "keys.h"
#include "vector.h"

/* Ids are SHA-256 values, so their first 8 bytes are already a good
 * hash.
 */
static inline uint64_t
id_hash (const struct s3vol_id *id)
{
  uint64_t h;

  memcpy (&h, id->b, sizeof h);
  return h;
}

DEFINE_VECTOR (id_vec, struct s3vol_id);

/* A set of ids in the order they were added: the map holds index + 1
 * into ids.  idset_init before use; it must not move after.  Not
 * thread-safe: callers lock.
 */
struct idset {
  struct id_vec ids;
  struct hashmap map;
};

void idset_init (struct idset *s);
/* Add id: 1 if it is new, 0 if it was there, or -ENOMEM (unchanged). */
int idset_add (struct idset *s, const struct s3vol_id *id);
bool idset_has (const struct idset *s, const struct s3vol_id *id);
void idset_free (struct idset *s);

/* A content-addressed object known to be in the store. */
struct known_obj {
  struct s3vol_id id;
  uint32_t len;                 /* stored length */
  int64_t written;              /* when it was written, seconds */
};
DEFINE_VECTOR (known_vec, struct known_obj);

/* User keys a volstore tries on encrypted volumes (volstore_add_key). */
#define VS_MAX_KEYS 8

/* An open volume's encryption: off for a plain volume. */
struct vol_keys {
  bool on;
  unsigned user;                /* the user key (vs->keys) that opened it */
  struct s3vol_key k;           /* the volume key */
  struct s3vol_vkeys vk;        /* derived from k */
};

/* The derived keys of an encrypted volume, NULL for a plain one. */
static inline const struct s3vol_vkeys *
vk_of (const struct vol_keys *keys)
{
  return keys && keys->on ? &keys->vk : NULL;
}

struct volstore {
  struct objstore *os;
  const struct s3vol_log *log;
  int zstd_level;
  unsigned keep_last;
  int64_t keep_seconds;
  int64_t grace_seconds;
  bool create_only;             /* the store honours create-only puts */
  char host[S3VOL_HOST_MAX + 1];
  struct s3vol_key keys[VS_MAX_KEYS];
  unsigned nkeys;

  /* Content-addressed objects known to be in the store, and a map from
   * their ids to index + 1 in known.
   */
  pthread_mutex_t lock;
  struct known_vec known;
  struct hashmap known_map;
};

/* Read the whole object key, which the format allows to be at most max
 * bytes: never takes in more than max + 1 bytes, and a longer object is
 * -EBADMSG, logged to log as corrupt.  Otherwise as objstore_get.
 */
int vs_get_capped (struct volstore *vs, const char *key, uint64_t max,
                   const struct s3vol_log *log, struct s3vol_buf *out);

/* Small records (s3vol/record.h).  vs_rec_get returns -ENOENT (quiet)
 * if key is absent, -EBADMSG (logged) if it is not a record of kind.
 */
int vs_rec_put (struct volstore *vs, const char *key,
                const struct record *rec, unsigned flags);
int vs_rec_get (struct volstore *vs, const char *key,
                enum record_kind kind, struct record *rec);

/* Name -> volume id.  -ENOENT (logged: "no volume named ...") if absent
 * and quiet is false.
 */
int vs_lookup (struct volstore *vs, const char *name, bool quiet,
               struct s3vol_volid *id);

/* The newest version of a volume (0 if it has none). */
int vs_find_head (struct volstore *vs, const struct s3vol_volid *id,
                  uint64_t *head);

/* Fetch and decode a version root; -ENOENT (quiet) if absent.  An
 * encrypted root is not authenticated: use it for what needs no key
 * (listing versions, gc).
 */
int vs_get_root (struct volstore *vs, const struct s3vol_volid *id,
                 uint64_t seq, struct root *r);

/* Fetch, decode and authenticate root seq of volume name (id).  With
 * keys->on (the volume was opened before) its HMAC is checked under
 * keys; otherwise an encrypted root's volume key is unwrapped with the
 * volstore's user keys into keys (-ENOKEY if none was given,
 * -EKEYREJECTED if none fits).  A plain root is refused when keys->on,
 * or when the volstore has user keys (a store writer could have put a
 * plain volume where an encrypted one was).  Errors are logged.
 */
int vs_get_root_auth (struct volstore *vs, const char *name,
                      const struct s3vol_volid *id, uint64_t seq,
                      struct vol_keys *keys, struct root *r);

/* Resolve a reference to a version number: -ENOENT (logged) if the
 * snapshot or version does not exist.
 */
int vs_resolve (struct volstore *vs, const char *name,
                const struct s3vol_volid *id, const struct vol_ref *ref,
                uint64_t *seq);

/* Content-addressed objects of a kind (KIND_CHUNK, KIND_PAGE), of a
 * plain volume (vk NULL: SHA-256 ids) or an encrypted one (keyed ids;
 * chunks sealed, pages plain).
 */
int vs_put_ca (struct volstore *vs, const char *kind,
               const struct s3vol_vkeys *vk, const void *data, size_t len,
               struct s3vol_id *id, uint32_t *stored_len);
/* The same; *written (seconds since the epoch, as the store's
 * modification times) gets when the object relied on was written: now
 * if it was put, else its age as found (0 for a hole).
 */
int vs_put_ca_at (struct volstore *vs, const char *kind,
                  const struct s3vol_vkeys *vk, const void *data,
                  size_t len, struct s3vol_id *id, uint32_t *stored_len,
                  int64_t *written);
int vs_get_ca (struct volstore *vs, const char *kind,
               const struct s3vol_vkeys *vk, const struct s3vol_id *id,
               struct s3vol_buf *out);
/* A page, checked as mode says (s3vol/chunk.h). */
int vs_get_page (struct volstore *vs, enum s3vol_obj_mode mode,
                 const struct s3vol_vkeys *vk, const struct s3vol_id *id,
                 struct page *p);

/* Publish root r at r->seq (create-only), then update the head hint.
 * -EEXIST (quiet) if that version exists already.
 */
int vs_publish (struct volstore *vs, const struct vol_keys *keys,
                const struct root *r);

/* List the keys under volumes/ID/DIR/ ("versions", "snapshots"),
 * calling fn with the last path segment.
 */
int vs_list_dir (struct volstore *vs, const struct s3vol_volid *id,
                 const char *dir,
                 int (*fn) (void *opaque, const char *leaf,
                            const struct objstore_entry *e),
                 void *opaque);

#endif
