/* SPDX-License-Identifier: BSD-3-Clause */
/* s3vol: a simulated power failure under a directory, for tests.
 *
 * A process killed with kill -9 leaves everything it wrote in the page
 * cache, so a test that only kills processes cannot tell whether the
 * code syncs what it must.  powerfail is a struct s3vol_fileio (see
 * s3vol/fileio.h) that behaves as a disk with a volatile write cache
 * under one directory tree, the root:
 *
 *   - Every change is applied to the real files at once, so reads,
 *     stat and listings (which use the system calls) see it.
 *   - Besides, powerfail keeps a model of what is durable: for every
 *     file its content as of its last fsync or fdatasync, for every
 *     directory its entries as of its last fsync, and, since then, the
 *     changes not yet synced, in order: for a file the writes (with
 *     their bytes), truncates, punched holes and allocations; for a
 *     directory the names created (files and directories), renamed,
 *     linked and removed.  fsync or fdatasync of a file makes its data
 *     durable (not its name); fsync of a directory makes its entries
 *     durable (not the data of its files, nor its own name in its
 *     parent).  Files are known by their inode, so a rename made durable
 *     carries whatever data that inode has made durable.
 *   - powerfail_crash cuts the power: from then on every call of the
 *     table fails with EIO and changes nothing (close still closes the
 *     descriptor), so the code under test can be torn down as if the
 *     machine had stopped.  powerfail_arm does the same from within the
 *     nth call, to crash in the middle of an operation.
 *   - powerfail_reboot rewrites the tree under the root as the disk
 *     could have left it: the durable state plus, with keep_some, a
 *     random subset of the unsynced changes, applied in order (a kept
 *     change that no longer applies, such as a rename of a name whose
 *     creation was lost, is skipped), each write torn into 512-byte
 *     sectors kept or lost one by one, as a disk may.  Without keep_some
 *     every unsynced change is lost.  The rewritten tree is then the new
 *     durable state.
 *
 * fsync and fdatasync are not passed on (the simulation needs no real
 * durability, and tests stay fast); they are the same in the model.
 * Only regular files and directories are modelled; changes under the
 * root that do not go through the table are not seen (a file found in
 * the tree whose inode the model does not know is taken as durable as
 * it is).  Paths outside the root pass straight through.  Both names of
 * a rename or link must be in the same directory.  Everything is under
 * one lock, so the table may be used from many threads.  Content is
 * kept in memory: meant for trees of a few megabytes.
 */
#ifndef S3VOL_POWERFAIL_H
#define S3VOL_POWERFAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3vol/fileio.h"

struct powerfail;

/* Model the existing directory root (absolute path); its whole tree as
 * it is now is taken as durable.  Returns 0 or a negative errno.
 */
int powerfail_new (const char *root, struct powerfail **out);
void powerfail_free (struct powerfail *pf);

/* The table to pass as a configuration's fileio.  Valid until
 * powerfail_free.
 */
const struct s3vol_fileio *powerfail_fileio (struct powerfail *pf);

/* Cut the power now. */
void powerfail_crash (struct powerfail *pf);
/* Cut the power when the nth call of the table from now (counting from
 * 1) begins: that call and every later one fail with EIO.  0 disarms.
 */
void powerfail_arm (struct powerfail *pf, uint64_t n);
bool powerfail_crashed (struct powerfail *pf);

/* After a crash (and once nothing uses the descriptors any more): write
 * the tree as the disk kept it (see above), choosing with seed, and
 * power up again.  Returns 0 or a negative errno.
 */
int powerfail_reboot (struct powerfail *pf, bool keep_some, uint64_t seed);

/* Calls of the table so far; changes not yet durable. */
uint64_t powerfail_calls (struct powerfail *pf);
size_t powerfail_pending (struct powerfail *pf);

#endif /* S3VOL_POWERFAIL_H */
