#!/usr/bin/env python3
"""hold_conns.py HOST PORT SOURCE_ADDR N [SEND]: an attacker that opens N TCP
connections to HOST:PORT from SOURCE_ADDR (e.g. 127.0.0.2) and holds them
(sending SEND once on each, if given, else nothing; SEND "body:BYTES" makes
each a TLS connection that POSTs /validate declaring BYTES of body and sends
half of them). Prints "opened K" once
done, then on each line read from stdin "open K": how many the server has
not closed yet. Exits on "quit" or at end of input."""
import resource
import select
import socket
import ssl
import sys


def body_start(s, host, total):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t = ctx.wrap_socket(s)
    t.sendall(b"POST /validate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (host.encode(), total))
    t.sendall(b"[" + b"0," * (total // 4))
    return t


def open_conns(host, port, src, n, setup=None):
    """n connections to host:port from address src, each passed through
    setup(sock) (which returns the socket to keep); those that fail are left out."""
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.settimeout(2)
        try:
            s.connect((host, port))
            socks.append(setup(s) if setup else s)
        except OSError:
            s.close()
    return socks


def main():
    host, port, src, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    send = sys.argv[5].encode() if len(sys.argv) > 5 else b""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 64)), hard))

    def setup(s):
        if send.startswith(b"body:"):
            return body_start(s, host, int(send[5:]))
        if send:
            s.sendall(send)
        return s

    socks = open_conns(host, port, src, n, setup)
    print(f"opened {len(socks)}", flush=True)
    for line in sys.stdin:
        if line.strip() == "quit":
            break
        live = []
        for s in socks:
            r, _, _ = select.select([s], [], [], 0)
            if r:
                try:
                    if not s.recv(4096, socket.MSG_PEEK):
                        s.close()
                        continue
                except OSError:
                    s.close()
                    continue
            live.append(s)
        socks = live
        print(f"open {len(socks)}", flush=True)


if __name__ == "__main__":
    main()
