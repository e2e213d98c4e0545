/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: three-way merge of ext4 volume versions by file.
 *
 * Three versions: B (the base), L (a local state made from B: a
 * writer's commit cut) and H (the head of the target volume, which
 * other writers moved on from B).  merge_run applies every change L
 * made since B onto H through libext2fs and publishes the result as
 * one new version of the target volume.  B and L may belong to other
 * volumes than the target (forks share chunks); all three must have
 * the same geometry (size, block and inode counts).
 *
 * Identity: an inode is (number, i_generation).  What L changed is
 * found from the inode tables (only chunks whose ids differ between B
 * and L are read, unless a journal was replayed into B or L: then every
 * used inode table block is compared), comparing inode records without
 * their atime and checksum; changed directories are diffed entry by
 * entry.  Rules:
 *  - an inode of B that H still has (same number and generation) takes
 *    L's changes in place: attributes, times (ns), xattrs, data (only
 *    the chunks that differ are copied when the block map is the same
 *    in B, L and H); its hard links stay;
 *  - a rename is a relink: the entry moves, the inode is not copied;
 *  - inodes new in L (or that H no longer has) get fresh inodes in H,
 *    hard links through an L-to-merged table; L's inode numbers are
 *    never assumed free in H;
 *  - directories merge entry by entry; two new directories of one name
 *    merge into one;
 *  - a path both changed: L wins, and it is reported
 *    (MERGE_EV_OVERWROTE);
 *  - a directory L deleted that H added entries to survives with
 *    those entries (MERGE_EV_KEPT);
 *  - atime-only changes are ignored; inodes on the orphan list count
 *    as deleted.
 * If the target's head moves during the merge, the merge is redone on
 * the new head, up to max_retries times with backoff.
 *
 * Everything read from the three versions is untrusted: names are
 * checked, depths and counts bounded.  Errors are negative errno values
 * logged once: those of extfs_open and extfs (extfs.h), -EEXIST (the
 * head kept moving), -ENOTSUP (different geometries, or a filesystem
 * s3vol cannot write).  Not thread-safe; run it outside a process that
 * serves the volume (it parses images other writers made).
 */
#ifndef S3VOL_MERGE_H
#define S3VOL_MERGE_H

#include <stdbool.h>
#include <stdint.h>

#include "s3vol/volume.h"

enum merge_event {
  MERGE_EV_OVERWROTE,   /* path: L's change replaced H's change there */
  MERGE_EV_KEPT,        /* path: a directory L deleted kept for the
                           entries H added to it */
  MERGE_EV_LOST,        /* path: a change of L that could not be placed
                           (H deleted where it lived); H's state kept */
  MERGE_EV_RETRY,       /* the head moved to seq: merging again */
};

struct merge_notify {
  void (*fn) (void *opaque, enum merge_event ev, const char *path,
              uint64_t seq);
  void *opaque;
};

struct merge_config {
  const struct s3vol_log *log;
  const char *volume;           /* the target: merged onto its head */
  const char *base_volume;      /* B: NULL for the target volume */
  struct vol_ref base;
  const char *local_volume;     /* L: NULL for the target volume */
  struct vol_ref local;
  const char *message;          /* of the version published (may be NULL) */
  const char *tmpdir;           /* private caches (NULL: $TMPDIR, /tmp) */
  unsigned threads;             /* parallel fetches (0: 8) */
  unsigned max_retries;         /* merges again on a moved head (0: 5) */
  struct merge_notify notify;
};

struct merge_result {
  uint64_t seq;                 /* the version published (or the head, if
                                   L changed nothing) */
  bool changed;                 /* false: nothing to publish */
  unsigned retries;
  uint64_t inodes_changed;      /* by L since B (atime-only excluded) */
  uint64_t dirs_diffed;
  uint64_t dir_entries_read;    /* of B and L, to diff directories */
  uint64_t itable_chunks_read;  /* inode table chunks compared */
  uint64_t bytes_copied;        /* file data copied from L */
  uint64_t conflicts;           /* MERGE_EV_OVERWROTE events */
};

int merge_run (struct volstore *vs, const struct merge_config *cfg,
               struct merge_result *res);

#endif /* S3VOL_MERGE_H */
