# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: S3 objects, from outside s3vol.

    python3 s3obj.py list s3://BUCKET/PREFIX     -> "SIZE KEY" lines
    python3 s3obj.py get s3://BUCKET KEY FILE
    python3 s3obj.py put s3://BUCKET KEY FILE
    python3 s3obj.py delete-prefix s3://BUCKET/PREFIX  (a test's cleanup)

Uses curl's SigV4 signing with the usual AWS_* variables and
AWS_ENDPOINT_URL (path-style), so it checks what the store holds without
going through s3vol's own S3 code.
"""
import hashlib
import os
import subprocess
import sys
import urllib.parse
import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
EMPTY_SHA256 = ("e3b0c44298fc1c149afbe4c8996fb924"
                "27ae41e4649b934ca495991b7852b855")


def curl(*args):
    region = os.environ.get("AWS_REGION", "us-east-1")
    auth = "%s:%s" % (os.environ["AWS_ACCESS_KEY_ID"],
                      os.environ["AWS_SECRET_ACCESS_KEY"])
    # The credentials go to curl on stdin (-K -), never into argv, so
    # that neither ps nor an error message shows the secret.
    config = 'user = "%s"\n' % auth
    r = subprocess.run(["curl", "-sS", "--fail", "--aws-sigv4",
                        "aws:amz:%s:s3" % region, "-K", "-"] + list(args),
                       input=config.encode(), stdout=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit("s3obj: curl failed (exit %d) on %s" %
                 (r.returncode, args[-1]))
    return r.stdout


def object_url(url, key):
    bucket = url[5:].partition("/")[0]
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    return "%s/%s/%s" % (endpoint, bucket, urllib.parse.quote(key))


def get(url, key, path):
    data = curl("-H", "x-amz-content-sha256: " + EMPTY_SHA256,
                object_url(url, key))
    with open(path, "wb") as f:
        f.write(data)


def put(url, key, path):
    with open(path, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    curl("-X", "PUT", "--data-binary", "@" + path,
         "-H", "Content-Type: application/octet-stream",
         "-H", "x-amz-content-sha256: " + sha, object_url(url, key))


def delete(url, key):
    curl("-X", "DELETE", "-H", "x-amz-content-sha256: " + EMPTY_SHA256,
         object_url(url, key))


def list_objects(url):
    assert url.startswith("s3://"), url
    bucket, _, prefix = url[5:].partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    endpoint = os.environ["AWS_ENDPOINT_URL"].rstrip("/")
    token = None
    while True:
        q = {"list-type": "2", "prefix": prefix, "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        qs = urllib.parse.urlencode(sorted(q.items()),
                                    quote_via=urllib.parse.quote)
        out = curl("-H", "x-amz-content-sha256: " + EMPTY_SHA256,
                   "%s/%s?%s" % (endpoint, bucket, qs))
        root = ET.fromstring(out)
        for c in root.iter(NS + "Contents"):
            yield int(c.find(NS + "Size").text), c.find(NS + "Key").text
        if root.findtext(NS + "IsTruncated") != "true":
            break
        token = root.findtext(NS + "NextContinuationToken")


if __name__ == "__main__":
    if sys.argv[1] == "list":
        for size, key in list_objects(sys.argv[2]):
            print(size, key)
    elif sys.argv[1] == "get":
        get(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "put":
        put(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "delete-prefix":
        # Only under a prefix: never a whole bucket.
        assert sys.argv[2][5:].partition("/")[2], "no prefix"
        for size, key in list(list_objects(sys.argv[2])):
            delete(sys.argv[2], key)
    else:
        sys.exit("usage: s3obj.py list|get|put|delete-prefix ...")
