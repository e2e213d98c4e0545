# SPDX-License-Identifier: BSD-3-Clause
# make bench, plugin section (sourced env: BUILD, S3_STORE, DIR_STORE).
#
# Through nbdcopy and through the ext4 block path (nbdfuse + loop), on
# the S3 store: sequential write of 1 GiB + commit, cold sequential read
# with an empty cache, warm read, 4 KiB random read and write IOPS on
# cached data (fio), and the same through nbdkit's own file plugin for
# reference.  Prints figures; a step that fails prints FAILED and makes
# it exit 1, after the other figures.
set -u
export PATH=/usr/bin:$PATH
S3VOL=$PWD/$BUILD/s3vol
PLUGIN=$PWD/$BUILD/nbdkit-s3vol-plugin.so
work=$(mktemp -d /tmp/s3vol-bench-plugin.XXXXXX)
SIZE=${BENCH_SIZE:-1G}
pids=()
failed=0

cleanup () {
  umount "$work/mnt" 2>/dev/null
  [ -n "${loop:-}" ] && losetup -d "$loop" 2>/dev/null
  fusermount3 -u "$work/fuse" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 1
  rm -rf "$work"
}
trap cleanup EXIT

rate () {   # bytes seconds -> MiB/s
  awk -v b="$1" -v s="$2" 'BEGIN { printf "%8.1f MiB/s", b / 1048576 / s }'
}

timeit () {  # label bytes cmd...: runs cmd, prints label, time and rate
  local label=$1 bytes=$2; shift 2
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/err" || {
    echo "$label: FAILED: $(tail -1 "$work/err")"; failed=1; return; }
  t1=$(date +%s.%N)
  local s
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  printf '%-44s %7.2f s %s\n' "$label" "$s" "$(rate "$bytes" "$s")"
}

ctl () {  # socket request
  /usr/bin/python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
f = s.makefile("rw"); f.write(sys.argv[2] + "\n"); f.flush()
r = f.readline().strip(); print(r); sys.exit(0 if r.startswith("ok") else 1)
PY
}

serve () {  # name cache-dir sock ctl [extra params]
  local name=$1 cache=$2 sock=$3 ctlsock=$4; shift 4
  rm -f "$sock" "$ctlsock"
  nbdkit -U "$sock" -P "$work/$name.pid" --log=stderr "$PLUGIN" \
    store="$S3_STORE" volume="$name" cache-dir="$cache" ctl="$ctlsock" \
    commit-interval=0 threads=16 cache-size=4G "$@" 2>>"$work/nbdkit.log"
  pids+=("$(cat "$work/$name.pid")")
}

stop_last () {
  local p=${pids[-1]}
  kill "$p" 2>/dev/null; while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  unset 'pids[-1]'
}

bytes=$(numfmt --from=iec "$SIZE")
head -c "$bytes" /dev/urandom > "$work/random.img"

echo "--- nbdcopy, $SIZE of random data, S3 store"
S3VOL_STORE=$S3_STORE "$S3VOL" create bcopy --size "$SIZE" --no-format >/dev/null
serve bcopy "$work/c1" "$work/s1" "$work/ctl1"
timeit "sequential write (nbdcopy)" "$bytes" \
  nbdcopy "$work/random.img" "nbd+unix:///?socket=$work/s1"
timeit "commit of that write" "$bytes" ctl "$work/ctl1" commit
timeit "warm sequential read (nbdcopy)" "$bytes" \
  nbdcopy "nbd+unix:///?socket=$work/s1" null:
stop_last
serve bcopy "$work/c2" "$work/s2" "$work/ctl2" readonly=true
timeit "cold sequential read, empty cache" "$bytes" \
  nbdcopy "nbd+unix:///?socket=$work/s2" null:
timeit "warm sequential read" "$bytes" \
  nbdcopy "nbd+unix:///?socket=$work/s2" null:
stop_last

echo "--- ext4 block path (nbdfuse + loop), S3 store"
S3VOL_STORE=$S3_STORE "$S3VOL" create bfs --size 4G >/dev/null
serve bfs "$work/c3" "$work/s3" "$work/ctl3"
mkdir -p "$work/fuse" "$work/mnt"
nbdfuse "$work/fuse/nbd" --unix "$work/s3" & pids+=($!)
while [ ! -e "$work/fuse/nbd" ]; do sleep 0.1; done
loop=$(losetup -f --show "$work/fuse/nbd")
mount -o noinit_itable "$loop" "$work/mnt"
ctl "$work/ctl3" "freeze $work/mnt" >/dev/null
timeit "sequential write of a $SIZE file + sync" "$bytes" \
  sh -c "cp '$work/random.img' '$work/mnt/f' && sync"
timeit "commit (freeze, cut, thaw, upload)" "$bytes" ctl "$work/ctl3" commit
echo 3 > /proc/sys/vm/drop_caches
timeit "read of that file (cache warm, page cache cold)" "$bytes" \
  cat "$work/mnt/f"
if command -v fio >/dev/null; then
  for rw in randread randwrite; do
    fio --name=$rw --filename="$work/mnt/f" --rw=$rw --bs=4k --size=256M \
      --direct=1 --ioengine=psync --numjobs=4 --time_based --runtime=10 \
      --group_reporting --output-format=terse --terse-version=3 \
      > "$work/fio.out" 2>/dev/null
    awk -F';' -v rw=$rw '{ i = rw == "randread" ? $8 : $49;
      printf "%-44s %10d IOPS\n", "4 KiB " rw " (fio, 4 jobs, ext4)", i }' \
      "$work/fio.out"
  done
fi
ctl "$work/ctl3" status | sed 's/^ok /status: /'
umount "$work/mnt"; losetup -d "$loop"; loop=
fusermount3 -u "$work/fuse"
stop_last; stop_last

echo "--- reference: nbdkit file plugin on local disk"
cp --sparse=always "$work/random.img" "$work/ref.img"
nbdkit -U "$work/sref" -P "$work/ref.pid" file "$work/ref.img"
pids+=("$(cat "$work/ref.pid")")
timeit "sequential write (nbdcopy, file plugin)" "$bytes" \
  nbdcopy "$work/random.img" "nbd+unix:///?socket=$work/sref"
timeit "sequential read (nbdcopy, file plugin)" "$bytes" \
  nbdcopy "nbd+unix:///?socket=$work/sref" null:
stop_last
[ $failed = 0 ] || { echo "plugin: FAILED (see above)"; exit 1; }
