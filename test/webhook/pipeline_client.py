#!/usr/bin/env python3
"""TLS test client for server_test.sh: reviews sent back to back on one
keep-alive connection.

  pipeline_client.py pipeline PORT CA BODY N   send N POST /validate at once,
      then read: exit 0 when N complete 200 answers came back in order
  pipeline_client.py stall PORT CA BODY SECONDS   keep sending reviews and
      never read an answer (small receive buffer): exit 0 once the server
      ends the connection, 1 if it is still open after SECONDS
"""
import socket
import ssl
import sys
import time


def connect(port, ca, rcvbuf=None):
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    raw.connect(("127.0.0.1", port))
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def request(body):
    head = ("POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % len(body)).encode()
    return head + body


def read_answers(conn, n):
    """n HTTP answers with Content-Length bodies; returns their status codes."""
    buf = b""
    codes = []
    while len(codes) < n:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            chunk = conn.recv(65536)
            if not chunk:
                raise SystemExit("connection closed after %d of %d answers" % (len(codes), n))
            buf += chunk
            continue
        head = buf[:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(buf) < end + 4 + length:
            chunk = conn.recv(65536)
            if not chunk:
                raise SystemExit("answer %d cut short" % (len(codes) + 1))
            buf += chunk
        body = buf[end + 4:end + 4 + length]
        if b'"uid"' not in body:
            raise SystemExit("answer %d is not a review: %r" % (len(codes) + 1, body[:200]))
        codes.append(int(head[0].split()[1]))
        buf = buf[end + 4 + length:]
    return codes


def main():
    mode, port, ca, body_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    with open(body_file, "rb") as f:
        req = request(f.read())
    if mode == "pipeline":
        n = int(sys.argv[5])
        conn = connect(port, ca)
        conn.sendall(req * n)
        codes = read_answers(conn, n)
        if codes != [200] * n:
            raise SystemExit("statuses: %r" % codes)
        print("%d answers" % n)
        return 0
    if mode == "stall":
        deadline = time.monotonic() + float(sys.argv[5])
        conn = connect(port, ca, rcvbuf=4096)
        conn.settimeout(0.5)
        sent = 0
        pending = b""
        while time.monotonic() < deadline:
            if not pending:
                pending = req * 16
            try:
                # A write that timed out is retried with the same bytes (TLS needs that).
                n = conn.send(pending)
                sent += n
                pending = pending[n:]
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError) as e:
                print("closed by the server after %d bytes sent (%s)" % (sent, type(e).__name__))
                return 0
            except (socket.timeout, TimeoutError):
                pass
        print("still open after %d bytes sent" % sent)
        return 1
    raise SystemExit("unknown mode " + mode)


if __name__ == "__main__":
    sys.exit(main())
