/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol fuzzing: what an S3 endpoint sends back (lib/store/s3/xml.c):
 * error bodies, ListObjectsV2 pages and DeleteObjects results, all of
 * which any endpoint, or anything between, may forge.
 *
 * Every input goes to every parser (each refuses a document with the
 * wrong root element at once).  A listed key the store would accept
 * must also survive the trip back: the DeleteObjects body built for it
 * must parse and name exactly that key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "s3vol/buf.h"
#include "s3vol/objstore.h"
#include "xml.h"
#include "harness.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  (void) argc;
  (void) argv;
  s3_xml_init ();
  return 0;
}

/* The text of the first <Key> in the request body built for key. */
static void
check_delete_body (const char *key)
{
  struct s3vol_buf body = { 0 };
  xmlDocPtr doc;
  xmlNodePtr n;
  xmlChar *t = NULL;

  if (s3_xml_delete_body (&body, "pre/", &key, 1) != 0)
    abort ();
  doc = xmlReadMemory ((const char *) body.data, (int) body.len, NULL, NULL,
                       XML_PARSE_NONET | XML_PARSE_NOERROR |
                       XML_PARSE_NOWARNING);
  for (n = doc ? xmlDocGetRootElement (doc)->children : NULL; n; n = n->next)
    if (n->type == XML_ELEMENT_NODE &&
        xmlStrcmp (n->name, (const xmlChar *) "Object") == 0) {
      t = xmlNodeGetContent (n);
      break;
    }
  if (t == NULL || strncmp ((char *) t, "pre/", 4) != 0 ||
      strcmp ((char *) t + 4, key) != 0) {
    fprintf (stderr, "key \"%s\" does not survive a DeleteObjects body\n",
             key);
    abort ();
  }
  xmlFree (t);
  xmlFreeDoc (doc);
  s3vol_buf_free (&body);
}

static void
list (const uint8_t *data, size_t size)
{
  struct s3_list_page p;
  size_t i;

  if (s3_xml_list_page (data, size, &p) == 0) {
    for (i = 0; i < p.n; i++) {
      if (strlen (p.items[i].etag) >= sizeof p.items[i].etag)
        abort ();
      if (objstore_check_key (p.items[i].key) == 0)
        check_delete_body (p.items[i].key);
    }
  }
  s3_list_page_free (&p);
}

/* Small buffers, so truncation is exercised. */
static void
errors (const uint8_t *data, size_t size)
{
  char code[16], msg[32], key[24];

  s3_xml_error (data, size, code, sizeof code, msg, sizeof msg);
  s3_xml_delete_result (data, size, key, sizeof key, code, sizeof code,
                        msg, sizeof msg);
}

/* The leaf helpers get the raw bytes too (as NUL-terminated text). */
static void
leaves (const uint8_t *data, size_t size)
{
  char etag[80];
  char *s = malloc (size + 1);

  if (s == NULL)
    return;
  memcpy (s, data, size);
  s[size] = '\0';
  s3_parse_iso8601 (s);
  s3_etag_copy (etag, sizeof etag, s, size);
  s3_etag_copy (etag, 1, s, size);
  free (s);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  list (data, size);
  errors (data, size);
  leaves (data, size);
  return 0;
}
