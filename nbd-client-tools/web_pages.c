/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol web: the HTML pages.
 *
 * Every string that comes from the store (volume, snapshot and file
 * names, symlink targets, commit messages, host names) is untrusted: a
 * file may be called "<img src=x onerror=...>".  It reaches the page
 * only through html_text (the terminal's escaping of text.c, so bytes
 * that are not UTF-8 show as \xNN, then HTML's) or, in a link, through
 * html_url (percent-encoding of every byte but [A-Za-z0-9-._~/]).  Only
 * literals and numbers go through html_raw and html_printf.  The pages
 * have no script, and the Content-Security-Policy (web.c) forbids any.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "files.h"
#include "web.h"

const char web_css[] =
  "*{box-sizing:border-box}\n"
  "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:0 12px"
  " 24px;max-width:1100px;color:#1d1d1f;background:#fff}\n"
  "nav{padding:10px 0;border-bottom:1px solid #ddd;overflow-wrap:anywhere}\n"
  "nav a,nav span{margin-right:.3em}\n"
  "h1{font-size:1.3em;overflow-wrap:anywhere}\n"
  "h2{font-size:1.1em;margin-top:1.5em}\n"
  "a{color:#0550ae;text-decoration:none}a:hover{text-decoration:underline}\n"
  "table{border-collapse:collapse;width:100%;table-layout:fixed}\n"
  "th,td{text-align:left;padding:5px 6px;border-bottom:1px solid #eee;"
  "vertical-align:top;overflow-wrap:anywhere}\n"
  "th{font-weight:600;background:#f6f8fa}\n"
  ".n{text-align:right;font-variant-numeric:tabular-nums}\n"
  ".m{font-family:ui-monospace,monospace;font-size:.9em}\n"
  ".dim{color:#6e7781}\n"
  ".w6{width:6.5em}.w8{width:8em}.w11{width:11em}\n"
  ".act a{display:inline-block;margin:4px 12px 4px 0;padding:6px 12px;"
  "border:1px solid #d0d7de;border-radius:6px;background:#f6f8fa}\n"
  "dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px}\n"
  "dt{color:#6e7781}dd{margin:0;overflow-wrap:anywhere;min-width:0}\n"
  "@media (max-width:640px){.wide{display:none}body{font-size:14px}}\n";

/* ---- building HTML ---- */

static void
put (struct html *h, const char *p, size_t n)
{
  if (h->err == 0 && s3vol_buf_append (&h->b, p, n) < 0)
    h->err = -ENOMEM;
}

void
html_raw (struct html *h, const char *s)
{
  put (h, s, strlen (s) + 1);           /* keep it NUL-terminated */
  if (h->err == 0)
    h->b.len--;
}

void
html_printf (struct html *h, const char *fmt, ...)
{
  char buf[512];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (buf, sizeof buf, fmt, ap);
  va_end (ap);
  html_raw (h, buf);
}

/* A run of cli_esc_each's output: HTML-escaped. */
static int
html_piece (void *opaque, const char *p, size_t n)
{
  struct html *h = opaque;
  size_t i, run = 0;
  const char *e;

  for (i = 0; i < n; i++) {
    switch (p[i]) {
    case '&': e = "&amp;"; break;
    case '<': e = "&lt;"; break;
    case '>': e = "&gt;"; break;
    case '"': e = "&quot;"; break;
    case '\'': e = "&#39;"; break;
    default: continue;
    }
    put (h, p + run, i - run);
    put (h, e, strlen (e));
    run = i + 1;
  }
  put (h, p + run, n - run);
  return h->err;
}

void
html_text (struct html *h, const char *s, unsigned esc_flags)
{
  cli_esc_each (s, esc_flags, html_piece, h);
  html_raw (h, "");
}

void
html_url (struct html *h, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";
  const unsigned char *u = (const unsigned char *) s;
  char e[3] = { '%' };

  for (; *u; u++) {
    if ((*u >= 'a' && *u <= 'z') || (*u >= 'A' && *u <= 'Z') ||
        (*u >= '0' && *u <= '9') || strchr ("-._~/", *u)) {
      put (h, (const char *) u, 1);
      continue;
    }
    e[1] = hex[*u >> 4];
    e[2] = hex[*u & 15];
    put (h, e, 3);
  }
  html_raw (h, "");
}

/* <a href="/KIND/VOLUME/SEQ/PATH (PATH URL-encoded); the caller may
 * add to the URL, then closes the tag.
 */
static void
href_version (struct html *h, const char *kind, const char *volume,
              uint64_t seq, const char *path)
{
  html_printf (h, "<a href=\"/%s/", kind);
  html_url (h, volume);
  html_printf (h, "/%" PRIu64, seq);
  html_url (h, path);
}

static void
page_start (struct html *h, const char *title)
{
  html_raw (h, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
            "<meta charset=\"utf-8\"><meta name=\"viewport\" "
            "content=\"width=device-width,initial-scale=1\"><title>");
  html_text (h, title, 0);
  html_raw (h, " - s3vol</title><link rel=\"stylesheet\" "
            "href=\"/style.css\"></head><body>\n<nav><a href=\"/\">"
            "volumes</a>");
}

/* Close the breadcrumbs, open main with an h1 of title. */
static void
page_title (struct html *h, const char *title)
{
  html_raw (h, "</nav>\n<main><h1>");
  html_text (h, title, 0);
  html_raw (h, "</h1>\n");
}

static enum MHD_Result
page_end (struct MHD_Connection *c, struct html *h)
{
  html_raw (h, "</main></body></html>\n");
  if (h->err) {
    s3vol_buf_free (&h->b);
    return web_send_err (c, h->err);
  }
  return web_send_html (c, MHD_HTTP_OK, &h->b);
}

static void
crumb_volume (struct html *h, const char *volume)
{
  html_raw (h, " / <a href=\"/volume/");
  html_url (h, volume);
  html_raw (h, "\">");
  html_text (h, volume, 0);
  html_raw (h, "</a>");
}

/* ---- / : the volumes ---- */

static int
volume_row (void *opaque, const struct vol_info *i)
{
  struct html *h = opaque;
  char sz[16], used[16], t[32];

  html_raw (h, "<tr><td><a href=\"/volume/");
  html_url (h, i->name);
  html_raw (h, "\">");
  html_text (h, i->name, 0);
  html_printf (h, "</a>%s</td><td class=\"n\">%s</td><td class=\"n wide\">"
               "%s</td><td class=\"n\">", i->encrypted ?
               " <span class=\"dim\">(encrypted)</span>" : "",
               cli_human (i->size, sz), cli_human (i->bytes_stored, used));
  href_version (h, "files", i->name, i->head, "/");
  html_raw (h, "\">");
  html_printf (h, "%" PRIu64 "</a></td><td class=\"wide\">%s</td></tr>\n",
               i->head, cli_time (i->last_commit_ns, t));
  return h->err;
}

enum MHD_Result
web_page_volumes (struct web *w, struct MHD_Connection *c)
{
  struct html h = { S3VOL_BUF_INIT, 0 };
  int r;

  page_start (&h, "volumes");
  page_title (&h, "Volumes");
  html_raw (&h, "<table><thead><tr><th>Name</th><th class=\"n\">Size</th>"
            "<th class=\"n wide\">Used</th><th class=\"n\">Head</th>"
            "<th class=\"wide\">Last commit</th></tr></thead><tbody>\n");
  r = volstore_list (w->vs, volume_row, &h);
  if (r < 0) {
    s3vol_buf_free (&h.b);
    return web_send_err (c, r);
  }
  html_raw (&h, "</tbody></table>\n");
  return page_end (c, &h);
}

/* ---- /volume/NAME ---- */

struct vpage {
  struct html *h;
  const char *volume;
};

static int
version_row (void *opaque, const struct vol_version *v)
{
  struct vpage *p = opaque;
  struct html *h = p->h;
  char t[32], st[16];

  html_raw (h, "<tr><td class=\"n\">");
  href_version (h, "files", p->volume, v->seq, "/");
  html_raw (h, "\">");
  html_printf (h, "%" PRIu64 "</a></td><td class=\"wide\">%s</td><td>",
               v->seq, cli_time (v->time_ns, t));
  html_text (h, v->host, 0);
  html_printf (h, " <span class=\"dim\">pid %" PRIu32 "</span></td><td>",
               v->pid);
  html_text (h, v->message, 0);
  if (v->flags & ROOT_FLAG_FORCED)
    html_printf (h, " <span class=\"dim\">(forced over version %" PRIu64
                 ")</span>", v->overwrote);
  html_printf (h, "</td><td class=\"n wide\">%s</td></tr>\n",
               cli_human (v->bytes_stored, st));
  return h->err;
}

static int
snapshot_row (void *opaque, const char *snapshot, uint64_t seq)
{
  struct vpage *p = opaque;

  html_raw (p->h, "<tr><td>");
  html_text (p->h, snapshot, 0);
  html_raw (p->h, "</td><td class=\"n\">");
  href_version (p->h, "files", p->volume, seq, "/");
  html_raw (p->h, "\">");
  html_printf (p->h, "%" PRIu64 "</a></td></tr>\n", seq);
  return p->h->err;
}

/* Forks: version 1 of a fork names the volume and version it came
 * from (the root's fork_of, fork_seq).  Each volume's version 1 is
 * looked at (gone once retention pruned it: then unknown).
 */
struct fork_scan {
  struct web *w;
  const struct vol_info *self;
  struct html *h;
  int nforks;
  struct s3vol_volid origin;    /* self's, zero if none */
  uint64_t origin_seq;
  char origin_name[S3VOL_NAME_MAX + 1];
};

static bool
volid_zero (const struct s3vol_volid *id)
{
  static const struct s3vol_volid zero;

  return memcmp (id, &zero, sizeof zero) == 0;
}

static int
fork_probe (void *opaque, const struct vol_info *i)
{
  struct fork_scan *f = opaque;
  struct vol_ref one = { .seq = 1 };
  const struct root *root;
  struct volume *v;

  if (volume_open (f->w->quiet_vs, i->name, &one, &v) < 0)
    return 0;
  root = volume_root (v);
  if (memcmp (&root->fork_of, &f->self->volid, sizeof root->fork_of) == 0) {
    html_raw (f->h, f->nforks++ ? ", " : "<p>Forks: ");
    html_raw (f->h, "<a href=\"/volume/");
    html_url (f->h, i->name);
    html_raw (f->h, "\">");
    html_text (f->h, i->name, 0);
    html_printf (f->h, "</a> <span class=\"dim\">(of version %" PRIu64
                 ")</span>", root->fork_seq);
  }
  if (strcmp (i->name, f->self->name) == 0 && !volid_zero (&root->fork_of)) {
    f->origin = root->fork_of;
    f->origin_seq = root->fork_seq;
  }
  volume_close (v);
  return f->h->err;
}

static int
origin_name (void *opaque, const struct vol_info *i)
{
  struct fork_scan *f = opaque;

  if (memcmp (&i->volid, &f->origin, sizeof f->origin))
    return 0;
  strcpy (f->origin_name, i->name);
  return 1;
}

static void
volume_forks (struct web *w, struct html *h, const struct vol_info *self)
{
  struct fork_scan f = { .w = w, .self = self, .h = h };

  html_raw (h, "<h2>Forks</h2>\n");
  volstore_list (w->vs, fork_probe, &f);
  html_raw (h, f.nforks ? "</p>\n" : "<p class=\"dim\">No forks.</p>\n");
  if (volid_zero (&f.origin))
    return;
  volstore_list (w->vs, origin_name, &f);
  html_raw (h, "<p>Forked from ");
  if (f.origin_name[0]) {
    html_raw (h, "<a href=\"/volume/");
    html_url (h, f.origin_name);
    html_raw (h, "\">");
    html_text (h, f.origin_name, 0);
    html_raw (h, "</a>");
  }
  else
    html_raw (h, "a deleted volume");
  html_printf (h, ", version %" PRIu64 ".</p>\n", f.origin_seq);
}

static void
volume_facts (struct html *h, const struct vol_info *i)
{
  char a[16], b[16], c[16], t[32];

  html_printf (h, "<dl><dt>Size</dt><dd>%s (%" PRIu64 " bytes)</dd>"
               "<dt>Chunk size</dt><dd>%s</dd><dt>Head</dt><dd>",
               cli_human (i->size, a), i->size, cli_human (i->chunk_size, b));
  href_version (h, "files", i->name, i->head, "/");
  html_raw (h, "\">");
  html_printf (h, "version %" PRIu64 "</a></dd><dt>Last commit</dt><dd>%s"
               "</dd><dt>Stored</dt><dd>%s in %" PRIu64 " chunks</dd>"
               "<dt>Versions kept</dt><dd>%" PRIu64 "</dd>"
               "<dt>Encrypted</dt><dd>%s</dd></dl>\n",
               i->head, cli_time (i->last_commit_ns, t),
               cli_human (i->bytes_stored, c), i->chunks, i->versions, i->encrypted ? "yes" : "no");
}

enum MHD_Result
web_page_volume (struct web *w, struct MHD_Connection *c, const char *volume)
{
  struct html h = { S3VOL_BUF_INIT, 0 };
  struct vpage p = { &h, volume };
  struct vol_info info;
  int r;

  r = volstore_info (w->vs, volume, &info);
  if (r < 0)
    return web_send_err (c, r);
  page_start (&h, volume);
  crumb_volume (&h, volume);
  page_title (&h, volume);
  volume_facts (&h, &info);
  html_raw (&h, "<h2>Versions</h2>\n<table><thead><tr>"
            "<th class=\"n w6\">Version</th>"
            "<th class=\"wide\">Time</th><th>Writer</th><th>Message</th>"
            "<th class=\"n wide\">Stored</th></tr></thead><tbody>\n");
  r = volstore_versions (w->vs, volume, version_row, &p);
  html_raw (&h, "</tbody></table>\n<h2>Snapshots</h2>\n<table><thead><tr>"
            "<th>Snapshot</th><th class=\"n\">Version</th></tr></thead>"
            "<tbody>\n");
  if (r == 0)
    r = volstore_snapshot_list (w->vs, volume, snapshot_row, &p);
  html_raw (&h, "</tbody></table>\n");
  if (r == 0)
    volume_forks (w, &h, &info);
  if (r < 0) {
    s3vol_buf_free (&h.b);
    return web_send_err (c, r);
  }
  return page_end (c, &h);
}

/* ---- /files/NAME/SEQ/PATH ---- */

/* The breadcrumbs of a path: each directory a link. */
static void
crumb_path (struct html *h, const struct web_req *rq)
{
  const char *p = rq->path, *slash;
  char *prefix;

  crumb_volume (h, rq->volume);
  html_raw (h, " / ");
  href_version (h, "files", rq->volume, rq->seq, "/");
  html_raw (h, "\">");
  html_printf (h, "version %" PRIu64 "</a>", rq->seq);
  while (*p == '/')
    p++;
  while (*p) {
    slash = strchr (p, '/');
    prefix = strndup (rq->path, (slash ? slash : p + strlen (p)) - rq->path);
    if (prefix == NULL) {
      h->err = -ENOMEM;
      return;
    }
    html_raw (h, " / ");
    href_version (h, "files", rq->volume, rq->seq, prefix);
    html_raw (h, slash ? "/\">" : "\">");
    /* the component: prefix after its last '/' */
    html_text (h, strrchr (prefix, '/') + 1, CLI_ESC_NAME);
    html_raw (h, "</a>");
    free (prefix);
    p = slash ? slash + 1 : "";
    while (*p == '/')
      p++;
  }
}

struct dpage {
  struct html *h;
  const struct web_req *rq;
  char *dir;                    /* rq->path ending in '/' */
  unsigned n;
};

static int
entry_row (void *opaque, const char *name, const struct extfs_stat *st,
           const char *target)
{
  struct dpage *d = opaque;
  struct html *h = d->h;
  char m[11], sz[16], t[32];
  bool dir = S_ISDIR (st->mode);

  files_mode_string (st->mode, m);
  html_raw (h, "<tr><td>");
  if (dir || S_ISREG (st->mode)) {
    href_version (h, "files", d->rq->volume, d->rq->seq, d->dir);
    html_url (h, name);
    html_raw (h, dir ? "/\">" : "\">");
  }
  html_text (h, name, CLI_ESC_NAME);
  html_raw (h, dir ? "/</a>" : S_ISREG (st->mode) ? "</a>" : "");
  if (target) {
    html_raw (h, " <span class=\"dim\">&rarr;</span> <span class=\"m\">");
    html_text (h, target, 0);
    html_raw (h, "</span>");
  }
  html_printf (h, "</td><td class=\"n\">%s</td><td class=\"m wide\">%s</td>"
               "<td class=\"wide\">%s</td></tr>\n",
               dir ? "" : cli_human (st->size, sz), m,
               cli_time (st->mtime_ns, t));
  d->n++;
  return h->err;
}

static int
dir_page (struct html *h, const struct web_req *rq, struct extfs *x)
{
  struct dpage d = { h, rq, NULL, 0 };
  size_t n = strlen (rq->path);
  int r;

  if (asprintf (&d.dir, "%s%s", rq->path,
                n && rq->path[n - 1] == '/' ? "" : "/") < 0)
    return -ENOMEM;
  html_raw (h, "<p class=\"act\">");
  href_version (h, "tar", rq->volume, rq->seq, rq->path);
  html_raw (h, "\">Download as tar</a><a href=\"/files/");
  html_url (h, rq->volume);
  html_raw (h, "/head");
  html_url (h, d.dir);
  html_raw (h, "\">Newest version</a></p>\n<table><thead><tr><th>Name</th>"
            "<th class=\"n w6\">Size</th>"
            "<th class=\"wide w8\">Mode</th>"
            "<th class=\"wide w11\">Modified</th></tr>"
            "</thead><tbody>\n");
  r = extfs_list (x, rq->path, true, entry_row, &d);
  html_raw (h, "</tbody></table>\n");
  if (r == 0 && d.n == 0)
    html_raw (h, "<p class=\"dim\">Empty directory.</p>\n");
  free (d.dir);
  return r;
}

static int
file_page (struct html *h, const struct web_req *rq, struct extfs *x,
           const struct extfs_stat *st)
{
  char m[11], sz[16], t[32], target[4096];
  int r = 0;

  files_mode_string (st->mode, m);
  html_printf (h, "<dl><dt>Size</dt><dd>%" PRIu64 " bytes (%s)</dd>"
               "<dt>Mode</dt><dd class=\"m\">%s</dd><dt>Owner</dt>"
               "<dd>%" PRIu32 ":%" PRIu32 "</dd><dt>Modified</dt><dd>%s</dd>"
               "<dt>Links</dt><dd>%" PRIu32 "</dd>", st->size,
               cli_human (st->size, sz), m, st->uid, st->gid,
               cli_time (st->mtime_ns, t), st->nlink);
  if (S_ISLNK (st->mode)) {
    r = extfs_readlink (x, rq->path, target, sizeof target);
    html_raw (h, "<dt>Target</dt><dd class=\"m\">");
    html_text (h, r == 0 ? target : "?", 0);
    html_raw (h, "</dd>");
  }
  html_raw (h, "</dl>\n");
  if (S_ISREG (st->mode)) {
    html_raw (h, "<p class=\"act\">");
    href_version (h, "raw", rq->volume, rq->seq, rq->path);
    html_raw (h, "\">Download</a></p>\n");
  }
  return r;
}

/* The last component of path into buf ("/" for the root). */
static const char *
base_name (const char *path, char *buf, size_t n)
{
  size_t end = strlen (path), start;

  while (end > 0 && path[end - 1] == '/')
    end--;
  if (end == 0)
    return buf;                 /* the root: keep the title */
  for (start = end; start > 0 && path[start - 1] != '/'; start--)
    ;
  snprintf (buf, n, "%.*s", (int) (end - start), path + start);
  return buf;
}

enum MHD_Result
web_page_files (struct web_req *rq)
{
  struct html h = { S3VOL_BUF_INIT, 0 };
  struct web_handle *wh;
  struct extfs_stat st;
  char title[S3VOL_NAME_MAX + 300];
  int r;

  r = web_pool_get (rq->w->pool, rq->volume, rq->seq, &wh);
  if (r < 0)
    return web_send_err (rq->c, r);
  pthread_mutex_lock (&wh->lock);
  r = extfs_lstat (wh->x, rq->path, &st);
  if (r == 0) {
    snprintf (title, sizeof title, "%s, version %" PRIu64, rq->volume,
              rq->seq);
    base_name (rq->path, title, sizeof title);
    page_start (&h, title);
    crumb_path (&h, rq);
    page_title (&h, title);
    r = S_ISDIR (st.mode) ? dir_page (&h, rq, wh->x)
      : file_page (&h, rq, wh->x, &st);
  }
  pthread_mutex_unlock (&wh->lock);
  web_pool_put (rq->w->pool, wh);
  if (r < 0) {
    s3vol_buf_free (&h.b);
    return web_send_err (rq->c, r);
  }
  return page_end (rq->c, &h);
}
