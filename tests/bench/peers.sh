# SPDX-License-Identifier: BSD-3-Clause
# make bench, peers section: s3vol side by side with the raw server and
# its peers, every figure of one run, printed as ratios.
#
#   BUILD=build bash tests/bench/peers.sh       (or: tests/bench/run BUILD peers)
#
# On the shared RGW (scripts/s3-server env) and, for the block systems,
# ext4 on the same nbdfuse + loop path:
#   raw       rclone: PUT/GET of SIZE as 16 parallel 1 MiB objects, and
#             as one large object (multipart PUT, 16 ranged GET streams)
#   file      the nbdkit file plugin on local disk (the block path's
#             ceiling)
#   s3backer  1 MiB blocks, FUSE file + loop
#   s3fs      the file system itself
#   s3vol     s3vol attach
# Steps: write SIZE + until durable (s3vol: commit; s3backer: unmount,
# which flushes; s3fs: close), FILES x 4 KiB files + durable, cold
# sequential read of SIZE (fresh mount, empty caches), time to the first
# byte of a cold read, 4 KiB random read at queue depth 16 on the cached
# file (fio, 8 s); CPU seconds per GiB of the serving process; the s3vol
# plugin's peak RSS; a perf profile of the plugin under the cold read.
# Each peer's objects are deleted after it.
#
# Environment: PEERS_SIZE (default 1G), PEERS_FILES (2000; s3fs makes at
# most 200: one PUT each), PEERS (default "raw file s3backer s3fs s3vol"),
# S3_STORE (an s3:// prefix of its own; default a fresh one in the test
# bucket).  Needs root and FUSE; otherwise prints SKIP.
set -u
export PATH=/usr/bin:$PATH
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
S3VOL=$PWD/$BUILD/s3vol
SIZE=${PEERS_SIZE:-1G}
FILES=${PEERS_FILES:-2000}
PEERS=${PEERS:-raw file s3backer s3fs s3vol}
eval "$(scripts/s3-server env)"
S3_STORE=${S3_STORE:-s3://$S3VOL_TEST_BUCKET/bench-peers-$(date +%s)-$$}
prefix=${S3_STORE#s3://$S3VOL_TEST_BUCKET/}
if [ "$(id -u)" != 0 ] || [ ! -e /dev/fuse ]; then
  echo "peers: SKIP: needs root and /dev/fuse"; exit 0
fi
for t in rclone s3fs s3backer fio nbdkit nbdfuse; do
  command -v $t >/dev/null || { echo "peers: SKIP: $t missing (scripts/install-deps)"; exit 0; }
done
work=$(mktemp -d /tmp/s3vol-bench-peers.XXXXXX)
bytes=$(numfmt --from=iec "$SIZE")
gib=$(awk -v b="$bytes" 'BEGIN { print b / 1073741824 }')
declare -A R                    # peer.step -> figure
failed=0
loop= mnt=$work/mnt

# rclone sees the RGW through its environment, no config file.
export RCLONE_CONFIG_RGW_TYPE=s3 RCLONE_CONFIG_RGW_PROVIDER=Ceph \
  RCLONE_CONFIG_RGW_ENDPOINT=$AWS_ENDPOINT_URL \
  RCLONE_CONFIG_RGW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
  RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
rcl () { env -u AWS_CA_BUNDLE rclone --config /dev/null "$@"; }
purge () { rcl purge "rgw:$S3VOL_TEST_BUCKET/$prefix/$1" >/dev/null 2>&1; }

cleanup () {
  umount "$mnt" 2>/dev/null
  [ -n "$loop" ] && losetup -d "$loop" 2>/dev/null
  for m in "$work"/fuse "$work"/s3b "$work"/s3fs; do
    fusermount3 -u "$m" 2>/dev/null || fusermount -u "$m" 2>/dev/null
  done
  [ -f "$work/nbd.pid" ] && kill "$(cat "$work/nbd.pid")" 2>/dev/null
  "$S3VOL" detach "$mnt" >/dev/null 2>&1
  for p in raw s3backer s3fs s3vol; do purge $p; done
  sleep 0.5
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$mnt" "$work/fuse" "$work/s3b" "$work/s3fs"

now () { date +%s.%N; }
since () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
cpu_of () {   # pid -> CPU seconds so far (utime + stime)
  awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' \
    "/proc/${1:-none}/stat" 2>/dev/null || echo 0
}
mbs () { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1e6 / s }'; }
per_gib () { awk -v a="$1" -v b="$2" -v g="$gib" 'BEGIN { printf "%.2f", (b - a) / g }'; }
note () { printf '  %-10s %-34s %s\n' "$1" "$2" "$3"; }
bad () { echo "  $1: FAILED: $2"; failed=1; }
# Only this file system is synced: a global sync would wait for every
# other mount of the host.
dropc () { sync -f "$mnt"; echo 3 > /proc/sys/vm/drop_caches; }

head -c "$bytes" /dev/urandom > "$work/random.img"
mkdir -p "$work/split"
split -b 1M -a 5 "$work/random.img" "$work/split/p"

# --- ext4 on a block device: mount, unmount, and the shared steps ---

loop_mount () {   # file [mkfs]: loop on it, ext4 at $mnt
  loop=$(losetup -f --show "$1") || return 1
  if [ "${2:-}" = mkfs ]; then mkfs.ext4 -q -E nodiscard "$loop" || return 1; fi
  mount -o noatime "$loop" "$mnt"
}
loop_umount () {   # the loop device lets go of its file asynchronously
  local f k
  f=$(losetup -nO BACK-FILE "$loop")
  umount "$mnt" && losetup -d "$loop" || return 1
  loop=
  for k in $(seq 100); do
    [ -z "$(losetup -nj "$f" 2>/dev/null)" ] && return 0; sleep 0.1
  done
  return 1
}
nbd_fuse () {     # socket: nbdfuse of it at $work/fuse/nbd
  nbdfuse "$work/fuse/nbd" --unix "$1" &
  local k
  for k in $(seq 100); do [ -e "$work/fuse/nbd" ] && return 0; sleep 0.1; done
  return 1
}

# step_write PEER CPU-CMD DURABLE-CMD: SIZE into $mnt/f, sync, then
# durable; CPU-CMD prints the serving process's CPU seconds.
step_write () {
  local peer=$1 t c
  t=$(now); c=$($2)
  cp "$work/random.img" "$mnt/f" && sync -f "$mnt/f" ||
    { bad "$peer" "write"; return; }
  R[$peer.written]=$(since "$t")
  $3 || { bad "$peer" "durable"; return; }
  R[$peer.write]=$(mbs "$(since "$t")")
  R[$peer.cpuw]=$(per_gib "$c" "$($2)")
  note "$peer" "write $SIZE + durable" "${R[$peer.write]} MB/s (written in ${R[$peer.written]} s)"
}
# step_files PEER N DURABLE-CMD
step_files () {
  local peer=$1 n=$2 t k data
  mkdir -p "$mnt/small" || { bad "$peer" "mkdir"; return; }
  data=$(head -c 3072 /dev/urandom | base64 -w0)   # 4096 bytes
  t=$(now)
  # printf is a builtin: no process per file.
  for ((k = 0; k < n; k++)); do printf '%s' "$data" > "$mnt/small/$k"; done
  sync -f "$mnt/small"
  $3 || { bad "$peer" "durable (files)"; return; }
  R[$peer.files]=$(awk -v n="$n" -v s="$(since "$t")" 'BEGIN { printf "%.0f", n / s }')
  note "$peer" "$n x 4 KiB files + durable" "${R[$peer.files]} files/s"
}
# step_read PEER PID: cold first byte, then the whole file.
step_read () {
  local peer=$1 pid=$2 t c
  dropc
  t=$(now)
  dd if="$mnt/f" of=/dev/null bs=4k count=1 status=none ||
    { bad "$peer" "first byte"; return; }
  R[$peer.ttfb]=$(awk -v s="$(since "$t")" 'BEGIN { printf "%.1f", s * 1000 }')
  dropc
  t=$(now); c=$(cpu_of "$pid")
  cat "$mnt/f" >/dev/null || { bad "$peer" "read"; return; }
  R[$peer.read]=$(mbs "$(since "$t")")
  R[$peer.cpur]=$(per_gib "$c" "$(cpu_of "$pid")")
  note "$peer" "cold sequential read $SIZE" "${R[$peer.read]} MB/s (first byte ${R[$peer.ttfb]} ms)"
  cmp -s "$mnt/f" "$work/random.img" || bad "$peer" "the file read back differs"
}
step_fio () {
  local peer=$1 direct=${2:-1}
  fio --name=rr --filename="$mnt/f" --rw=randread --bs=4k --iodepth=16 \
    --ioengine=libaio --direct="$direct" --size="$SIZE" --runtime=8 \
    --time_based --output-format=terse --terse-version=3 \
    > "$work/fio.out" 2>"$work/fio.err" || { bad "$peer" "fio"; return; }
  R[$peer.iops]=$(awk -F';' '{ print $8 }' "$work/fio.out")
  note "$peer" "4K random read qd16, cached" "${R[$peer.iops]} IOPS"
}

# --- the peers ---

peer_raw () {
  local t
  t=$(now)
  rcl copy "$work/split" "rgw:$S3VOL_TEST_BUCKET/$prefix/raw/small" \
    --transfers 16 --checkers 16 --s3-disable-checksum || bad raw "PUT 1 MiB"
  R[raw.put1]=$(mbs "$(since "$t")")
  t=$(now)
  rcl copy "rgw:$S3VOL_TEST_BUCKET/$prefix/raw/small" "$work/dl" \
    --transfers 16 --checkers 16 || bad raw "GET 1 MiB"
  R[raw.get1]=$(mbs "$(since "$t")")
  rm -rf "$work/dl"
  t=$(now)
  rcl copyto "$work/random.img" "rgw:$S3VOL_TEST_BUCKET/$prefix/raw/big" \
    --s3-chunk-size 16M --s3-upload-concurrency 16 --s3-disable-checksum ||
    bad raw "PUT large"
  R[raw.putL]=$(mbs "$(since "$t")")
  t=$(now)
  rcl copyto "rgw:$S3VOL_TEST_BUCKET/$prefix/raw/big" "$work/big" \
    --multi-thread-streams 16 --multi-thread-cutoff 1M || bad raw "GET large"
  R[raw.getL]=$(mbs "$(since "$t")")
  rm -f "$work/big"
  note raw "16 x 1 MiB objects, PUT / GET" "${R[raw.put1]} / ${R[raw.get1]} MB/s"
  note raw "one large object, PUT / GET" "${R[raw.putL]} / ${R[raw.getL]} MB/s"
  purge raw
}

file_up () {      # [mkfs]
  rm -f "$work/nbd.sock"
  nbdkit -U "$work/nbd.sock" -P "$work/nbd.pid" file "$work/file.img" &&
    nbd_fuse "$work/nbd.sock" && loop_mount "$work/fuse/nbd" "$@"
}
file_down () {
  loop_umount; fusermount3 -u "$work/fuse"
  kill "$(cat "$work/nbd.pid")"; rm -f "$work/nbd.pid"; sleep 0.3
}
peer_file () {
  truncate -s 4G "$work/file.img"
  file_up mkfs || { bad file "setup"; return; }
  step_write file "cpu_of $(cat "$work/nbd.pid")" true
  step_files file "$FILES" true
  file_down; file_up || { bad file "remount"; return; }
  step_read file "$(cat "$work/nbd.pid")"
  step_fio file
  file_down
  rm -f "$work/file.img"
}

s3b_up () {       # [mkfs]
  s3backer --accessId="$AWS_ACCESS_KEY_ID" --accessKey="$AWS_SECRET_ACCESS_KEY" \
    --authVersion=aws4 --baseURL="$AWS_ENDPOINT_URL/" \
    --blockSize=1M --size=4G --prefix="$prefix/s3backer/" --listBlocks \
    --blockCacheSize=2048 --blockCacheThreads=16 --readAhead=16 \
    "$S3VOL_TEST_BUCKET" "$work/s3b" >"$work/s3b.log" 2>&1 || return 1
  loop_mount "$work/s3b/file" "$@"
}
s3b_pid () { pgrep -n -f "s3backer.*$work/s3b"; }
s3b_down () {     # unmount; s3backer writes back its dirty blocks first
  local p; p=$(s3b_pid)
  loop_umount && fusermount -u "$work/s3b" || return 1
  while kill -0 "$p" 2>/dev/null; do cpu_of "$p" > "$work/s3b.cpu"; sleep 0.1; done
}
s3b_cpu () {      # s3backer's CPU seconds, also once it has exited
  local p; p=$(s3b_pid)
  if [ -n "$p" ]; then cpu_of "$p"; else cat "$work/s3b.cpu"; fi
}
peer_s3backer () {
  s3b_up mkfs || { bad s3backer "setup: $(tail -1 "$work/s3b.log")"; return; }
  step_write s3backer s3b_cpu s3b_down
  s3b_up || { bad s3backer "remount"; return; }
  step_files s3backer "$FILES" s3b_down
  s3b_up || { bad s3backer "remount"; return; }
  step_read s3backer "$(s3b_pid)"
  step_fio s3backer
  s3b_down
  purge s3backer
}

s3fs_up () {
  rm -rf "$work/s3fs.cache"; mkdir -p "$work/s3fs.cache"
  printf '%s:%s\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" > "$work/s3fs.pw"
  chmod 600 "$work/s3fs.pw"
  s3fs "$S3VOL_TEST_BUCKET:/$prefix/s3fs" "$mnt" -o url="$AWS_ENDPOINT_URL" \
    -o use_path_request_style -o passwd_file="$work/s3fs.pw" \
    -o use_cache="$work/s3fs.cache" -o parallel_count=16 \
    -o multipart_size=16 -o endpoint="$AWS_REGION" 2>"$work/s3fs.log" || return 1
  local k
  for k in $(seq 50); do mountpoint -q "$mnt" && return 0; sleep 0.1; done
  return 1
}
s3fs_pid () { pgrep -n -f "^s3fs .* $mnt( |\$)"; }
s3fs_down () { fusermount -u "$mnt"; sleep 0.3; }
peer_s3fs () {
  local n=$FILES
  [ "$n" -gt 200 ] && n=200
  rcl mkdir "rgw:$S3VOL_TEST_BUCKET/$prefix/s3fs" >/dev/null 2>&1
  s3fs_up || { bad s3fs "mount: $(tail -1 "$work/s3fs.log")"; return; }
  step_write s3fs "cpu_of $(s3fs_pid)" true
  step_files s3fs "$n" true
  s3fs_down; s3fs_up || { bad s3fs "remount"; return; }
  step_read s3fs "$(s3fs_pid)"
  step_fio s3fs 0
  rm -rf "$mnt/small" "$mnt/f"  # through s3fs: its directory objects too
  s3fs_down
  purge s3fs
}

# s3vol: the CLI with a private home, run directory and chunk store.
sv () {
  env HOME="$work/home" XDG_CACHE_HOME="$work/home/cache" \
    XDG_RUNTIME_DIR="$work/home/run" XDG_DATA_HOME="$work/home/data" \
    S3VOL_CHUNK_CACHE="$work/home/chunks" S3VOL_STORE="$S3_STORE/s3vol" \
    "$S3VOL" "$@"
}
vol=peers$$
sv_pid () { pgrep -n -f "nbdkit.*volume=$vol( |\$)"; }
sv_commit () { sv commit "$mnt" >/dev/null; }
sv_fresh () {     # [--read-only]: attach with empty caches
  rm -rf "$work/home/cache" "$work/home/chunks"
  sv attach "$vol" "$mnt" --commit-interval 0 "$@" >/dev/null
}
peer_s3vol () {
  local p rss
  mkdir -p "$work/home/run"; chmod 700 "$work/home/run"
  sv create "$vol" --size 4G >/dev/null || { bad s3vol "create"; return; }
  sv_fresh || { bad s3vol "attach"; return; }
  p=$(sv_pid)
  step_write s3vol "cpu_of $p" sv_commit
  step_files s3vol "$FILES" sv_commit
  sv detach "$mnt" >/dev/null || bad s3vol "detach"
  sv_fresh --read-only || { bad s3vol "attach"; return; }
  p=$(sv_pid)
  perf record -F 499 -g -p "$p" -o "$work/perf.data" >/dev/null 2>&1 &
  local perf=$!
  step_read s3vol "$p"
  kill -INT $perf 2>/dev/null; wait $perf 2>/dev/null
  step_fio s3vol
  rss=$(awk '/VmHWM/ { print $2 }' "/proc/$p/status")
  R[s3vol.rss]=$((rss / 1024))
  note s3vol "plugin peak RSS" "${R[s3vol.rss]} MiB"
  sv detach "$mnt" >/dev/null || bad s3vol "detach"
  purge s3vol
}

echo "--- $SIZE of random data on $AWS_ENDPOINT_URL ($prefix), block systems on nbdfuse + loop + ext4"
for p in $PEERS; do
  case $p in
  raw|file|s3backer|s3fs|s3vol) "peer_$p" ;;
  *) echo "peers: unknown peer $p" >&2; failed=1 ;;
  esac
done

# --- ratios, each from this run ---
ratio () {   # label a b [unit]: a / b when both are known
  local a=${R[$2]:-} b=${R[$3]:-}
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v l="$1" -v a="$a" -v b="$b" \
    'BEGIN { if (b > 0) printf "  %-52s %6.2fx  (%s / %s)\n", l, a / b, a, b }'
}
echo "--- ratios (s3vol / reference, same run)"
ratio "write+durable vs raw PUT 16 x 1 MiB" s3vol.write raw.put1
ratio "write+durable vs raw PUT large" s3vol.write raw.putL
ratio "write+durable vs s3fs" s3vol.write s3fs.write
ratio "write+durable vs s3backer" s3vol.write s3backer.write
ratio "write+durable vs file plugin" s3vol.write file.write
ratio "cold read vs raw GET 16 x 1 MiB" s3vol.read raw.get1
ratio "cold read vs raw GET large (16 ranged streams)" s3vol.read raw.getL
ratio "cold read vs s3fs" s3vol.read s3fs.read
ratio "cold read vs s3backer" s3vol.read s3backer.read
ratio "cold read vs file plugin" s3vol.read file.read
ratio "small files durable vs file plugin" s3vol.files file.files
ratio "small files durable vs s3backer" s3vol.files s3backer.files
ratio "small files durable vs s3fs" s3vol.files s3fs.files
ratio "4K random read qd16 vs file plugin" s3vol.iops file.iops
ratio "4K random read qd16 vs s3backer" s3vol.iops s3backer.iops
ratio "4K random read qd16 vs s3fs" s3vol.iops s3fs.iops
echo "--- CPU seconds per GiB of the serving process (write+durable / cold read), first byte"
for p in file s3backer s3fs s3vol; do
  [ -n "${R[$p.cpuw]:-}" ] || continue
  printf '  %-10s %6s / %-6s  first byte %s ms\n' "$p" "${R[$p.cpuw]}" \
    "${R[$p.cpur]:-?}" "${R[$p.ttfb]:-?}"
done
if [ -s "$work/perf.data" ]; then
  echo "--- where the plugin's time goes under the cold read (perf, self %)"
  perf report -i "$work/perf.data" --no-children --sort dso,sym -g none \
    2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
fi
[ $failed = 0 ] || { echo "peers: FAILED (see above)"; exit 1; }
