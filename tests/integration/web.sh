#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# s3vol web over HTTP, with curl: the volumes, a volume (versions,
# snapshots, forks), a directory listing; a 40 MB file downloaded and
# compared byte for byte; Range requests (206, Content-Range,
# Content-Length, 416); a directory as tar, extracted by GNU tar and
# compared with the tree put in (holes, symlinks, hard links, long and
# non-ASCII names, mtimes); hostile names shown as text; the token
# (required, wrong one refused, then an HttpOnly SameSite=Strict
# cookie); the Host header (DNS rebinding); no methods but GET and
# HEAD; HTTPS still wants the token; and off loopback, in a network
# namespace made here with a veth pair: reachable only when asked
# (--listen), never by default.  On a directory store and on the S3
# test server.
. "$(dirname "$0")/../support/functions.sh"
requires curl tar openssl mkfs.ext4
on_each_store
make_store
private_home

# start_web NAME [ARGS...]: s3vol web in the background; $URL (with the
# token), $BASE (without) and $HOSTPORT set.
start_web () {
  local name=$1; shift
  "$S3VOL" --store "$STORE" web "$@" >"$T/$name.url" 2>"$T/$name.log" &
  echo $! >"$T/$name.pid"
  on_exit "kill \$(cat '$T/$name.pid') 2>/dev/null; wait \$(cat '$T/$name.pid') 2>/dev/null"
  wait_or_die 30 "s3vol web to print its URL" grep -q token= "$T/$name.url"
  URL=$(head -1 "$T/$name.url")
  BASE=${URL%%/\?token=*}
  HOSTPORT=${BASE#*://}
}
stop_web () {  # NAME: SIGTERM, and it exits 0
  local pid rc=0
  pid=$(cat "$T/$1.pid")
  kill -TERM "$pid"
  wait "$pid" || rc=$?
  [ $rc -eq 0 ] || die "s3vol web exited $rc on SIGTERM"
}
# get PATH [CURL ARGS...]: the body to stdout, with the session cookie
get () { local p=$1; shift; curl -sS --fail -b "$T/jar" "$@" "$BASE$p"; }
# status PATH [CURL ARGS...]: the HTTP status only
status () {
  local p=$1; shift
  curl -s -o /dev/null -w '%{http_code}' "$@" "$BASE$p"
}
check () { if eval "$2"; then ok "$1"; else fail "$1"; fi; }

phase "a tree with awkward names in a volume"
src=$T/src
mkdir -p "$src/dir/sub" "$src/üñí ☃" "$src/$(printf 'd%.0s' $(seq 1 120))"
head -c 40000000 /dev/urandom >"$src/big.bin"
echo "hello, web" >"$src/hello.txt"
truncate -s 64M "$src/sparse"
echo middle | dd of="$src/sparse" bs=1 seek=33554432 conv=notrunc 2>/dev/null
echo end | dd of="$src/sparse" bs=1 seek=67100000 conv=notrunc 2>/dev/null
truncate -s 3M "$src/all-hole"
echo hard >"$src/dir/hard1"
ln "$src/dir/hard1" "$src/dir/sub/hard2"
ln -s ../hello.txt "$src/dir/rel-link"
ln -s "$(printf 'l%.0s' $(seq 1 200))" "$src/long-link"
ln -s /no/such "$src/dangling"
echo u >"$src/üñí ☃/ファイル"
echo n >"$src/$(printf 'n%.0s' $(seq 1 255))"
echo x >"$src/$(printf 'd%.0s' $(seq 1 120))/in-a-long-dir"
hostile='<img src=x onerror=alert(1)>'
echo h >"$src/$hostile"
echo q >"$src/a \"quote\" & 'apos'"
echo b >"$src/bad-$(printf '\xff\xfe')-utf8"
echo p >"$src/100% ?#x"
touch -h -d '2001-02-03 04:05:06.123456789' "$src/hello.txt" "$src/dir/rel-link"
s3vol create v --size 1G >/dev/null
s3vol put v "$src" / -m "put the tree <b>bold</b>" >/dev/null
seq_v=$(head_version v)
s3vol snapshot create v snap-one >/dev/null
s3vol cp v w >/dev/null

phase "start; the token"
start_web web
case $URL in http://127.0.0.1:*/\?token=*) ok "URL on 127.0.0.1 with a token: ${URL%token=*}token=..." ;;
  *) fail "URL printed: $URL" ;; esac
token=${URL##*token=}
case $token in *0) wrong=${token%?}1 ;; *) wrong=${token%?}0 ;; esac
check "no token: 401" '[ "$(status /)" = 401 ]'
check "no token for a file either: 401" \
  '[ "$(status /raw/v/$seq_v/src/hello.txt)" = 401 ]'
check "wrong token: 401" \
  '[ "$(status "/?token=$wrong")" = 401 ] && [ "$(status / -b s3vol_token=$wrong)" = 401 ]'
check "a prefix of the token: 401" \
  '[ "$(status / -b s3vol_token=${token:0:10})" = 401 ]'
curl -sS -D "$T/h" -o /dev/null -c "$T/jar" "$URL"
check "token in the query: 303 to the page without it" \
  'grep -q "^HTTP/1.1 303" "$T/h" && grep -qi "^Location: /\s*$" "$T/h"'
check "cookie HttpOnly, SameSite=Strict, Path=/" \
  'grep -i "^Set-Cookie:" "$T/h" | grep -q "s3vol_token=$token; HttpOnly; SameSite=Strict; Path=/"'
check "cookie accepted: 200" '[ "$(status / -b "$T/jar")" = 200 ]'
check "connections kept alive between requests" \
  'curl -sv -o /dev/null -o /dev/null -b "$T/jar" "$BASE/" "$BASE/style.css" 2>&1 | grep -q "Re-using existing connection"'
check "POST refused: 405" \
  '[ "$(status / -b "$T/jar" -X POST -d x=1)" = 405 ]'

phase "the Host header"
check "another host name (DNS rebinding): 421" \
  '[ "$(status / -b "$T/jar" -H "Host: evil.example:${HOSTPORT#*:}")" = 421 ]'
check "the right address, another port: 421" \
  '[ "$(status / -b "$T/jar" -H "Host: 127.0.0.1:1")" = 421 ]'
check "no Host header (HTTP/1.0): 421" \
  '[ "$(status / -b "$T/jar" -0 -H "Host:")" = 421 ]'
check "localhost:PORT on loopback: 200" \
  '[ "$(status / -b s3vol_token=$token -H "Host: localhost:${HOSTPORT#*:}")" = 200 ]'

phase "pages"
get / >"$T/volumes.html"
check "volumes page lists v and w with the head version" \
  'grep -q "href=\"/volume/v\">v</a>" "$T/volumes.html" && grep -q "href=\"/volume/w\"" "$T/volumes.html" && grep -q "href=\"/files/v/$seq_v/\">$seq_v</a>" "$T/volumes.html"'
get /volume/v >"$T/volume.html"
check "volume page: versions with the message escaped" \
  'grep -q "put the tree &lt;b&gt;bold&lt;/b&gt;" "$T/volume.html" && ! grep -q "<b>bold" "$T/volume.html"'
check "volume page: the snapshot and the fork" \
  'grep -q "snap-one" "$T/volume.html" && grep -q "href=\"/volume/w\">w</a>" "$T/volume.html"'
check "the fork names its origin" \
  'get /volume/w | grep -q "Forked from <a href=\"/volume/v\">v</a>, version $seq_v"'
check "head is sent on to its version number (a permalink)" \
  '[ "$(curl -s -o /dev/null -w "%{redirect_url}" -b "$T/jar" "$BASE/files/v/head/src/dir/")" = "$BASE/files/v/$seq_v/src/dir/" ]'
get "/files/v/$seq_v/src/" >"$T/root.html"
check "listing: sizes, modes, a symlink's target" \
  'grep -q ">big.bin</a></td><td class=\"n\">38 MiB" "$T/root.html" && grep -q "dangling <span class=\"dim\">&rarr;</span> <span class=\"m\">/no/such</span>" "$T/root.html" && grep -q "drwxr-xr-x" "$T/root.html"'
check "hostile name rendered as text, linked encoded" \
  '! grep -q "<img" "$T/root.html" && grep -q "&lt;img src=x onerror=alert(1)&gt;" "$T/root.html" && grep -q "href=\"/files/v/$seq_v/src/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E\"" "$T/root.html"'
check "quotes and ampersands escaped" \
  'grep -q "a &quot;quote&quot; &amp; &#39;apos&#39;" "$T/root.html"'
check "bytes that are not UTF-8 shown escaped" \
  'grep -q "bad-\\\\xff\\\\xfe-utf8" "$T/root.html"'
check "breadcrumbs name the version" \
  'get "/files/v/$seq_v/src/dir/sub/" | grep -q "<a href=\"/files/v/$seq_v/\">version $seq_v</a> / <a href=\"/files/v/$seq_v/src/\">src</a> / <a href=\"/files/v/$seq_v/src/dir/\">dir</a> / <a href=\"/files/v/$seq_v/src/dir/sub/\">sub</a>"'
get "/files/v/$seq_v/src/big.bin" >"$T/file.html"
check "a file's page: exact size and a download link" \
  'grep -q "<dd>40000000 bytes (38 MiB)</dd>" "$T/file.html" && grep -q "href=\"/raw/v/$seq_v/src/big.bin\">Download</a>" "$T/file.html"'
check "names with % ? # reach their file" \
  '[ "$(get "/raw/v/$seq_v/src/100%25%20%3F%23x")" = p ]'
check "the hostile file downloads too" \
  '[ "$(get "/raw/v/$seq_v/src/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E")" = h ]'
check "CSP forbids scripts; nosniff; no framing" \
  'curl -s -D - -o /dev/null -b "$T/jar" "$BASE/" | grep -q "^Content-Security-Policy: default-src .none.; style-src .self." && curl -s -D - -o /dev/null -b "$T/jar" "$BASE/" | grep -q "^X-Content-Type-Options: nosniff"'
check "missing things: 404" \
  '[ "$(status "/files/v/$seq_v/src/nope" -b "$T/jar")" = 404 ] && [ "$(status /volume/nope -b "$T/jar")" = 404 ] && [ "$(status /files/v/999/ -b "$T/jar")" = 404 ] && [ "$(status /nope -b "$T/jar")" = 404 ]'

phase "downloads"
timed t get "/raw/v/$seq_v/src/big.bin" -D "$T/h" -o "$T/big.bin"
echo "   40 MB in ${t}s"
check "40 MB file byte for byte" 'cmp -s "$T/big.bin" "$src/big.bin"'
pids=()
for i in 1 2 3 4; do
  get "/raw/v/$seq_v/src/big.bin" -o "$T/par$i" &
  pids+=($!)
done
wait "${pids[@]}"                       # not the server's
check "4 downloads at once of one version, each byte for byte" \
  '( for i in 1 2 3 4; do cmp -s "$T/par$i" "$src/big.bin" || exit 1; done )'
rm -f "$T"/par?
check "Content-Length and Content-Type" \
  'grep -q "^Content-Length: 40000000" "$T/h" && grep -q "^Content-Type: application/octet-stream" "$T/h" && grep -q "^Accept-Ranges: bytes" "$T/h"'
check "text files say so" \
  'get "/raw/v/$seq_v/src/hello.txt" -D - -o /dev/null | grep -q "^Content-Type: text/plain; charset=utf-8"'
check "served as an attachment, sandboxed" \
  'get "/raw/v/$seq_v/src/hello.txt" -D - -o /dev/null | grep -q "^Content-Disposition: attachment; filename=\"hello.txt\"" && get "/raw/v/$seq_v/src/hello.txt" -D - -o /dev/null | grep -q "^Content-Security-Policy: sandbox"'
check "a sparse file reads its holes as zeros" \
  'get "/raw/v/$seq_v/src/sparse" | cmp -s - "$src/sparse"'

range () {  # RANGE FIRST LAST: 206, headers, the bytes
  local body=$T/range.out size=40000000
  get "/raw/v/$seq_v/src/big.bin" -H "Range: bytes=$1" -D "$T/rh" -o "$body"
  grep -q "^HTTP/1.1 206" "$T/rh" &&
    grep -q "^Content-Range: bytes $2-$3/$size" "$T/rh" &&
    grep -q "^Content-Length: $(($3 - $2 + 1))" "$T/rh" &&
    dd if="$src/big.bin" iflag=skip_bytes,count_bytes skip="$2" \
       count=$(($3 - $2 + 1)) bs=1M status=none | cmp -s - "$body"
}
check "Range 100-199: 206" 'range 100-199 100 199'
check "Range across pieces (4 MiB) 4194000-12582999" \
  'range 4194000-12582999 4194000 12582999'
check "Range open-ended 39999000-" 'range 39999000- 39999000 39999999'
check "Range of the last 500 bytes" 'range -500 39999500 39999999'
check "Range past the end: 416 with the size" \
  '[ "$(status "/raw/v/$seq_v/src/big.bin" -b "$T/jar" -H "Range: bytes=40000000-")" = 416 ] && curl -s -D - -o /dev/null -b "$T/jar" -H "Range: bytes=40000000-" "$BASE/raw/v/$seq_v/src/big.bin" | grep -q "^Content-Range: bytes \*/40000000"'
check "a range into a hole" \
  '[ "$(get "/raw/v/$seq_v/src/sparse" -H "Range: bytes=33554432-33554438")" = middle ]'
check "HEAD: the length, no body" \
  'curl -s -I -b "$T/jar" "$BASE/raw/v/$seq_v/src/big.bin" | grep -q "^Content-Length: 40000000"'

phase "a directory as tar"
check "the root: under v-v$seq_v/" \
  'get "/tar/v/$seq_v/" | tar -t | sort | head -2 | tr "\n" " " | grep -qx "v-v$seq_v/ v-v$seq_v/lost+found/ "'
timed t get "/tar/v/$seq_v/src/" -o "$T/all.tar"
echo "   tar of the root in ${t}s ($(stat -c %s "$T/all.tar") bytes)"
mkdir "$T/x"
check "GNU tar extracts it without complaint" \
  'tar -C "$T/x" -xf "$T/all.tar" 2>"$T/tar.err" && [ ! -s "$T/tar.err" ]'
check "names relative, under src/" \
  '! tar -tf "$T/all.tar" | grep -v "^src/" && ! tar -tf "$T/all.tar" | grep -q "\.\./"'
check "the tree extracted is the tree put in (names, modes, mtimes, links, targets, bytes)" \
  'same_tree "$src" "$T/x/src"'
check "holes kept (64 MiB file, < 1 MiB on disk)" \
  '[ "$(du -k "$T/x/src/sparse" | cut -f1)" -lt 1024 ] && [ "$(du -k "$T/x/src/all-hole" | cut -f1)" -lt 64 ]'
check "hard links kept as links" \
  '[ "$(stat -c %i "$T/x/src/dir/hard1")" = "$(stat -c %i "$T/x/src/dir/sub/hard2")" ]'
check "the tar is small: holes not sent" \
  '[ "$(stat -c %s "$T/all.tar")" -lt 45000000 ]'
get "/tar/v/$seq_v/src/dir" -o "$T/dir.tar"
check "a subdirectory: under its own name" \
  '[ "$(tar -tf "$T/dir.tar" | sort | tr "\n" " ")" = "dir/ dir/hard1 dir/rel-link dir/sub/ dir/sub/hard2 " ]'
check "tar of a file: 404" \
  '[ "$(status "/tar/v/$seq_v/src/hello.txt" -b "$T/jar")" = 404 ]'

phase "devices, FIFOs and sockets stay out of a tar"
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP (this part): mknod needs root"
  [ -z "${S3VOL_NO_SKIP:-}" ] || fail "cannot make a device file"
else
  mkdir -p "$T/devsrc/d"
  echo f >"$T/devsrc/d/file"
  mknod "$T/devsrc/d/null" c 1 3
  mkfifo "$T/devsrc/d/fifo"
  python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$T/devsrc/d/sock"
  truncate -s 64M "$T/dev.img"
  mkfs.ext4 -q -F -d "$T/devsrc" "$T/dev.img"
  s3vol import dev "$T/dev.img" --create-if-missing >/dev/null
  rm -f "$T/dev.img"
  get "/tar/dev/$(head_version dev)/d" | tar -t >"$T/dev.list"
  check "only the directory and the file went in" \
    '[ "$(sort "$T/dev.list" | tr "\n" " ")" = "d/ d/file " ]'
  check "the skipped entries are logged" \
    'grep -q "tar of dev version [0-9]*: 3 entries skipped" "$T/web.log"'
fi

phase "a 1 TiB volume: its pages come at once"
s3vol create huge --size 1T >/dev/null
s3vol put huge "$src/hello.txt" / >/dev/null
seq_h=$(head_version huge)
for p in / /volume/huge "/files/huge/$seq_h/" "/files/huge/$seq_h/hello.txt" \
         "/raw/huge/$seq_h/hello.txt"; do
  t=$(curl -sS --fail -b "$T/jar" -o /dev/null -w '%{time_total}' "$BASE$p")
  echo "   $p: ${t}s"
  check "1 TiB volume: $p in under 2 s" \
    'awk -v t="$t" "BEGIN { exit !(t < 2) }"'
done

phase "wildcard listen refused"
rc=0
s3vol web --listen 0.0.0.0:0 >/dev/null 2>"$T/err" || rc=$?
check "--listen 0.0.0.0: exit 2, one line" \
  '[ $rc = 2 ] && [ "$(wc -l <"$T/err")" = 1 ]'

phase "HTTPS: the token still required"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" \
  -out "$T/cert.pem" -days 1 -subj /CN=127.0.0.1 2>/dev/null
start_web tls --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
case $URL in https://*) ok "https URL" ;; *) fail "URL: $URL" ;; esac
check "HTTPS without the token: 401" '[ "$(status / -k)" = 401 ]'
check "HTTPS cookie is Secure" \
  'curl -sk -D - -o /dev/null "$URL" | grep -i "^Set-Cookie:" | grep -q "; Secure"'
stop_web tls

phase "off loopback, in a network namespace"
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
  echo "SKIP (this part): needs root and ip for a network namespace"
  [ -z "${S3VOL_NO_SKIP:-}" ] || fail "cannot make a network namespace"
else
  ns=s3vweb$$
  net=10.$((RANDOM % 200 + 20)).$((RANDOM % 250)).
  ip netns add "$ns"
  on_exit "ip link del vw$$h 2>/dev/null; ip netns del $ns 2>/dev/null"
  ip link add "vw$$h" type veth peer name "vw$$n"
  ip link set "vw$$n" netns "$ns"
  ip addr add "${net}1/24" dev "vw$$h"
  ip link set "vw$$h" up
  ip netns exec "$ns" ip addr add "${net}2/24" dev "vw$$n"
  ip netns exec "$ns" ip link set "vw$$n" up
  ip netns exec "$ns" ip link set lo up
  nscurl () { ip netns exec "$ns" curl -s --max-time 10 "$@"; }
  lo_port=${HOSTPORT#*:}
  rc=0
  nscurl -o /dev/null "http://${net}1:$lo_port/" || rc=$?
  check "the default (loopback) server is not reachable from outside" \
    '[ $rc = 7 ]'
  start_web ext --listen "${net}1:0"
  check "listening on ${net}1 as asked" '[ "${HOSTPORT%:*}" = "${net}1" ]'
  check "from the namespace, without the token: 401" \
    '[ "$(nscurl -o /dev/null -w "%{http_code}" "$BASE/")" = 401 ]'
  check "from the namespace, with it: 303 and a cookie" \
    '[ "$(nscurl -o /dev/null -c "$T/nsjar" -w "%{http_code}" "$URL")" = 303 ]'
  check "from the namespace, the listing" \
    'nscurl -b "$T/nsjar" "$BASE/files/v/$seq_v/src/" | grep -q ">hello.txt</a>"'
  check "from the namespace, a download byte for byte" \
    'nscurl -b "$T/nsjar" "$BASE/raw/v/$seq_v/src/big.bin" | cmp -s - "$src/big.bin"'
  check "from the namespace, another Host: 421" \
    '[ "$(nscurl -o /dev/null -b "$T/nsjar" -H "Host: rebind.example" -w "%{http_code}" "$BASE/")" = 421 ]'
  check "localhost:PORT is no name of a non-loopback address: 421" \
    '[ "$(nscurl -o /dev/null -b "$T/nsjar" -H "Host: localhost:${HOSTPORT#*:}" -w "%{http_code}" "$BASE/")" = 421 ]'
  stop_web ext
fi

phase "stop"
stop_web web
check "nothing in the log but the start line and the 404s asked for" \
  '! grep -v -e "read-only; open the URL" -e "no such file or directory in volume v" -e "no volume named \"nope\"" -e "has no version 999" -e "not a directory" -e "entries skipped" "$T/web.log"'
[ $fails -eq 0 ]
