/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: object keys of the volume layout (private; docs/FORMAT.md).
 *
 *   names/NAME                     name -> volume id
 *   volumes/ID/versions/SEQ        version roots, SEQ as 16 hex digits
 *   volumes/ID/head                hint: the newest SEQ published
 *   volumes/ID/snapshots/NAME      snapshot -> SEQ
 *   chunks/HH/HEX                  chunk objects, HH = first 2 of HEX
 *   pages/HH/HEX                   map page objects
 */
#ifndef S3VOL_KEYS_H
#define S3VOL_KEYS_H

#include <inttypes.h>
#include <stdio.h>

#include "s3vol/chunk.h"
#include "s3vol/manifest.h"

#define KEY_BUF 256

/* Content-addressed object kinds. */
#define KIND_CHUNK "chunks"
#define KIND_PAGE "pages"

static inline char *
key_ca (char *out, const char *kind, const struct s3vol_id *id)
{
  char hex[S3VOL_ID_HEX + 1];

  s3vol_id_hex (id, hex);
  snprintf (out, KEY_BUF, "%s/%.2s/%s", kind, hex, hex);
  return out;
}

static inline char *
key_name (char *out, const char *name)
{
  snprintf (out, KEY_BUF, "names/%s", name);
  return out;
}

static inline char *
key_vol (char *out, const struct s3vol_volid *id, const char *rest)
{
  char hex[2 * S3VOL_VOLID_LEN + 1];

  snprintf (out, KEY_BUF, "volumes/%s/%s", s3vol_volid_hex (id, hex), rest);
  return out;
}

static inline char *
key_version (char *out, const struct s3vol_volid *id, uint64_t seq)
{
  char rest[40];

  snprintf (rest, sizeof rest, "versions/%016" PRIx64, seq);
  return key_vol (out, id, rest);
}

static inline char *
key_snapshot (char *out, const struct s3vol_volid *id, const char *snap)
{
  char rest[96];

  snprintf (rest, sizeof rest, "snapshots/%s", snap);
  return key_vol (out, id, rest);
}

#endif
