# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: talk to the plugin's control socket.

As a script:  python3 ctl.py SOCKET 'REQUEST LINE' ['!SHELL COMMAND'] ...
sends the requests on one connection, printing each answer line, and
runs the arguments that start with '!' as shell commands in between (to
freeze and thaw a filesystem around a cut); exit 0 if every answer
starts with "ok" and every command succeeded, 1 otherwise.
As a module:  ctl.request(SOCKET, LINE) -> answer line (no newline).
"""
import socket
import subprocess
import sys


def request(path, line, timeout=300):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(line.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            got = s.recv(4096)
            if not got:
                break
            buf += got
    finally:
        s.close()
    return buf.decode(errors="replace").rstrip("\n")


class Session:
    """One connection, several requests (cut then finish)."""

    def __init__(self, path, timeout=300):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")

    def request(self, line):
        self.f.write(line.encode() + b"\n")
        self.f.flush()
        return self.f.readline().decode(errors="replace").rstrip("\n")

    def close(self):
        self.f.close()
        self.s.close()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit("usage: ctl.py SOCKET REQUEST [REQUEST...]")
    ok = True
    sess = Session(sys.argv[1])
    for req in sys.argv[2:]:
        if req.startswith("!"):
            ok = subprocess.call(req[1:], shell=True) == 0 and ok
            continue
        answer = sess.request(req)
        print(answer)
        ok = ok and answer.startswith("ok")
    sess.close()
    sys.exit(0 if ok else 1)
