#!/usr/bin/env python3
"""attack.py: pod reviews on fresh TLS connections from 127.0.0.1 while
attackers on 127.0.0.2 and 127.0.0.3 try to starve the webhook (issue 19).
A load program, not a test. Phases, each measured with N reviews (a new TLS
connection per review) and N /healthz requests: unloaded, then each attack
held while the reviews run, then unloaded again. Prints per phase: failures,
median and p99 (ms), the webhook's peak RSS (VmHWM).

usage: attack.py PORT PROBE_PORT REVIEW_FILE WEBHOOK_PID [N]"""
import http.client
import os
import resource
import socket
import ssl
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "webhook"))
from hold_conns import body_start, open_conns  # noqa: E402  the attackers of the integration test

HOST = "127.0.0.1"


def vmhwm(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def review(port, body, ctx):
    t = time.monotonic()
    req = (b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    ok = False
    try:
        with socket.create_connection((HOST, port), timeout=10) as raw:
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with ctx.wrap_socket(raw) as s:
                s.sendall(req)
                got = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                ok = got.startswith(b"HTTP/1.1 200") and b'"allowed":true' in got
    except OSError:
        ok = False
    return ok, (time.monotonic() - t) * 1000


def healthz(probe):
    t = time.monotonic()
    c = http.client.HTTPConnection(HOST, probe, timeout=10)
    try:
        c.request("GET", "/healthz")
        ok = c.getresponse().status == 200
    except OSError:
        ok = False
    finally:
        c.close()
    return ok, (time.monotonic() - t) * 1000


def hold(port, src, n, send=b""):
    def setup(s):
        if send:
            s.sendall(send)
        return s
    return open_conns(HOST, port, src, n, setup)


def bodies(port, src, n, total=3000000):
    """n TLS connections each declaring a near-3 MiB body and sending half."""
    return open_conns(HOST, port, src, n, lambda s: body_start(s, HOST, total))


def raw_post(body):
    """A whole POST /validate request carrying body, for send_raw."""
    return (b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


def send_raw(src, port, ctx, raw):
    """One attacker request from address src on a fresh TLS connection; reads the answer to the end."""
    s = socket.socket()
    s.bind((src, 0))
    s.connect((HOST, port))
    with ctx.wrap_socket(s) as t:
        t.sendall(raw)
        while t.recv(65536):
            pass


class Escaped:
    """Threads that POST 3 MiB reviews with an escaped member name (the full
    parse fallback) back to back for as long as the phase runs."""

    def __init__(self, port, ctx, n):
        import threading
        body = b'{"k\\u0069nd":"AdmissionReview","pad":[' + b"0," * 1500000 + b'0]}'
        self.req = raw_post(body)
        self.stop = False
        self.sent = 0
        self.threads = [threading.Thread(target=self.run, args=(port, ctx, "127.0.0.%d" % (2 + i % 2)))
                        for i in range(n)]
        for t in self.threads:
            t.start()

    def run(self, port, ctx, src):
        while not self.stop:
            try:
                send_raw(src, port, ctx, self.req)
                self.sent += 1
            except OSError:
                time.sleep(0.01)

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join()
        print(f"  ({self.sent} escaped 3 MiB reviews sent)")


class CompileFlood:
    """Threads that POST profiles-ConfigMap reviews back to back, each with a
    new slow profile (`/**a???????????????`, a key of its own so the compile
    cache never helps) for as long as the phase runs: the webhook's compile
    pool takes --compile-queue of them and denies the rest at once."""

    def __init__(self, port, probe, ctx, n):
        import threading
        self.port, self.probe, self.ctx = port, probe, ctx
        self.stop = False
        self.sent = 0
        self.seq = 0
        self.lock = threading.Lock()
        self.before = compile_metrics(probe)
        self.threads = [threading.Thread(target=self.run, args=("127.0.0.%d" % (2 + i % 2),)) for i in range(n)]
        for t in self.threads:
            t.start()

    def body(self):
        import json
        with self.lock:
            self.seq += 1
            key = "custom.flood%d" % self.seq
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "armorgate-profiles", "namespace": "armorgate-system"},
               "data": {key: "profile %s {\n  /**a??????????????? r,\n}\n" % key}}
        req = {"uid": "f%d" % self.seq, "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
               "resource": {"group": "", "version": "v1", "resource": "configmaps"},
               "namespace": "armorgate-system", "name": "armorgate-profiles", "operation": "CREATE", "object": obj}
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": req}).encode()
        return raw_post(body)

    def run(self, src):
        while not self.stop:
            try:
                send_raw(src, self.port, self.ctx, self.body())
                self.sent += 1
            except OSError:
                time.sleep(0.01)

    def close(self):
        self.stop = True
        for t in self.threads:
            t.join()
        after = compile_metrics(self.probe)
        delta = {k: after.get(k, 0) - self.before.get(k, 0) for k in after}
        print(f"  ({self.sent} ConfigMap reviews with a new slow profile sent; parser runs "
              f"{delta.get('checks', 0):.0f} (timeout {delta.get('timeout', 0):.0f}), denied queue full "
              f"{delta.get('queue_full', 0):.0f}, cache hits {delta.get('hit', 0):.0f})")


def compile_metrics(probe):
    """The compile pool's counters from /metrics (empty on a webhook without one)."""
    c = http.client.HTTPConnection(HOST, probe, timeout=10)
    out = {}
    try:
        c.request("GET", "/metrics")
        for line in c.getresponse().read().decode().splitlines():
            name, _, v = line.rpartition(" ")
            if name.startswith("armorgate_webhook_compile_checks_total"):
                out["checks"] = out.get("checks", 0) + float(v)
                if 'result="timeout"' in name:
                    out["timeout"] = float(v)
            elif name == 'armorgate_webhook_compile_refusals_total{reason="queue_full"}':
                out["queue_full"] = float(v)
            elif name == 'armorgate_webhook_compile_cache_total{result="hit"}':
                out["hit"] = float(v)
    except OSError:
        pass
    finally:
        c.close()
    return out


def tls_idle(port, src, n, ctx):
    return open_conns(HOST, port, src, n, ctx.wrap_socket)


def measure(name, port, probe, body, ctx, n, pid, attack):
    held = attack()
    res = [review(port, body, ctx) for _ in range(n)]
    hz = [healthz(probe) for _ in range(n)]
    for s in held:
        s.close()
    lat = sorted(ms for ok, ms in res)
    hl = sorted(ms for ok, ms in hz)
    fails = sum(1 for ok, _ in res if not ok)
    hfails = sum(1 for ok, _ in hz if not ok)
    med = statistics.median(lat)
    print(f"{name:34s} held {len(held):5d}  reviews: fail {fails:3d} median {med:7.2f} ms "
          f"p99 {lat[int(len(lat) * 0.99) - 1]:7.2f}  healthz: fail {hfails} median {statistics.median(hl):6.2f} ms"
          f"  VmHWM {vmhwm(pid)} kB", flush=True)
    return med, fails + hfails


def main():
    port, probe, body, pid = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read(), int(sys.argv[4])
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"  # a ClientHello that never ends
    only = os.environ.get("ATTACK_PHASES")  # comma-separated phase name prefixes; unset = all
    phases = [
        ("unloaded", lambda: []),
        ("idle TCP 2x600 (no handshake)", lambda: hold(port, "127.0.0.2", 600) + hold(port, "127.0.0.3", 600)),
        ("slow ClientHello 2x600", lambda: hold(port, "127.0.0.2", 600, hello) + hold(port, "127.0.0.3", 600, hello)),
        ("idle after TLS 2x600", lambda: tls_idle(port, "127.0.0.2", 600, ctx) + tls_idle(port, "127.0.0.3", 600, ctx)),
        ("3 MiB bodies held 2x20", lambda: bodies(port, "127.0.0.2", 20) + bodies(port, "127.0.0.3", 20)),
        ("escaped 3 MiB reviews, 4 senders", lambda: [Escaped(port, ctx, 4)]),
        ("probe port idle 2x200", lambda: hold(probe, "127.0.0.2", 200) + hold(probe, "127.0.0.3", 200)),
        ("compile flood, 16 senders", lambda: [CompileFlood(port, probe, ctx, 16)]),
        ("unloaded again", lambda: []),
    ]
    if only:
        keep = tuple(p.strip() for p in only.split(","))
        phases = [p for p in phases if p[0].startswith(("unloaded",) + keep)]
    for _ in range(50):  # warm-up: first connections pay for cold caches
        review(port, body, ctx)
    base = None
    worst = 0.0
    failures = 0
    for name, attack in phases:
        med, f = measure(name, port, probe, body, ctx, n, pid, attack)
        failures += f
        if base is None:
            base = med
        else:
            worst = max(worst, med / base)
    print(f"worst median / unloaded median: {worst:.2f} (target <= 3); failures {failures} (target 0); "
          f"peak RSS {vmhwm(pid)} kB (target < 65536)")


main()
