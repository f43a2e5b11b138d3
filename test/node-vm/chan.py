#!/usr/bin/env python3
"""Host end of the node VM command channel (test tooling).

chan.py SOCKET exec [--timeout S] [--connect-timeout S] -- CMD...
    runs CMD in the VM; its stdout/stderr are passed through and the exit
    status is ours (255 = channel failure).
chan.py SOCKET poweroff [--timeout S]
    asks the guest to power off; 0 once it acknowledged.
Protocol: see guest/chan.c. One client at a time (flock on SOCKET.lock).
"""
import fcntl
import os
import secrets
import socket
import sys
import time

LINE_MAX = 4 * 1024 * 1024


def fail(msg):
    sys.stderr.write("node-vm exec: %s\n" % msg)
    sys.exit(255)


def connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if time.monotonic() >= deadline:
                fail("cannot connect to %s: %s" % (path, e))
            time.sleep(0.1)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        fail("usage: chan.py SOCKET exec|poweroff [--timeout S] [-- CMD...]")
    path, verb, rest = args[0], args[1], args[2:]
    timeout = 300.0
    connect_timeout = 10.0
    argv = []
    while rest:
        a = rest.pop(0)
        if a == "--timeout":
            timeout = float(rest.pop(0))
        elif a == "--connect-timeout":
            connect_timeout = float(rest.pop(0))
        elif a == "--":
            argv = rest
            break
        else:
            fail("unknown option %s" % a)
    rid = secrets.token_hex(8)
    if verb == "exec":
        if not argv:
            fail("no command")
        req = "AGR %s x %d %s\n" % (rid, int(timeout), " ".join(a.encode().hex() or "-" for a in argv))
    elif verb == "poweroff":
        req = "AGR %s p\n" % rid
    else:
        fail("unknown verb %s" % verb)

    lock = open(path + ".lock", "a+")
    start = time.monotonic()
    deadline = start + connect_timeout + timeout + 5
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fail("channel busy")
            time.sleep(0.05)
    # sun_path is short: connect by a relative name from the socket's directory.
    d = os.path.dirname(path)
    if d:
        os.chdir(d)
    s = connect(os.path.basename(path), start + connect_timeout)
    # The leading newline ends any partial line an aborted client left.
    s.sendall(b"\n" + req.encode())
    prefix = ("AGF %s " % rid).encode()
    buf = b""
    out = sys.stdout.buffer
    err = sys.stderr.buffer
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            fail("no answer within %.0f s" % (deadline - start))
        s.settimeout(left)
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            fail("channel closed (VM gone?)")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r")
            if not line.startswith(prefix):
                continue
            kind, _, data = line[len(prefix):].partition(b" ")
            if kind == b"o":
                out.write(bytes.fromhex(data.decode()))
                out.flush()
            elif kind == b"e":
                err.write(bytes.fromhex(data.decode()))
                err.flush()
            elif kind == b"x":
                s.close()
                sys.exit(int(data))
        if len(buf) > LINE_MAX:
            buf = b""


if __name__ == "__main__":
    main()
