/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: version manifests (roots) and map pages, in memory and encoded.
 *
 * A version's chunk map has two levels:
 *
 *   root (versions/SEQ)          page (pages/HH/HEX)
 *   +--------------------+       +----------------------------+
 *   | size, chunk size,  |       | slot 0..page_entries-1 ->  |
 *   | parent, time, ...  |  +--->| chunk id, stored length    |
 *   | page 0 -> id, sums |--+    | (holes omitted)            |
 *   | page 7 -> id, sums |       +----------------------------+
 *   +--------------------+
 *
 * Chunk index i lives in page i / page_entries, slot i % page_entries.
 * Pages with no chunks are not stored and not listed.  Pages are
 * content-addressed like chunks, so a commit that changes k chunks writes
 * at most k pages and one root.  Byte layouts are in docs/FORMAT.md.
 *
 * These functions do no I/O.  Decoders return -EBADMSG on anything
 * malformed and log one line naming the key.
 */
#ifndef S3VOL_MANIFEST_H
#define S3VOL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/buf.h"
#include "s3vol/chunk.h"
#include "s3vol/crypt.h"
#include "s3vol/log.h"

#define S3VOL_VOLID_LEN 16
#define S3VOL_NAME_MAX 64            /* volume and snapshot names */
#define S3VOL_PAGE_ENTRIES 4096         /* default chunks per page */
#define S3VOL_HOST_MAX 255
#define S3VOL_MESSAGE_MAX 4096

/* Most page entries a root may hold, and so the largest root object
 * (docs/FORMAT.md): header, host, message, entries, checksum.  Readers
 * never take in more than S3VOL_ROOT_MAX bytes of a root.
 */
#define S3VOL_ROOT_MAX_PAGES (1u << 20)
#define S3VOL_ROOT_MAX (120u + S3VOL_HOST_MAX + S3VOL_MESSAGE_MAX + \
                        S3VOL_ROOT_MAX_PAGES * 52u + S3VOL_ROOT_KEYED + \
                        32u)
/* What an encrypted root adds before its checksum: the wrapped volume
 * key and the root's HMAC.
 */
#define S3VOL_ROOT_KEYED (S3VOL_WRAP_LEN + 32u)

struct s3vol_volid {
  uint8_t b[S3VOL_VOLID_LEN];
};

/* One chunk in a page. */
struct page_entry {
  uint32_t slot;                /* index within the page */
  uint32_t stored_len;          /* bytes of the chunk object in the store */
  struct s3vol_id id;
};

/* A decoded page: entries sorted by slot, no holes. */
struct page {
  uint32_t n, cap;
  struct page_entry *e;
};

/* One page in a root. */
struct root_page {
  uint64_t index;               /* page number */
  uint32_t chunks;              /* entries in the page */
  uint64_t stored_bytes;        /* sum of the entries' stored_len */
  struct s3vol_id id;           /* id of the page object */
};

#define ROOT_FLAG_FORCED 1u     /* published over a head that had moved */
#define ROOT_FLAG_ENCRYPTED 2u  /* an encrypted volume (s3vol/crypt.h) */
#define ROOT_FLAGS_KNOWN 3u

struct root {
  uint32_t flags;
  struct s3vol_volid volid;
  uint64_t seq;                 /* this version, from 1 */
  uint64_t parent;              /* version it was based on, 0 for none */
  uint64_t overwrote;           /* with ROOT_FLAG_FORCED: head replaced */
  uint64_t size;                /* volume size, bytes */
  uint32_t chunk_size;          /* power of two, 64 KiB .. 64 MiB */
  uint32_t page_entries;        /* chunks per page */
  int64_t time_ns;              /* when it was written (CLOCK_REALTIME) */
  uint32_t pid;                 /* writer's pid */
  char host[S3VOL_HOST_MAX + 1];/* writer's host name */
  char *message;                /* malloc'd, may be NULL */
  struct s3vol_volid fork_of;   /* all zero unless forked */
  uint64_t fork_seq;            /* version it was forked from */
  uint64_t npages, cap;
  struct root_page *pages;      /* sorted by index, no empty pages */
  /* With ROOT_FLAG_ENCRYPTED: the volume key wrapped under the user's
   * key, the volume id as associated data.
   */
  uint8_t wrap[S3VOL_WRAP_LEN];
};

/* Encoding.  root_encode refuses a root of more than
 * S3VOL_ROOT_MAX_PAGES pages with -EFBIG; the decoders return -EBADMSG
 * (logged, naming key) for anything docs/FORMAT.md does not allow.
 */
int page_encode (const struct page *p, struct s3vol_buf *out);
int page_decode (const void *data, size_t len, const char *key,
                 const struct s3vol_log *log, struct page *out);
int root_encode (const struct root *r, struct s3vol_buf *out);
int root_decode (const void *data, size_t len, const char *key,
                 const struct s3vol_log *log, struct root *out);
/* An encrypted root (ROOT_FLAG_ENCRYPTED) ends with an HMAC under the
 * volume's K_root: root_encode_keyed writes it (root_encode refuses such
 * a root with -EINVAL); root_decode cannot check it without the key, so
 * a reader that has the key calls root_check_mac on the same bytes:
 * 0, or -EBADMSG (logged, naming key) if the HMAC does not match.
 */
int root_encode_keyed (const struct root *r, const struct s3vol_vkeys *vk,
                       struct s3vol_buf *out);
int root_check_mac (const void *data, size_t len, const char *key,
                    const struct s3vol_vkeys *vk,
                    const struct s3vol_log *log);

/* Pages. */
void page_free (struct page *p);
/* Find slot; returns the entry or NULL for a hole. */
const struct page_entry *page_find (const struct page *p, uint32_t slot);
/* Set slot to id (a hole id removes it).  Returns 0 or -ENOMEM. */
int page_set (struct page *p, uint32_t slot, const struct s3vol_id *id,
              uint32_t stored_len);
int page_copy (struct page *dst, const struct page *src);

/* Roots. */
void root_free (struct root *r);
int root_copy (struct root *dst, const struct root *src);
struct root_page *root_find_page (const struct root *r, uint64_t index);
/* Set page index to rp (rp->chunks == 0 removes it). */
int root_set_page (struct root *r, const struct root_page *rp);
uint64_t root_chunks (const struct root *r);        /* sum of chunks */
uint64_t root_stored_bytes (const struct root *r);  /* sum of bytes */

/* Volume ids. */
char *s3vol_volid_hex (const struct s3vol_volid *id, char *out /* 33 */);
int s3vol_volid_parse (const char *hex, struct s3vol_volid *out);

/* Is name a valid volume or snapshot name (1 to S3VOL_NAME_MAX of
 * [A-Za-z0-9._-], not starting with '.' or '-')?  0 or -EINVAL (not
 * logged).
 */
int s3vol_check_name (const char *name);

#endif /* S3VOL_MANIFEST_H */
