/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: where an S3 store is and how to sign for it.
 *
 * The rules for settings are the AWS CLI's (see aws_config.h), so that a
 * user who has the CLI working has s3vol working.  The ini reader is
 * deliberately small: sections, "key = value", comments, and nested
 * blocks (an empty value followed by indented lines), which are skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "s3vol/objstore.h"
#include "aws_config.h"

/* The keys s3vol reads from a profile. */
enum { K_ACCESS, K_SECRET, K_TOKEN, K_REGION, K_ENDPOINT, K_CA, K_MAX };
static const char *const key_names[K_MAX] = {
  "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
  "region", "endpoint_url", "ca_bundle",
};

/* One profile as read from one file. */
struct profile {
  char *path;           /* the file, for messages */
  bool found;           /* the file has the profile's section */
  char *v[K_MAX];       /* values, or NULL */
};

static void
profile_free (struct profile *p)
{
  size_t i;

  for (i = 0; i < K_MAX; i++) {
    if (p->v[i])
      explicit_bzero (p->v[i], strlen (p->v[i]));
    free (p->v[i]);
  }
  free (p->path);
  memset (p, 0, sizeof *p);
}

static char *
trim (char *s)
{
  char *e;

  while (isspace ((unsigned char) *s))
    s++;
  e = s + strlen (s);
  while (e > s && isspace ((unsigned char) e[-1]))
    *--e = '\0';
  return s;
}

/* Is ini section sec the profile?  The config file names profiles
 * "[profile NAME]" (and the default one "[default]"); the credentials
 * file names them "[NAME]".
 */
static bool
section_is (const char *sec, const char *profile, bool config_style)
{
  if (!config_style)
    return strcmp (sec, profile) == 0;
  if (strncmp (sec, "profile", 7) == 0 && isspace ((unsigned char) sec[7])) {
    sec += 7;
    while (isspace ((unsigned char) *sec))
      sec++;
    return strcmp (sec, profile) == 0;
  }
  return strcmp (profile, "default") == 0 && strcmp (sec, "default") == 0;
}

static int
set_value (struct profile *p, const char *key, const char *val)
{
  size_t i;

  for (i = 0; i < K_MAX; i++) {
    if (strcasecmp (key, key_names[i]) == 0) {
      free (p->v[i]);
      p->v[i] = strdup (val);
      return p->v[i] ? 0 : -ENOMEM;
    }
  }
  return 0;
}

/* Read profile from the ini file at path into *p.  A missing file is
 * not an error; an unreadable one is warned about and skipped, since the
 * environment may have everything needed.
 */
static int
ini_read (const char *path, const char *profile, bool config_style,
          struct profile *p, const struct s3vol_log *log, const char *what)
{
  FILE *f;
  char *line = NULL, *s, *eq;
  size_t cap = 0;
  bool in_section = false, nested = false;
  int r = 0;

  p->path = strdup (path);
  if (p->path == NULL)
    return -ENOMEM;
  f = fopen (path, "re");
  if (f == NULL) {
    if (errno != ENOENT && errno != ENOTDIR)
      s3vol_warn (log, "%s: cannot read %s: %m (ignored)", what, path);
    return 0;
  }
  while (r == 0 && getline (&line, &cap, f) != -1) {
    bool indented = line[0] == ' ' || line[0] == '\t';

    s = trim (line);
    if (*s == '\0' || *s == '#' || *s == ';')
      continue;
    if (indented && nested)
      continue;                 /* inside "s3 =" and the like */
    nested = false;
    if (*s == '[') {
      char *end = strchr (s, ']');

      if (end == NULL)
        continue;
      *end = '\0';
      in_section = section_is (trim (s + 1), profile, config_style);
      if (in_section)
        p->found = true;
      continue;
    }
    eq = strchr (s, '=');
    if (eq == NULL || !in_section)
      continue;
    *eq = '\0';
    if (*trim (eq + 1) == '\0') {
      nested = true;
      continue;
    }
    r = set_value (p, trim (s), trim (eq + 1));
  }
  if (line)
    explicit_bzero (line, cap);
  free (line);
  fclose (f);
  return r;
}

/* $name if set and not empty. */
static const char *
env (const char *name)
{
  const char *v = getenv (name);

  return v && *v ? v : NULL;
}

/* The file named by variable var, else ~/.aws/base. */
static char *
aws_file (const char *var, const char *base)
{
  const char *home = env (var);
  char *path;

  if (home)
    return strdup (home);
  home = env ("HOME");
  if (home == NULL) {
    struct passwd *pw = getpwuid (getuid ());

    home = pw ? pw->pw_dir : "/";
  }
  if (asprintf (&path, "%s/.aws/%s", home, base) < 0)
    return NULL;
  return path;
}

static int
dup_into (char **dst, const char *src)
{
  if (src == NULL)
    return 0;
  *dst = strdup (src);
  return *dst ? 0 : -ENOMEM;
}

/* Check an endpoint URL and store it normalised: scheme, host, port and
 * path without a trailing '/'.  It is a base, so it has no query,
 * fragment or user.
 */
static int
set_endpoint (struct aws_config *c, const char *url, const char *from,
              const struct s3vol_log *log, const char *what)
{
  CURLU *u = curl_url ();
  char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
  char *query = NULL, *frag = NULL, *user = NULL;
  size_t plen;
  int r = -EINVAL;

  if (u == NULL)
    return -ENOMEM;
  if (curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
      (strcmp (scheme, "http") != 0 && strcmp (scheme, "https") != 0) ||
      curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      *host == '\0' ||
      curl_url_get (u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
      curl_url_get (u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK ||
      curl_url_get (u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
    /* A URL with a user part may hold a password: not shown. */
    s3vol_error (log, "%s: endpoint \"%s\" (from %s) is not a valid URL: "
                 "use http://HOST[:PORT] or https://HOST[:PORT]", what,
                 strchr (url, '@') ? "(not shown: it has a user part)" : url,
                 from);
    goto out;
  }
  curl_url_get (u, CURLUPART_PORT, &port, 0);
  if (curl_url_get (u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
    path = NULL;
  plen = path ? strlen (path) : 0;
  while (plen > 0 && path[plen - 1] == '/')
    plen--;
  if (asprintf (&c->endpoint, "%s://%s%s%s%.*s", scheme, host,
                port ? ":" : "", port ? port : "",
                (int) plen, path ? path : "") < 0) {
    c->endpoint = NULL;
    r = -ENOMEM;
    goto out;
  }
  r = 0;
 out:
  curl_free (scheme);
  curl_free (host);
  curl_free (port);
  curl_free (path);
  curl_free (query);
  curl_free (frag);
  curl_free (user);
  curl_url_cleanup (u);
  return r;
}

/* Regions go into curl's "aws:amz:REGION:s3" and the host name. */
static int
set_region (struct aws_config *c, const char *region, const char *from,
            const struct s3vol_log *log, const char *what)
{
  const char *p;

  for (p = region; *p; p++) {
    if (!isalnum ((unsigned char) *p) && *p != '-' && *p != '_')
      break;
  }
  if (*p != '\0' || p - region > 64) {
    s3vol_error (log, "%s: region \"%s\" (from %s) is not a valid region "
                 "name such as us-east-1", what, region, from);
    return -EINVAL;
  }
  return dup_into (&c->region, region);
}

/* The first of $var1, $var2, the config file's and the credentials
 * file's value of key k, remembering where it came from for messages.
 */
static const char *
pick (const char *var1, const char *var2, const struct profile pf[2],
      int k, const char **from, char *buf, size_t bufsz)
{
  const char *vars[2] = { var1, var2 };
  size_t i;

  for (i = 0; i < 2; i++) {
    if (vars[i] && env (vars[i])) {
      *from = vars[i];
      return env (vars[i]);
    }
  }
  for (i = 2; i-- > 0; ) {
    if (pf[i].v[k]) {
      snprintf (buf, bufsz, "%s in %s", key_names[k], pf[i].path);
      *from = buf;
      return pf[i].v[k];
    }
  }
  return NULL;
}

static int
load_credentials (struct aws_config *c, const char *profile,
                  bool profile_named, struct profile pf[2],
                  const struct s3vol_log *log, const char *what)
{
  const char *id = env ("AWS_ACCESS_KEY_ID");
  const char *secret = env ("AWS_SECRET_ACCESS_KEY");
  size_t i;
  int r;

  if (id || secret) {
    if (!id || !secret) {
      s3vol_error (log, "%s: %s is set but %s is not: set both", what,
                   id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                   id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
      return -EACCES;
    }
    if ((r = dup_into (&c->access_key, id)) < 0 ||
        (r = dup_into (&c->secret_key, secret)) < 0 ||
        (r = dup_into (&c->session_token, env ("AWS_SESSION_TOKEN"))) < 0 ||
        (r = dup_into (&c->cred_source, "the environment")) < 0)
      return r;
    return 0;
  }

  /* The credentials file first, then the config file (the CLI's order). */
  for (i = 0; i < 2; i++) {
    if (pf[i].v[K_ACCESS] == NULL && pf[i].v[K_SECRET] == NULL)
      continue;
    if (!pf[i].v[K_ACCESS] || !pf[i].v[K_SECRET]) {
      s3vol_error (log, "%s: profile %s in %s has only one of "
                   "aws_access_key_id and aws_secret_access_key",
                   what, profile, pf[i].path);
      return -EACCES;
    }
    if ((r = dup_into (&c->access_key, pf[i].v[K_ACCESS])) < 0 ||
        (r = dup_into (&c->secret_key, pf[i].v[K_SECRET])) < 0 ||
        (r = dup_into (&c->session_token, pf[i].v[K_TOKEN])) < 0)
      return r;
    if (asprintf (&c->cred_source, "profile %s in %s",
                  profile, pf[i].path) < 0) {
      c->cred_source = NULL;
      return -ENOMEM;
    }
    return 0;
  }

  if (profile_named && !pf[0].found && !pf[1].found) {
    s3vol_error (log, "%s: AWS_PROFILE names profile \"%s\", which is "
                 "in neither %s nor %s", what, profile,
                 pf[0].path, pf[1].path);
    return -EINVAL;
  }
  s3vol_error (log, "%s: no S3 credentials: set AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE with a profile "
               "in %s", what, pf[0].path);
  return -EACCES;
}

/* ---- the bucket and prefix ---- */

static bool
bucket_name_ok (const char *b, size_t len)
{
  size_t i;

  if (len < 3 || len > 63)
    return false;
  for (i = 0; i < len; i++) {
    bool alnum = (b[i] >= 'a' && b[i] <= 'z') || (b[i] >= '0' && b[i] <= '9');

    if (!alnum && b[i] != '.' && b[i] != '-')
      return false;
    if (!alnum && (i == 0 || i == len - 1))
      return false;
    if (b[i] == '.' && b[i + 1] == '.')
      return false;
  }
  return true;
}

/* Split "bucket[/prefix]" into c->bucket and c->prefix ("" or "p/").
 * The prefix leaves room for keys within S3's key length limit.
 */
static int
parse_location (struct aws_config *c, const char *rest,
                const struct s3vol_log *log, const char *what)
{
  size_t blen = strcspn (rest, "/"), plen;
  const char *p = rest + blen;

  if (!bucket_name_ok (rest, blen)) {
    s3vol_error (log, "%s: \"%.*s\" is not a valid bucket name: use 3 "
                 "to 63 lowercase letters, digits, dots and hyphens, "
                 "beginning and ending with a letter or digit",
                 what, (int) blen, rest);
    return -EINVAL;
  }
  if (*p == '/')
    p++;
  plen = strlen (p);
  while (plen > 0 && p[plen - 1] == '/')
    plen--;
  c->bucket = strndup (rest, blen);
  c->prefix = malloc (plen + 2);
  if (c->bucket == NULL || c->prefix == NULL)
    return -ENOMEM;
  memcpy (c->prefix, p, plen);
  c->prefix[plen] = '\0';
  if (plen > 0 && (objstore_check_key (c->prefix) != 0 ||
                   plen >= OBJSTORE_KEY_MAX / 2)) {
    s3vol_error (log, "%s: \"%s\" is not a valid prefix: use non-empty "
                 "segments other than \".\" and \"..\", without control "
                 "characters, at most %d bytes",
                 what, c->prefix, OBJSTORE_KEY_MAX / 2 - 1);
    return -EINVAL;
  }
  if (plen > 0)
    strcpy (c->prefix + plen, "/");
  return 0;
}

/* Path-style URLs for a given endpoint (what S3-compatible stores
 * expect), virtual-hosted ones for AWS itself.
 */
static int
set_urls (struct aws_config *c)
{
  if (c->endpoint) {
    if (asprintf (&c->base_url, "%s/%s", c->endpoint, c->bucket) < 0)
      c->base_url = NULL;
    c->where = strdup (c->endpoint);
  }
  else {
    if (asprintf (&c->base_url, "https://%s.s3.%s.amazonaws.com",
                  c->bucket, c->region) < 0)
      c->base_url = NULL;
    c->where = c->base_url ? strdup (c->base_url) : NULL;
  }
  if (asprintf (&c->sigv4, "aws:amz:%s:s3", c->region) < 0)
    c->sigv4 = NULL;
  if (c->base_url == NULL || c->where == NULL || c->sigv4 == NULL)
    return -ENOMEM;
  c->https = strncmp (c->base_url, "https:", 6) == 0;
  if (!c->https) {
    /* A CA bundle is for TLS; a plain-http endpoint ignores it. */
    free (c->ca_bundle);
    c->ca_bundle = NULL;
  }
  return 0;
}

int
aws_config_load (struct aws_config *c, const char *rest,
                 const struct s3vol_log *log, const char *what)
{
  struct profile pf[2];      /* [0]: credentials file, [1]: config file */
  const char *profile = env ("AWS_PROFILE");
  bool named = profile != NULL;
  const char *v, *from = NULL;
  char *cpath = NULL, *fpath = NULL;
  char buf[512];
  int r = -ENOMEM;

  memset (c, 0, sizeof *c);
  memset (pf, 0, sizeof pf);
  if (!named)
    profile = env ("AWS_DEFAULT_PROFILE");
  if (profile == NULL)
    profile = "default";
  if ((r = parse_location (c, rest, log, what)) < 0)
    goto fail;

  cpath = aws_file ("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  fpath = aws_file ("AWS_CONFIG_FILE", "config");
  if (cpath == NULL || fpath == NULL) {
    r = -ENOMEM;
    goto fail;
  }
  if ((r = ini_read (cpath, profile, false, &pf[0], log, what)) < 0 ||
      (r = ini_read (fpath, profile, true, &pf[1], log, what)) < 0)
    goto fail;

  r = load_credentials (c, profile, named, pf, log, what);
  if (r < 0)
    goto fail;

  v = pick ("AWS_REGION", "AWS_DEFAULT_REGION", pf, K_REGION, &from,
            buf, sizeof buf);
  if (v == NULL) {
    v = "us-east-1";
    from = "the default";
  }
  if ((r = set_region (c, v, from, log, what)) < 0)
    goto fail;

  v = pick ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", pf, K_ENDPOINT,
            &from, buf, sizeof buf);
  if (v && (r = set_endpoint (c, v, from, log, what)) < 0)
    goto fail;

  v = pick ("AWS_CA_BUNDLE", NULL, pf, K_CA, &from, buf, sizeof buf);
  if (v == NULL)
    v = env ("CURL_CA_BUNDLE");
  if ((r = dup_into (&c->ca_bundle, v)) < 0 ||
      (r = set_urls (c)) < 0)
    goto fail;

 out:
  profile_free (&pf[0]);
  profile_free (&pf[1]);
  free (cpath);
  free (fpath);
  if (r < 0)
    aws_config_free (c);
  return r;

 fail:
  if (r == -ENOMEM)
    s3vol_error (log, "%s: out of memory", what);
  goto out;
}

static void
wipe_free (char **p)
{
  if (*p)
    explicit_bzero (*p, strlen (*p));
  free (*p);
  *p = NULL;
}

void
aws_config_free (struct aws_config *c)
{
  wipe_free (&c->secret_key);
  wipe_free (&c->session_token);
  free (c->access_key);
  free (c->region);
  free (c->endpoint);
  free (c->ca_bundle);
  free (c->cred_source);
  free (c->bucket);
  free (c->prefix);
  free (c->base_url);
  free (c->where);
  free (c->sigv4);
  memset (c, 0, sizeof *c);
}

/* ---- SigV4 pieces ---- */

int
aws_uri_encode (struct s3vol_buf *b, const char *s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *p;
  char e[3] = { '%' };
  int r = 0;

  for (p = (const unsigned char *) s; *p && r == 0; p++) {
    if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
        (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
        *p == '_' || *p == '~' || (keep_slash && *p == '/'))
      r = s3vol_buf_append (b, p, 1);
    else {
      e[1] = hex[*p >> 4];
      e[2] = hex[*p & 15];
      r = s3vol_buf_append (b, e, 3);
    }
  }
  return r;
}

void
aws_hex (const unsigned char *p, size_t n, char *out)
{
  static const char hex[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = hex[p[i] >> 4];
    out[2 * i + 1] = hex[p[i] & 15];
  }
  out[2 * n] = '\0';
}

int
aws_payload_hash (const struct aws_config *c, const void *body, size_t len,
                  char out[65])
{
  unsigned char sha[32];

  if (body && c->https) {
    strcpy (out, "UNSIGNED-PAYLOAD");
    return 0;
  }
  if (EVP_Digest (body ? body : "", body ? len : 0, sha, NULL,
                  EVP_sha256 (), NULL) != 1)
    return -ENOMEM;
  aws_hex (sha, sizeof sha, out);
  return 0;
}

int
aws_md5 (const void *p, size_t len, char hex[33], char b64[25])
{
  unsigned char md[16];

  if (EVP_Digest (p, len, md, NULL, EVP_md5 (), NULL) != 1)
    return -ENOMEM;
  aws_hex (md, sizeof md, hex);
  EVP_EncodeBlock ((unsigned char *) b64, md, sizeof md);
  return 0;
}

static int
append_str (struct s3vol_buf *b, const char *s)
{
  return s3vol_buf_append (b, s, strlen (s));
}

int
aws_request_url (const struct aws_config *c, const char *key,
                 const struct aws_param params[AWS_PARAMS_MAX],
                 struct s3vol_buf *b)
{
  const struct aws_param *sorted[AWS_PARAMS_MAX];
  size_t n = 0, i, j;
  int e;

  if ((e = append_str (b, c->base_url)) < 0)
    return e;
  if (key &&
      ((e = append_str (b, "/")) < 0 ||
       (e = aws_uri_encode (b, c->prefix, true)) < 0 ||
       (e = aws_uri_encode (b, key, true)) < 0))
    return e;
  for (i = 0; i < AWS_PARAMS_MAX && params[i].name; i++, n++) {
    for (j = n; j > 0 && strcmp (sorted[j - 1]->name, params[i].name) > 0;
         j--)
      sorted[j] = sorted[j - 1];
    sorted[j] = &params[i];
  }
  for (i = 0; i < n; i++) {
    if ((e = append_str (b, i == 0 ? "?" : "&")) < 0 ||
        (e = aws_uri_encode (b, sorted[i]->name, false)) < 0 ||
        (e = append_str (b, "=")) < 0 ||
        (e = aws_uri_encode (b, sorted[i]->value, false)) < 0)
      return e;
  }
  return s3vol_buf_append (b, "", 1);
}
