/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol tests: start and control tests/support/s3proxy.py. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "proxy.h"
#include "testutil.h"

#define PROXY "tests/support/s3proxy.py"

static pid_t proxy_pid;
static int proxy_port;

void
proxy_start (void)
{
  char line[32], endpoint[64];
  int fds[2];
  FILE *f;

  if (access (PROXY, R_OK) != 0 || pipe (fds) == -1) {
    fprintf (stderr, "cannot start %s (run from the repository root)\n",
             PROXY);
    exit (1);
  }
  proxy_pid = fork ();
  if (proxy_pid == 0) {
    dup2 (fds[1], STDOUT_FILENO);
    close (fds[0]);
    close (fds[1]);
    execlp ("python3", "python3", PROXY, "serve", "--upstream",
            getenv ("AWS_ENDPOINT_URL"), "--lifetime", "900", (char *) NULL);
    perror ("python3");
    _exit (127);
  }
  close (fds[1]);
  f = fdopen (fds[0], "r");
  if (proxy_pid == -1 || f == NULL || fgets (line, sizeof line, f) == NULL ||
      atoi (line) <= 0) {
    fprintf (stderr, "the proxy did not start\n");
    exit (1);
  }
  fclose (f);
  proxy_port = atoi (line);
  snprintf (endpoint, sizeof endpoint, "http://127.0.0.1:%d", proxy_port);
  setenv ("AWS_ENDPOINT_URL", endpoint, 1);
}

void
proxy_stop (void)
{
  if (proxy_pid > 0) {
    kill (proxy_pid, SIGTERM);
    waitpid (proxy_pid, NULL, 0);
  }
}

static size_t
append_cb (char *p, size_t size, size_t n, void *opaque)
{
  return s3vol_buf_append (opaque, p, size * n) == 0 ? size * n : 0;
}

void
proxy_ctl (const char *what, const char *json, struct s3vol_buf *out)
{
  CURL *h = curl_easy_init ();
  char url[128];
  long status = 0;

  assert_non_null (h);
  snprintf (url, sizeof url, "http://127.0.0.1:%d/__proxy/%s", proxy_port,
            what);
  curl_easy_setopt (h, CURLOPT_URL, url);
  curl_easy_setopt (h, CURLOPT_NOPROXY, "*");
  curl_easy_setopt (h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt (h, CURLOPT_WRITEFUNCTION, append_cb);
  curl_easy_setopt (h, CURLOPT_WRITEDATA, out);
  if (json)
    curl_easy_setopt (h, CURLOPT_POSTFIELDS, json);
  assert_int_equal (curl_easy_perform (h), CURLE_OK);
  curl_easy_getinfo (h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup (h);
  assert_int_equal (s3vol_buf_append (out, "", 1), 0);
  if (status != 200)
    fprintf (stderr, "proxy %s %s: %ld %s\n", what, json ? json : "",
             status, (char *) out->data);
  assert_int_equal (status, 200);
}

void
proxy_fault (const char *fmt, ...)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;
  char rule[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (rule, sizeof rule, fmt, ap);
  va_end (ap);
  proxy_ctl ("fault", rule, &b);
  s3vol_buf_free (&b);
}

void
proxy_clear (void)
{
  struct s3vol_buf b = S3VOL_BUF_INIT;

  proxy_ctl ("clear", "", &b);
  s3vol_buf_free (&b);
}

struct objstore *
proxy_open_store (const char *url, struct test_log *tl, unsigned attempts,
                  unsigned timeout_s)
{
  struct objstore_config cfg = { .log = &tl->log, .attempts = attempts,
                                 .retry_base_ms = 10,
                                 .timeout_s = timeout_s };
  struct objstore *s = NULL;

  test_log_init (tl);
  assert_int_equal (objstore_open (url, &cfg, &s), 0);
  proxy_clear ();
  test_log_init (tl);
  return s;
}

void
proxy_close_store (struct objstore *s)
{
  proxy_clear ();
  test_clear_prefix (s, "");
  objstore_close (s);
}
