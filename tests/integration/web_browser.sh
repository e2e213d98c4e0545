#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# s3vol web in a real headless browser (chromium, chromium-driver,
# python3-selenium; web_browser.py): a phone-sized window opens the
# pages, follows the links from the volumes to a file, checks what is
# shown, that nothing scrolls sideways at 375 px, that a hostile name
# stays text; a screenshot of each page is kept in the test log
# directory ($LOGDIR/web_browser-screenshots, else under /tmp), its path
# printed.  On a directory store (web.sh covers the S3 test server:
# the pages come from the same code whatever the store).
. "$(dirname "$0")/../support/functions.sh"
requires chromium chromedriver mkfs.ext4
/usr/bin/python3 -c 'import selenium' 2>/dev/null ||
  die "python3-selenium is missing (run scripts/install-deps)"
make_store
private_home

phase "a volume with a few files"
src=$T/src
mkdir -p "$src/dir"
echo "hello, web" >"$src/hello.txt"
echo h >"$src/<img src=x onerror=alert(1)>"
echo n >"$src/$(printf 'n%.0s' $(seq 1 255))"
echo d >"$src/dir/$(printf 'x%.0s' $(seq 1 200))"
head -c 3000000 /dev/urandom >"$src/random.bin"
ln -s "$(printf 'very-long-target/%.0s' $(seq 1 12))" "$src/link"
s3vol create v --size 256M >/dev/null
s3vol put v "$src" / -m "put the tree <b>bold</b>" >/dev/null
s3vol snapshot create v snap-one >/dev/null

phase "serve, browse"
"$S3VOL" --store "$STORE" web >"$T/web.url" 2>"$T/web.log" &
pid=$!
on_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_or_die 30 "s3vol web to print its URL" grep -q token= "$T/web.url"
shots=${LOGDIR:-/tmp}/web_browser-screenshots
[ -n "${LOGDIR:-}" ] || shots=$(mktemp -d /tmp/s3vol-web-screenshots.XXXXXX)
rm -rf "$shots"
/usr/bin/python3 "$ITDIR/web_browser.py" "$(head -1 "$T/web.url")" "$shots" ||
  die "the browser found a problem (above)"
echo "screenshots in $shots"
