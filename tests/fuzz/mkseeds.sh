#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Make the seed images of the ext4 fuzz targets: small filesystems
# (mkfs.ext4 -d, no mount needed) holding every kind of file s3vol
# reads and writes, each cut after its last non-zero byte (the volume
# reads as zeros past the input).  Most have no metadata_csum, so that
# mutations get past the checksums.  The checked-in seeds under
# tests/fuzz/corpus/fuzz_ext4_*/ were made with it (all for the read
# target; for the edit target those it can write, and the journal):
#
#   tests/fuzz/mkseeds.sh tests/fuzz/corpus/fuzz_ext4_read
set -euo pipefail
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin:/usr/sbin ;; esac
out=${1:?usage: mkseeds.sh OUTDIR}
mkdir -p "$out"
T=$(mktemp -d /tmp/s3vol-mkseeds.XXXXXX)
trap 'rm -rf "$T"' EXIT

# The tree: files, a sparse file, links, a deep path, a wide directory.
tree=$T/tree
mkdir -p "$tree/dir/sub/deeper" "$tree/wide" "$tree/empty"
printf 'hello\n' > "$tree/hello"
head -c 20000 /dev/urandom > "$tree/dir/data"
printf 'x' > "$tree/dir/sub/deeper/leaf"
truncate -s 300K "$tree/sparse"
printf 'tail' >> "$tree/sparse"
ln -s hello "$tree/fastlink"
ln -s "$(printf 'dir/%.0s' $(seq 1 20))long" "$tree/slowlink"
ln "$tree/hello" "$tree/dir/hardlink"
for i in $(seq 1 40); do
  printf '%s' "$i" > "$tree/wide/file-with-a-long-name-$i"
done
# A file with a small inline-data body for images with inline_data.
printf 'tiny' > "$tree/dir/tiny"

# Cut img after its last non-zero byte.
trim () {
  python3 - "$1" "$2" <<'PY'
import sys
b = open(sys.argv[1], 'rb').read().rstrip(b'\0')
open(sys.argv[2], 'wb').write(b)
PY
}

# mkimage NAME SIZE MKFS-OPTIONS...
mkimage () {
  local name=$1 size=$2; shift 2
  rm -f "$T/img"
  truncate -s "$size" "$T/img"
  mkfs.ext4 -q -F -b 1024 -N 128 -d "$tree" "$@" "$T/img" >/dev/null
  cp "$T/img" "$T/$name.full"
  trim "$T/img" "$out/$name"
}

mkimage ext4-plain 1M -O ^has_journal -E root_owner=0:0
# A time past 2262, the end of int64_t nanoseconds (the extra epoch
# bits): the regression of a signed overflow fuzz_ext4_read found in
# extfs_get_time.
debugfs -w -R "sif /hello mtime_extra 3" "$T/ext4-plain.full" >/dev/null 2>&1
trim "$T/ext4-plain.full" "$out/ext4-plain"
mkimage ext4-csum 1M -O ^has_journal,metadata_csum,64bit
mkimage ext4-inline 1M -O ^has_journal,^metadata_csum,inline_data -I 256
mkimage ext2 1M -t ext2 -I 128
mkimage ext4-nocsum 1M -O ^has_journal,^metadata_csum,^flex_bg

# Indexed (htree) directories: e2fsck -D indexes every directory of more
# than one block.
for i in $(seq 41 200); do : > "$tree/wide/file-with-a-long-name-$i"; done
mkimage ext4-htree 1M -O ^has_journal,^metadata_csum -N 300
e2fsck -fyD "$T/ext4-htree.full" >/dev/null 2>&1 || true
trim "$T/ext4-htree.full" "$out/ext4-htree"

# A journal that needs recovery: two transactions (blocks to copy, then
# a revoke) written into the journal the way jbd2 lays them out, and the
# superblock marked needs_recovery (the revoke feature set).  No
# checksum features, so no checksums to compute.  A small tree keeps the
# image short: the files (inline) would land after the journal.
mkdir -p "$T/small/d"
printf 'hello\n' > "$T/small/d/hello"
tree=$T/small
mkimage ext4-journal 3M -J size=1 -I 256 -O ^metadata_csum,^64bit,inline_data
# Where the journal's first blocks are (its extents need not be one run).
jblks=$(for i in 0 1 2 3 4 5 6; do
          debugfs -R "bmap <8> $i" "$T/ext4-journal.full" 2>/dev/null
        done | tr '\n' ,)
python3 - "$T/ext4-journal.full" "$jblks" <<'PY'
import struct, sys
path, bs = sys.argv[1], 1024
jmap = [int(b) for b in sys.argv[2].split(',') if b]
img = bytearray(open(path, 'rb').read())
MAGIC = 0xC03B3998
def hdr(kind, seq):
    return struct.pack('>III', MAGIC, kind, seq)
def put(jb, data):
    off = jmap[jb] * bs
    img[off:off + bs] = data.ljust(bs, b'\0')
uuid = bytes(img[1024 + 0x68:1024 + 0x78])
# transaction 1: a descriptor with two tags, the blocks, a commit
tags = struct.pack('>IHH', 300, 0, 0) + uuid
tags += struct.pack('>IHH', 301, 0, 2 | 8)     # SAME_UUID | LAST_TAG
put(1, hdr(1, 1) + tags)
put(2, b'J' * bs)
put(3, b'K' * bs)
put(4, hdr(2, 1))
# transaction 2: revoke block 301, then a commit
put(5, hdr(5, 2) + struct.pack('>II', 16 + 4, 301))
put(6, hdr(2, 2))
# the journal superblock: the log starts at block 1, sequence 1
jsb = jmap[0] * bs
struct.pack_into('>II', img, jsb + 0x18, 1, 1)
struct.pack_into('>I', img, jsb + 0x28, 1)      # INCOMPAT_REVOKE
# the filesystem: needs_recovery (INCOMPAT_RECOVER)
inc = struct.unpack_from('<I', img, 1024 + 0x60)[0] | 0x4
struct.pack_into('<I', img, 1024 + 0x60, inc)
open(path, 'wb').write(img)
PY
trim "$T/ext4-journal.full" "$out/ext4-journal"
ls -l "$out" >&2
