#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The CLI against other, less trusted local users:
#   - attach and run mount with nosuid,nodev: a setuid-root binary in a
#     volume does not give user nobody root (--allow-setuid opts in);
#   - export and import keep their temporary files in a private mkdtemp
#     directory: symlinks planted at every predictable name are not
#     followed, and the planted files are left alone;
#   - the cache does not follow a symlink planted as its data file;
#   - export passes IMAGE as an argument, never through a shell;
#   - serve listens on a Unix socket of mode 0600 by default, and TCP
#     (--port) needs --tls-psk FILE or the explicit --insecure-tcp.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
# Needs root, FUSE and loop devices: without them it says SKIP.
set -u
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires qemu-img nbdcopy runuser ss

private_home
chmod 711 "$T"                  # user nobody may reach the mountpoints
make_store

on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"
s3vol create sec --size 64M >/dev/null || die "create failed"

# ---- nosuid,nodev ----------------------------------------------------------

# mount_opts PATH: the per-mount options of the filesystem at PATH.
mount_opts () { awk -v p="$1" '$5 == p { print $6 }' /proc/self/mountinfo; }

mkdir -m 755 "$T/m1"
s3vol attach sec "$T/m1" >/dev/null || die "attach failed"
cp /usr/bin/id "$T/m1/idsuid"
chown root:root "$T/m1/idsuid"
chmod 4755 "$T/m1/idsuid"
mknod "$T/m1/null" c 1 3
chmod 666 "$T/m1/null"
euid=$(runuser -u nobody -- "$T/m1/idsuid" -u 2>&1) || true
if [ "$euid" = 0 ]; then
  fail "attach: a setuid-root binary in the volume gives user nobody euid 0"
else
  ok "attach: setuid binary run by nobody has euid $euid"
fi
opts=$(mount_opts "$T/m1")
case ",$opts," in
  *,nosuid,*nodev,*|*,nodev,*nosuid,*) ok "attach: mounted $opts" ;;
  *) fail "attach: mounted without nosuid,nodev ($opts)" ;;
esac
if echo x 2>/dev/null > "$T/m1/null"; then
  fail "attach: a device file in the volume can be opened"
else
  ok "attach: device files in the volume cannot be opened"
fi
s3vol detach "$T/m1" >/dev/null || die "detach failed"

# The explicit opt-in keeps the old behaviour.
mkdir -m 755 "$T/m2"
if s3vol attach sec "$T/m2" --allow-setuid >/dev/null 2>&1; then
  opts=$(mount_opts "$T/m2")
  case ",$opts," in
    *,nosuid,*|*,nodev,*) fail "attach --allow-setuid: mounted $opts" ;;
    *) ok "attach --allow-setuid: mounted $opts" ;;
  esac
  s3vol detach "$T/m2" >/dev/null
else
  fail "attach --allow-setuid is refused"
fi

# s3vol run: the same inside its mount namespace.
mkdir -m 755 "$T/r"
out=$(s3vol run -v "sec:$T/r" -- sh -c \
  "runuser -u nobody -- '$T/r/idsuid' -u; \
   awk '\$5 == \"$T/r\" { print \$6 }' /proc/self/mountinfo" 2>&1) ||
  true
euid=$(echo "$out" | sed -n 1p)
opts=$(echo "$out" | sed -n 2p)
if [ "$euid" = 0 ]; then
  fail "run: a setuid-root binary in the volume gives user nobody euid 0"
else
  ok "run: setuid binary run by nobody has euid $euid"
fi
case ",$opts," in
  *,nosuid,*nodev,*|*,nodev,*nosuid,*) ok "run: mounted $opts" ;;
  *) fail "run: mounted without nosuid,nodev ($opts)" ;;
esac

# ---- export: private temp dir, no shell ------------------------------------

# Plant, as another local user could, for the next 2000 pids: a
# directory s3vol-export-PID holding a symlink data -> $T/victim, and a
# symlink s3vol-import-PID.raw -> $T/victim (one process plants them
# all, so the pids that follow are the ones planted).
echo precious > "$T/victim.orig"
cp "$T/victim.orig" "$T/victim"
untouched () { cmp -s "$T/victim" "$T/victim.orig"; }
mkdir -m 1777 "$T/tmp"
python3 - "$T" <<'PY'
import os, sys
t = sys.argv[1]
last = int(open("/proc/sys/kernel/ns_last_pid").read())
for p in range(last + 1, last + 2001):
    d = "%s/tmp/s3vol-export-%d" % (t, p)
    os.mkdir(d)
    os.symlink(t + "/victim", d + "/data")
    os.symlink(t + "/victim", "%s/tmp/s3vol-import-%d.raw" % (t, p))
PY
TMPDIR=$T/tmp s3vol export sec "$T/out.img" >/dev/null 2>&1 ||
  fail "export failed"
untouched &&
  ok "export: planted data symlinks not followed" ||
  fail "export: wrote through a planted symlink"
n=$(ls -d "$T/tmp"/s3vol-export-*/data 2>/dev/null | wc -l) || true
[ "$n" -eq 2000 ] && ok "export: planted directories left alone" ||
  fail "export: removed or used a planted directory ($n of 2000 left)"
left=$(ls "$T/tmp" | grep -v '^s3vol-export-[0-9]*$' |
  grep -v '^s3vol-import-[0-9]*.raw$' || true)
[ -z "$left" ] && ok "export: removed its temporary directory" ||
  fail "export: left $left in TMPDIR"

# ---- import: private temp dir ----------------------------------------------

cp "$T/victim.orig" "$T/victim"
qemu-img convert -O qcow2 "$T/out.img" "$T/in.qcow2" || die "qemu-img"
TMPDIR=$T/tmp s3vol import sec "$T/in.qcow2" >/dev/null 2>&1 ||
  fail "import failed"
untouched &&
  ok "import: planted .raw symlinks not followed" ||
  fail "import: qemu-img wrote through a planted symlink"

# ---- export: IMAGE is not shell code ---------------------------------------

bad="x'; touch pwned; echo '.img"
(cd "$T" && "$S3VOL" --store "$STORE" export sec "$bad" >/dev/null 2>&1) ||
  true
if [ -e "$T/pwned" ]; then
  fail "export: IMAGE name ran as shell code"
else
  ok "export: IMAGE name not run as shell code"
fi
[ -s "$T/$bad" ] && ok "export: wrote the oddly named image" ||
  fail "export: did not write $bad"
rm -f "$T/$bad"

# ---- the cache: no following a planted data symlink ------------------------

cp "$T/victim.orig" "$T/victim"
mkdir -m 700 "$T/c3"
ln -s "$T/victim" "$T/c3/data"
mkdir -m 755 "$T/m3"
s3vol attach sec "$T/m3" --cache-dir "$T/c3" >/dev/null 2>&1 &&
  s3vol detach "$T/m3" >/dev/null 2>&1 || true
untouched &&
  ok "cache: planted data symlink not followed" ||
  fail "cache: the data file followed a planted symlink"

# ---- serve -----------------------------------------------------------------

# listens [-t]: s3vol serve (or nbdkit, its child or what it became)
# listens (-t: on TCP).
listens () {
  local pids
  pids=$(echo "$serve_pid"; pgrep -P "$serve_pid" || true)
  { [ "${1:-}" = -t ] || ss -lxnp; ss -ltnp; } 2>/dev/null |
    grep -E "pid=($(echo $pids | tr ' ' '|'))," >/dev/null
}
# serve_bg ARGS...: start s3vol serve in the background, wait for its URI.
serve_bg () {
  "$S3VOL" --store "$STORE" serve sec "$@" > "$T/serve.out" \
    2> "$T/serve.err" &
  serve_pid=$!
  wait_until 60 grep -q '://' "$T/serve.out" &&
    wait_until 60 listens
}
stop_serve () {
  kill "$serve_pid" 2>/dev/null || true
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=
}
on_exit '[ -z "${serve_pid:-}" ] || kill "$serve_pid" 2>/dev/null'

serve_bg --cache-dir "$T/c4" || die "serve did not start"
sock=$(sed -n 's,^nbd+unix:///?socket=,,p' "$T/serve.out")
wait_until 60 test -S "$sock" || fail "serve: no socket $sock"
mode=$(stat -c %a "$sock" 2>/dev/null) || true
[ "$mode" = 600 ] && ok "serve: socket mode 600" ||
  fail "serve: socket mode $mode, not 600"
listens -t && fail "serve: listens on TCP without --port" ||
  ok "serve: no TCP listener by default"
nbdinfo --size "nbd+unix:///?socket=$sock" >/dev/null 2>&1 &&
  ok "serve: this user connects to $sock" ||
  fail "serve: cannot connect to $sock"
stop_serve

port=$((20000 + RANDOM % 20000))
"$S3VOL" --store "$STORE" serve sec --port $port --cache-dir "$T/c5" \
  > "$T/serve.out" 2> "$T/serve.err" &
serve_pid=$!
sleep 1
if kill -0 "$serve_pid" 2>/dev/null; then
  fail "serve --port serves without TLS-PSK or --insecure-tcp"
  stop_serve
else
  rc=0
  wait "$serve_pid" || rc=$?
  serve_pid=
  [ $rc -eq 2 ] && ok "serve --port alone refused: $(cat "$T/serve.err")" ||
    fail "serve --port alone exited $rc, not 2"
fi

printf 'client:%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
  > "$T/psk"
chmod 600 "$T/psk"
serve_bg --port $port --tls-psk "$T/psk" --cache-dir "$T/c6" ||
  fail "serve --port --tls-psk did not start: $(cat "$T/serve.err")"
if wait_until 30 nbdinfo --size "nbds://client@127.0.0.1:$port/?tls-psk-file=$T/psk" \
     >/dev/null 2>&1; then
  ok "serve --tls-psk: a client with the key connects"
else
  fail "serve --tls-psk: a client with the key cannot connect"
fi
nbdinfo --size "nbd://127.0.0.1:$port" >/dev/null 2>&1 &&
  fail "serve --tls-psk: a client without TLS connects" ||
  ok "serve --tls-psk: a client without TLS is refused"
stop_serve

serve_bg --port $port --insecure-tcp --cache-dir "$T/c7" ||
  fail "serve --port --insecure-tcp did not start: $(cat "$T/serve.err")"
stop_serve

echo "$fails check(s) failed"
[ $fails -eq 0 ]
