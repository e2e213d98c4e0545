/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: golden objects of the storage format.
 *
 * tests/golden/NAME.bin are objects made by tests/golden/make.py from
 * docs/FORMAT.md alone, and NAME.txt the fields they hold.  Each object
 * is decoded by libs3vol and every field compared, then re-encoded and
 * compared byte for byte (zstd objects only by their decoded bytes and
 * id: zstd's output may change between library versions).  Damaged
 * copies (truncated, extended, bit-flipped) must be rejected with
 * -EBADMSG and one logged line naming the key.
 *
 * The objects of an encrypted volume (FORMAT.md, "Encrypted volumes")
 * are read with the keys make.py used: user.key unwraps the volume key
 * that root-encrypted.bin carries, and the keys derived from it open
 * chunk-sealed*.bin and check page-keyed.bin's id and the root's HMAC.
 *
 * The folder is $S3VOL_GOLDEN_DIR, or tests/golden next to this file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/chunk.h"
#include "s3vol/crypt.h"
#include "s3vol/manifest.h"
#include "s3vol/record.h"
#include "testutil.h"

static struct test_log tlog;

/* ---- golden files ---- */

struct golden {
  char name[32];
  uint8_t *data;                /* NAME.bin */
  size_t len;
  char *text;                   /* NAME.txt, lines split at '\n' */
  size_t ntext;
};

static void
golden_path (const char *name, const char *ext, char *out, size_t n)
{
  const char *dir = getenv ("S3VOL_GOLDEN_DIR");
  const char *slash = strrchr (__FILE__, '/');

  if (dir)
    snprintf (out, n, "%s/%s%s", dir, name, ext);
  else                          /* tests/unit/ -> tests/golden/ */
    snprintf (out, n, "%.*s/../golden/%s%s",
              slash ? (int) (slash - __FILE__) : 1,
              slash ? __FILE__ : ".", name, ext);
}

static uint8_t *
slurp (const char *name, const char *ext, size_t *len)
{
  char path[4096];
  FILE *f;
  uint8_t *b;
  long n;

  golden_path (name, ext, path, sizeof path);
  f = fopen (path, "rb");
  if (f == NULL)
    fail_msg ("%s: %m (set S3VOL_GOLDEN_DIR?)", path);
  assert_int_equal (fseek (f, 0, SEEK_END), 0);
  n = ftell (f);
  rewind (f);
  b = malloc (n + 1);
  assert_non_null (b);
  assert_int_equal (fread (b, 1, n, f), n);
  b[n] = '\0';
  fclose (f);
  *len = n;
  return b;
}

static void
golden_load (const char *name, struct golden *g)
{
  size_t i;

  snprintf (g->name, sizeof g->name, "%s", name);
  g->data = slurp (name, ".bin", &g->len);
  g->text = (char *) slurp (name, ".txt", &g->ntext);
  for (i = 0; i < g->ntext; i++)
    if (g->text[i] == '\n')
      g->text[i] = '\0';
}

static void
golden_free (struct golden *g)
{
  free (g->data);
  free (g->text);
}

/* The value of the nth line "key=...", or NULL. */
static const char *
field_nth (const struct golden *g, const char *key, unsigned nth)
{
  size_t kl = strlen (key);
  const char *line;

  for (line = g->text; line < g->text + g->ntext;
       line += strlen (line) + 1)
    if (line[0] != '#' && strncmp (line, key, kl) == 0 &&
        line[kl] == '=' && nth-- == 0)
      return line + kl + 1;
  return NULL;
}

static const char *
field (const struct golden *g, const char *key)
{
  const char *v = field_nth (g, key, 0);

  if (v == NULL)
    fail_msg ("%s.txt has no %s", g->name, key);
  return v;
}

static uint64_t
field_u64 (const struct golden *g, const char *key)
{
  return strtoull (field (g, key), NULL, 10);
}

static int64_t
field_i64 (const struct golden *g, const char *key)
{
  return strtoll (field (g, key), NULL, 10);
}

/* Hex into n bytes; the hex must be exactly 2n digits. */
static void
unhex (const char *hex, uint8_t *out, size_t n)
{
  size_t i;

  assert_int_equal (strlen (hex), 2 * n);
  for (i = 0; i < n; i++)
    assert_int_equal (sscanf (hex + 2 * i, "%2hhx", &out[i]), 1);
}

static void
field_bytes (const struct golden *g, const char *key, void *out, size_t n)
{
  unhex (field (g, key), out, n);
}

/* A malloc'd copy of the value of key decoded from hex; *n its length. */
static uint8_t *
field_blob (const struct golden *g, const char *key, size_t *n)
{
  const char *hex = field (g, key);
  uint8_t *b;

  *n = strlen (hex) / 2;
  b = malloc (*n + 1);
  assert_non_null (b);
  unhex (hex, b, *n);
  return b;
}

static void
assert_buf_equal (const struct s3vol_buf *b, const void *want, size_t len)
{
  assert_int_equal (b->len, len);
  assert_memory_equal (b->data, want, len);
}

/* ---- damaged copies ---- */

/* Decode len bytes of the object g; 0 if accepted. */
typedef int (*decode_fn) (const struct golden *g, const uint8_t *data,
                          size_t len);

/* How damage may be taken. */
enum damage {
  MUST_REJECT,
  /* zstd frames have bits their decoders ignore: such a flip decodes to
   * the same plaintext (a success of s3vol_obj_decode means the SHA-256
   * of what it decoded is the id), any other must be rejected.
   */
  REJECT_OR_SAME,
};

/* Decode a copy of exactly len bytes, expecting -EBADMSG and one
 * logged line naming the object's key.
 */
static void
reject_as (const struct golden *g, decode_fn fn, const uint8_t *data,
           size_t len, const char *what, size_t at, enum damage how)
{
  uint8_t *copy = malloc (len ? len : 1);
  int errors = tlog.errors, r;

  assert_non_null (copy);
  memcpy (copy, data, len);
  r = fn (g, copy, len);
  free (copy);
  if (r == 0 && how == REJECT_OR_SAME)
    return;
  if (r != -EBADMSG)
    fail_msg ("%s %s at %zu: got %d, want -EBADMSG", g->name, what, at, r);
  assert_int_equal (tlog.errors, errors + 1);
  assert_non_null (strstr (tlog.last_error, field (g, "key")));
}

static void
reject (const struct golden *g, decode_fn fn, const uint8_t *data,
        size_t len, const char *what, size_t at)
{
  reject_as (g, fn, data, len, what, at, MUST_REJECT);
}

/* Truncated and extended copies must be rejected. */
static void
reject_cut (const struct golden *g, decode_fn fn, const uint8_t *data,
            size_t len)
{
  uint8_t *b = malloc (len + 1);
  size_t i, cut[] = { 0, 1, len / 2, len - 1 };

  assert_non_null (b);
  for (i = 0; i < sizeof cut / sizeof cut[0]; i++)
    reject (g, fn, data, cut[i], "truncated", cut[i]);
  memcpy (b, data, len);
  b[len] = 0;
  reject (g, fn, b, len + 1, "extended", len);
  free (b);
}

/* So must every bit of bytes [from, to) flipped (or be taken as how
 * says).
 */
static void
reject_flips (const struct golden *g, decode_fn fn, const uint8_t *data,
              size_t len, size_t from, size_t to, enum damage how)
{
  uint8_t *b = malloc (len);
  size_t i;
  int bit;

  assert_non_null (b);
  memcpy (b, data, len);
  for (i = from; i < to; i++)
    for (bit = 0; bit < 8; bit++) {
      b[i] ^= 1 << bit;
      reject_as (g, fn, b, len, "bit flipped", i, how);
      b[i] ^= 1 << bit;
    }
  free (b);
}

/* ---- chunk objects ---- */

static int
obj_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct s3vol_buf out = S3VOL_BUF_INIT;
  struct s3vol_id id;
  int r;

  field_bytes (g, "id", id.b, S3VOL_ID_LEN);
  r = s3vol_obj_decode (data, len, &id, field (g, "key"), &tlog.log, &out);
  s3vol_buf_free (&out);
  return r;
}

/* Decode g's object and check its plaintext and id; returns the
 * plaintext.  Damaged copies are rejected: bytes 6 and 7 are reserved
 * and not checked, every other bit is covered by a check or the hash
 * (but see REJECT_OR_SAME).
 */
static void
check_object (const struct golden *g, struct s3vol_buf *plain)
{
  struct s3vol_id id, got;
  uint8_t *want;
  size_t n;

  field_bytes (g, "id", id.b, S3VOL_ID_LEN);
  want = field_blob (g, "plain", &n);
  assert_int_equal (n, field_u64 (g, "plain_len"));
  assert_int_equal (g->len, 16 + field_u64 (g, "payload_len"));
  assert_int_equal (s3vol_obj_decode (g->data, g->len, &id,
                                      field (g, "key"), &tlog.log, plain),
                    0);
  assert_buf_equal (plain, want, n);
  s3vol_hash (plain->data, plain->len, &got);
  assert_memory_equal (got.b, id.b, S3VOL_ID_LEN);
  free (want);

  reject_cut (g, obj_try, g->data, g->len);
  reject_flips (g, obj_try, g->data, g->len, 0, 6, MUST_REJECT);
  reject_flips (g, obj_try, g->data, g->len, 8, 16, MUST_REJECT);
  reject_flips (g, obj_try, g->data, g->len, 16, g->len,
                g->data[5] == S3VOL_CODEC_RAW ? MUST_REJECT
                : REJECT_OR_SAME);
}

static void
test_chunk_raw (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct golden g;

  (void) state;
  golden_load ("chunk-raw", &g);
  assert_int_equal (field_u64 (&g, "codec"), S3VOL_CODEC_RAW);
  check_object (&g, &plain);
  assert_int_equal (s3vol_obj_encode (plain.data, plain.len, 3, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

static void
test_chunk_zstd (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct s3vol_buf again = S3VOL_BUF_INIT;
  struct s3vol_id id;
  struct golden g;

  (void) state;
  golden_load ("chunk-zstd", &g);
  assert_int_equal (field_u64 (&g, "codec"), S3VOL_CODEC_ZSTD);
  check_object (&g, &plain);
  /* Our encoder compresses it too, to something that decodes back. */
  assert_int_equal (s3vol_obj_encode (plain.data, plain.len, 3, &enc), 0);
  assert_int_equal (enc.data[5], S3VOL_CODEC_ZSTD);
  field_bytes (&g, "id", id.b, S3VOL_ID_LEN);
  assert_int_equal (s3vol_obj_decode (enc.data, enc.len, &id, "again",
                                      &tlog.log, &again), 0);
  assert_buf_equal (&again, plain.data, plain.len);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  s3vol_buf_free (&again);
  golden_free (&g);
}

/* ---- pages ---- */

static int
page_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct page p;
  int r;

  r = page_decode (data, len, field (g, "key"), &tlog.log, &p);
  if (r == 0)
    page_free (&p);
  return r;
}

static void
test_page (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct golden g;
  struct page p;
  struct s3vol_id id;
  const char *e;
  char hex[S3VOL_ID_HEX + 1];
  unsigned slot, stored, i;
  uint8_t *b;

  (void) state;
  golden_load ("page", &g);
  check_object (&g, &plain);
  assert_int_equal (page_decode (plain.data, plain.len, field (&g, "key"),
                                 &tlog.log, &p), 0);
  assert_int_equal (p.n, field_u64 (&g, "n"));
  for (i = 0; (e = field_nth (&g, "entry", i)) != NULL; i++) {
    assert_true (i < p.n);
    assert_int_equal (sscanf (e, "%u %u %64s", &slot, &stored, hex), 3);
    unhex (hex, id.b, S3VOL_ID_LEN);
    assert_int_equal (p.e[i].slot, slot);
    assert_int_equal (p.e[i].stored_len, stored);
    assert_memory_equal (p.e[i].id.b, id.b, S3VOL_ID_LEN);
  }
  assert_int_equal (i, p.n);

  /* Re-encoded: the same plaintext, and the same (raw) object. */
  assert_int_equal (page_encode (&p, &enc), 0);
  assert_buf_equal (&enc, plain.data, plain.len);
  s3vol_buf_clear (&enc);
  assert_int_equal (s3vol_obj_encode (plain.data, plain.len, 3, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);
  page_free (&p);

  /* Damaged plaintexts: the header; entries out of order; a hole.
   * (Entries have no checksum of their own: the object's hash covers
   * them.)
   */
  reject_cut (&g, page_try, plain.data, plain.len);
  reject_flips (&g, page_try, plain.data, plain.len, 0, 16, MUST_REJECT);
  b = plain.data;
  memcpy (b + 16 + 40, b + 16, 4);          /* slot 1 = slot 0 */
  reject (&g, page_try, b, plain.len, "repeated slot", 56);
  memcpy (b + 16 + 40, g.data + 16 + 16 + 40, 4);
  memset (b + 16 + 2 * 40 + 8, 0, S3VOL_ID_LEN);  /* a hole */
  reject (&g, page_try, b, plain.len, "hole", 104);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

/* ---- roots ---- */

static int
root_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct root r;
  int ret;

  ret = root_decode (data, len, field (g, "key"), &tlog.log, &r);
  if (ret == 0)
    root_free (&r);
  return ret;
}

static void
check_root_fields (const struct golden *g, const struct root *r)
{
  struct s3vol_volid volid;
  struct s3vol_id id;
  uint64_t index, bytes;
  unsigned chunks, i;
  char hex[S3VOL_ID_HEX + 1];
  const char *e;

  assert_int_equal (r->flags, field_u64 (g, "flags"));
  field_bytes (g, "volid", volid.b, S3VOL_VOLID_LEN);
  assert_memory_equal (r->volid.b, volid.b, S3VOL_VOLID_LEN);
  assert_int_equal (r->seq, field_u64 (g, "seq"));
  assert_int_equal (r->parent, field_u64 (g, "parent"));
  assert_int_equal (r->overwrote, field_u64 (g, "overwrote"));
  assert_int_equal (r->size, field_u64 (g, "size"));
  assert_int_equal (r->chunk_size, field_u64 (g, "chunk_size"));
  assert_int_equal (r->page_entries, field_u64 (g, "page_entries"));
  assert_true (r->time_ns == field_i64 (g, "time_ns"));
  assert_int_equal (r->pid, field_u64 (g, "pid"));
  assert_string_equal (r->host, field (g, "host"));
  assert_string_equal (r->message ? r->message : "", field (g, "message"));
  field_bytes (g, "fork_of", volid.b, S3VOL_VOLID_LEN);
  assert_memory_equal (r->fork_of.b, volid.b, S3VOL_VOLID_LEN);
  assert_int_equal (r->fork_seq, field_u64 (g, "fork_seq"));
  assert_int_equal (r->npages, field_u64 (g, "npages"));
  for (i = 0; (e = field_nth (g, "page", i)) != NULL; i++) {
    assert_true (i < r->npages);
    assert_int_equal (sscanf (e, "%" SCNu64 " %u %" SCNu64 " %64s",
                              &index, &chunks, &bytes, hex), 4);
    unhex (hex, id.b, S3VOL_ID_LEN);
    assert_int_equal (r->pages[i].index, index);
    assert_int_equal (r->pages[i].chunks, chunks);
    assert_int_equal (r->pages[i].stored_bytes, bytes);
    assert_memory_equal (r->pages[i].id.b, id.b, S3VOL_ID_LEN);
  }
  assert_int_equal (i, r->npages);
}

/* A copy of g's root with one field changed and the checksum made
 * right again: decoding it must fail on the field's own check.
 */
static void
reject_field (const struct golden *g, size_t at, uint64_t v, size_t size,
              const char *what)
{
  uint8_t *b = malloc (g->len);
  size_t i;

  assert_non_null (b);
  memcpy (b, g->data, g->len);
  for (i = 0; i < size; i++)
    b[at + i] = v >> (8 * i);
  s3vol_hash (b, g->len - S3VOL_ID_LEN,
              (struct s3vol_id *) (b + g->len - S3VOL_ID_LEN));
  reject (g, root_try, b, g->len, what, at);
  free (b);
}

static void
check_root (const char *name)
{
  struct s3vol_buf enc = S3VOL_BUF_INIT;
  struct golden g;
  struct root r;
  uint8_t sum[S3VOL_ID_LEN];
  size_t ents;

  golden_load (name, &g);
  assert_int_equal (field_u64 (&g, "version"), 1);
  field_bytes (&g, "checksum", sum, S3VOL_ID_LEN);
  assert_memory_equal (g.data + g.len - S3VOL_ID_LEN, sum, S3VOL_ID_LEN);
  assert_int_equal (root_decode (g.data, g.len, field (&g, "key"),
                                 &tlog.log, &r), 0);
  check_root_fields (&g, &r);
  assert_int_equal (root_encode (&r, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);

  /* Every bit is covered by the checksum. */
  reject_cut (&g, root_try, g.data, g.len);
  reject_flips (&g, root_try, g.data, g.len, 0, g.len, MUST_REJECT);
  reject_field (&g, 64, 3u << 20, 4, "chunk size not a power of two");
  reject_field (&g, 32, 0, 8, "seq 0");
  reject_field (&g, 40, r.seq, 8, "parent not below seq");
  if (r.npages > 0) {
    ents = g.len - S3VOL_ID_LEN - r.npages * 52;
    /* the last page one past the volume's end */
    reject_field (&g, ents + (r.npages - 1) * 52,
                  (r.size / r.chunk_size + r.page_entries - 1) /
                  r.page_entries, 8, "page outside the volume");
    reject_field (&g, ents + 8, 0, 4, "page of no chunks");
    reject_field (&g, ents + 8, r.page_entries + 1, 4, "page too full");
  }
  if (r.npages > 1)
    reject_field (&g, ents + 52, r.pages[0].index, 8, "pages out of order");
  root_free (&r);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

static void
test_root (void **state)
{
  (void) state;
  check_root ("root");
}

static void
test_root_min (void **state)
{
  (void) state;
  check_root ("root-min");
}

/* ---- encrypted volumes ---- */

/* The keys of the encrypted volume, and how the objects under test are
 * decoded (for the decode_fns below).
 */
static struct s3vol_vkeys gvk;
static enum s3vol_obj_mode gmode;

/* The user key of user.key: parsed, and loaded when its mode allows
 * (git does not keep the 0600 make.py gives it).
 */
static void
user_key (struct s3vol_key *u)
{
  struct s3vol_key loaded;
  const char *why = NULL;
  char path[4096];
  uint8_t *b;
  size_t n;
  int r;

  b = slurp ("user", ".key", &n);
  assert_int_equal (n, 65);
  assert_int_equal (s3vol_key_parse (b, n, u), 0);
  free (b);
  golden_path ("user", ".key", path, sizeof path);
  r = s3vol_key_load (path, &loaded, &why);
  if (r != -EACCES) {
    assert_int_equal (r, 0);
    assert_memory_equal (loaded.b, u->b, S3VOL_KEY_LEN);
  }
}

/* Unwrap the volume key of root-encrypted.bin with user.key, the volume
 * id as associated data, derive its keys and check all of them against
 * what make.py computed.
 */
static void
volume_keys (struct s3vol_vkeys *vk)
{
  struct golden g;
  struct root r;
  struct s3vol_key u, k;
  uint8_t want[S3VOL_KEY_LEN];

  golden_load ("root-encrypted", &g);
  user_key (&u);
  assert_int_equal (root_decode (g.data, g.len, field (&g, "key"),
                                 &tlog.log, &r), 0);
  assert_int_equal (s3vol_key_unwrap (&u, r.wrap, r.volid.b,
                                      S3VOL_VOLID_LEN, &k), 0);
  field_bytes (&g, "volume_key", want, S3VOL_KEY_LEN);
  assert_memory_equal (k.b, want, S3VOL_KEY_LEN);
  assert_int_equal (s3vol_vkeys_derive (&k, vk), 0);
  field_bytes (&g, "k_id", want, S3VOL_KEY_LEN);
  assert_memory_equal (vk->id, want, S3VOL_KEY_LEN);
  field_bytes (&g, "k_enc", want, S3VOL_KEY_LEN);
  assert_memory_equal (vk->enc, want, S3VOL_KEY_LEN);
  field_bytes (&g, "k_root", want, S3VOL_KEY_LEN);
  assert_memory_equal (vk->root, want, S3VOL_KEY_LEN);
  root_free (&r);
  golden_free (&g);
}

/* Keys of another volume key. */
static void
other_keys (struct s3vol_vkeys *vk)
{
  struct s3vol_key k;

  memset (k.b, 0x5a, sizeof k.b);
  assert_int_equal (s3vol_vkeys_derive (&k, vk), 0);
}

static int
obj_mode_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct s3vol_buf out = S3VOL_BUF_INIT;
  struct s3vol_id id;
  int r;

  field_bytes (g, "id", id.b, S3VOL_ID_LEN);
  r = s3vol_obj_decode_mode (data, len, &id, gmode, &gvk, field (g, "key"),
                             &tlog.log, &out);
  s3vol_buf_free (&out);
  return r;
}

/* Decode g's object in mode m; its result, and the plaintext in out. */
static int
decode_as (const struct golden *g, enum s3vol_obj_mode m,
           const struct s3vol_vkeys *vk, struct s3vol_buf *out)
{
  struct s3vol_id id;

  field_bytes (g, "id", id.b, S3VOL_ID_LEN);
  return s3vol_obj_decode_mode (g->data, g->len, &id, m, vk,
                                field (g, "key"), &tlog.log, out);
}

/* A sealed chunk: opened with the volume's keys, its plaintext and keyed
 * id checked, every damage rejected (the header is the associated data,
 * reserved bytes included; the payload is authenticated), and refused
 * by readers of the other kinds and by another key.  Returns the
 * plaintext.
 */
static void
check_sealed (const struct golden *g, struct s3vol_buf *plain)
{
  struct s3vol_buf out = S3VOL_BUF_INIT;
  struct s3vol_vkeys other;
  struct s3vol_id id, got;
  uint8_t *want;
  size_t n;
  int errors;

  volume_keys (&gvk);
  assert_int_equal (field_u64 (g, "version"), 2);
  assert_int_equal (g->data[4], 2);
  assert_int_equal (g->data[5], field_u64 (g, "codec"));
  field_bytes (g, "id", id.b, S3VOL_ID_LEN);
  want = field_blob (g, "plain", &n);
  assert_int_equal (n, field_u64 (g, "plain_len"));
  assert_int_equal (g->len, 16 + field_u64 (g, "payload_len"));
  assert_int_equal (decode_as (g, S3VOL_OBJ_SEALED, &gvk, plain), 0);
  assert_buf_equal (plain, want, n);
  s3vol_obj_id (&gvk, plain->data, plain->len, &got);
  assert_memory_equal (got.b, id.b, S3VOL_ID_LEN);
  free (want);

  /* Structure only, without the key: accepted, nothing appended. */
  assert_int_equal (decode_as (g, S3VOL_OBJ_SEALED_UNCHECKED, NULL, &out),
                    0);
  assert_int_equal (out.len, 0);

  /* A bit flipped anywhere. */
  gmode = S3VOL_OBJ_SEALED;
  reject_cut (g, obj_mode_try, g->data, g->len);
  reject_flips (g, obj_mode_try, g->data, g->len, 0, g->len, MUST_REJECT);

  /* A plain reader (or a plain volume's page reader) refuses version 2. */
  errors = tlog.errors;
  assert_int_equal (decode_as (g, S3VOL_OBJ_PLAIN, NULL, &out), -EBADMSG);
  assert_int_equal (decode_as (g, S3VOL_OBJ_KEYED, &gvk, &out), -EBADMSG);
  assert_int_equal (decode_as (g, S3VOL_OBJ_UNCHECKED, NULL, &out),
                    -EBADMSG);
  assert_int_equal (s3vol_obj_decode (g->data, g->len, &id,
                                      field (g, "key"), &tlog.log, &out),
                    -EBADMSG);
  /* Another volume key does not open it. */
  other_keys (&other);
  assert_int_equal (decode_as (g, S3VOL_OBJ_SEALED, &other, &out),
                    -EBADMSG);
  assert_int_equal (tlog.errors, errors + 5);
  assert_non_null (strstr (tlog.last_error, field (g, "key")));
  assert_int_equal (out.len, 0);
  s3vol_buf_free (&out);
}

static void
test_chunk_sealed (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct s3vol_id id;
  struct golden g, raw;
  uint8_t hdr[16 + S3VOL_TAG_LEN];
  size_t n;

  (void) state;
  golden_load ("chunk-sealed", &g);
  assert_int_equal (field_u64 (&g, "codec"), S3VOL_CODEC_RAW);
  check_sealed (&g, &plain);
  /* Sealing is deterministic: the same bytes again. */
  field_bytes (&g, "id", id.b, S3VOL_ID_LEN);
  assert_int_equal (s3vol_obj_seal (plain.data, plain.len, 3, &gvk, &id,
                                    &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);

  /* The reader checks the keyed hash after decrypting: other bytes
   * sealed under this id (which no honest writer makes) are refused.
   */
  s3vol_buf_clear (&enc);
  assert_int_equal (s3vol_obj_seal ("other bytes", 11, 3, &gvk, &id, &enc),
                    0);
  s3vol_buf_clear (&plain);
  assert_int_equal (s3vol_obj_decode_mode (enc.data, enc.len, &id,
                                           S3VOL_OBJ_SEALED, &gvk, "forged",
                                           &tlog.log, &plain), -EBADMSG);
  assert_non_null (strstr (tlog.last_error, "forged"));
  assert_int_equal (plain.len, 0);

  /* A sealed payload too short to hold its tag, lengths consistent. */
  for (n = 0; n < S3VOL_TAG_LEN; n++) {
    memcpy (hdr, g.data, 16);
    hdr[8] = hdr[9] = hdr[10] = hdr[11] = 0;      /* plaintext 0 bytes */
    hdr[12] = n;
    hdr[13] = hdr[14] = hdr[15] = 0;
    memset (hdr + 16, 0, n);
    assert_int_equal (s3vol_obj_decode_mode (hdr, 16 + n, &id,
                                             S3VOL_OBJ_SEALED, &gvk, "short",
                                             &tlog.log, &plain), -EBADMSG);
    assert_int_equal (s3vol_obj_decode_mode (hdr, 16 + n, &id,
                                             S3VOL_OBJ_SEALED_UNCHECKED,
                                             NULL, "short", &tlog.log,
                                             &plain), -EBADMSG);
  }

  /* A reader of an encrypted volume refuses a version 1 chunk. */
  golden_load ("chunk-raw", &raw);
  s3vol_buf_clear (&plain);
  assert_int_equal (decode_as (&raw, S3VOL_OBJ_SEALED, &gvk, &plain),
                    -EBADMSG);
  assert_non_null (strstr (tlog.last_error, field (&raw, "key")));
  golden_free (&raw);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

static void
test_chunk_sealed_zstd (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct s3vol_buf again = S3VOL_BUF_INIT;
  struct s3vol_id id;
  struct golden g;

  (void) state;
  golden_load ("chunk-sealed-zstd", &g);
  assert_int_equal (field_u64 (&g, "codec"), S3VOL_CODEC_ZSTD);
  check_sealed (&g, &plain);
  /* Our sealer compresses it too (zstd's bytes may differ between
   * versions), to something that opens back.
   */
  field_bytes (&g, "id", id.b, S3VOL_ID_LEN);
  assert_int_equal (s3vol_obj_seal (plain.data, plain.len, 3, &gvk, &id,
                                    &enc), 0);
  assert_int_equal (enc.data[4], 2);
  assert_int_equal (enc.data[5], S3VOL_CODEC_ZSTD);
  assert_int_equal (s3vol_obj_decode_mode (enc.data, enc.len, &id,
                                           S3VOL_OBJ_SEALED, &gvk, "again",
                                           &tlog.log, &again), 0);
  assert_buf_equal (&again, plain.data, plain.len);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  s3vol_buf_free (&again);
  golden_free (&g);
}

static void
test_page_keyed (void **state)
{
  struct s3vol_buf plain = S3VOL_BUF_INIT, enc = S3VOL_BUF_INIT;
  struct s3vol_buf out = S3VOL_BUF_INIT;
  struct s3vol_vkeys other;
  struct s3vol_id id, got;
  struct golden g;
  struct page p;
  const char *e;
  char hex[S3VOL_ID_HEX + 1];
  unsigned slot, stored, i;
  uint8_t *want;
  size_t n;

  (void) state;
  volume_keys (&gvk);
  golden_load ("page-keyed", &g);
  assert_int_equal (field_u64 (&g, "version"), 1);
  assert_int_equal (g.data[4], 1);
  field_bytes (&g, "id", id.b, S3VOL_ID_LEN);
  want = field_blob (&g, "plain", &n);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_KEYED, &gvk, &plain), 0);
  assert_buf_equal (&plain, want, n);
  s3vol_obj_id (&gvk, plain.data, plain.len, &got);
  assert_memory_equal (got.b, id.b, S3VOL_ID_LEN);
  /* Without the key: structure only. */
  assert_int_equal (decode_as (&g, S3VOL_OBJ_UNCHECKED, NULL, &out), 0);
  assert_buf_equal (&out, want, n);
  free (want);

  assert_int_equal (page_decode (plain.data, plain.len, field (&g, "key"),
                                 &tlog.log, &p), 0);
  assert_int_equal (p.n, field_u64 (&g, "n"));
  for (i = 0; (e = field_nth (&g, "entry", i)) != NULL; i++) {
    assert_true (i < p.n);
    assert_int_equal (sscanf (e, "%u %u %64s", &slot, &stored, hex), 3);
    unhex (hex, got.b, S3VOL_ID_LEN);
    assert_int_equal (p.e[i].slot, slot);
    assert_int_equal (p.e[i].stored_len, stored);
    assert_memory_equal (p.e[i].id.b, got.b, S3VOL_ID_LEN);
  }
  assert_int_equal (i, p.n);
  assert_int_equal (page_encode (&p, &enc), 0);
  assert_buf_equal (&enc, plain.data, plain.len);
  s3vol_buf_clear (&enc);
  assert_int_equal (s3vol_obj_encode (plain.data, plain.len, 3, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);
  page_free (&p);

  /* Keyed, every bit counts but the reserved bytes 6 and 7. */
  gmode = S3VOL_OBJ_KEYED;
  reject_cut (&g, obj_mode_try, g.data, g.len);
  reject_flips (&g, obj_mode_try, g.data, g.len, 0, 6, MUST_REJECT);
  reject_flips (&g, obj_mode_try, g.data, g.len, 8, g.len, MUST_REJECT);
  /* Not a SHA-256 id; not under another key; not a sealed object. */
  s3vol_buf_clear (&out);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_PLAIN, NULL, &out), -EBADMSG);
  other_keys (&other);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_KEYED, &other, &out),
                    -EBADMSG);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_SEALED, &gvk, &out), -EBADMSG);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_SEALED_UNCHECKED, NULL, &out),
                    -EBADMSG);
  assert_non_null (strstr (tlog.last_error, field (&g, "key")));
  assert_int_equal (out.len, 0);
  /* A plain volume's page is not a keyed one. */
  golden_free (&g);
  golden_load ("page", &g);
  assert_int_equal (decode_as (&g, S3VOL_OBJ_KEYED, &gvk, &out), -EBADMSG);
  assert_non_null (strstr (tlog.last_error, field (&g, "key")));
  assert_int_equal (out.len, 0);
  s3vol_buf_free (&out);
  s3vol_buf_free (&plain);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

static int
root_mac_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct root r;
  int ret;

  ret = root_decode (data, len, field (g, "key"), &tlog.log, &r);
  if (ret == 0) {
    root_free (&r);
    ret = root_check_mac (data, len, field (g, "key"), &gvk, &tlog.log);
  }
  return ret;
}

static void
test_root_encrypted (void **state)
{
  struct s3vol_buf enc = S3VOL_BUF_INIT;
  struct s3vol_vkeys other;
  struct s3vol_key u, k;
  struct s3vol_volid volid;
  struct golden g;
  struct root r;
  uint8_t want[S3VOL_WRAP_LEN], *b;
  size_t macat, i;
  int errors;

  (void) state;
  volume_keys (&gvk);
  golden_load ("root-encrypted", &g);
  assert_int_equal (field_u64 (&g, "version"), 1);
  assert_int_equal (field_u64 (&g, "flags") & ROOT_FLAG_ENCRYPTED,
                    ROOT_FLAG_ENCRYPTED);
  field_bytes (&g, "checksum", want, S3VOL_ID_LEN);
  assert_memory_equal (g.data + g.len - 32, want, 32);
  macat = g.len - 64;
  field_bytes (&g, "mac", want, 32);
  assert_memory_equal (g.data + macat, want, 32);
  assert_int_equal (root_decode (g.data, g.len, field (&g, "key"),
                                 &tlog.log, &r), 0);
  check_root_fields (&g, &r);
  field_bytes (&g, "wrap", want, S3VOL_WRAP_LEN);
  assert_memory_equal (r.wrap, want, S3VOL_WRAP_LEN);
  assert_memory_equal (g.data + macat - S3VOL_WRAP_LEN, want,
                       S3VOL_WRAP_LEN);
  field_bytes (&g, "wrap_nonce", want, 12);
  assert_memory_equal (r.wrap + 4, want, 12);
  assert_int_equal (root_check_mac (g.data, g.len, field (&g, "key"), &gvk,
                                    &tlog.log), 0);

  /* Re-encoded with the key: the same bytes (the wrap is kept). */
  assert_int_equal (root_encode_keyed (&r, &gvk, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);
  s3vol_buf_clear (&enc);
  assert_int_equal (root_encode (&r, &enc), -EINVAL);

  /* Another key's HMAC does not match. */
  other_keys (&other);
  errors = tlog.errors;
  assert_int_equal (root_check_mac (g.data, g.len, field (&g, "key"),
                                    &other, &tlog.log), -EBADMSG);
  assert_int_equal (tlog.errors, errors + 1);
  assert_non_null (strstr (tlog.last_error, field (&g, "key")));

  /* The wrap opens only with the user key and this volume id. */
  user_key (&u);
  memcpy (&volid, &r.volid, sizeof volid);
  volid.b[0] ^= 1;
  assert_int_equal (s3vol_key_unwrap (&u, r.wrap, volid.b, S3VOL_VOLID_LEN,
                                      &k), -EKEYREJECTED);
  u.b[31] ^= 1;
  assert_int_equal (s3vol_key_unwrap (&u, r.wrap, r.volid.b,
                                      S3VOL_VOLID_LEN, &k), -EKEYREJECTED);

  /* Every bit is covered by the checksum ... */
  reject_cut (&g, root_try, g.data, g.len);
  reject_flips (&g, root_try, g.data, g.len, 0, g.len, MUST_REJECT);
  /* ... and, the checksum made right again, every bit before the HMAC
   * by the HMAC (or by root_decode's own checks), and the HMAC itself.
   */
  b = malloc (g.len);
  assert_non_null (b);
  for (i = 0; i < g.len - 32; i++) {
    memcpy (b, g.data, g.len);
    b[i] ^= 1 << (i % 8);
    s3vol_hash (b, g.len - 32, (struct s3vol_id *) (b + g.len - 32));
    reject (&g, root_mac_try, b, g.len, "bit flipped, checksum fixed", i);
  }
  free (b);
  root_free (&r);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

/* ---- small records ---- */

static enum record_kind
kind_of (const struct golden *g)
{
  const char *k = field (g, "kind");

  if (strcmp (k, "name") == 0)
    return RECORD_NAME;
  if (strcmp (k, "head") == 0)
    return RECORD_HEAD;
  assert_string_equal (k, "snapshot");
  return RECORD_SNAPSHOT;
}

static int
record_try (const struct golden *g, const uint8_t *data, size_t len)
{
  struct record rec;

  return record_decode (data, len, kind_of (g), field (g, "key"),
                        &tlog.log, &rec);
}

static void
check_record (const char *name)
{
  struct s3vol_buf enc = S3VOL_BUF_INIT;
  struct s3vol_volid volid = { { 0 } };
  struct golden g;
  struct record rec;
  enum record_kind kind, other;

  golden_load (name, &g);
  kind = kind_of (&g);
  assert_int_equal (record_decode (g.data, g.len, kind, field (&g, "key"),
                                   &tlog.log, &rec), 0);
  assert_int_equal (rec.kind, kind);
  if (kind == RECORD_NAME)
    field_bytes (&g, "volid", volid.b, S3VOL_VOLID_LEN);
  assert_memory_equal (rec.volid.b, volid.b, S3VOL_VOLID_LEN);
  assert_int_equal (rec.seq, kind == RECORD_NAME ? 0 : field_u64 (&g, "seq"));
  assert_true (rec.time_ns ==
               (kind == RECORD_HEAD ? 0 : field_i64 (&g, "time_ns")));
  assert_int_equal (record_encode (&rec, &enc), 0);
  assert_buf_equal (&enc, g.data, g.len);

  /* The magic and version are checked; the payload has no checksum. */
  reject_cut (&g, record_try, g.data, g.len);
  reject_flips (&g, record_try, g.data, g.len, 0, 12, MUST_REJECT);
  for (other = RECORD_NAME; other <= RECORD_SNAPSHOT; other++)
    if (other != kind) {
      assert_int_equal (record_decode (g.data, g.len, other, "other",
                                       &tlog.log, &rec), -EBADMSG);
      assert_non_null (strstr (tlog.last_error, "other"));
    }
  assert_int_equal (record_decode (g.data, g.len, (enum record_kind) 99,
                                   "x", &tlog.log, &rec), -EINVAL);
  rec.kind = (enum record_kind) 99;
  assert_int_equal (record_encode (&rec, &enc), -EINVAL);
  s3vol_buf_free (&enc);
  golden_free (&g);
}

static void
test_records (void **state)
{
  (void) state;
  check_record ("name");
  check_record ("head");
  check_record ("snapshot");
}

/* SHA-256 (through EVP, a context per thread) gives the standard
 * digests; chunks that do not compress are stored raw (the sample says
 * so before zstd runs on the whole), and chunks that do are compressed,
 * also when only their sampled parts would not say it loudly.
 */
static void
test_hash_and_sampling (void **state)
{
  static const char abc_hex[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  struct s3vol_buf enc = S3VOL_BUF_INIT, dec = S3VOL_BUF_INIT;
  size_t len = 1u << 20, k;
  uint8_t *buf = malloc (len);
  struct s3vol_id id;
  char hex[2 * S3VOL_ID_LEN + 1];

  (void) state;
  s3vol_hash ("abc", 3, &id);
  assert_string_equal (s3vol_id_hex (&id, hex), abc_hex);

  test_fill (buf, len, 42);     /* random: incompressible */
  assert_int_equal (s3vol_obj_encode (buf, len, 3, &enc), 0);
  assert_int_equal (enc.data[5], S3VOL_CODEC_RAW);
  s3vol_hash (buf, len, &id);
  assert_int_equal (s3vol_obj_decode (enc.data, enc.len, &id, "raw",
                                      &tlog.log, &dec), 0);
  assert_memory_equal (dec.data, buf, len);

  for (k = 0; k < len; k++)     /* text-like: compresses well */
    buf[k] = "the quick brown fox "[k % 20] + (k / 4096 % 3);
  enc.len = dec.len = 0;
  assert_int_equal (s3vol_obj_encode (buf, len, 3, &enc), 0);
  assert_int_equal (enc.data[5], S3VOL_CODEC_ZSTD);
  assert_true (enc.len < len / 4);
  s3vol_hash (buf, len, &id);
  assert_int_equal (s3vol_obj_decode (enc.data, enc.len, &id, "zstd",
                                      &tlog.log, &dec), 0);
  assert_memory_equal (dec.data, buf, len);
  s3vol_buf_free (&enc);
  s3vol_buf_free (&dec);
  free (buf);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_chunk_raw),
    cmocka_unit_test (test_chunk_zstd),
    cmocka_unit_test (test_page),
    cmocka_unit_test (test_root),
    cmocka_unit_test (test_root_min),
    cmocka_unit_test (test_chunk_sealed),
    cmocka_unit_test (test_chunk_sealed_zstd),
    cmocka_unit_test (test_page_keyed),
    cmocka_unit_test (test_root_encrypted),
    cmocka_unit_test (test_records),
    cmocka_unit_test (test_hash_and_sampling),
  };

  test_log_init (&tlog);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
