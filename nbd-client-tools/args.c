/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol CLI: one option parser for every verb.
 *
 * Each verb says which options it takes (OPT_* bits) and how many
 * positional arguments; the parser rejects the rest with one line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "s3vol/volume.h"

static const struct option long_opts[] = {
  { "help", no_argument, NULL, 'H' },
  { "human-readable", no_argument, NULL, 'h' },
  { "json", no_argument, NULL, 'j' },
  { "yes", no_argument, NULL, 'y' },
  { "dry-run", no_argument, NULL, 'n' },
  { "force", no_argument, NULL, 'f' },
  { "size", required_argument, NULL, 's' },
  { "chunk-size", required_argument, NULL, 'c' },
  { "version", required_argument, NULL, 'V' },
  { "snapshot", required_argument, NULL, 'S' },
  { "message", required_argument, NULL, 'm' },
  { "no-format", no_argument, NULL, 'F' },
  { "read-only", no_argument, NULL, 'o' },
  { "cache-dir", required_argument, NULL, 'C' },
  { "cache-size", required_argument, NULL, 'Z' },
  { "create-if-missing", no_argument, NULL, 'M' },
  { "commit-interval", required_argument, NULL, 'I' },
  { "ephemeral", no_argument, NULL, 'E' },
  { "volume", required_argument, NULL, 'v' },
  { "socket", required_argument, NULL, 'U' },
  { "port", required_argument, NULL, 'P' },
  { "recursive", no_argument, NULL, 'r' },
  { "long", no_argument, NULL, 'l' },
  { "parents", no_argument, NULL, 'p' },
  { "allow-setuid", no_argument, NULL, 'A' },
  { "tls-psk", required_argument, NULL, 'K' },
  { "insecure-tcp", no_argument, NULL, 'T' },
  { "encrypt", no_argument, NULL, 'e' },
  { "discard", no_argument, NULL, 'D' },
  { "listen", required_argument, NULL, 'L' },
  { "tls-cert", required_argument, NULL, 'X' },
  { "tls-key", required_argument, NULL, 'Y' },
  { NULL, 0, NULL, 0 },
};

/* Option letter -> OPT_* bit. */
static unsigned
bit_of (int c)
{
  switch (c) {
  case 'j': return OPT_JSON;
  case 'y': return OPT_YES;
  case 'n': return OPT_DRY_RUN;
  case 'f': return OPT_FORCE;
  case 's': return OPT_SIZE;
  case 'c': return OPT_CHUNK_SIZE;
  case 'V': return OPT_VERSION;
  case 'S': return OPT_SNAPSHOT;
  case 'm': return OPT_MESSAGE;
  case 'F': return OPT_NO_FORMAT;
  case 'o': return OPT_READONLY;
  case 'C': return OPT_CACHE_DIR;
  case 'Z': return OPT_CACHE_SIZE;
  case 'M': return OPT_CREATE;
  case 'I': return OPT_INTERVAL;
  case 'E': return OPT_EPHEMERAL;
  case 'v': return OPT_VOLUMES;
  case 'U': return OPT_SOCKET;
  case 'P': return OPT_PORT;
  case 'r': return OPT_RECURSIVE;
  case 'l': return OPT_LONG;
  case 'p': return OPT_PARENTS;
  case 'A': return OPT_ALLOW_SETUID;
  case 'K': return OPT_TLS_PSK;
  case 'T': return OPT_INSECURE_TCP;
  case 'e': return OPT_ENCRYPT;
  case 'D': return OPT_DISCARD;
  case 'L': return OPT_LISTEN;
  case 'X': case 'Y': return OPT_TLS_CERT;
  case 'h': return OPT_HUMAN;
  default: return 0;
  }
}

static int
bad (const char *verb, const char *what)
{
  fprintf (stderr, "s3vol %s: %s (see s3vol %s --help)\n", verb, what,
           verb);
  return EXIT_USAGE;
}

int
cli_parse (int argc, char **argv, unsigned allowed, int minpos, int maxpos,
           struct cli_args *a)
{
  const char *verb = argv[0];
  char msg[256];
  unsigned long v;
  char *end;
  int c;

  memset (a, 0, sizeof *a);
  optind = 0;                   /* rescan from scratch (GNU) */
  opterr = 0;
  while ((c = getopt_long (argc, argv, "hm:v:rlp", long_opts, NULL)) != -1) {
    /* -h is --help, but for verbs that show sizes (ls -lh). */
    if (c == 'H' || (c == 'h' && !(allowed & OPT_HUMAN))) {
      a->help = true;
      return EXIT_OK;
    }
    if (c == '?' || c == ':' || !(bit_of (c) & allowed)) {
      snprintf (msg, sizeof msg, "unknown or misplaced option %s",
                argv[optind - 1]);
      return bad (verb, msg);
    }
    switch (c) {
    case 'j': a->json = true; break;
    case 'y': a->yes = true; break;
    case 'n': a->dry_run = true; break;
    case 'f': a->force = true; break;
    case 'm': a->message = optarg; break;
    case 'F': a->no_format = true; break;
    case 'o': a->readonly = true; break;
    case 'r': a->recursive = true; break;
    case 'l': a->long_ = true; break;
    case 'p': a->parents = true; break;
    case 'A': a->allow_setuid = true; break;
    case 'e': a->encrypt = true; break;
    case 'D': a->discard = true; break;
    case 'h': a->human = true; break;
    case 'K': a->tls_psk = optarg; break;
    case 'T': a->insecure_tcp = true; break;
    case 'C': a->cache_dir = optarg; break;
    case 'M': a->create = true; break;
    case 'E': a->ephemeral = true; break;
    case 'U': a->socket = optarg; break;
    case 'L': a->listen = optarg; break;
    case 'X': a->tls_cert = optarg; break;
    case 'Y': a->tls_key = optarg; break;
    case 'v':
      if (a->nvolumes == CLI_MAX_VOLUMES)
        return bad (verb, "too many volumes");
      a->volumes[a->nvolumes++] = optarg;
      break;
    case 'Z':
      if (s3vol_parse_size (optarg, &a->cache_size) < 0)
        return bad (verb, "--cache-size wants a size like 10G");
      break;
    case 'I':
      errno = 0;
      v = strtoul (optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || *end || errno == ERANGE ||
          v > UINT_MAX)
        return bad (verb, "--commit-interval wants seconds (0: off)");
      a->interval = v;
      a->interval_set = true;
      break;
    case 'P':
      a->port = strtoul (optarg, &end, 10);
      if (*end || a->port == 0 || a->port > 65535)
        return bad (verb, "--port wants a TCP port number");
      break;
    case 'S': a->snapshot = optarg; break;
    case 's':
      if (s3vol_parse_size (optarg, &a->size) < 0 || a->size == 0)
        return bad (verb, "--size wants a size like 10G or 1T");
      break;
    case 'c':
      if (s3vol_parse_size (optarg, &a->chunk_size) < 0 ||
          a->chunk_size > UINT32_MAX)
        return bad (verb, "--chunk-size wants a size like 1M");
      break;
    case 'V':
      /* Digits only: strtoull would take a sign or blanks, and
       * saturates (ERANGE) on a number that does not fit.
       */
      errno = 0;
      a->version = strtoull (optarg, &end, 10);
      if (optarg[0] < '0' || optarg[0] > '9' || *end || errno == ERANGE ||
          a->version == 0)
        return bad (verb, "--version wants a version number (1, 2, ... "
                    "up to 18446744073709551615)");
      break;
    }
  }
  if (a->version && a->snapshot)
    return bad (verb, "give --version or --snapshot, not both");
  a->npos = argc - optind;
  a->pos = argv + optind;
  if (a->npos < minpos)
    return bad (verb, "missing argument");
  if (a->npos > maxpos)
    return bad (verb, "too many arguments");
  return EXIT_OK;
}
