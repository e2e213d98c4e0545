/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: attachment records and the control socket client, in a
 * temporary run directory ($S3VOL_RUN_DIR): save and load give back what
 * was saved; records that are malformed, oversized or writable by others
 * are refused; att_find finds by mountpoint; att_commit reads a fake
 * plugin's answers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "s3vol/attach.h"
#include "testutil.h"

static char run[256];
static struct test_log tlog;

/* A record as att_save writes it, for editing by hand. */
static const char good[] =
  "mountpoint=/mnt/a\n"
  "volume=vol\n"
  "store=file:///s\n"
  "cache_dir=/c\n"
  "snapshot=\n"
  "version=0\n"
  "cache_size=0\n"
  "readonly=0\n"
  "commit_interval=5\n"
  "device=/dev/loop3\n"
  "nbdkit_pid=123\n"
  "nbdfuse_pid=0\n";

static int
setup (void **state)
{
  (void) state;
  snprintf (run, sizeof run, "%s/s3vol-attach-XXXXXX",
            getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp");
  assert_non_null (mkdtemp (run));
  setenv ("S3VOL_RUN_DIR", run, 1);
  test_log_init (&tlog);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[300];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", run);
  assert_int_equal (system (cmd), 0);
  return 0;
}

/* Write content (len bytes) as the record of run/name. */
static void
write_record (const char *name, const char *content, size_t len,
              char *dir, size_t n)
{
  char path[PATH_MAX];
  int fd;

  snprintf (dir, n, "%s/%s", run, name);
  assert_true (mkdir (dir, 0700) == 0 || errno == EEXIST);
  snprintf (path, sizeof path, "%s/info", dir);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, content, len), (ssize_t) len);
  close (fd);
}

/* good with the line of key replaced by line ("" removes it). */
static char *
good_with (const char *key, const char *line)
{
  static char out[ATT_RECORD_MAX * 2];
  char k[64];
  const char *p, *e;

  snprintf (k, sizeof k, "%s=", key);
  for (p = good; strncmp (p, k, strlen (k)) != 0; p = strchr (p, '\n') + 1)
    assert_true (*p);
  e = strchr (p, '\n') + 1;
  snprintf (out, sizeof out, "%.*s%s%s", (int) (p - good), good, line, e);
  return out;
}

static struct attachment *
sample (const char *key)
{
  static struct attachment a;

  memset (&a, 0, sizeof a);
  assert_int_equal (att_make_dir (&a, key, &tlog.log), 0);
  snprintf (a.mountpoint, sizeof a.mountpoint, "%s", key);
  snprintf (a.volume, sizeof a.volume, "data.v1");
  snprintf (a.store, sizeof a.store, "s3://bucket/some prefix");
  snprintf (a.cache_dir, sizeof a.cache_dir, "/var/cache/s3vol/data");
  snprintf (a.snapshot, sizeof a.snapshot, "before-upgrade");
  a.version = UINT64_MAX;
  a.cache_size = 5ull << 30;
  a.readonly = true;
  a.commit_interval = UINT32_MAX;
  snprintf (a.device, sizeof a.device, "/dev/nbd15");
  a.nbdkit_pid = 4194304;
  a.nbdfuse_pid = 0;
  return &a;
}

static void
test_round_trip (void **state)
{
  struct attachment *a = sample ("/mnt/one"), b;
  struct stat st;

  (void) state;
  assert_int_equal (strncmp (a->dir, run, strlen (run)), 0);
  assert_int_equal (stat (a->dir, &st), 0);
  assert_true (S_ISDIR (st.st_mode) && (st.st_mode & 077) == 0);
  assert_int_equal (att_save (a, &tlog.log), 0);
  memset (&b, 0xff, sizeof b);
  assert_int_equal (att_load (a->dir, &b, &tlog.log), 0);
  assert_memory_equal (a, &b, sizeof b);
  assert_string_equal (b.ctl + strlen (b.dir), "/ctl.sock");
  /* The same key, the same directory; saving again replaces. */
  a->version = 7;
  assert_int_equal (att_make_dir (a, "/mnt/one", &tlog.log), 0);
  assert_int_equal (att_save (a, &tlog.log), 0);
  assert_int_equal (att_load (a->dir, &b, &tlog.log), 0);
  assert_int_equal (b.version, 7);
  assert_int_equal (tlog.errors + tlog.warnings, 0);
  assert_int_equal (att_remove_dir (a), 0);
  assert_int_equal (stat (a->dir, &st), -1);
  assert_int_equal (att_load (a->dir, &b, &tlog.log), -ENOENT);
  assert_int_equal (tlog.errors, 0);
}

static void
test_save_refuses (void **state)
{
  struct attachment *a = sample ("/mnt/two"), b;

  (void) state;
  snprintf (a->store, sizeof a->store, "s3://b\nnbdkit_pid=1");
  assert_int_equal (att_save (a, &tlog.log), -EINVAL);
  assert_int_equal (tlog.errors, 1);
  assert_int_equal (att_load (a->dir, &b, &tlog.log), -ENOENT);
  a = sample ("/mnt/two");
  snprintf (a->device, sizeof a->device, "/dev/sda");
  assert_int_equal (att_save (a, &tlog.log), -EINVAL);
  a = sample ("/mnt/two");
  memset (a->volume, 'v', sizeof a->volume);   /* no NUL */
  assert_int_equal (att_save (a, &tlog.log), -EINVAL);
  a = sample ("/mnt/two");
  a->nbdkit_pid = -1;
  assert_int_equal (att_save (a, &tlog.log), -EINVAL);
  assert_int_equal (tlog.errors, 4);
}

static void
expect_refused (const char *what, const char *content, size_t len, int err)
{
  struct attachment b;
  char dir[PATH_MAX];
  int errors = tlog.errors, r;

  write_record ("bad", content, len, dir, sizeof dir);
  r = att_load (dir, &b, &tlog.log);
  if (r != err)
    fail_msg ("%s: att_load gave %d, not %d", what, r, err);
  assert_int_equal (tlog.errors, errors + 1);
  assert_string_equal (b.dir, dir);
  assert_string_equal (b.volume, "");
  assert_int_equal (b.nbdkit_pid, 0);
}

#define REFUSED(what, s) expect_refused (what, s, strlen (s), -EBADMSG)

static void
test_malformed (void **state)
{
  char *big, dir[PATH_MAX];
  struct attachment b;
  size_t n;

  (void) state;
  write_record ("ok", good, strlen (good), dir, sizeof dir);
  assert_int_equal (att_load (dir, &b, &tlog.log), 0);
  assert_string_equal (b.mountpoint, "/mnt/a");
  assert_int_equal (b.nbdkit_pid, 123);
  /* A later s3vol's key is skipped. */
  big = good_with ("device", "device=/dev/nbd0\nnew_key=whatever\n");
  write_record ("ok", big, strlen (big), dir, sizeof dir);
  assert_int_equal (att_load (dir, &b, &tlog.log), 0);
  assert_string_equal (b.device, "/dev/nbd0");
  assert_int_equal (tlog.errors, 0);

  expect_refused ("empty", "", 0, -EBADMSG);
  expect_refused ("no final newline", good, strlen (good) - 1, -EBADMSG);
  expect_refused ("NUL byte", good, sizeof good, -EBADMSG);
  REFUSED ("not KEY=VALUE", good_with ("store", "store\n"));
  REFUSED ("repeated key", good_with ("nbdkit_pid",
                                      "nbdkit_pid=5\nnbdkit_pid=1\n"));
  REFUSED ("missing key", good_with ("nbdfuse_pid", ""));
  REFUSED ("negative pid", good_with ("nbdkit_pid", "nbdkit_pid=-1\n"));
  REFUSED ("pid with junk", good_with ("nbdkit_pid", "nbdkit_pid=12x\n"));
  REFUSED ("pid with space", good_with ("nbdkit_pid", "nbdkit_pid= 12\n"));
  REFUSED ("pid too large", good_with ("nbdkit_pid",
                                       "nbdkit_pid=2147483648\n"));
  REFUSED ("empty number", good_with ("version", "version=\n"));
  REFUSED ("version overflow",
           good_with ("version", "version=18446744073709551616\n"));
  REFUSED ("interval overflow",
           good_with ("commit_interval", "commit_interval=4294967296\n"));
  REFUSED ("readonly 2", good_with ("readonly", "readonly=2\n"));
  REFUSED ("other device", good_with ("device", "device=/dev/sda\n"));
  REFUSED ("device junk", good_with ("device", "device=/dev/loop1x\n"));
  REFUSED ("bad volume name", good_with ("volume", "volume=a b\n"));
  REFUSED ("empty volume", good_with ("volume", "volume=\n"));
  REFUSED ("relative mountpoint",
           good_with ("mountpoint", "mountpoint=mnt\n"));
  REFUSED ("control character", good_with ("store", "store=s3://\033[2J\n"));
  REFUSED ("empty store", good_with ("store", "store=\n"));

  /* A value one byte longer than its field. */
  n = sizeof b.mountpoint;
  big = malloc (n + 32);
  snprintf (big, n + 32, "mountpoint=/%0*d\n", (int) n - 1, 0);
  REFUSED ("mountpoint too long", good_with ("mountpoint", big));
  free (big);
  /* Up to ATT_RECORD_MAX bytes, however many are unknown keys. */
  n = ATT_RECORD_MAX - strlen (good);
  big = malloc (ATT_RECORD_MAX + 2);
  snprintf (big, ATT_RECORD_MAX + 2, "%spad=%0*d\n", good, (int) n - 5, 0);
  assert_int_equal (strlen (big), ATT_RECORD_MAX);
  write_record ("ok", big, strlen (big), dir, sizeof dir);
  assert_int_equal (att_load (dir, &b, &tlog.log), 0);
  snprintf (big, ATT_RECORD_MAX + 2, "%spad=%0*d\n", good, (int) n - 4, 0);
  REFUSED ("oversized", big);
  free (big);
}

static void
test_who_wrote_it (void **state)
{
  char dir[PATH_MAX], path[PATH_MAX + 8];
  struct attachment b;

  (void) state;
  write_record ("w", good, strlen (good), dir, sizeof dir);
  snprintf (path, sizeof path, "%s/info", dir);
  assert_int_equal (chmod (path, 0620), 0);
  assert_int_equal (att_load (dir, &b, &tlog.log), -EPERM);
  assert_int_equal (chmod (path, 0600), 0);
  assert_int_equal (chmod (dir, 0770), 0);
  assert_int_equal (att_load (dir, &b, &tlog.log), -EPERM);
  assert_int_equal (chmod (dir, 0700), 0);
  assert_int_equal (att_load (dir, &b, &tlog.log), 0);
  /* A symbolic link or a FIFO in place of the record. */
  assert_int_equal (unlink (path), 0);
  assert_int_equal (symlink ("/etc/passwd", path), 0);
  assert_int_equal (att_load (dir, &b, &tlog.log), -ELOOP);
  assert_int_equal (unlink (path), 0);
  assert_int_equal (mkfifo (path, 0600), 0);
  assert_int_equal (att_load (dir, &b, &tlog.log), -EPERM);
  assert_int_equal (unlink (path), 0);
  assert_int_equal (tlog.errors, 4);
  /* A directory without a record: quietly nothing. */
  assert_int_equal (att_load (dir, &b, &tlog.log), -ENOENT);
  assert_int_equal (tlog.errors, 4);
  /* A run directory entry made by someone else is not reused. */
  assert_int_equal (att_make_dir (&b, "x", &tlog.log), 0);
  snprintf (dir, sizeof dir, "%s", b.dir);
  assert_int_equal (chmod (dir, 0722), 0);
  assert_int_equal (att_make_dir (&b, "x", &tlog.log), -EPERM);
}

static int
count (void *opaque, const struct attachment *a)
{
  (void) a;
  ++*(int *) opaque;
  return 0;
}

static int
stop (void *opaque, const struct attachment *a)
{
  (void) opaque; (void) a;
  return 42;
}

static void
test_each_and_find (void **state)
{
  char mnt[PATH_MAX], dir[PATH_MAX], via[PATH_MAX + 8];
  struct attachment *a, got;
  int n = 0;

  (void) state;
  /* No run directory yet is no attachment. */
  setenv ("S3VOL_RUN_DIR", "/nonexistent/s3vol-run", 1);
  assert_int_equal (att_each (count, &n, &tlog.log), 0);
  assert_int_equal (n, 0);
  setenv ("S3VOL_RUN_DIR", run, 1);

  /* A real mountpoint, found also by another spelling of its path. */
  snprintf (via, sizeof via, "%s/m", run);
  assert_int_equal (mkdir (via, 0700), 0);
  assert_non_null (realpath (via, mnt));
  a = sample (mnt);
  assert_int_equal (att_save (a, &tlog.log), 0);
  a = sample ("/mnt/gone");
  assert_int_equal (att_save (a, &tlog.log), 0);
  a = sample ("run-key");       /* s3vol run: no mountpoint */
  a->mountpoint[0] = '\0';
  assert_int_equal (att_save (a, &tlog.log), 0);
  write_record ("bad", "volume=x\n", 9, dir, sizeof dir);

  assert_int_equal (att_each (count, &n, &tlog.log), 0);
  assert_int_equal (n, 3);
  assert_int_equal (tlog.warnings, 1);          /* the bad one, skipped */
  assert_int_equal (att_each (stop, NULL, &tlog.log), 42);

  snprintf (via, sizeof via, "%s/./m/", run);
  assert_int_equal (att_find (via, &got, &tlog.log), 0);
  assert_string_equal (got.mountpoint, mnt);
  assert_int_equal (att_find ("/mnt/gone", &got, &tlog.log), 0);
  assert_string_equal (got.mountpoint, "/mnt/gone");
  assert_string_equal (got.volume, "data.v1");
  assert_int_equal (att_find ("/mnt/other", &got, &tlog.log), -ENOENT);
  assert_int_equal (att_find ("", &got, &tlog.log), -ENOENT);
  assert_int_equal (tlog.errors, 0);
}

/* A fake plugin: answers each connection's one request with answer. */
struct fake {
  int fd;
  const char *answer;
  char got[ATT_CTL_REQUEST_MAX + 2];
};

static void *
fake_plugin (void *arg)
{
  struct fake *f = arg;
  int c = accept (f->fd, NULL, NULL);
  ssize_t n;

  if (c < 0)
    return NULL;
  n = read (c, f->got, sizeof f->got - 1);
  f->got[n > 0 ? n : 0] = '\0';
  if (send (c, f->answer, strlen (f->answer), MSG_NOSIGNAL) < 0)
    f->got[0] = '\0';
  close (c);
  return NULL;
}

static int
commit_with (struct attachment *a, const char *answer, const char *message,
             uint64_t *seq, char *got)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  struct fake f = { .answer = answer };
  pthread_t t;
  int r;

  unlink (a->ctl);
  snprintf (sa.sun_path, sizeof sa.sun_path, "%s", a->ctl);
  f.fd = socket (AF_UNIX, SOCK_STREAM, 0);
  assert_true (f.fd >= 0);
  assert_int_equal (bind (f.fd, (struct sockaddr *) &sa, sizeof sa), 0);
  assert_int_equal (listen (f.fd, 1), 0);
  assert_int_equal (pthread_create (&t, NULL, fake_plugin, &f), 0);
  r = att_commit (a, message, seq, &tlog.log);
  shutdown (f.fd, SHUT_RDWR);
  pthread_join (t, NULL);
  close (f.fd);
  snprintf (got, ATT_CTL_REQUEST_MAX + 2, "%s", f.got);
  return r;
}

static void
test_commit (void **state)
{
  static char got[ATT_CTL_REQUEST_MAX + 2], longmsg[ATT_CTL_REQUEST_MAX];
  struct attachment *a = sample ("/mnt/c");
  uint64_t seq;

  (void) state;
  assert_int_equal (commit_with (a, "ok 42\n", "hello", &seq, got), 0);
  assert_int_equal (seq, 42);
  assert_string_equal (got, "commit hello\n");
  assert_int_equal (commit_with (a, "ok\n", NULL, &seq, got), 0);
  assert_int_equal (seq, 0);
  assert_string_equal (got, "commit\n");
  assert_int_equal (tlog.errors, 0);
  assert_int_equal (commit_with (a, "error conflict another writer\n", NULL,
                                 &seq, got), -EEXIST);
  assert_non_null (strstr (tlog.last_error, "conflicts"));
  assert_int_equal (commit_with (a, "error store Connection refused\n",
                                 NULL, &seq, got), -EIO);
  assert_non_null (strstr (tlog.last_error, "store Connection refused"));
  assert_int_equal (commit_with (a, "error failed Out of memory\n", NULL,
                                 &seq, got), -EREMOTEIO);
  assert_int_equal (commit_with (a, "ok 12abc\n", NULL, &seq, got),
                    -EPROTO);
  assert_int_equal (commit_with (a, "", NULL, &seq, got), -ENOTCONN);
  memset (longmsg, '7', sizeof longmsg - 2);
  longmsg[0] = 'o';
  longmsg[1] = 'k';
  longmsg[2] = ' ';
  longmsg[sizeof longmsg - 2] = '\n';
  assert_int_equal (commit_with (a, longmsg, NULL, &seq, got), -EPROTO);
  assert_non_null (strstr (tlog.last_error, "answer too long"));
  assert_int_equal (tlog.errors, 6);
  /* Nothing sent for a message that would be two requests. */
  assert_int_equal (att_commit (a, "x\nsnapshot y", &seq, &tlog.log),
                    -EINVAL);
  memset (longmsg, 'm', sizeof longmsg - 1);
  longmsg[sizeof longmsg - 1] = '\0';
  assert_int_equal (att_commit (a, longmsg, &seq, &tlog.log), -EINVAL);
  /* Nobody listening. */
  unlink (a->ctl);
  assert_int_equal (att_commit (a, NULL, &seq, &tlog.log), -ENOTCONN);
  assert_non_null (strstr (tlog.last_error, "cannot reach the plugin"));
  assert_int_equal (att_ctl_request (a->ctl, "status", got, 16), -ENOENT);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown (test_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown (test_save_refuses, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed, setup, teardown),
    cmocka_unit_test_setup_teardown (test_who_wrote_it, setup, teardown),
    cmocka_unit_test_setup_teardown (test_each_and_find, setup, teardown),
    cmocka_unit_test_setup_teardown (test_commit, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
