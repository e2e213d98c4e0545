/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: small records (name, head hint, snapshot): their encoding.
 *
 *   offset  size  field
 *   0       8     magic, NUL-padded: "S3VNAME", "S3VHEAD", "S3VSNAP"
 *   8       4     format version (1)
 *   12      4     0
 *   16      ...   payload:
 *                   name      16-byte volume id, i64 time (ns)
 *                   head      u64 seq
 *                   snapshot  u64 seq, i64 time (ns)
 */
#include <errno.h>
#include <string.h>

#include "s3vol/record.h"
#include "byteorder.h"

#define REC_HDR 16
#define REC_VERSION 1

struct kind {
  const char *magic;            /* with its NUL padding: 8 bytes */
  const char *what;             /* for messages */
  size_t payload;
};

static const struct kind *
kind_of (enum record_kind k)
{
  static const struct kind kinds[] = {
    [RECORD_NAME] = { "S3VNAME", "name record", S3VOL_VOLID_LEN + 8 },
    [RECORD_HEAD] = { "S3VHEAD", "head hint", 8 },
    [RECORD_SNAPSHOT] = { "S3VSNAP", "snapshot record", 16 },
  };

  if ((unsigned) k >= sizeof kinds / sizeof kinds[0])
    return NULL;
  return &kinds[k];
}

int
record_encode (const struct record *r, struct s3vol_buf *out)
{
  const struct kind *k = kind_of (r->kind);
  uint8_t b[RECORD_MAX] = { 0 }, *p = b + REC_HDR;

  if (k == NULL)
    return -EINVAL;
  memcpy (b, k->magic, strlen (k->magic));
  put_le32 (b + 8, REC_VERSION);
  switch (r->kind) {
  case RECORD_NAME:
    memcpy (p, r->volid.b, S3VOL_VOLID_LEN);
    put_le64 (p + S3VOL_VOLID_LEN, (uint64_t) r->time_ns);
    break;
  case RECORD_SNAPSHOT:
    put_le64 (p + 8, (uint64_t) r->time_ns);
    /* fall through */
  case RECORD_HEAD:
    put_le64 (p, r->seq);
    break;
  }
  return s3vol_buf_append (out, b, REC_HDR + k->payload);
}

int
record_decode (const void *data, size_t len, enum record_kind kind,
               const char *key, const struct s3vol_log *log,
               struct record *out)
{
  const struct kind *k = kind_of (kind);
  const uint8_t *q = data, *p = q + REC_HDR;
  char magic[8] = { 0 };

  memset (out, 0, sizeof *out);
  if (k == NULL)
    return -EINVAL;
  memcpy (magic, k->magic, strlen (k->magic));
  if (len != REC_HDR + k->payload || memcmp (q, magic, 8) != 0 ||
      get_le32 (q + 8) != REC_VERSION) {
    s3vol_error (log, "corrupt object %s: not a %s", key, k->what);
    return -EBADMSG;
  }
  out->kind = kind;
  switch (kind) {
  case RECORD_NAME:
    memcpy (out->volid.b, p, S3VOL_VOLID_LEN);
    out->time_ns = (int64_t) get_le64 (p + S3VOL_VOLID_LEN);
    break;
  case RECORD_SNAPSHOT:
    out->time_ns = (int64_t) get_le64 (p + 8);
    /* fall through */
  case RECORD_HEAD:
    out->seq = get_le64 (p);
    break;
  }
  return 0;
}
