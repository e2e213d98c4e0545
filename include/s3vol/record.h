/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: small records: name records, head hints, snapshot records.
 *
 *   names/NAME                  RECORD_NAME      volume id, creation time
 *   volumes/ID/head             RECORD_HEAD      newest seq published
 *   volumes/ID/snapshots/SNAP   RECORD_SNAPSHOT  seq, creation time
 *
 * Each is a 16-byte header (8-byte magic padded with NULs, u32 format
 * version 1, u32 0) and a fixed payload; byte layouts are in
 * docs/FORMAT.md.  These functions do no I/O.
 */
#ifndef S3VOL_RECORD_H
#define S3VOL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "s3vol/buf.h"
#include "s3vol/log.h"
#include "s3vol/manifest.h"

enum record_kind {
  RECORD_NAME,                  /* "S3VNAME": volid, time_ns */
  RECORD_HEAD,                  /* "S3VHEAD": seq */
  RECORD_SNAPSHOT,              /* "S3VSNAP": seq, time_ns */
};

/* A decoded record.  Fields the kind does not carry are zero. */
struct record {
  enum record_kind kind;
  struct s3vol_volid volid;     /* RECORD_NAME: the volume named */
  uint64_t seq;                 /* RECORD_HEAD, RECORD_SNAPSHOT */
  int64_t time_ns;              /* RECORD_NAME, RECORD_SNAPSHOT: written */
};

/* Bytes of the largest record (a name record). */
#define RECORD_MAX 40

/* Append the encoding of r to out: exactly the bytes docs/FORMAT.md
 * gives for r->kind, with the fields that kind does not carry ignored.
 * Returns 0, -EINVAL (not logged) for an unknown kind, or -ENOMEM (out
 * unchanged).
 */
int record_encode (const struct record *r, struct s3vol_buf *out);

/* Decode len bytes as a record of the given kind into out (zeroed
 * first).  Bytes that are not exactly such a record (another length,
 * magic or format version) return -EBADMSG and log one line naming key;
 * the header's reserved u32 is not checked.  An unknown kind returns
 * -EINVAL (not logged).
 */
int record_decode (const void *data, size_t len, enum record_kind kind,
                   const char *key, const struct s3vol_log *log,
                   struct record *out);

#endif /* S3VOL_RECORD_H */
