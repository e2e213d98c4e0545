#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Data path through nbdkit, on the directory store and on S3:
#  - random reads, writes (unaligned, aligned, FUA), zeroes and trims on
#    three connections at once, checked against a model; commits along
#    the way (with a tiny clean cache, so later reads come from the
#    store); each committed version read back whole through a second
#    plugin on a fresh cache and compared with the model as it was;
#  - nbdcopy of a random sparse image in and out (cmp), qemu-img compare
#    over nbd+unix://, and nbdinfo --map showing the image's zero chunks
#    as holes, before and after a commit.
. "$(dirname "$0")/../support/functions.sh"
on_each_store
requires nbdcopy qemu-img cmp

seed=${S3VOL_TEST_SEED:-$RANDOM}
ops=${S3VOL_TEST_OPS:-$([ "$STORE_KIND" = s3 ] && echo 1000 || echo 1600)}
echo "store $STORE_KIND, seed $seed (set S3VOL_TEST_SEED to repeat), $ops ops"
make_store

phase "random I/O on 3 connections against a model"
create_volume rw 32M 64K
start_plugin w volume=rw cache-size=1M threads=4
nbdsh_script w "$ITDIR/model.py" "$seed" "$ops" "$T/model" "$T/commits"
last=$(tail -n1 "$T/commits" | cut -d' ' -f1)
[ "$(ctl_status w base_version)" = "$last" ] ||
  die "plugin's base is $(ctl_status w base_version), not $last"
[ "$(ctl_status w dirty_bytes)" = 0 ] || die "dirty after the last commit"
[ "$(head_version rw)" = "$last" ] || die "head is not version $last"

phase "every committed version, read through a fresh cache"
n=0
while read -r v f; do
  start_plugin "r$v" volume=rw version="$v"     # read-only
  [ "$(ctl_status "r$v" readonly)" = true ] || die "version=$v is writable"
  nbdcopy "$(uri "r$v")" "$T/out.img"
  cmp "$T/out.img" "$f" || die "version $v differs from the model"
  stop_plugin "r$v"
  rm -rf "$T/out.img" "$T/r$v.cache"
  n=$((n + 1))
done <"$T/commits"
echo "$n versions match the model"
# The head, with no version given, is the last one (and writable).
start_plugin head volume=rw
nbdcopy "$(uri head)" "$T/out.img"
cmp "$T/out.img" "$T/model" || die "the head differs from the model"
stop_plugin head
stop_plugin w
rm -f "$T"/model* "$T/out.img"

phase "nbdcopy a sparse random image in and out; extents"
mb=32
python3 "$SUPPORT/mkimage.py" "$T/in.img" $((mb << 20)) 65536 "$seed"
create_volume img ${mb}M 64K
start_plugin i volume=img
nbdcopy "$T/in.img" "$(uri i)"
nbdinfo --map --json "$(uri i)" | python3 "$SUPPORT/checkmap.py" "$T/in.img" 65536
v=$(commit i "nbdcopy import")
nbdinfo --map --json "$(uri i)" | python3 "$SUPPORT/checkmap.py" "$T/in.img" 65536
# The commit left the chunks in the host chunk cache: empty it, so that
# o fetches what it reads.
"$S3VOL" cache prune >/dev/null || die "cache prune"
start_plugin o volume=img version="$v"
nbdinfo --map "$(uri o)" | sed -n 1,5p
nbdinfo --map --json "$(uri o)" | python3 "$SUPPORT/checkmap.py" "$T/in.img" 65536
nbdcopy "$(uri o)" "$T/out.img"
cmp "$T/in.img" "$T/out.img" || die "image read back differs"
# QEMU's own NBD client on the URI form the man page gives.
qemu-img compare -q -f raw -F raw "$T/in.img" "$(uri o)" ||
  die "qemu-img compare: the export differs from the image"
# Reading it all fetched only data chunks, never holes.
fetched=$(ctl_status o bytes_fetched)
data=$(python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
print(sum(65536 for c in range(0, len(d), 65536)
          if d[c:c + 65536].count(0) != 65536))' "$T/in.img")
echo "fetched $fetched bytes for $data bytes of data chunks"
[ "$fetched" = "$data" ] || die "fetched $fetched bytes, expected $data"
b=$(store_bytes)
echo "store holds $b bytes"
phase "done"
