/* s3vol: credentials, region and endpoint for the S3 backend.
 *
 * The rules are the AWS CLI's (see aws_config.h), so that a user who has
 * the CLI working has s3vol working.  The ini reader is deliberately
 * small: sections, "key = value", comments, and nested blocks (an empty
 * value followed by indented lines), which are skipped.
 */
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

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
    s3vol_error (log, "%s: endpoint \"%s\" (from %s) is not a valid URL: "
                 "use http://HOST[:PORT] or https://HOST[:PORT]",
                 what, url, from);
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

int
aws_config_load (struct aws_config *c, const struct s3vol_log *log,
                 const char *what)
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

  cpath = aws_file ("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  fpath = aws_file ("AWS_CONFIG_FILE", "config");
  if (cpath == NULL || fpath == NULL)
    goto out;
  if ((r = ini_read (cpath, profile, false, &pf[0], log, what)) < 0 ||
      (r = ini_read (fpath, profile, true, &pf[1], log, what)) < 0)
    goto out;

  r = load_credentials (c, profile, named, pf, log, what);
  if (r < 0)
    goto out;

  v = pick ("AWS_REGION", "AWS_DEFAULT_REGION", pf, K_REGION, &from,
            buf, sizeof buf);
  if (v == NULL) {
    v = "us-east-1";
    from = "the default";
  }
  if ((r = set_region (c, v, from, log, what)) < 0)
    goto out;

  v = pick ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", pf, K_ENDPOINT,
            &from, buf, sizeof buf);
  if (v && (r = set_endpoint (c, v, from, log, what)) < 0)
    goto out;

  v = pick ("AWS_CA_BUNDLE", NULL, pf, K_CA, &from, buf, sizeof buf);
  if (v == NULL)
    v = env ("CURL_CA_BUNDLE");
  r = dup_into (&c->ca_bundle, v);

 out:
  profile_free (&pf[0]);
  profile_free (&pf[1]);
  free (cpath);
  free (fpath);
  if (r < 0)
    aws_config_free (c);
  return r;
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
  memset (c, 0, sizeof *c);
}
