#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""s3vol web in a real browser: Debian's headless chromium driven by
chromium-driver through python3-selenium, as a phone 375 px wide.

    web_browser.py URL SHOTDIR

URL is what s3vol web printed (with the token).  It opens the pages,
follows links from the volumes to a file, checks what each shows, that
no page scrolls sideways, that a hostile file name stays text (no image,
no alert), that no script can read the token's cookie, and saves a
screenshot of each page in SHOTDIR (their paths printed).  Prints "ok:"
and "FAIL:" lines; exits 1 if anything failed.
"""
import os
import sys
import tempfile
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

WIDTH = 375
HOSTILE = "<img src=x onerror=alert(1)>"
fails = 0


def check(what, cond, detail=""):
    global fails
    if cond:
        print("ok:", what)
    else:
        fails += 1
        print("FAIL:", what, detail)


def browser(profile):
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--no-first-run",
              "--user-data-dir=" + profile):
        opts.add_argument(a)
    opts.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": WIDTH, "height": 780, "pixelRatio": 2}})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=opts)


def page(drv, shots, name, title):
    """Checks every page gets: its title, no sideways scrolling, no
    alert; then a screenshot."""
    check("%s: title %r" % (name, title),
          drv.title == title + " - s3vol", drv.title)
    sw = drv.execute_script(
        "return Math.max(document.documentElement.scrollWidth,"
        " document.body.scrollWidth)")
    vw = drv.execute_script("return window.innerWidth")
    check("%s: no horizontal scrolling at %d px (scrollWidth %d)" %
          (name, vw, sw), vw == WIDTH and sw <= vw)
    try:
        drv.switch_to.alert
        check("%s: no alert" % name, False)
    except NoAlertPresentException:
        pass
    path = os.path.join(shots, "%s.png" % name)
    # the whole page, not just the first screen
    height = drv.execute_script("return document.documentElement."
                                "scrollHeight")
    drv.set_window_size(WIDTH, max(780, min(height + 100, 4000)))
    drv.save_screenshot(path)
    print("screenshot:", path)


def link(drv, text):
    return drv.find_element(By.LINK_TEXT, text)


def main():
    url, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="s3vol-chromium-")
    drv = browser(profile)
    try:
        drv.get(url)
        check("the token URL lands on the volumes page without the token",
              drv.current_url.endswith("/") and "token" not in
              drv.current_url, drv.current_url)
        check("no script can read the token's cookie (HttpOnly)",
              "s3vol_token" not in drv.execute_script(
                  "return document.cookie"))
        check("volumes page shows v",
              drv.find_element(By.TAG_NAME, "h1").text == "Volumes" and
              link(drv, "v") is not None)
        page(drv, shots, "1-volumes", "volumes")

        link(drv, "v").click()
        body = drv.find_element(By.TAG_NAME, "body").text
        check("volume page: the commit message as text",
              "put the tree <b>bold</b>" in body)
        check("volume page: the snapshot", "snap-one" in body)
        check("volume page: no element made of the message",
              not drv.find_elements(By.TAG_NAME, "b"))
        page(drv, shots, "2-volume", "v")

        head = drv.find_element(By.CSS_SELECTOR, "dl a")
        seq = head.text.split()[-1]
        head.click()
        page(drv, shots, "3-root", "v, version %s" % seq)
        link(drv, "src/").click()
        page(drv, shots, "4-listing", "src")
        check("hostile name shown as text, as a link",
              link(drv, HOSTILE) is not None)
        check("no image element from a name",
              not drv.find_elements(By.TAG_NAME, "img"))
        names = [a.text for a in drv.find_elements(By.CSS_SELECTOR,
                                                    "td a")]
        check("long names listed", "n" * 255 in names, names)
        check("breadcrumbs name the version and the directory",
              drv.find_element(By.TAG_NAME, "nav").text ==
              "volumes / v / version %s / src" % seq,
              drv.find_element(By.TAG_NAME, "nav").text)

        link(drv, "hello.txt").click()
        body = drv.find_element(By.TAG_NAME, "body").text
        check("file page: size and download link",
              "11 bytes" in body and link(drv, "Download")
              .get_attribute("href").endswith("/raw/v/%s/src/hello.txt"
                                              % seq), body)
        check("the permalink names the version",
              "/files/v/%s/src/hello.txt" % seq in drv.current_url)
        page(drv, shots, "5-file", "hello.txt")
        cookie = {c["name"]: c for c in drv.get_cookies()}["s3vol_token"]
        check("the cookie is HttpOnly and SameSite=Strict",
              cookie.get("httpOnly") and cookie.get("sameSite") == "Strict",
              cookie)
        req = urllib.request.Request(
            link(drv, "Download").get_attribute("href"),
            headers={"Cookie": "s3vol_token=" + cookie["value"]})
        text = urllib.request.urlopen(req).read().decode()
        check("the download link gives the file", text == "hello, web\n",
              repr(text))

        drv.back()
        link(drv, HOSTILE).click()
        page(drv, shots, "6-hostile-file", HOSTILE)
        check("a hostile name as a page title stays text",
              drv.find_element(By.TAG_NAME, "h1").text == HOSTILE)
    finally:
        drv.quit()
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
