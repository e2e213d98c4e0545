/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol security tests: encrypted volumes against a store that reads
 * and writes what it holds.
 *
 * The store may be read by people the volume's owner does not trust
 * (a shared or reused bucket) and written by them.  An encrypted volume
 * must keep its plaintext, and its plaintext's hashes, out of the store;
 * open only with its key; refuse forged, spliced, moved or downgraded
 * objects; fork without copying; and still let gc and verify walk it
 * without the key (gc never taking an unreadable page for one that
 * reaches nothing).  Runs on S3VOL_TEST_STORE, or a temporary
 * directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3vol/crypt.h"
#include "s3vol/manifest.h"
#include "s3vol/volume.h"
#include "testutil.h"

#define CHUNK (64u << 10)
#define NCHUNKS 8
#define SECRET "TOP-SECRET-PLAINTEXT:"

static struct test_log tl;
static struct objstore *os;
/* Volume stores on one object store: with user key A, key B, none. */
static struct volstore *vs_a, *vs_b, *vs_none;
static struct s3vol_key key_a, key_b;
static uint8_t secret_chunk[CHUNK], random_chunk[CHUNK];

static struct volstore *
open_vs (const struct s3vol_key *key)
{
  struct volstore_config cfg = { .log = &tl.log };
  struct volstore *vs;

  assert_int_equal (volstore_open (os, &cfg, &vs), 0);
  if (key)
    assert_int_equal (volstore_add_key (vs, key), 0);
  return vs;
}

static int
setup (void **state)
{
  size_t i;

  (void) state;
  test_log_init (&tl);
  os = test_store_open ();
  assert_non_null (os);
  test_clear_prefix (os, "");
  assert_int_equal (s3vol_key_random (&key_a), 0);
  assert_int_equal (s3vol_key_random (&key_b), 0);
  vs_a = open_vs (&key_a);
  vs_b = open_vs (&key_b);
  vs_none = open_vs (NULL);
  /* Compressible text: zstd is used, and the words are easy to find. */
  for (i = 0; i + sizeof SECRET <= CHUNK; i += sizeof SECRET - 1)
    memcpy (secret_chunk + i, SECRET, sizeof SECRET - 1);
  test_fill (random_chunk, CHUNK, 42);
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  volstore_close (vs_a);
  volstore_close (vs_b);
  volstore_close (vs_none);
  test_store_close (os);
  return 0;
}

/* Write data to chunk index of the open volume v and commit it. */
static void
write_chunk (struct volume *v, uint64_t index, const void *data)
{
  struct vol_change ch = { .index = index };
  struct vol_commit_result res;

  assert_int_equal (volume_put_chunk (v, data, CHUNK, &ch.id,
                                      &ch.stored_len), 0);
  assert_int_equal (volume_commit (v, &ch, 1, NULL, &res), 0);
}

/* A volume of vs named name with the secret chunk at 0 and the random
 * one at 1.
 */
static void
make_volume (struct volstore *vs, const char *name, bool want_encrypted)
{
  struct vol_info info;
  struct volume *v;

  assert_int_equal (volstore_create (vs, name, NCHUNKS * CHUNK, CHUNK,
                                     &info), 0);
  assert_int_equal (info.encrypted, want_encrypted);
  assert_int_equal (volume_open (vs, name, NULL, &v), 0);
  assert_int_equal (volume_encrypted (v), want_encrypted);
  write_chunk (v, 0, secret_chunk);
  write_chunk (v, 1, random_chunk);
  volume_close (v);
}

static void
check_reads (struct volstore *vs, const char *name)
{
  static uint8_t buf[CHUNK];
  struct volume *v;

  assert_int_equal (volume_open (vs, name, NULL, &v), 0);
  assert_int_equal (volume_read_chunk (v, 0, buf, NULL), 0);
  assert_memory_equal (buf, secret_chunk, CHUNK);
  assert_int_equal (volume_read_chunk (v, 1, buf, NULL), 0);
  assert_memory_equal (buf, random_chunk, CHUNK);
  volume_close (v);
}

/* ---- walking the store's objects ---- */

struct keys {
  char (*k)[OBJSTORE_KEY_MAX + 1];
  size_t n;
};

static int
collect (void *opaque, const struct objstore_entry *e)
{
  struct keys *ks = opaque;

  ks->k = realloc (ks->k, (ks->n + 1) * sizeof *ks->k);
  assert_non_null (ks->k);
  snprintf (ks->k[ks->n++], sizeof *ks->k, "%s", e->key);
  return 0;
}

static struct keys
list_keys (const char *prefix)
{
  struct keys ks = { NULL, 0 };

  assert_int_equal (objstore_list (os, prefix, NULL, collect, &ks), 0);
  return ks;
}

static void
get_obj (const char *key, struct s3vol_buf *b)
{
  b->len = 0;
  assert_int_equal (objstore_get (os, key, 0, 128u << 20, b), 0);
}

/* The key of the chunk or page object with this id. */
static char *
ca_key (char *out, const char *kind, const struct s3vol_id *id)
{
  char hex[S3VOL_ID_HEX + 1];

  s3vol_id_hex (id, hex);
  snprintf (out, OBJSTORE_KEY_MAX, "%s/%.2s/%s", kind, hex, hex);
  return out;
}

static char *
root_key (char *out, const char *name, uint64_t seq)
{
  struct vol_info info;
  char hex[33];

  assert_int_equal (volstore_info (vs_none, name, &info), 0);
  snprintf (out, OBJSTORE_KEY_MAX, "volumes/%s/versions/%016" PRIx64,
            s3vol_volid_hex (&info.volid, hex), seq);
  return out;
}

static void
chunk_id (struct volstore *vs, const char *name, uint64_t index,
          struct s3vol_id *id)
{
  struct volume *v;

  assert_int_equal (volume_open (vs, name, NULL, &v), 0);
  assert_int_equal (volume_chunk_id (v, index, id), 0);
  volume_close (v);
}

/* ---- tests ---- */

/* Neither the plaintext nor its SHA-256 is anywhere in the store. */
static void
test_no_plaintext (void **state)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct s3vol_id sha;
  char hex[S3VOL_ID_HEX + 1];
  struct keys ks;
  size_t i;

  (void) state;
  make_volume (vs_a, "sec", true);
  check_reads (vs_a, "sec");
  ks = list_keys ("");
  assert_true (ks.n > 4);
  s3vol_hash (secret_chunk, CHUNK, &sha);
  s3vol_id_hex (&sha, hex);
  for (i = 0; i < ks.n; i++) {
    assert_null (strstr (ks.k[i], hex));
    get_obj (ks.k[i], &b);
    assert_null (memmem (b.data, b.len, "TOP-SECRET", 10));
    assert_null (memmem (b.data, b.len, random_chunk + 1000, 64));
    assert_null (memmem (b.data, b.len, sha.b, S3VOL_ID_LEN));
  }
  free (ks.k);
  s3vol_buf_free (&b);

  /* The same data in a plain volume is stored under its SHA-256. */
  make_volume (vs_none, "open", false);
  ks = list_keys ("chunks/");
  for (i = 0; i < ks.n && strstr (ks.k[i], hex) == NULL; i++)
    ;
  assert_true (i < ks.n);
  free (ks.k);
}

/* No key, the wrong key, and a plain volume where a key is given. */
static void
test_keys_required (void **state)
{
  struct volume *v;

  (void) state;
  assert_int_equal (volume_open (vs_none, "sec", NULL, &v), -ENOKEY);
  assert_int_equal (volume_open (vs_b, "sec", NULL, &v), -EKEYREJECTED);
  assert_int_equal (volume_open (vs_a, "open", NULL, &v), -EKEYREJECTED);
  assert_int_equal (volstore_create_encrypted (vs_none, "nokey", CHUNK,
                                               CHUNK, NULL), -ENOKEY);
  assert_int_equal (volstore_exists (vs_none, "nokey"), 0);
}

/* Sealing is deterministic; two keys never share an object name. */
static void
test_deterministic_and_separate (void **state)
{
  struct s3vol_buf b1 = S3VOL_BUF_INIT, b2 = S3VOL_BUF_INIT;
  struct s3vol_id id0, other, plain;
  char key[OBJSTORE_KEY_MAX];
  struct volstore *fresh;
  struct volume *v;
  uint32_t len;

  (void) state;
  chunk_id (vs_a, "sec", 0, &id0);
  get_obj (ca_key (key, "chunks", &id0), &b1);
  assert_int_equal (objstore_del (os, key), 0);
  /* A new volstore, which does not remember that it stored it. */
  fresh = open_vs (&key_a);
  assert_int_equal (volume_open (fresh, "sec", NULL, &v), 0);
  assert_int_equal (volume_put_chunk (v, secret_chunk, CHUNK, &other, &len),
                    0);
  volume_close (v);
  volstore_close (fresh);
  assert_memory_equal (other.b, id0.b, S3VOL_ID_LEN);
  get_obj (key, &b2);
  assert_int_equal (b1.len, b2.len);
  assert_memory_equal (b1.data, b2.data, b1.len);

  /* Another volume under the same user key has its own volume key. */
  make_volume (vs_a, "sec2", true);
  chunk_id (vs_a, "sec2", 0, &other);
  assert_memory_not_equal (other.b, id0.b, S3VOL_ID_LEN);
  chunk_id (vs_none, "open", 0, &plain);
  assert_memory_not_equal (plain.b, id0.b, S3VOL_ID_LEN);
  s3vol_buf_free (&b1);
  s3vol_buf_free (&b2);
}

/* A changed byte, or another object's bytes, never reads as data. */
static void
test_tampered_chunks (void **state)
{
  struct s3vol_buf orig = S3VOL_BUF_INIT, b = S3VOL_BUF_INIT;
  static uint8_t buf[CHUNK];
  struct s3vol_id id0, id1;
  char k0[OBJSTORE_KEY_MAX], k1[OBJSTORE_KEY_MAX];
  struct volume *v;
  size_t at[] = { 3, 6, 9, 20, 100, 0 };
  size_t i;

  (void) state;
  chunk_id (vs_a, "sec", 0, &id0);
  chunk_id (vs_a, "sec", 1, &id1);
  get_obj (ca_key (k0, "chunks", &id0), &orig);
  ca_key (k1, "chunks", &id1);
  at[5] = orig.len - 1;         /* the tag */
  for (i = 0; i < sizeof at / sizeof at[0]; i++) {
    get_obj (k0, &b);
    b.data[at[i]] ^= 0x20;
    assert_int_equal (objstore_put (os, k0, b.data, b.len, 0), 0);
    assert_int_equal (volume_open (vs_a, "sec", NULL, &v), 0);
    assert_int_equal (volume_read_chunk (v, 0, buf, NULL), -EBADMSG);
    volume_close (v);
  }
  /* Spliced: chunk 1's object under chunk 0's name. */
  get_obj (k1, &b);
  assert_int_equal (objstore_put (os, k0, b.data, b.len, 0), 0);
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), 0);
  assert_int_equal (volume_read_chunk (v, 0, buf, NULL), -EBADMSG);
  volume_close (v);
  assert_int_equal (objstore_put (os, k0, orig.data, orig.len, 0), 0);
  check_reads (vs_a, "sec");
  s3vol_buf_free (&orig);
  s3vol_buf_free (&b);
}

/* Recompute a root's checksum after changing it, as a forger would. */
static void
reseal_sum (struct s3vol_buf *b)
{
  s3vol_hash (b->data, b->len - 32, (struct s3vol_id *) (b->data + b->len
                                                         - 32));
}

/* Forged, moved and downgraded roots are refused. */
static void
test_tampered_roots (void **state)
{
  struct s3vol_buf orig = S3VOL_BUF_INIT, b = S3VOL_BUF_INIT;
  char key[OBJSTORE_KEY_MAX], next[OBJSTORE_KEY_MAX];
  struct root r;
  struct volume *v;

  (void) state;
  /* "sec" has versions 1 (create) to 3 (two commits). */
  root_key (key, "sec", 3);
  get_obj (key, &orig);

  /* A changed field with a good checksum: the HMAC catches it. */
  get_obj (key, &b);
  b.data[72] ^= 1;              /* time written */
  reseal_sum (&b);
  assert_int_equal (objstore_put (os, key, b.data, b.len, 0), 0);
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), -EBADMSG);

  /* Made plain (no HMAC to check): refused when a key is given. */
  assert_int_equal (root_decode (orig.data, orig.len, key, &tl.log, &r), 0);
  r.flags &= ~ROOT_FLAG_ENCRYPTED;
  b.len = 0;
  assert_int_equal (root_encode (&r, &b), 0);
  assert_int_equal (objstore_put (os, key, b.data, b.len, 0), 0);
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), -EKEYREJECTED);
  assert_int_equal (objstore_put (os, key, orig.data, orig.len, 0), 0);

  /* ... and as a newer version of a volume opened with its key. */
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), 0);
  r.seq = 4;
  r.parent = 3;
  b.len = 0;
  assert_int_equal (root_encode (&r, &b), 0);
  root_key (next, "sec", 4);
  assert_int_equal (objstore_put (os, next, b.data, b.len, 0), 0);
  assert_int_equal (volume_reload (v), -EBADMSG);
  assert_int_equal (volume_seq (v), 3);
  assert_int_equal (objstore_del (os, next), 0);
  volume_close (v);
  root_free (&r);

  /* Moved: version 2's root put as version 4 names another version, and
   * with its seq patched the HMAC fails.
   */
  root_key (next, "sec", 2);
  get_obj (next, &b);
  b.data[32] = 4;               /* seq, little-endian */
  reseal_sum (&b);
  root_key (next, "sec", 4);
  assert_int_equal (objstore_put (os, next, b.data, b.len, 0), 0);
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), -EBADMSG);
  assert_int_equal (objstore_del (os, next), 0);
  check_reads (vs_a, "sec");
  s3vol_buf_free (&orig);
  s3vol_buf_free (&b);
}

/* A fork copies no chunk, reads with the key, and not with another. */
static void
test_fork (void **state)
{
  struct s3vol_buf b1 = S3VOL_BUF_INIT, b2 = S3VOL_BUF_INIT;
  char k1[OBJSTORE_KEY_MAX], k2[OBJSTORE_KEY_MAX];
  struct root r1, r2;
  struct keys before, after;
  struct volume *v;

  (void) state;
  before = list_keys ("chunks/");
  assert_int_equal (volstore_fork (vs_none, "sec", NULL, "nofork", NULL),
                    -ENOKEY);
  assert_int_equal (volstore_fork (vs_a, "sec", NULL, "fork", NULL), 0);
  after = list_keys ("chunks/");
  assert_int_equal (before.n, after.n);
  check_reads (vs_a, "fork");
  assert_int_equal (volume_open (vs_b, "fork", NULL, &v), -EKEYREJECTED);
  /* Its key is wrapped anew, bound to its own volume id. */
  get_obj (root_key (k1, "sec", 3), &b1);
  get_obj (root_key (k2, "fork", 1), &b2);
  assert_int_equal (root_decode (b1.data, b1.len, k1, &tl.log, &r1), 0);
  assert_int_equal (root_decode (b2.data, b2.len, k2, &tl.log, &r2), 0);
  assert_true (r2.flags & ROOT_FLAG_ENCRYPTED);
  assert_memory_not_equal (r1.wrap, r2.wrap, S3VOL_WRAP_LEN);
  root_free (&r1);
  root_free (&r2);
  free (before.k);
  free (after.k);
  s3vol_buf_free (&b1);
  s3vol_buf_free (&b2);
}

/* gc without any key keeps what encrypted volumes reach, and stops on a
 * page it cannot read rather than taking it for one reaching nothing.
 */
static void
test_gc_without_key (void **state)
{
  struct gc_opts later = { .now = time (NULL) + 30 * 86400 };
  struct gc_report rep;
  struct s3vol_buf b = S3VOL_BUF_INIT;
  struct keys pages, chunks, left;
  struct volume *v;
  struct root r;
  char key[OBJSTORE_KEY_MAX], pkey[OBJSTORE_KEY_MAX];

  (void) state;
  assert_int_equal (volstore_gc (vs_none, &later, &rep), 0);
  check_reads (vs_a, "sec");
  check_reads (vs_a, "fork");
  check_reads (vs_a, "sec2");

  /* Break the page of "sec"'s head. */
  get_obj (root_key (key, "sec", 3), &b);
  assert_int_equal (root_decode (b.data, b.len, key, &tl.log, &r), 0);
  assert_int_equal (r.npages, 1);
  ca_key (pkey, "pages", &r.pages[0].id);
  root_free (&r);
  get_obj (pkey, &b);
  assert_int_equal (objstore_put (os, pkey, b.data, 10, 0), 0);
  pages = list_keys ("pages/");
  chunks = list_keys ("chunks/");
  assert_int_equal (volstore_gc (vs_none, &later, &rep), -EBADMSG);
  assert_int_equal (rep.objects_deleted, 0);
  left = list_keys ("chunks/");
  assert_int_equal (left.n, chunks.n);
  free (left.k);
  assert_int_equal (objstore_put (os, pkey, b.data, b.len, 0), 0);
  assert_int_equal (volume_open (vs_a, "sec", NULL, &v), 0);
  volume_close (v);
  free (pages.k);
  free (chunks.k);
  s3vol_buf_free (&b);
}

static void
count_problem (void *opaque, const char *key, const char *problem)
{
  (void) key; (void) problem;
  ++*(int *) opaque;
}

/* verify checks everything with the key, structure without it. */
static void
test_verify (void **state)
{
  struct verify_report rep;
  struct s3vol_buf orig = S3VOL_BUF_INIT, b = S3VOL_BUF_INIT;
  struct s3vol_id id1;
  char key[OBJSTORE_KEY_MAX];
  int problems = 0;

  (void) state;
  assert_int_equal (volstore_verify (vs_a, "sec", count_problem, &problems,
                                     &rep), 0);
  assert_int_equal (rep.keyless, 0);
  assert_true (rep.chunks >= 2);
  assert_int_equal (volstore_verify (vs_none, "sec", count_problem,
                                     &problems, &rep), 0);
  assert_int_equal (rep.keyless, rep.pages + rep.chunks);
  assert_int_equal (problems, 0);

  chunk_id (vs_a, "sec", 1, &id1);
  get_obj (ca_key (key, "chunks", &id1), &orig);
  get_obj (key, &b);
  b.data[50] ^= 1;
  assert_int_equal (objstore_put (os, key, b.data, b.len, 0), 0);
  assert_int_equal (volstore_verify (vs_a, "sec", count_problem, &problems,
                                     &rep), -EBADMSG);
  assert_int_equal (rep.corrupt, 1);
  /* Without the key a flipped bit cannot be seen, a truncation can. */
  assert_int_equal (volstore_verify (vs_none, "sec", NULL, NULL, &rep), 0);
  assert_int_equal (objstore_put (os, key, b.data, b.len - 20, 0), 0);
  assert_int_equal (volstore_verify (vs_none, "sec", NULL, NULL, &rep),
                    -EBADMSG);
  assert_int_equal (objstore_put (os, key, orig.data, orig.len, 0), 0);
  s3vol_buf_free (&orig);
  s3vol_buf_free (&b);
}

/* Key files: 32 bytes or 64 hex digits, private, nothing else. */
static void
test_key_files (void **state)
{
  char dir[] = "/tmp/s3vol-keytest-XXXXXX", path[64];
  struct s3vol_key k;
  const char *why;
  int fd;

  (void) state;
  assert_int_equal (s3vol_key_parse ("0123456789abcdef0123456789abcdef", 32,
                                     &k), 0);
  assert_int_equal (s3vol_key_parse ("00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeeff\n",
                                     65, &k), 0);
  assert_int_equal (k.b[1], 0x11);
  assert_int_equal (s3vol_key_parse ("short", 5, &k), -EINVAL);
  assert_int_equal (s3vol_key_parse ("00112233445566778899aabbccddeeff"
                                     "00112233445566778899aabbccddeefg",
                                     64, &k), -EINVAL);
  assert_non_null (mkdtemp (dir));
  snprintf (path, sizeof path, "%s/key", dir);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0644);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, key_a.b, 32), 32);
  close (fd);
  assert_int_equal (chmod (path, 0644), 0);
  assert_int_equal (s3vol_key_load (path, &k, &why), -EACCES);
  assert_int_equal (chmod (path, 0600), 0);
  assert_int_equal (s3vol_key_load (path, &k, &why), 0);
  assert_memory_equal (k.b, key_a.b, 32);
  fd = open (path, O_WRONLY | O_APPEND);
  assert_int_equal (write (fd, "x", 1), 1);
  close (fd);
  assert_int_equal (s3vol_key_load (path, &k, &why), -EINVAL);
  unlink (path);
  rmdir (dir);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_no_plaintext),
    cmocka_unit_test (test_keys_required),
    cmocka_unit_test (test_deterministic_and_separate),
    cmocka_unit_test (test_tampered_chunks),
    cmocka_unit_test (test_tampered_roots),
    cmocka_unit_test (test_fork),
    cmocka_unit_test (test_gc_without_key),
    cmocka_unit_test (test_verify),
    cmocka_unit_test (test_key_files),
  };

  return cmocka_run_group_tests (tests, setup, teardown);
}
