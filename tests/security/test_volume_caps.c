/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security tests: what the volume layer takes from an untrusted
 * store.
 *
 * The store (a directory anyone may write to, or a bucket) is not
 * trusted.  Here it holds crafted objects: a root whose size is not a
 * whole number of chunks (the plugin would read past its state array),
 * records, roots and chunks far larger than the format allows (each read
 * must ask the store for no more than the format's maximum, plus one
 * byte to tell "too large"), and a forged head hint naming a version
 * that does not exist (the volume must still open, from a listing of
 * its versions).  Runs on S3VOL_TEST_STORE, or a temporary directory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/manifest.h"
#include "s3vol/record.h"
#include "s3vol/volume.h"
#include "testutil.h"

/* ---- a store that remembers the longest read asked of it ---- */

struct spy {
  struct objstore base;
  struct objstore *inner;
  uint64_t longest;             /* largest len passed to get */
  char longest_key[OBJSTORE_KEY_MAX + 1];
};

static void spy_close (struct objstore *s) { (void) s; }

static int
spy_get (struct objstore *s, const char *key, uint64_t off, uint64_t len,
         struct s3vol_buf *out)
{
  struct spy *sp = (struct spy *) s;

  if (len > sp->longest) {
    sp->longest = len;
    snprintf (sp->longest_key, sizeof sp->longest_key, "%s", key);
  }
  return objstore_get (sp->inner, key, off, len, out);
}

static int
spy_put (struct objstore *s, const char *key, const void *data, size_t len,
         unsigned flags)
{
  return objstore_put (((struct spy *) s)->inner, key, data, len, flags);
}

static int
spy_head (struct objstore *s, const char *key, struct objstore_stat *st)
{
  return objstore_head (((struct spy *) s)->inner, key, st);
}

static int
spy_del (struct objstore *s, const char *key)
{
  return objstore_del (((struct spy *) s)->inner, key);
}

static int
spy_del_many (struct objstore *s, const char *const *keys, size_t n)
{
  return objstore_del_many (((struct spy *) s)->inner, keys, n);
}

static int
spy_list (struct objstore *s, const char *prefix, const char *after,
          objstore_list_fn fn, void *opaque)
{
  return objstore_list (((struct spy *) s)->inner, prefix, after, fn,
                        opaque);
}

static unsigned
spy_caps (struct objstore *s)
{
  return objstore_caps (((struct spy *) s)->inner);
}

static const struct objstore_ops spy_ops = {
  .scheme = "spy", .close = spy_close, .get = spy_get, .put = spy_put,
  .head = spy_head, .del = spy_del, .del_many = spy_del_many,
  .list = spy_list, .caps = spy_caps,
};

/* ---- fixtures ---- */

static struct test_log tl;
static struct objstore *os;
static struct spy spy;
static struct volstore *vs;
static struct vol_info info;

#define CHUNK (64u << 10)
/* The largest a reader may ask for: the largest chunk object (64 MiB of
 * plaintext, a 16-byte header and, sealed, a 16-byte tag) and one byte
 * more.
 */
#define READ_MAX ((64u << 20) + 16 + 16 + 1)

static int
setup (void **state)
{
  struct volstore_config cfg = { .log = &tl.log };

  (void) state;
  test_log_init (&tl);
  os = test_store_open ();
  assert_non_null (os);
  test_clear_prefix (os, "");
  memset (&spy, 0, sizeof spy);
  spy.base.ops = &spy_ops;
  spy.base.log = os->log;
  spy.base.url = os->url;
  spy.inner = os;
  assert_int_equal (volstore_open (&spy.base, &cfg, &vs), 0);
  assert_int_equal (volstore_create (vs, "v", 4 * CHUNK, CHUNK, &info), 0);
  spy.longest = 0;
  test_log_init (&tl);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  volstore_close (vs);
  test_clear_prefix (os, "");
  test_store_close (os);
  return 0;
}

static void
vol_key (char *key, size_t n, const char *rest)
{
  char hex[2 * S3VOL_VOLID_LEN + 1];

  snprintf (key, n, "volumes/%s/%s", s3vol_volid_hex (&info.volid, hex),
            rest);
}

/* Junk of len bytes under key. */
static void
put_junk (const char *key, size_t len)
{
  void *junk = calloc (1, len);

  assert_non_null (junk);
  assert_int_equal (objstore_put (os, key, junk, len, 0), 0);
  free (junk);
}

/* ---- roots ---- */

/* A root of volume "v" with no pages: version seq over seq - 1. */
static void
crafted_root (struct root *r, uint64_t seq, uint64_t size)
{
  memset (r, 0, sizeof *r);
  r->volid = info.volid;
  r->seq = seq;
  r->parent = seq - 1;
  r->size = size;
  r->chunk_size = CHUNK;
  r->page_entries = 4096;
  snprintf (r->host, sizeof r->host, "h");
}

/* A root whose size is not a whole number of chunks is corrupt. */
static void
test_root_partial_chunk (void **state)
{
  struct root r, back;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct s3vol_log log = tl.log;

  (void) state;
  crafted_root (&r, 1, 3 * CHUNK + 1);
  assert_int_equal (root_encode (&r, &b), 0);
  test_log_init (&tl);
  assert_int_equal (root_decode (b.data, b.len, "crafted", &log, &back),
                    -EBADMSG);
  assert_int_equal (tl.errors, 1);
  assert_non_null (strstr (tl.last_error, "whole number of chunks"));
  s3vol_buf_free (&b);
}

/* ... and a volume whose head is such a root does not open. */
static void
test_volume_partial_chunk (void **state)
{
  struct root r;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct volume *v = NULL;
  char key[256];

  (void) state;
  crafted_root (&r, 2, 4 * CHUNK + 100);
  assert_int_equal (root_encode (&r, &b), 0);
  vol_key (key, sizeof key, "versions/0000000000000002");
  assert_int_equal (objstore_put (os, key, b.data, b.len, 0), 0);
  s3vol_buf_free (&b);
  assert_int_equal (volume_open (vs, "v", &(struct vol_ref) { 0 }, &v),
                    -EBADMSG);
}

/* ---- sizes ---- */

/* A name record of 1 MiB: read with a cap, refused. */
static void
test_huge_record (void **state)
{
  struct vol_info vi;

  (void) state;
  put_junk ("names/v", 1u << 20);
  spy.longest = 0;
  assert_int_equal (volstore_info (vs, "v", &vi), -EBADMSG);
  fprintf (stderr, "longest read: %" PRIu64 " bytes of %s\n", spy.longest,
           spy.longest_key);
  assert_true (spy.longest <= RECORD_MAX + 1);
}

/* A root of 64 MiB + 1: never read whole. */
static void
test_huge_root (void **state)
{
  struct volume *v = NULL;
  char key[256];

  (void) state;
  vol_key (key, sizeof key, "versions/0000000000000002");
  put_junk (key, (64u << 20) + 1);
  spy.longest = 0;
  assert_int_equal (volume_open (vs, "v", &(struct vol_ref) { 0 }, &v),
                    -EBADMSG);
  fprintf (stderr, "longest read: %" PRIu64 " bytes of %s\n", spy.longest,
           spy.longest_key);
  assert_true (spy.longest <= READ_MAX);
}

/* Opening and reading a volume asks for bounded reads only. */
static void
test_reads_bounded (void **state)
{
  struct volume *v = NULL;
  struct vol_change ch = { .index = 1 };
  struct vol_commit_result res;
  uint8_t *buf = malloc (CHUNK);

  (void) state;
  assert_non_null (buf);
  test_fill (buf, CHUNK, 7);
  assert_int_equal (volstore_put_chunk (vs, buf, CHUNK, &ch.id,
                                        &ch.stored_len), 0);
  assert_int_equal (volume_open (vs, "v", &(struct vol_ref) { 0 }, &v), 0);
  assert_int_equal (volume_commit (v, &ch, 1, NULL, &res), 0);
  volume_close (v);
  spy.longest = 0;
  assert_int_equal (volume_open (vs, "v", &(struct vol_ref) { 0 }, &v), 0);
  assert_int_equal (volume_read_chunk (v, 1, buf, NULL), 0);
  volume_close (v);
  fprintf (stderr, "longest read: %" PRIu64 " bytes of %s\n", spy.longest,
           spy.longest_key);
  assert_true (spy.longest <= READ_MAX);
  free (buf);
}

/* ---- the head hint ---- */

/* A forged hint naming a version far past the newest: the volume still
 * opens, at its real head.
 */
static void
test_forged_head_hint (void **state)
{
  struct record rec = { .kind = RECORD_HEAD, .seq = 0x1000 };
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct volume *v = NULL;
  uint64_t head = 0;
  char key[256];
  int r;

  (void) state;
  assert_int_equal (record_encode (&rec, &b), 0);
  vol_key (key, sizeof key, "head");
  assert_int_equal (objstore_put (os, key, b.data, b.len, 0), 0);
  s3vol_buf_free (&b);
  r = volume_open (vs, "v", &(struct vol_ref) { 0 }, &v);
  assert_int_equal (r, 0);
  assert_int_equal (volume_seq (v), 1);
  assert_int_equal (volume_head (v, &head), 0);
  assert_int_equal (head, 1);
  volume_close (v);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_root_partial_chunk, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_volume_partial_chunk, setup,
                                     teardown),
    cmocka_unit_test_setup_teardown (test_huge_record, setup, teardown),
    cmocka_unit_test_setup_teardown (test_huge_root, setup, teardown),
    cmocka_unit_test_setup_teardown (test_reads_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown (test_forged_head_hint, setup,
                                     teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
