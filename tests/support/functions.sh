# SPDX-License-Identifier: BSD-3-Clause
# s3vol integration tests: shared helpers.  Source it first:
#
#   . "$(dirname "$0")/../support/functions.sh"
#
# A test is a bash script run by tests/run-all with BUILD set and the S3
# environment exported.  Exit 0: pass; 77: skip (only for a machine that
# lacks root, FUSE or loop devices: say why on a line starting "SKIP:");
# anything else: fail.  Every test gets a temporary directory ($T) and a
# cleanup trap that unmounts, detaches loop devices, unmounts FUSE and
# stops every nbdkit it started (by pidfile), whatever happens.
#
# Stores: make_store gives a fresh store: a file:// directory under $T,
# or, when S3VOL_TEST_S3=1, a fresh prefix in $S3VOL_TEST_BUCKET on the
# test S3 server.  A test calls on_each_store near its top to run once
# on each: it re-runs itself with S3VOL_TEST_S3=0, then =1.
#
# Tools the tests use (nbdkit, nbdsh, nbdcopy, nbdinfo, nbdfuse, e2fsprogs,
# python3) are dependencies that scripts/install-deps installs: a missing
# one fails the test (requires), it does not skip it.

set -euo pipefail

# nbdsh is "python3 -m nbd": the python3 that has the nbd module is the
# system one.
export PATH=/usr/bin:/usr/sbin:/bin:/sbin:$PATH
export LC_ALL=C

SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ITDIR=$SRCDIR/tests/integration
SUPPORT=$SRCDIR/tests/support
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$SRCDIR/$BUILD ;; esac
PLUGIN=$BUILD/nbdkit-s3vol-plugin.so
S3VOL=$BUILD/s3vol
TEST_NAME=$(basename "$0" .sh)

# ---- messages, timing -----------------------------------------------------

_t_start=$(date +%s.%N)
_t_phase=$_t_start

die () { echo "FAIL: $TEST_NAME: $*" >&2; exit 1; }
skip () {
  echo "SKIP: $TEST_NAME: $*"
  echo "SKIP: $TEST_NAME: $*" >&2
  exit 77
}

_elapsed () { echo "$(date +%s.%N) $1" | awk '{ printf "%.2f", $1 - $2 }'; }

# phase TEXT: print how long the previous phase took, start a new one.
phase () {
  echo "== [$(_elapsed "$_t_start")s] $*"
  _t_phase=$(date +%s.%N)
}

# timed VAR CMD...: run CMD, put its wall time in seconds into VAR.
timed () {
  local __var=$1 __t0 __rc=0; shift
  __t0=$(date +%s.%N)
  "$@" || __rc=$?
  printf -v "$__var" '%s' "$(_elapsed "$__t0")"
  return $__rc
}

# wait_until SECONDS CMD...: poll CMD (every 0.05 s) until it succeeds;
# status 1 if it has not after SECONDS.  wait_or_die SECONDS WHAT CMD...:
# the same, and the test fails naming WHAT.  For waiting on a condition
# instead of sleeping: give SECONDS for a loaded 2-core machine (many
# times what an idle one needs), it costs nothing when all goes well.
wait_until () {
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.05
  done
}

wait_or_die () {
  local secs=$1 what=$2; shift 2
  wait_until "$secs" "$@" || die "waited ${secs}s for $what"
}

# ---- requirements ---------------------------------------------------------

requires () {
  local c
  for c in "$@"; do
    command -v "$c" >/dev/null 2>&1 ||
      die "required command '$c' is missing (run scripts/install-deps)"
  done
}

requires_root () {
  [ "$(id -u)" -eq 0 ] || skip "needs root (mounts, loop devices)"
}

requires_fuse () {
  [ -c /dev/fuse ] || skip "no /dev/fuse (FUSE is needed for nbdfuse)"
  requires nbdfuse fusermount3
}

requires_loop () {
  requires losetup
  [ -e /dev/loop-control ] || skip "no loop devices (/dev/loop-control)"
}

[ -x "$PLUGIN" ] && [ -x "$S3VOL" ] || die "$PLUGIN or $S3VOL missing: run make"
requires nbdkit nbdsh nbdinfo python3
python3 -c 'import nbd' 2>/dev/null ||
  die "python3 ($(command -v python3)) has no nbd module (python3-libnbd)"

# ---- cleanup --------------------------------------------------------------

# on_exit CMD: run CMD (eval'd) when the test ends, last registered first.
_cleanups=()
on_exit () { _cleanups+=("$*"); }

_on_exit () {
  local rc=$? i
  set +e
  trap - EXIT INT TERM
  local t0
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    t0=$(date +%s.%N)
    eval "${_cleanups[i]}" </dev/null
    awk -v t="$(_elapsed "$t0")" 'BEGIN { exit !(t > 2) }' &&
      echo "cleanup: '${_cleanups[i]}' took $(_elapsed "$t0")s" >&2
  done
  if [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ -n "${T:-}" ] && [ -d "$T" ]; then
    # Show the plugin logs of a failed run.
    local f
    for f in "$T"/*.log; do
      [ -s "$f" ] || continue
      echo "----- tail of $f"
      tail -n 30 "$f"
    done
  fi
  if [ -n "${T:-}" ] && [ -d "$T" ]; then
    if [ $rc -ne 0 ] && [ -n "${S3VOL_KEEP_TMP:-}" ]; then
      echo "kept $T"
    else
      rm -rf "$T"
    fi
  fi
  echo "TIME $TEST_NAME${STORE_KIND:+ ($STORE_KIND)}: $(_elapsed "$_t_start")s" \
       "(exit $rc)"
  exit $rc
}
trap _on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d "/tmp/s3vol-it-$TEST_NAME.XXXXXX")
# Each test has a host chunk store of its own (plugins and the CLI alike).
export S3VOL_CHUNK_CACHE=$T/chunks

# ---- stores ---------------------------------------------------------------

have_s3 () {
  [ -n "${S3VOL_TEST_BUCKET:-}" ] && [ -n "${AWS_ENDPOINT_URL:-}" ]
}

# expect_exit CODE CMD...: run CMD, want exit CODE and at least one
# error line on stderr (its first line is shown); output in $T/out,
# $T/err.
expect_exit () {
  local want=$1 rc=0; shift
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || die "$* exited $rc, not $want: $(cat "$T/err")"
  [ "$(grep -c . "$T/err")" -ge 1 ] || die "$*: no error message"
  echo "   exit $rc: $(head -1 "$T/err")"
}

# private_home: HOME, XDG_CACHE_HOME and the run directory under $T, so
# that a test sees only its own attachments and caches.
private_home () {
  export HOME=$T/home XDG_CACHE_HOME=$T/cache S3VOL_RUN_DIR=$T/run
  mkdir -p "$HOME"
}

# For tests that report each check: "ok:" or "FAIL:" lines, and $fails
# counts the failures (the test ends with [ $fails -eq 0 ]).
fails=0
ok () { echo "ok: $*"; }
fail () { echo "FAIL: $*"; fails=$((fails + 1)); }

# on_each_store: unless this run is already for one store, run the whole
# test again for each store (dir, then S3) and exit with the outcome.
on_each_store () {
  [ -n "${S3VOL_TEST_S3:-}" ] && return 0
  local rc=0 rc_s3=0
  rm -rf "$T"
  T=
  S3VOL_TEST_S3=0 bash "$0" "$@" || rc=$?
  if have_s3; then
    S3VOL_TEST_S3=1 bash "$0" "$@" || rc_s3=$?
  else
    echo "NOTE: no S3 environment (S3VOL_TEST_BUCKET, AWS_ENDPOINT_URL):" \
         "tested on the directory store only"
  fi
  [ $rc -eq 0 ] && rc=$rc_s3
  exit $rc
}

if [ "${S3VOL_TEST_S3:-0}" = 1 ]; then
  have_s3 || die "S3VOL_TEST_S3=1 but S3VOL_TEST_BUCKET/AWS_ENDPOINT_URL unset"
  STORE_KIND=s3
else
  STORE_KIND=dir
fi

# make_store [NAME]: set STORE to a fresh, empty store URL; for directory
# stores STORE_DIR is the directory.  An S3 store's objects are deleted
# at exit unless S3VOL_KEEP_S3_DATA is set.
make_store () {
  local name=${1:-store}
  if [ "$STORE_KIND" = s3 ]; then
    STORE_DIR=
    STORE="s3://$S3VOL_TEST_BUCKET/it-$TEST_NAME-$name-$(date +%s)-$RANDOM-$$"
    # The test server keeps every object in memory: delete the store's
    # at the end (last: cleanups run newest first; in the background, as
    # it takes seconds), unless kept.
    [ -n "${S3VOL_KEEP_S3_DATA:-}" ] ||
      on_exit "python3 '$SUPPORT/s3obj.py' purge '$STORE' >/dev/null 2>&1 &"
  else
    STORE_DIR=$T/$name
    mkdir -p "$STORE_DIR"
    STORE=file://$STORE_DIR
  fi
}

. "$SUPPORT/store_keys.sh"

# counting_proxy LIFETIME [LOG]: put s3proxy.py in front of the S3 server
# (stopped at exit): AWS_ENDPOINT_URL points at it, PROXY_PORT is its
# port.  chunk_gets [uniq] counts the GETs of chunk objects through it
# (with "uniq", of distinct objects); proxy_clear forgets them.
counting_proxy () {
  mkfifo "$T/proxy.port"
  python3 "$SUPPORT/s3proxy.py" serve --upstream "$AWS_ENDPOINT_URL" \
    --lifetime "$1" --log "${2:-/dev/null}" >"$T/proxy.port" &
  local pid=$!
  on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
  read -r -t 30 PROXY_PORT <"$T/proxy.port" || die "the proxy did not start"
  export AWS_ENDPOINT_URL=http://127.0.0.1:$PROXY_PORT
}
chunk_gets () {
  python3 "$SUPPORT/s3proxy.py" ctl "$PROXY_PORT" log |
    { grep '^GET .*/chunks/' || true; } |
    if [ "${1:-}" = uniq ]; then awk '{ print $2 }' | sort -u | wc -l
    else wc -l; fi
}
proxy_clear () {
  python3 "$SUPPORT/s3proxy.py" ctl "$PROXY_PORT" clear >/dev/null
}

# cache_field NAME: the host chunk store's figure NAME (s3vol cache
# status --json).
cache_field () {
  "$S3VOL" cache status --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# s3vol ARGS...: the CLI on $STORE.
s3vol () { "$S3VOL" --store "$STORE" "$@"; }

# create_volume NAME SIZE [CHUNK]: an all-zero volume (no filesystem).
create_volume () {
  s3vol create "$1" --size "$2" --chunk-size "${3:-64K}" --no-format >/dev/null
}

# head_version NAME
head_version () {
  s3vol info "$1" | awk '/^head version:/ { print $3 }'
}

# store_bytes: bytes the store holds (for S3: the sum of object sizes
# under the prefix, listed with curl's SigV4).
store_bytes () {
  if [ "$STORE_KIND" = dir ]; then
    du -sb "$STORE_DIR" | cut -f1
  else
    python3 "$SUPPORT/s3obj.py" list "$STORE" | awk '{ n += $1 } END { print n + 0 }'
  fi
}

# same_tree DIR1 DIR2: the same names, types, modes, sizes, mtimes,
# link counts and symlink targets, and the same bytes.
same_tree () {
  local f
  for f in "$1" "$2"; do
    (cd "$f" && find . -printf '%p %y %m %T@ %n %l %s\n' |
       awk '$2 == "d" { $NF = "-" } { print }' | sort) > "$T/$(basename "$f").meta"
  done
  cmp -s "$T/$(basename "$1").meta" "$T/$(basename "$2").meta" || {
    diff "$T/$(basename "$1").meta" "$T/$(basename "$2").meta" | head -20
    return 1
  }
  diff -r --no-dereference "$1" "$2"
}

# ---- nbdkit ---------------------------------------------------------------

# start_plugin NAME [KEY=VALUE...]: start nbdkit with the plugin on $STORE
# in the background, and wait until it serves (the plugin opens the store
# and the cache first, so a failure shows here).  Files: $T/NAME.sock
# (NBD), $T/NAME.ctl (control), $T/NAME.pid, $T/NAME.log.  Unless given,
# cache-dir=$T/NAME.cache and commit-interval=0.  Returns non-zero if
# nbdkit failed to start; stopped at exit.
start_plugin () {
  local name=$1 args=() have_cache=0 have_ci=0 have_ctl=0 a; shift
  for a in "$@"; do
    case $a in
      cache-dir=*) have_cache=1 ;;
      commit-interval=*) have_ci=1 ;;
      ctl=*) have_ctl=1 ;;
    esac
  done
  [ $have_cache = 1 ] || args+=("cache-dir=$T/$name.cache")
  [ $have_ci = 1 ] || args+=("commit-interval=0")
  [ $have_ctl = 1 ] || args+=("ctl=$T/$name.ctl")
  rm -f "$T/$name.sock" "$T/$name.pid"
  echo "--- $(date +%T.%N) start: $*" >>"$T/$name.log"
  # In the foreground (-f) but in the background here: nbdkit 1.32 sends
  # stderr to /dev/null when it forks, even with --log=stderr, and the
  # log is wanted.  It writes the pidfile once it serves.
  nbdkit -f -U "$T/$name.sock" -P "$T/$name.pid" --log=stderr \
    "$PLUGIN" store="$STORE" "$@" "${args[@]}" 2>>"$T/$name.log" &
  local pid=$!
  until [ -s "$T/$name.pid" ]; do
    if ! _alive $pid; then
      wait $pid && return 1
      return
    fi
    sleep 0.005
  done
  disown $pid
  case " ${_plugins_to_stop:-} " in
    *" $name "*) ;;
    *) _plugins_to_stop="${_plugins_to_stop:-} $name"
       on_exit "stop_plugin $name" ;;
  esac
}

plugin_pid () { cat "$T/$1.pid" 2>/dev/null; }
sock () { echo "$T/$1.sock"; }
uri () { echo "nbd+unix:///?socket=$T/$1.sock"; }
ctl_sock () { echo "$T/$1.ctl"; }

_alive () {
  local line
  while read -r line; do
    case $line in
      State:*Z*|State:*X*) return 1 ;;
      State:*) return 0 ;;
    esac
  done 2>/dev/null <"/proc/$1/status"
  return 1
}

# wait_gone PID [SECONDS]
wait_gone () {
  local pid=$1 end=$((SECONDS + ${2:-30}))
  while _alive "$pid"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.01
  done
}

# stop_plugin NAME: SIGTERM (nbdkit commits what is dirty and closes the
# cache), SIGKILL after 60 s.  Idempotent.
stop_plugin () {
  local pid
  pid=$(plugin_pid "$1") || return 0
  [ -n "$pid" ] || return 0
  if _alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null
    if ! wait_gone "$pid" 60; then
      echo "warning: nbdkit $1 (pid $pid) ignored SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null
      wait_gone "$pid" 10
    fi
  fi
  rm -f "$T/$1.pid"
}

# kill_plugin NAME: kill -9 and wait until it is gone.
kill_plugin () {
  local pid
  pid=$(plugin_pid "$1") || return 0
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 10 || die "nbdkit $1 (pid $pid) survived SIGKILL"
  rm -f "$T/$1.pid"
}

# ctl NAME 'REQUEST LINE' ['!SHELL COMMAND'] ...: send requests on one
# connection to NAME's control socket, print the answers; status 0 if all
# start with "ok" (see ctl.py: '!' arguments run in between).
ctl () {
  local name=$1; shift
  python3 "$SUPPORT/ctl.py" "$T/$name.ctl" "$@"
}

# commit NAME [MESSAGE]: commit through the control socket; print the
# version.
commit () {
  local out
  out=$(ctl "$1" "commit${2:+ $2}") || die "commit of $1 failed: $out"
  echo "${out#ok }"
}

# ctl_status NAME FIELD: one field of the status JSON.
ctl_status () {
  ctl "$1" status | python3 -c '
import json, sys
line = sys.stdin.read().strip()
assert line.startswith("ok "), line
v = json.loads(line[3:])[sys.argv[1]]
print(str(v).lower() if isinstance(v, bool) else v)' "$2"
}

# nbdsh_script NAME FILE [ARGS...]: run a python file in nbdsh, connected
# to plugin NAME (the handle is h; sys.argv[1:] are ARGS; URI, SOCK, CTL
# are in the environment).  nbdsh_run FILE [ARGS...]: the same, not
# connected.
nbdsh_script () {
  local name=$1; shift
  URI=$(uri "$name") SOCK=$(sock "$name") CTL=$(ctl_sock "$name") \
    _nbdsh -u "$(uri "$name")" -- "$@"
}

nbdsh_run () { _nbdsh -- "$@"; }

_nbdsh () {
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  NBDSH_ARGV=$(printf '%s\n' "$@") nbdsh "${opts[@]}" -c "
import os, sys
sys.argv = os.environ['NBDSH_ARGV'].split('\\n')
sys.path.insert(0, '$SUPPORT')
sys.path.insert(0, '$ITDIR')
exec(compile(open(sys.argv[0]).read(), sys.argv[0], 'exec'))"
}

# ---- block devices --------------------------------------------------------

# fuse_attach NAME DIR [-r]: expose plugin NAME's export as DIR/nbd with
# nbdfuse (unmounted at exit).
fuse_attach () {
  local name=$1 dir=$2 ro=${3:-} n=0
  mkdir -p "$dir"
  rm -f "$dir.pid"
  nbdfuse ${ro:+-r} -P "$dir.pid" "$dir" --unix "$T/$name.sock" \
    >>"$T/$name.nbdfuse.log" 2>&1 &
  local pid=$!
  on_exit "fuse_detach '$dir'"
  while [ ! -s "$dir.pid" ]; do
    n=$((n + 1))
    _alive $pid && [ $n -lt 1000 ] ||
      die "nbdfuse did not start: $(cat "$T/$name.nbdfuse.log")"
    sleep 0.02
  done
}

# fuse_detach DIR: unmount (after detaching any loop device left on
# DIR/nbd, which would keep it busy) and wait for nbdfuse to exit.
fuse_detach () {
  local dir=$1 pid n=0 dev
  pid=$(cat "$dir.pid" 2>/dev/null) || return 0
  for dev in $(losetup -n -O NAME -j "$dir/nbd" 2>/dev/null); do
    loop_detach "$dev"
  done
  while mountpoint -q "$dir"; do
    fusermount3 -u "$dir" 2>/dev/null && break
    n=$((n + 1))
    [ $n -lt 100 ] || { fusermount3 -uz "$dir"; break; }
    sleep 0.1
  done
  [ -n "$pid" ] && wait_gone "$pid" 30
  rm -f "$dir.pid"
}

# loop_attach VAR FILE [-r]: attach FILE to a loop device, put its name
# in VAR (detached at exit; not to be called in a subshell, which would
# lose the cleanup).
loop_attach () {
  local __dev
  __dev=$(losetup -f --show ${3:+-r} "$2") || die "losetup $2 failed"
  on_exit "loop_detach $__dev"
  printf -v "$1" '%s' "$__dev"
}

loop_detach () {
  local n=0
  losetup "$1" >/dev/null 2>&1 || return 0
  until losetup -d "$1" 2>/dev/null; do
    n=$((n + 1))
    [ $n -lt 50 ] || { echo "warning: losetup -d $1 failed" >&2; return; }
    sleep 0.1
  done
}

# mount_fs DEV DIR [OPTS]: mount ext4 (unmounted at exit).
mount_fs () {
  mkdir -p "$2"
  mount -t ext4 ${3:+-o "$3"} "$1" "$2"
  on_exit "umount_fs '$2'"
}

umount_fs () {
  local n=0
  while mountpoint -q "$1"; do
    umount "$1" 2>/dev/null && break
    n=$((n + 1))
    [ $n -lt 50 ] || { umount -l "$1"; break; }
    sleep 0.1
  done
}

# ---- run directly (tests/run-all runs every *.sh here): a self-test ----

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  echo "functions.sh: the helpers of the integration tests; checking them"
  make_store
  create_volume selftest 8M 64K
  start_plugin a volume=selftest
  [ "$(ctl_status a volume)" = selftest ] || die "ctl status"
  pid=$(plugin_pid a)
  nbdsh_script a /dev/stdin <<<'assert h.get_size() == 8 << 20'
  kill_plugin a
  _alive "$pid" && die "kill_plugin left nbdkit running"
  start_plugin a volume=selftest || die "restart after kill -9"
  stop_plugin a
  echo "ok"
fi
