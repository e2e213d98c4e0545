# SPDX-License-Identifier: BSD-3-Clause
"""s3vol tests: a fault-injecting HTTP proxy between s3vol and the test S3
server, so that the S3 backend's own retry code meets real failures.

    python3 s3proxy.py serve --upstream http://127.0.0.1:PORT
                             [--lifetime SECONDS] [--log FILE]
    python3 s3proxy.py ctl PORT fault action=error status=503 code=SlowDown
                             count=2 op=PUT key=REGEX
    python3 s3proxy.py ctl PORT stats | log | clear | stop

serve listens on a free port of 127.0.0.1, prints it on a line of its own
on stdout once it accepts connections, and forwards every request to the
upstream server, which must be on loopback.  Requests go through
unchanged (path, query, headers, Host included, and body), so the SigV4
signature the client computed for the proxy's address still holds.  It
exits after --lifetime seconds (default 600), when its parent exits, or
on "ctl PORT stop".

Control requests are HTTP requests to the proxy itself under /__proxy/
(no bucket can be named "__proxy"):

  POST /__proxy/fault   a JSON rule (below); answers {"id": N}
  POST /__proxy/clear   drop every rule and forget the statistics
  GET  /__proxy/stats   JSON: every request seen and what was done to it,
                        and each rule with the requests it has left
  GET  /__proxy/log     the same as text: a line a request ("OP KEY
                        [(if-none-match)] -> WHAT WAS DONE"), then a line
                        a rule ("rule ID ACTION applied N left N")
  POST /__proxy/stop    exit

A rule applies to requests that match all of:
  op           GET, PUT, HEAD, DELETE, POST, LIST (a bucket listing),
               DELETE-MANY (POST ?delete), or "*" (the default)
  key          a regular expression searched in the object key (the path
               after the bucket, decoded; "" for bucket requests)
  conditional  true: only PUTs with If-None-Match
It lets the first "after" matching requests through (default 0), then acts
on the next "count" (default 1; -1: all of them).  The first rule with
requests left that matches a request is the one applied.  Actions:
  error        answer "status" (default 503) with an S3 XML error "code"
               (default: the status's usual code), never forwarding
  reset        reset the connection (TCP RST) without forwarding
  lost-reply   forward, let the server act, then reset the connection
               instead of answering: the client cannot know it landed
  cut          forward, then send the reply's headers and half its body,
               and reset the connection
  stall        read the request and answer nothing for "seconds" (default
               60), or until the client hangs up; then close
  no-continue  do not answer "Expect: 100-continue" (as some servers and
               proxies do not; the client sends the body after a wait);
               the request is then handled as usual, other rules apply
  strip-inm    forward without If-None-Match, signed again with
               AWS_SECRET_ACCESS_KEY once the client's own signature is
               reproduced: a store that ignores conditional creates
A hostile store (the client must not trust what it is sent):
  list-keys    forward a LIST, then add a <Contents> entry for each of
               "keys" (a list of strings, put first in the reply): keys
               outside the requested prefix, out of order, too short
  list-loop    answer a LIST with the real first page, but saying
               IsTruncated with the same NextContinuationToken every
               time (a request carrying that token gets the same page)
  huge-body    answer a GET with 200 and "bytes" (default 256 MiB) bytes
               of zeros, with a Content-Length unless "no_length" is true
               (then the body ends when the connection closes); stops
               sending when the client hangs up
Every request is logged (stderr or --log) as one line.
"""
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import urllib.parse

CODES = {
    400: "BadRequest", 403: "AccessDenied", 404: "NoSuchBucket",
    409: "OperationAborted", 412: "PreconditionFailed",
    500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection",
              "transfer-encoding", "content-length"}
MAX_LOG = 20000


class State:
    def __init__(self, upstream, log):
        self.lock = threading.Lock()
        self.rules = []
        self.requests = []
        self.next_id = 1
        self.upstream = upstream
        self.log = log
        self.stopping = threading.Event()

    def add_rule(self, rule):
        rule = dict(rule)
        if rule.get("action") not in ("error", "reset", "lost-reply", "cut",
                                      "stall", "strip-inm", "no-continue",
                                      "list-keys", "list-loop",
                                      "huge-body"):
            raise ValueError("unknown action %r" % rule.get("action"))
        rule.setdefault("op", "*")
        rule.setdefault("count", 1)
        rule.setdefault("after", 0)
        rule["key_re"] = re.compile(rule.get("key", ""))
        rule["applied"] = 0
        with self.lock:
            rule["id"] = self.next_id
            self.next_id += 1
            self.rules.append(rule)
        return rule["id"]

    def match(self, op, key, conditional, expect=False):
        """The rule to apply to this request (expect: the no-continue
        rule to apply to its Expect: 100-continue), or None.
        """
        with self.lock:
            for r in self.rules:
                if r["count"] >= 0 and r["applied"] >= r["count"]:
                    continue
                if (r["action"] == "no-continue") != expect:
                    continue
                if r["op"] not in ("*", op):
                    continue
                if r.get("conditional") and not conditional:
                    continue
                if not r["key_re"].search(key):
                    continue
                if r["after"] > 0:
                    r["after"] -= 1
                    continue
                r["applied"] += 1
                return r
        return None

    def record(self, entry):
        entry["line"] = "%s %s%s -> %s" % (
            entry["op"], entry["key"] or "(bucket)",
            " (if-none-match)" if entry["conditional"] else "",
            entry["result"])
        with self.lock:
            if len(self.requests) < MAX_LOG:
                self.requests.append(entry)
        self.log.write("s3proxy: %s\n" % entry["line"])
        self.log.flush()

    def stats(self):
        with self.lock:
            return {
                "requests": list(self.requests),
                "rules": [{"id": r["id"], "action": r["action"],
                           "applied": r["applied"],
                           "left": (-1 if r["count"] < 0 else
                                    r["count"] - r["applied"])}
                          for r in self.rules],
            }

    def text(self):
        """The request log and the rules, as lines of text."""
        st = self.stats()
        return "".join(["%s\n" % e["line"] for e in st["requests"]] +
                       ["rule %(id)d %(action)s applied %(applied)d "
                        "left %(left)d\n" % r for r in st["rules"]])

    def clear(self):
        with self.lock:
            self.rules = []
            self.requests = []


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def sigv4(method, target, headers, auth):
    """The signature of a request, from the fields of its Authorization
    header (credential scope and signed headers), with the secret key in
    the environment.  None if anything is missing.
    """
    m = re.match(r"AWS4-HMAC-SHA256 Credential=[^/]+/([^/]+)/([^/]+)/"
                 r"([^/]+)/aws4_request, *SignedHeaders=([^,]+), *"
                 r"Signature=[0-9a-f]+$", auth or "")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if m is None or secret is None:
        return None
    date, region, service, signed = m.groups()
    values = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    path, _, query = target.partition("?")
    query = "&".join(sorted(p if "=" in p else p + "="
                            for p in query.split("&") if p))
    canon = "".join("%s:%s\n" % (h, ",".join(values.get(h, [])))
                    for h in signed.split(";"))
    payload = values.get("x-amz-content-sha256", ["UNSIGNED-PAYLOAD"])[0]
    creq = "\n".join([method, path, query, canon, signed, payload])
    scope = "%s/%s/%s/aws4_request" % (date, region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", values.get("x-amz-date", [""])[0],
                     scope, hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


def strip_inm(method, target, headers):
    """headers without If-None-Match, signed again; None if the client's
    own signature cannot be reproduced (then re-signing would be a guess).
    """
    auth = next((v for n, v in headers if n.lower() == "authorization"), "")
    m = re.search(r"Signature=([0-9a-f]+)$", auth)
    if m is None or sigv4(method, target, headers, auth) != m.group(1):
        return None
    out = [(n, v) for n, v in headers if n.lower() != "if-none-match"]
    signed = re.search(r"SignedHeaders=([^,]+)", auth).group(1)
    signed = ";".join(h for h in signed.split(";") if h != "if-none-match")
    auth = re.sub(r"SignedHeaders=[^,]+", "SignedHeaders=" + signed, auth)
    sig = sigv4(method, target, out, auth)
    auth = re.sub(r"Signature=[0-9a-f]+$", "Signature=" + sig, auth)
    return [(n, auth if n.lower() == "authorization" else v)
            for n, v in out]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "s3proxy"

    def log_message(self, fmt, *args):
        pass                    # every request is logged by State.record

    def do_GET(self):
        self.dispatch()

    do_PUT = do_HEAD = do_DELETE = do_POST = do_GET

    def handle_expect_100(self):
        op, key = self.classify()
        conditional = self.headers.get("If-None-Match") is not None
        if self.server.state.match(op, key, conditional, expect=True):
            return True         # the client sends the body after a while
        return super().handle_expect_100()

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def classify(self):
        """(op, key) of an S3 request: key is the object key, decoded."""
        path, _, query = self.path.partition("?")
        parts = path.lstrip("/").split("/", 1)
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        if self.command == "GET" and not key and "list-type" in params:
            return "LIST", key
        if self.command == "POST" and "delete" in params:
            return "DELETE-MANY", key
        return self.command, key

    def dispatch(self):
        st = self.server.state
        if self.path.startswith("/__proxy/"):
            return self.control(st)
        op, key = self.classify()
        conditional = self.headers.get("If-None-Match") is not None
        rule = st.match(op, key, conditional)
        action = rule["action"] if rule else "forward"
        self.entry = {"op": op, "key": key, "conditional": conditional,
                      "action": action, "rule": rule["id"] if rule else None}
        try:
            getattr(self, "act_" + action.replace("-", "_"))(rule)
        except (OSError, http.client.HTTPException) as e:
            self.done("proxy failure: %s" % e)
            self.close_connection = True

    def done(self, result):
        """Log what was done to the request: before the client can see
        it, so that the log is complete once the client has its answer.
        """
        if self.entry:
            self.entry["result"] = result
            self.server.state.record(self.entry)
            self.entry = None

    # ---- actions: each calls done() before it answers ----

    def act_forward(self, rule, headers=None, note=""):
        status, reason, rheaders, body = self.forward(headers)
        self.done("%s%d" % (note, status))
        self.answer(status, reason, rheaders, body)

    def act_error(self, rule):
        self.read_body()
        status = int(rule.get("status", 503))
        code = rule.get("code") or CODES.get(status, "InternalError")
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s'
                '</Code><Message>injected by s3proxy</Message><Resource>'
                '%s</Resource><RequestId>s3proxy</RequestId></Error>'
                % (code, self.path.partition("?")[0])).encode()
        self.done("injected %d %s" % (status, code))
        self.answer(status, None,
                    [("Content-Type", "application/xml")], body)

    def act_reset(self, rule):
        self.done("reset (not forwarded)")
        self.reset()

    def act_lost_reply(self, rule):
        self.done("forwarded (%d), then reset" % self.forward()[0])
        self.reset()

    def act_cut(self, rule):
        status, reason, headers, body = self.forward()
        self.done("forwarded (%d), reply cut after %d of %d bytes" % (
            status, len(body) // 2, len(body)))
        self.answer(status, reason, headers, body, send=len(body) // 2)
        self.reset()

    def act_stall(self, rule):
        self.read_body()
        self.done("stalled")
        deadline = time.monotonic() + float(rule.get("seconds", 60))
        while time.monotonic() < deadline and \
                not self.server.state.stopping.is_set():
            r, _, _ = select.select([self.connection], [], [], 0.1)
            if r:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        break   # the client hung up
                except OSError:
                    break
        self.close_connection = True

    def act_strip_inm(self, rule):
        headers = list(self.headers.items())
        if not any(n.lower() == "if-none-match" for n, _ in headers):
            return self.act_forward(rule)
        headers = strip_inm(self.command, self.path, headers)
        if headers is None:
            self.read_body()
            self.done("500: cannot re-sign (signature not reproduced)")
            self.answer(500, None, [], b"s3proxy: cannot re-sign")
            return
        self.act_forward(rule, headers, "If-None-Match stripped, ")

    def act_list_keys(self, rule):
        status, reason, headers, body = self.forward()
        extra = "".join(
            "<Contents><Key>%s</Key><LastModified>2026-01-01T00:00:00.000Z"
            "</LastModified><ETag>&quot;0&quot;</ETag><Size>1</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
            % xml_escape(k) for k in rule.get("keys", []))
        if status == 200:
            text = body.decode("utf-8")
            at = text.find("<Contents>")
            if at < 0:
                at = text.find("</ListBucketResult>")
            body = (text[:at] + extra + text[at:]).encode("utf-8")
        self.done("forwarded (%d), %d keys added" % (
            status, len(rule.get("keys", []))))
        self.answer(status, reason, headers, body)

    LOOP_TOKEN = "s3proxy-loop"

    def act_list_loop(self, rule):
        query = urllib.parse.parse_qs(self.path.partition("?")[2])
        if query.get("continuation-token") == [self.LOOP_TOKEN] and \
                "page" in rule:
            self.read_body()
            status, reason, headers, body = rule["page"]
            note = "same page again"
        else:
            status, reason, headers, body = self.forward()
            if status == 200:
                text = re.sub(r"<IsTruncated>[^<]*</IsTruncated>", "",
                              body.decode("utf-8"))
                text = re.sub(r"<NextContinuationToken>[^<]*"
                              r"</NextContinuationToken>", "", text)
                text = text.replace(
                    "</ListBucketResult>",
                    "<IsTruncated>true</IsTruncated><NextContinuationToken>"
                    "%s</NextContinuationToken></ListBucketResult>"
                    % self.LOOP_TOKEN)
                body = text.encode("utf-8")
                rule["page"] = (status, reason, headers, body)
            note = "forwarded (%d)" % status
        self.done(note + ", truncated with token %s" % self.LOOP_TOKEN)
        self.answer(status, reason, headers, body)

    def act_huge_body(self, rule):
        self.read_body()
        n = int(rule.get("bytes", 256 << 20))
        no_length = bool(rule.get("no_length"))
        self.done("huge body: %d bytes%s" % (
            n, " without Content-Length" if no_length else ""))
        head = ["HTTP/1.1 200 OK", "Content-Type: binary/octet-stream",
                "ETag: \"0\""]
        if no_length:
            head.append("Connection: close")
            self.close_connection = True
        else:
            head.append("Content-Length: %d" % n)
        block = bytes(65536)
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode())
            while n > 0:
                self.wfile.write(block[:min(n, len(block))])
                n -= min(n, len(block))
        except OSError:
            pass                # the client hung up: what we want
        self.close_connection = True

    # ---- plumbing ----

    def forward(self, headers=None):
        """Send this request upstream; (status, reason, headers, body)."""
        body = self.read_body()
        host, port = self.server.state.upstream
        conn = http.client.HTTPConnection(host, port, timeout=120)
        try:
            conn.putrequest(self.command, self.path, skip_host=True,
                            skip_accept_encoding=True)
            for name, value in headers or self.headers.items():
                if name.lower() not in ("connection", "keep-alive",
                                        "proxy-connection", "expect"):
                    conn.putheader(name, value)
            conn.endheaders(body if body or self.command in ("PUT", "POST")
                            else None)
            resp = conn.getresponse()
            rbody = resp.read()
            return resp.status, resp.reason, resp.getheaders(), rbody
        finally:
            conn.close()

    def answer(self, status, reason, headers, body, send=None):
        """Send a reply (with only send bytes of its body, if given)."""
        out = ["HTTP/1.1 %d %s" % (status, reason or
                                   self.responses.get(status, ("",))[0])]
        length = None
        for name, value in headers:
            if name.lower() == "content-length":
                length = value
            if name.lower() not in HOP_BY_HOP:
                out.append("%s: %s" % (name, value))
        if self.command == "HEAD":
            out.append("Content-Length: %s" % (length or "0"))
            body = b""
        else:
            out.append("Content-Length: %d" % len(body))
        self.wfile.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1")
                         + body[:send])

    def reset(self):
        """Close the client's connection with a TCP RST."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.rfile.close()
        self.connection.close()
        self.close_connection = True

    def control(self, st):
        body = self.read_body()
        what = self.path[len("/__proxy/"):]
        status, reply = 200, {}
        try:
            if what == "fault" and self.command == "POST":
                reply = {"id": st.add_rule(json.loads(body))}
            elif what == "clear" and self.command == "POST":
                st.clear()
            elif what == "stats" and self.command == "GET":
                reply = st.stats()
            elif what == "log" and self.command == "GET":
                reply = st.text()
            elif what == "stop" and self.command == "POST":
                pass            # below, once answered
            else:
                status, reply = 404, {"error": "no such control request"}
        except (ValueError, TypeError, re.error) as e:
            status, reply = 400, {"error": str(e)}
        text = isinstance(reply, str)
        self.answer(status, None, [("Content-Type", "text/plain" if text
                                    else "application/json")],
                    (reply if text else json.dumps(reply)).encode())
        if what == "stop" and status == 200:
            st.stopping.set()
            threading.Thread(target=self.server.shutdown).start()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False
    request_queue_size = 64


def loopback_upstream(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost",
                                                "::1"):
        sys.exit("s3proxy: the upstream must be http:// on loopback, not %s"
                 % url)
    return u.hostname, u.port or 80


def watchdog(server, lifetime, parent):
    """Stop at the end of the lifetime, or once the parent is gone."""
    end = time.monotonic() + lifetime
    st = server.state
    while not st.stopping.wait(0.5):
        if time.monotonic() > end or os.getppid() != parent:
            st.log.write("s3proxy: %s; stopping\n" % (
                "lifetime over" if time.monotonic() > end
                else "parent gone"))
            st.stopping.set()
            server.shutdown()


def serve(args):
    import argparse
    p = argparse.ArgumentParser(prog="s3proxy.py serve")
    p.add_argument("--upstream", required=True)
    p.add_argument("--lifetime", type=float, default=600)
    p.add_argument("--log")
    a = p.parse_args(args)
    log = open(a.log, "a") if a.log else sys.stderr
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(loopback_upstream(a.upstream), log)
    threading.Thread(target=watchdog, daemon=True,
                     args=(server, a.lifetime, os.getppid())).start()
    print(server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.2)
    server.server_close()


def ctl(args):
    """ctl PORT fault K=V...  |  ctl PORT stats|log|clear|stop"""
    port, what, rest = int(args[0]), args[1], args[2:]
    rule = {}
    for kv in rest:
        k, _, v = kv.partition("=")
        if re.fullmatch(r"-?[0-9]+", v):
            v = int(v)
        elif v in ("true", "false"):
            v = v == "true"
        rule[k] = v
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps(rule).encode() if what == "fault" else None
    conn.request("GET" if what in ("stats", "log") else "POST",
                 "/__proxy/" + what, body=body)
    resp = conn.getresponse()
    out = resp.read().decode()
    print(out, end="" if out.endswith("\n") else "\n")
    if resp.status != 200:
        sys.exit("s3proxy ctl: %d %s" % (resp.status, out))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2:])
    elif len(sys.argv) > 3 and sys.argv[1] == "ctl":
        ctl(sys.argv[2:])
    else:
        sys.exit(__doc__)
