/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: S3's XML documents, read with libxml2's tree API.
 *
 * Elements are matched by local name only: S3 puts its documents in a
 * namespace, some compatible stores do not.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "xml.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init_once (void)
{
  xmlInitParser ();
}

void
s3_xml_init (void)
{
  pthread_once (&xml_once, xml_init_once);
}

/* Parse without network access and without libxml2 printing anything. */
static xmlDocPtr
parse (const void *body, size_t len, const char *root_name,
       xmlNodePtr *root)
{
  xmlDocPtr doc;

  if (len == 0 || len > INT_MAX)
    return NULL;
  doc = xmlReadMemory (body, (int) len, NULL, NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR |
                       XML_PARSE_NOWARNING);
  if (doc == NULL)
    return NULL;
  *root = xmlDocGetRootElement (doc);
  if (*root == NULL ||
      xmlStrcmp ((*root)->name, (const xmlChar *) root_name) != 0) {
    xmlFreeDoc (doc);
    return NULL;
  }
  return doc;
}

static bool
is_elem (xmlNodePtr n, const char *name)
{
  return n->type == XML_ELEMENT_NODE &&
    xmlStrcmp (n->name, (const xmlChar *) name) == 0;
}

/* The text of parent's first child element called name, to be freed
 * with xmlFree; NULL if there is none.
 */
static char *
child_text (xmlNodePtr parent, const char *name)
{
  xmlNodePtr n;

  for (n = parent->children; n; n = n->next) {
    if (is_elem (n, name))
      return (char *) xmlNodeGetContent (n);
  }
  return NULL;
}

static void
copy_child (xmlNodePtr parent, const char *name, char *dst, size_t dstsz)
{
  char *t = child_text (parent, name);

  if (dstsz > 0)
    snprintf (dst, dstsz, "%s", t ? t : "");
  xmlFree (t);
}

void
s3_etag_copy (char *dst, size_t dstsz, const char *src, size_t len)
{
  while (len > 0 && (*src == '"' || *src == ' ' || *src == '\t')) {
    src++;
    len--;
  }
  while (len > 0 && (src[len - 1] == '"' || src[len - 1] == ' ' ||
                     src[len - 1] == '\t' || src[len - 1] == '\r' ||
                     src[len - 1] == '\n'))
    len--;
  if (dstsz == 0)
    return;
  if (len >= dstsz)
    len = dstsz - 1;
  memcpy (dst, src, len);
  dst[len] = '\0';
}

/* The value of n decimal digits at s (the caller checked them). */
static int
digits (const char *s, int n)
{
  int v = 0;

  while (n-- > 0)
    v = v * 10 + (*s++ - '0');
  return v;
}

/* The text must start with exactly "YYYY-MM-DDTHH:MM:SS" (what S3 and
 * its clones send), each field in range: an endpoint's digits never
 * reach sscanf's %d, whose overflow is undefined, nor tm_year - 1900,
 * which overflowed for a year of INT_MIN (found by fuzz_xml).
 */
int64_t
s3_parse_iso8601 (const char *s)
{
  static const char shape[] = "dddd-dd-ddTdd:dd:dd";
  struct tm tm;
  size_t i;

  if (s == NULL)
    return -1;
  for (i = 0; shape[i]; i++) {
    if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
      return -1;
  }
  memset (&tm, 0, sizeof tm);
  tm.tm_year = digits (s, 4) - 1900;
  tm.tm_mon = digits (s + 5, 2) - 1;
  tm.tm_mday = digits (s + 8, 2);
  tm.tm_hour = digits (s + 11, 2);
  tm.tm_min = digits (s + 14, 2);
  tm.tm_sec = digits (s + 17, 2);
  if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60)
    return -1;
  return (int64_t) timegm (&tm);
}

int
s3_xml_error (const void *body, size_t len, char *code, size_t codesz,
              char *msg, size_t msgsz)
{
  xmlNodePtr root;
  xmlDocPtr doc = parse (body, len, "Error", &root);

  if (doc == NULL)
    return -EINVAL;
  copy_child (root, "Code", code, codesz);
  copy_child (root, "Message", msg, msgsz);
  xmlFreeDoc (doc);
  return 0;
}

static int
list_item (xmlNodePtr c, struct s3_list_item *it)
{
  char *t;

  memset (it, 0, sizeof *it);
  t = child_text (c, "Key");
  if (t == NULL)
    return -EINVAL;
  it->key = strdup (t);
  xmlFree (t);
  if (it->key == NULL)
    return -ENOMEM;
  t = child_text (c, "Size");
  it->size = t ? strtoull (t, NULL, 10) : 0;
  xmlFree (t);
  t = child_text (c, "LastModified");
  it->mtime = s3_parse_iso8601 (t);
  xmlFree (t);
  t = child_text (c, "ETag");
  if (t)
    s3_etag_copy (it->etag, sizeof it->etag, t, strlen (t));
  xmlFree (t);
  return 0;
}

int
s3_xml_list_page (const void *body, size_t len, struct s3_list_page *p)
{
  xmlNodePtr root, n;
  xmlDocPtr doc;
  size_t count = 0;
  char *t;
  int r = 0;

  memset (p, 0, sizeof *p);
  doc = parse (body, len, "ListBucketResult", &root);
  if (doc == NULL)
    return -EINVAL;
  for (n = root->children; n; n = n->next)
    count += is_elem (n, "Contents");
  p->items = calloc (count ? count : 1, sizeof *p->items);
  if (p->items == NULL) {
    r = -ENOMEM;
    goto out;
  }
  for (n = root->children; n && r == 0; n = n->next) {
    if (is_elem (n, "Contents")) {
      r = list_item (n, &p->items[p->n]);
      if (r == 0)
        p->n++;
    }
  }
  t = child_text (root, "IsTruncated");
  p->truncated = t && strcmp (t, "true") == 0;
  xmlFree (t);
  t = child_text (root, "NextContinuationToken");
  if (t && *t && (p->next_token = strdup (t)) == NULL)
    r = -ENOMEM;
  xmlFree (t);
 out:
  xmlFreeDoc (doc);
  return r;
}

void
s3_list_page_free (struct s3_list_page *p)
{
  size_t i;

  for (i = 0; i < p->n; i++)
    free (p->items[i].key);
  free (p->items);
  free (p->next_token);
  memset (p, 0, sizeof *p);
}

/* Append s with XML's five special characters escaped. */
static int
append_escaped (struct s3vol_buf *out, const char *s)
{
  int r = 0;

  for (; *s && r == 0; s++) {
    switch (*s) {
    case '&': r = s3vol_buf_append (out, "&amp;", 5); break;
    case '<': r = s3vol_buf_append (out, "&lt;", 4); break;
    case '>': r = s3vol_buf_append (out, "&gt;", 4); break;
    case '"': r = s3vol_buf_append (out, "&quot;", 6); break;
    case '\'': r = s3vol_buf_append (out, "&apos;", 6); break;
    default: r = s3vol_buf_append (out, s, 1);
    }
  }
  return r;
}

#define APPEND_LIT(out, lit) s3vol_buf_append ((out), (lit), sizeof (lit) - 1)

int
s3_xml_delete_body (struct s3vol_buf *out, const char *key_prefix,
                    const char *const *keys, size_t n)
{
  size_t i;
  int r;

  s3vol_buf_clear (out);
  r = APPEND_LIT (out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                  "<Quiet>true</Quiet>");
  for (i = 0; i < n && r == 0; i++) {
    if ((r = APPEND_LIT (out, "<Object><Key>")) == 0 &&
        (r = append_escaped (out, key_prefix)) == 0 &&
        (r = append_escaped (out, keys[i])) == 0)
      r = APPEND_LIT (out, "</Key></Object>");
  }
  if (r == 0)
    r = APPEND_LIT (out, "</Delete>");
  return r;
}

int
s3_xml_delete_result (const void *body, size_t len,
                      char *key, size_t keysz, char *code, size_t codesz,
                      char *msg, size_t msgsz)
{
  xmlNodePtr root, n;
  xmlDocPtr doc;
  char c[64];
  int errors = 0;

  doc = parse (body, len, "DeleteResult", &root);
  if (doc == NULL)
    return -EINVAL;
  for (n = root->children; n; n = n->next) {
    if (!is_elem (n, "Error"))
      continue;
    copy_child (n, "Code", c, sizeof c);
    if (strcmp (c, "NoSuchKey") == 0)
      continue;                 /* deleting a missing key succeeds */
    if (errors++ == 0) {
      copy_child (n, "Key", key, keysz);
      snprintf (code, codesz, "%s", c);
      copy_child (n, "Message", msg, msgsz);
    }
  }
  xmlFreeDoc (doc);
  return errors;
}
