/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: roots and map pages: in-memory edits and their encodings.
 *
 * Page plaintext (stored with the chunk object encoding, id = SHA-256):
 *
 *   offset  size    field
 *   0       8       magic "S3VPAGE\0"
 *   8       4       format version (1)
 *   12      4       n, entries that follow
 *   16      40 * n  u32 slot, u32 stored length, 32-byte chunk id;
 *                   slots strictly increasing, no holes
 *
 * Root (stored as is at volumes/ID/versions/SEQ):
 *
 *   0    8  magic "S3VROOT\0"      72   8  time, ns since the epoch
 *   8    4  format version (1)     80   4  writer pid
 *   12   4  flags                  84   2  host length H
 *   16  16  volume id              86   2  message length M
 *   32   8  seq                    88  16  forked-from volume id
 *   40   8  parent seq             104  8  forked-from seq
 *   48   8  overwrote seq          112  8  npages
 *   56   8  volume size            120  H  host, then M message bytes
 *   64   4  chunk size             then npages * 52: u64 page index,
 *   68   4  chunks per page        u32 chunks, u64 stored bytes, 32 id
 *                                  then 32: SHA-256 of all of the above
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/manifest.h"
#include "byteorder.h"
#include "vector.h"

#define PAGE_MAGIC "S3VPAGE"    /* with its NUL: 8 bytes */
#define ROOT_MAGIC "S3VROOT"
#define FORMAT_VERSION 1
#define PAGE_HDR 16
#define PAGE_ENT 40
#define ROOT_HDR 120
#define ROOT_ENT 52
#define MAX_PAGE_ENTRIES (1u << 20)

static int
corrupt (const struct s3vol_log *log, const char *key, const char *why)
{
  s3vol_error (log, "corrupt object %s: %s", key, why);
  return -EBADMSG;
}

/* ---- pages ---- */

void
page_free (struct page *p)
{
  free (p->e);
  memset (p, 0, sizeof *p);
}

/* Index of the first entry with slot >= slot. */
static uint32_t
page_lower (const struct page *p, uint32_t slot)
{
  uint32_t lo = 0, hi = p->n, mid;

  while (lo < hi) {
    mid = lo + (hi - lo) / 2;
    if (p->e[mid].slot < slot)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

const struct page_entry *
page_find (const struct page *p, uint32_t slot)
{
  uint32_t i = page_lower (p, slot);

  return i < p->n && p->e[i].slot == slot ? &p->e[i] : NULL;
}

/* Room for want entries in all.  struct page is public, so it keeps its
 * own fields rather than being a vector; its cap is only 32 bits.
 */
static int
page_grow (struct page *p, uint32_t want)
{
  size_t cap = p->cap;
  int r;

  r = s3vol_vector_reserve ((void **) &p->e, &cap, 0, want, sizeof *p->e);
  if (r < 0)
    return r;
  p->cap = cap > UINT32_MAX ? UINT32_MAX : cap;
  return 0;
}

int
page_set (struct page *p, uint32_t slot, const struct s3vol_id *id,
          uint32_t stored_len)
{
  uint32_t i = page_lower (p, slot);
  bool present = i < p->n && p->e[i].slot == slot;
  int r;

  if (s3vol_id_is_hole (id)) {
    if (present) {
      memmove (&p->e[i], &p->e[i + 1], (p->n - i - 1) * sizeof *p->e);
      p->n--;
    }
    return 0;
  }
  if (!present) {
    r = page_grow (p, p->n + 1);
    if (r < 0)
      return r;
    memmove (&p->e[i + 1], &p->e[i], (p->n - i) * sizeof *p->e);
    p->n++;
  }
  p->e[i].slot = slot;
  p->e[i].stored_len = stored_len;
  p->e[i].id = *id;
  return 0;
}

int
page_copy (struct page *dst, const struct page *src)
{
  memset (dst, 0, sizeof *dst);
  if (page_grow (dst, src->n) < 0)
    return -ENOMEM;
  if (src->n)
    memcpy (dst->e, src->e, src->n * sizeof *src->e);
  dst->n = src->n;
  return 0;
}

int
page_encode (const struct page *p, struct s3vol_buf *out)
{
  uint8_t *q;
  uint32_t i;
  int r;

  r = s3vol_buf_reserve (out, PAGE_HDR + (size_t) p->n * PAGE_ENT);
  if (r < 0)
    return r;
  q = out->data + out->len;
  memcpy (q, PAGE_MAGIC, 8);
  put_le32 (q + 8, FORMAT_VERSION);
  put_le32 (q + 12, p->n);
  q += PAGE_HDR;
  for (i = 0; i < p->n; i++, q += PAGE_ENT) {
    put_le32 (q, p->e[i].slot);
    put_le32 (q + 4, p->e[i].stored_len);
    memcpy (q + 8, p->e[i].id.b, S3VOL_ID_LEN);
  }
  out->len = q - out->data;
  return 0;
}

int
page_decode (const void *data, size_t len, const char *key,
             const struct s3vol_log *log, struct page *out)
{
  const uint8_t *q = data;
  uint32_t n, i;

  memset (out, 0, sizeof *out);
  if (len < PAGE_HDR || memcmp (q, PAGE_MAGIC, 8) != 0)
    return corrupt (log, key, "not a map page (bad magic)");
  if (get_le32 (q + 8) != FORMAT_VERSION)
    return corrupt (log, key, "unknown page format version");
  n = get_le32 (q + 12);
  if (n > MAX_PAGE_ENTRIES || len != PAGE_HDR + (size_t) n * PAGE_ENT)
    return corrupt (log, key, "page length does not match its entries");
  if (page_grow (out, n) < 0)
    return -ENOMEM;
  for (i = 0, q += PAGE_HDR; i < n; i++, q += PAGE_ENT) {
    out->e[i].slot = get_le32 (q);
    out->e[i].stored_len = get_le32 (q + 4);
    memcpy (out->e[i].id.b, q + 8, S3VOL_ID_LEN);
    if ((i > 0 && out->e[i].slot <= out->e[i - 1].slot) ||
        s3vol_id_is_hole (&out->e[i].id)) {
      page_free (out);
      return corrupt (log, key, "page entries out of order or holes");
    }
  }
  out->n = n;
  return 0;
}

/* ---- roots ---- */

void
root_free (struct root *r)
{
  free (r->message);
  free (r->pages);
  memset (r, 0, sizeof *r);
}

int
root_copy (struct root *dst, const struct root *src)
{
  *dst = *src;
  dst->message = NULL;
  dst->pages = NULL;
  dst->cap = src->npages;
  if (src->message && (dst->message = strdup (src->message)) == NULL)
    goto nomem;
  if (src->npages) {
    dst->pages = malloc (src->npages * sizeof *src->pages);
    if (dst->pages == NULL)
      goto nomem;
    memcpy (dst->pages, src->pages, src->npages * sizeof *src->pages);
  }
  return 0;
 nomem:
  root_free (dst);
  return -ENOMEM;
}

static uint64_t
root_lower (const struct root *r, uint64_t index)
{
  uint64_t lo = 0, hi = r->npages, mid;

  while (lo < hi) {
    mid = lo + (hi - lo) / 2;
    if (r->pages[mid].index < index)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

struct root_page *
root_find_page (const struct root *r, uint64_t index)
{
  uint64_t i = root_lower (r, index);

  return i < r->npages && r->pages[i].index == index ? &r->pages[i] : NULL;
}

int
root_set_page (struct root *r, const struct root_page *rp)
{
  uint64_t i = root_lower (r, rp->index);
  bool present = i < r->npages && r->pages[i].index == rp->index;
  size_t cap = r->cap;
  int e;

  if (rp->chunks == 0) {
    if (present) {
      memmove (&r->pages[i], &r->pages[i + 1],
               (r->npages - i - 1) * sizeof *r->pages);
      r->npages--;
    }
    return 0;
  }
  if (!present) {
    e = s3vol_vector_reserve ((void **) &r->pages, &cap, r->npages, 1,
                              sizeof *r->pages);
    if (e < 0)
      return e;
    r->cap = cap;
    memmove (&r->pages[i + 1], &r->pages[i],
             (r->npages - i) * sizeof *r->pages);
    r->npages++;
  }
  r->pages[i] = *rp;
  return 0;
}

uint64_t
root_chunks (const struct root *r)
{
  uint64_t i, n = 0;

  for (i = 0; i < r->npages; i++)
    n += r->pages[i].chunks;
  return n;
}

uint64_t
root_stored_bytes (const struct root *r)
{
  uint64_t i, n = 0;

  for (i = 0; i < r->npages; i++)
    n += r->pages[i].stored_bytes;
  return n;
}

/* Bytes an encrypted root adds before its checksum. */
static size_t
keyed_len (uint32_t flags)
{
  return flags & ROOT_FLAG_ENCRYPTED ? S3VOL_ROOT_KEYED : 0;
}

int
root_encode_keyed (const struct root *r, const struct s3vol_vkeys *vk,
                   struct s3vol_buf *out)
{
  size_t hl = strnlen (r->host, S3VOL_HOST_MAX);
  size_t ml = r->message ? strnlen (r->message, S3VOL_MESSAGE_MAX) : 0;
  size_t start = out->len;
  uint8_t *q;
  uint64_t i;
  int ret;

  if (r->npages > S3VOL_ROOT_MAX_PAGES)
    return -EFBIG;
  if ((r->flags & ~ROOT_FLAGS_KNOWN) ||
      ((r->flags & ROOT_FLAG_ENCRYPTED) && vk == NULL))
    return -EINVAL;
  ret = s3vol_buf_reserve (out, ROOT_HDR + hl + ml + r->npages * ROOT_ENT
                           + keyed_len (r->flags) + S3VOL_ID_LEN);
  if (ret < 0)
    return ret;
  q = out->data + start;
  memcpy (q, ROOT_MAGIC, 8);
  put_le32 (q + 8, FORMAT_VERSION);
  put_le32 (q + 12, r->flags);
  memcpy (q + 16, r->volid.b, S3VOL_VOLID_LEN);
  put_le64 (q + 32, r->seq);
  put_le64 (q + 40, r->parent);
  put_le64 (q + 48, r->overwrote);
  put_le64 (q + 56, r->size);
  put_le32 (q + 64, r->chunk_size);
  put_le32 (q + 68, r->page_entries);
  put_le64 (q + 72, (uint64_t) r->time_ns);
  put_le32 (q + 80, r->pid);
  put_le16 (q + 84, hl);
  put_le16 (q + 86, ml);
  memcpy (q + 88, r->fork_of.b, S3VOL_VOLID_LEN);
  put_le64 (q + 104, r->fork_seq);
  put_le64 (q + 112, r->npages);
  q += ROOT_HDR;
  memcpy (q, r->host, hl);
  q += hl;
  if (ml)
    memcpy (q, r->message, ml);
  q += ml;
  for (i = 0; i < r->npages; i++, q += ROOT_ENT) {
    put_le64 (q, r->pages[i].index);
    put_le32 (q + 8, r->pages[i].chunks);
    put_le64 (q + 12, r->pages[i].stored_bytes);
    memcpy (q + 20, r->pages[i].id.b, S3VOL_ID_LEN);
  }
  if (r->flags & ROOT_FLAG_ENCRYPTED) {
    memcpy (q, r->wrap, S3VOL_WRAP_LEN);
    q += S3VOL_WRAP_LEN;
    s3vol_mac (vk->root, out->data + start, q - (out->data + start), q);
    q += 32;
  }
  s3vol_hash (out->data + start, q - (out->data + start),
              (struct s3vol_id *) q);
  out->len = q + S3VOL_ID_LEN - out->data;
  return 0;
}

int
root_encode (const struct root *r, struct s3vol_buf *out)
{
  return root_encode_keyed (r, NULL, out);
}

int
root_check_mac (const void *data, size_t len, const char *key,
                const struct s3vol_vkeys *vk, const struct s3vol_log *log)
{
  uint8_t mac[32];
  size_t n;

  /* root_decode checked the lengths: the HMAC sits before the sum. */
  if (len < ROOT_HDR + S3VOL_ROOT_KEYED + S3VOL_ID_LEN)
    return corrupt (log, key, "too short for an encrypted root");
  n = len - S3VOL_ID_LEN - 32;
  s3vol_mac (vk->root, data, n, mac);
  if (s3vol_memcmp_ct (mac, (const uint8_t *) data + n, 32) != 0)
    return corrupt (log, key, "its HMAC does not match this volume's key "
                    "(changed, moved, or made without the key)");
  return 0;
}

/* How many pages the volume's chunks need: page indexes are below it. */
static uint64_t
root_page_room (const struct root *r)
{
  uint64_t nchunks = (r->size + r->chunk_size - 1) / r->chunk_size;

  return (nchunks + r->page_entries - 1) / r->page_entries;
}

/* Checks of the fixed fields; returns a reason or NULL. */
static const char *
root_bad_fields (const struct root *r)
{
  if (r->chunk_size < (64u << 10) || r->chunk_size > (64u << 20) ||
      (r->chunk_size & (r->chunk_size - 1)))
    return "chunk size is not a power of two from 64 KiB to 64 MiB";
  if (r->page_entries == 0 || r->page_entries > MAX_PAGE_ENTRIES)
    return "bad chunks-per-page";
  if (r->seq == 0 || r->parent >= r->seq)
    return "bad sequence numbers";
  if (r->flags & ~ROOT_FLAGS_KNOWN)
    return "unknown flags";
  if (r->size > (1ull << 50))
    return "volume size too large";
  if (r->size % r->chunk_size != 0)
    return "volume size is not a whole number of chunks";
  if (r->npages > S3VOL_ROOT_MAX_PAGES)
    return "more pages than a root may hold";
  if (r->npages > root_page_room (r))
    return "more pages than the volume has room for";
  return NULL;
}

int
root_decode (const void *data, size_t len, const char *key,
             const struct s3vol_log *log, struct root *r)
{
  const uint8_t *q = data;
  struct s3vol_id sum;
  const char *why;
  size_t hl, ml, need;
  uint64_t i, npages;

  memset (r, 0, sizeof *r);
  if (len < ROOT_HDR + S3VOL_ID_LEN || memcmp (q, ROOT_MAGIC, 8) != 0)
    return corrupt (log, key, "not a version root (bad magic)");
  if (get_le32 (q + 8) != FORMAT_VERSION)
    return corrupt (log, key, "unknown root format version");
  s3vol_hash (q, len - S3VOL_ID_LEN, &sum);
  if (memcmp (sum.b, q + len - S3VOL_ID_LEN, S3VOL_ID_LEN) != 0)
    return corrupt (log, key, "checksum does not match");
  hl = get_le16 (q + 84);
  ml = get_le16 (q + 86);
  npages = get_le64 (q + 112);
  need = ROOT_HDR + hl + ml + keyed_len (get_le32 (q + 12)) + S3VOL_ID_LEN;
  if (hl > S3VOL_HOST_MAX || ml > S3VOL_MESSAGE_MAX || need > len ||
      npages > (len - need) / ROOT_ENT || need + npages * ROOT_ENT != len)
    return corrupt (log, key, "lengths do not add up");
  r->flags = get_le32 (q + 12);
  memcpy (r->volid.b, q + 16, S3VOL_VOLID_LEN);
  r->seq = get_le64 (q + 32);
  r->parent = get_le64 (q + 40);
  r->overwrote = get_le64 (q + 48);
  r->size = get_le64 (q + 56);
  r->chunk_size = get_le32 (q + 64);
  r->page_entries = get_le32 (q + 68);
  r->time_ns = (int64_t) get_le64 (q + 72);
  r->pid = get_le32 (q + 80);
  memcpy (r->fork_of.b, q + 88, S3VOL_VOLID_LEN);
  r->fork_seq = get_le64 (q + 104);
  r->npages = npages;
  why = root_bad_fields (r);
  if (why)
    return corrupt (log, key, why);
  memcpy (r->host, q + ROOT_HDR, hl);
  r->host[hl] = '\0';
  if (ml) {
    r->message = strndup ((const char *) q + ROOT_HDR + hl, ml);
    if (r->message == NULL)
      return -ENOMEM;
  }
  r->cap = npages;
  r->pages = npages ? malloc (npages * sizeof *r->pages) : NULL;
  if (npages && r->pages == NULL) {
    root_free (r);
    return -ENOMEM;
  }
  for (i = 0, q += ROOT_HDR + hl + ml; i < npages; i++, q += ROOT_ENT) {
    r->pages[i].index = get_le64 (q);
    r->pages[i].chunks = get_le32 (q + 8);
    r->pages[i].stored_bytes = get_le64 (q + 12);
    memcpy (r->pages[i].id.b, q + 20, S3VOL_ID_LEN);
    if ((i > 0 && r->pages[i].index <= r->pages[i - 1].index) ||
        r->pages[i].index >= root_page_room (r) ||
        r->pages[i].chunks == 0 || r->pages[i].chunks > r->page_entries) {
      root_free (r);
      return corrupt (log, key, "page list out of order, outside the "
                      "volume, or bad counts");
    }
  }
  if (r->flags & ROOT_FLAG_ENCRYPTED)
    memcpy (r->wrap, q, S3VOL_WRAP_LEN);
  return 0;
}

/* ---- volume ids ---- */

char *
s3vol_volid_hex (const struct s3vol_volid *id, char *out)
{
  return s3vol_hex_encode (id->b, S3VOL_VOLID_LEN, out);
}

int
s3vol_volid_parse (const char *hex, struct s3vol_volid *out)
{
  return s3vol_hex_decode (hex, out->b, S3VOL_VOLID_LEN);
}
