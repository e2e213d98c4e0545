# SPDX-License-Identifier: BSD-3-Clause
# Helpers of the write, freeze and latency benches (sourced after
# tests/support/functions.sh, on the S3 test server).
#
#   bench_start            needs root, FUSE, loop devices; a fresh S3 store
#                          ($STORE, deleted at exit), a private home
#   rgw ARGS...            rclone on the test server (remote "rgw:")
#   rgw_purge URL          delete every object under s3://BUCKET/PREFIX
#   raw_put DIR PREFIX N   rclone copy of DIR's files, N transfers at once
#   nbdkit_pid MOUNTPOINT  the nbdkit serving an s3vol attachment
#   proc_sample PID        "cpu_seconds peak_rss_kib" of a live process
#   proc_watch PID OUT &   samples it until it exits, the last into OUT
#   status_field MP FIELD  a field of the plugin status of an attachment
#   ratio A B              A / B, two decimals
#   mbps BYTES SECONDS     MB/s (10^6 B/s)

export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph \
  RCLONE_CONFIG_RGW_ENV_AUTH=true \
  RCLONE_CONFIG_RGW_ENDPOINT=$AWS_ENDPOINT_URL \
  RCLONE_CONFIG_RGW_REGION=${AWS_REGION:-us-east-1}

bench_start () {
  requires_root
  requires_fuse
  requires_loop
  make_store
  private_home
  on_exit "rgw_purge '$STORE'"
  on_exit "'$S3VOL' detach '$T/m' >/dev/null 2>&1"
}

rgw () { env -u AWS_CA_BUNDLE rclone --config /dev/null -q "$@"; }

rgw_purge () {
  local path=${1#s3://}
  case $path in */?*) ;; *) die "rgw_purge: no prefix in $1" ;; esac
  rgw purge "rgw:$path" 2>/dev/null || true
}

raw_put () {
  rgw copy "$1" "rgw:$S3VOL_TEST_BUCKET/$2" --transfers "$3" \
    --checkers "$3" --s3-upload-cutoff 64M --no-check-dest --no-traverse
}

nbdkit_pid () {
  grep -lsr "^mountpoint=$1\$" "$S3VOL_RUN_DIR" |
    xargs grep -h '^nbdkit_pid=' | head -n 1 | cut -d= -f2
}

proc_sample () {
  local cpu hwm
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
    "/proc/$1/stat" 2>/dev/null) || return 1
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null)
  [ -n "$cpu" ] && [ -n "$hwm" ] || return 1
  echo "$cpu $hwm"
}

proc_watch () {
  local s
  proc_sample "$1" >"$2" || return 0
  while s=$(proc_sample "$1"); do
    echo "$s" >"$2"
    sleep 0.1
  done
}

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
mbps () { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / 1e6 / s : 0) }'; }

# status_field MOUNTPOINT FIELD: a field of the plugin's status there.
status_field () {
  "$S3VOL" status --json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)
    if a.get("mountpoint") == sys.argv[1] and a.get("status"):
        print(a["status"].get(sys.argv[2], "?"))
        break
else:
    print("?")' "$1" "$2"
}

# file_path NAME SIZE MOUNTPOINT: the reference block path with no S3:
# nbdkit's file plugin on a sparse file (made and formatted ext4 first
# if missing: file_image), nbdfuse, a loop device, ext4 mounted at
# MOUNTPOINT (all torn down at exit).  Sets file_dev.
file_image () {
  [ -e "$T/$1.img" ] && return
  truncate -s "$2" "$T/$1.img"
  mkfs.ext4 -q -F "$T/$1.img" || die "mkfs on $T/$1.img"
}

file_path () {
  local name=$1
  file_image "$name" "$2"
  rm -f "$T/$name.sock" "$T/$name.pid"
  nbdkit -f -U "$T/$name.sock" -P "$T/$name.pid" file "$T/$name.img" \
    2>>"$T/$name.log" &
  on_exit "kill $! 2>/dev/null"
  wait_until 30 test -S "$T/$name.sock" || die "nbdkit file did not start"
  fuse_attach "$name" "$T/$name.fuse"
  loop_attach file_dev "$T/$name.fuse/nbd"
  mount_fs "$file_dev" "$3"
}

# fio_randwrite DIR SECONDS OUT: the freeze bench's load: random direct
# writes of 4-64 KiB, 8 in flight, into a 256 MiB file of DIR; OUT gets
# fio's JSON.
fio_randwrite () {
  fio --name=load --filename="$1/fio.dat" --size=256M --rw=randwrite \
    --bsrange=4k-64k --direct=1 --ioengine=libaio --iodepth=8 \
    --time_based --runtime="$2" --output-format=json --output="$3" \
    >/dev/null 2>&1
}

# fio_field JSON FIELD: max_lat_ms, iops or mbps of the writes.
fio_field () {
  python3 -c '
import json, sys
w = json.load(open(sys.argv[1]))["jobs"][0]["write"]
f = sys.argv[2]
print("%.1f" % (w["lat_ns"]["max"] / 1e6) if f == "max_lat_ms" else
      "%.0f" % w["iops"] if f == "iops" else "%.0f" % (w["bw_bytes"] / 1e6))
' "$1" "$2"
}
