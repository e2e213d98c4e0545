/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol cache: the host's chunk store (clean chunks by id, shared by
 * every attachment), shown by status and pruned by "cache prune".
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "s3vol/chunkstore.h"

static int
open_store (struct chunkstore **cs)
{
  struct chunkstore_config cfg = { .log = &cli_log };

  return chunkstore_open (&cfg, cs);
}

static void
show (struct chunkstore *cs, bool json)
{
  struct chunkstore_stats st;
  char used[32], max[32];
  uint64_t gets;

  chunkstore_stats (cs, &st);
  gets = st.hits + st.misses;
  if (json) {
    printf ("{\"dir\":");
    cli_json_str (chunkstore_dir (cs));
    printf (",\"bytes\":%" PRIu64 ",\"max_bytes\":%" PRIu64
            ",\"entries\":%" PRIu64 ",\"hits\":%" PRIu64
            ",\"misses\":%" PRIu64 ",\"evictions\":%" PRIu64 "}\n",
            st.bytes, st.max_bytes, st.entries, st.hits, st.misses,
            st.evictions);
    return;
  }
  printf ("host chunk cache ");
  cli_put_esc (stdout, chunkstore_dir (cs), 0);
  printf (": %s of %s, %" PRIu64 " chunks, hit rate %.1f%% (%" PRIu64
          " of %" PRIu64 ")\n", cli_human (st.bytes, used),
          cli_human (st.max_bytes, max), st.entries,
          gets ? 100.0 * st.hits / gets : 0.0, st.hits, gets);
}

void
cli_show_chunk_cache (void)
{
  struct chunkstore *cs;

  if (open_store (&cs) < 0)
    return;
  show (cs, false);
  chunkstore_close (cs);
}

static int
cache (const struct cli_global *g, int argc, char **argv)
{
  static const char usage[] =
    "usage: s3vol cache status [--json]\n"
    "       s3vol cache prune [--size SIZE]\n"
    "The host's cache of clean chunks, shared by every attachment, volume "
    "and\nversion ($S3VOL_CHUNK_CACHE, else /var/cache/s3vol/chunks for "
    "root, else\n~/.cache/s3vol/.chunks).  prune evicts the least recently "
    "used chunks down to\nSIZE (default: empty it); chunks being read "
    "stay readable.\n";
  struct chunkstore *cs;
  struct cli_args args;
  uint64_t freed = 0;
  char h[32];
  int r;

  (void) g;
  r = cli_parse (argc, argv, OPT_SIZE | OPT_JSON, 1, 1, &args);
  if (r != EXIT_OK || args.help)
    return args.help ? cli_usage (usage, true) : r;
  if (strcmp (args.pos[0], "status") != 0 &&
      strcmp (args.pos[0], "prune") != 0)
    return cli_usage (usage, false);
  if (open_store (&cs) < 0)
    return EXIT_FAIL;
  if (strcmp (args.pos[0], "status") == 0)
    show (cs, args.json);
  else {
    r = chunkstore_prune (cs, args.size, &freed);
    if (r == 0)
      printf ("pruned %s\n", cli_human (freed, h));
  }
  chunkstore_close (cs);
  return r < 0 ? cli_exit_code (r) : EXIT_OK;
}

const struct cli_verb verb_cache = { "cache", "show or prune the host's "
                                     "chunk cache", cache };
