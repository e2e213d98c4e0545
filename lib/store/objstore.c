/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: object store URL dispatch and argument checks.
 *
 * The wrappers check keys once so that backends may assume them valid,
 * and log -EINVAL once here.  Everything else is the backend's to report.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3vol/objstore.h"

static const struct objstore_ops *const backends[] = {
  &objstore_dir_ops,
  &objstore_s3_ops,
};

/* Copy key into out (size n) for a message: control characters become
 * \xHH and a long key is cut with "...", so the message stays one line.
 */
static const char *
printable_key (const char *key, char *out, size_t n)
{
  size_t o = 0;

  for (; key && *key && o + 8 < n; key++) {
    unsigned char c = *key;
    if (c < 0x20 || c == 0x7f)
      o += snprintf (out + o, n - o, "\\x%02x", c);
    else
      out[o++] = c;
  }
  if (key && *key)
    o += snprintf (out + o, n - o, "...");
  out[o] = '\0';
  return out;
}

static int
bad_key (struct objstore *s, const char *key)
{
  char shown[96];

  if (objstore_check_key (key) == 0)
    return 0;
  s3vol_error (s->log, "%s: invalid object key \"%s\"", s->url,
               printable_key (key, shown, sizeof shown));
  return -EINVAL;
}

int
objstore_open (const char *url, const struct objstore_config *cfg,
               struct objstore **out)
{
  const char *sep;
  size_t schemelen, i;
  struct objstore *s = NULL;
  int r;

  *out = NULL;
  sep = url ? strstr (url, "://") : NULL;
  if (sep == NULL) {
    s3vol_error (cfg->log, "store URL \"%s\" has no scheme: "
                 "use file:///DIR or s3://BUCKET[/PREFIX]",
                 url ? url : "");
    return -EINVAL;
  }
  schemelen = sep - url;
  for (i = 0; i < sizeof backends / sizeof backends[0]; i++) {
    if (strlen (backends[i]->scheme) == schemelen &&
        strncmp (url, backends[i]->scheme, schemelen) == 0)
      break;
  }
  if (i == sizeof backends / sizeof backends[0]) {
    s3vol_error (cfg->log, "store URL \"%s\": unknown scheme \"%.*s\": "
                 "use file:///DIR or s3://BUCKET[/PREFIX]",
                 url, (int) schemelen, url);
    return -EINVAL;
  }
  r = backends[i]->open (sep + 3, cfg, &s);
  if (r < 0)
    return r;
  s->ops = backends[i];
  s->log = cfg->log;
  s->url = strdup (url);
  if (s->url == NULL) {
    s->ops->close (s);
    return -ENOMEM;
  }
  *out = s;
  return 0;
}

void
objstore_close (struct objstore *s)
{
  char *url;

  if (s == NULL)
    return;
  url = s->url;
  s->ops->close (s);
  free (url);
}

int
objstore_get (struct objstore *s, const char *key, uint64_t off,
              uint64_t len, struct s3vol_buf *out)
{
  int r = bad_key (s, key);
  return r < 0 ? r : s->ops->get (s, key, off, len, out);
}

int
objstore_put (struct objstore *s, const char *key, const void *data,
              size_t len, unsigned flags)
{
  int r = bad_key (s, key);
  return r < 0 ? r : s->ops->put (s, key, data, len, flags);
}

int
objstore_head (struct objstore *s, const char *key, struct objstore_stat *st)
{
  int r = bad_key (s, key);
  return r < 0 ? r : s->ops->head (s, key, st);
}

int
objstore_del (struct objstore *s, const char *key)
{
  int r = bad_key (s, key);
  return r < 0 ? r : s->ops->del (s, key);
}

int
objstore_del_many (struct objstore *s, const char *const *keys, size_t n)
{
  size_t i;
  int r;

  for (i = 0; i < n; i++) {
    r = bad_key (s, keys[i]);
    if (r < 0)
      return r;
  }
  return n == 0 ? 0 : s->ops->del_many (s, keys, n);
}

int
objstore_list (struct objstore *s, const char *prefix,
               const char *start_after, objstore_list_fn fn, void *opaque)
{
  if (prefix == NULL)
    prefix = "";
  if (strlen (prefix) > OBJSTORE_KEY_MAX ||
      (start_after && strlen (start_after) > OBJSTORE_KEY_MAX)) {
    s3vol_error (s->log, "%s: list prefix too long", s->url);
    return -EINVAL;
  }
  return s->ops->list (s, prefix, start_after, fn, opaque);
}

unsigned
objstore_caps (struct objstore *s)
{
  return s->ops->caps (s);
}
