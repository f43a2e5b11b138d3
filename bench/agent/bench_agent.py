#!/usr/bin/env -S python3 -u
"""armorgate-agent benchmark (a program, not a test; prints a report).

Measures, on this machine (no AppArmor in the kernel):
  1. ConfigMap change -> Node label visible, p50/p99 over N changes, API
     source. The "kernel" is the fake securityfs of test/agent (a MOCK of
     the kernel side: compilation is the real apparmor_parser, only the
     kernel list is faked), so the figure covers watch -> validate ->
     compile -> "load" -> confirm -> publish; the real-kernel figure needs
     the node VM. Also split: change -> kernel confirm, confirm -> label.
  2. apparmor_parser compile time for one profile (-Q -K), median.
  3. 200 profiles first load: one batched parser run vs one run per
     profile (compile-only -Q -K here: no kernel), and the ratio; with
     --parser-option, also the agent's path with those -O options (a
     what-if: the agent passes none, see compile_options.py) against both
     one-by-one with defaults and one-by-one with the same options.
  4. The agent's own first load of 200 profiles (fake roots), with and
     without --compile-check.
  5. Idle CPU of the agent over 60 s (/proc/PID/stat utime+stime) and its
     peak RSS (VmHWM).
Usage: bench_agent.py AGENT_BINARY [--changes N] [--idle SECONDS]
Starts and stops its own cluster (test/cluster/start) in a temp dir.
"""
import argparse, base64, resource, json, os, shutil, signal, socket, ssl, statistics, subprocess, sys, tempfile, threading, time
import urllib.request

import yaml

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PARSER = shutil.which("apparmor_parser") or "/usr/sbin/apparmor_parser"


def profile(name, extra="network,"):
    return ("#include <tunables/global>\nprofile %s flags=(attach_disconnected) {\n"
            "  #include <abstractions/base>\n  file,\n  %s\n  deny /etc/shadow r,\n}\n" % (name, extra))


class Api:
    """Tiny client for the loopback apiserver (client-cert kubeconfig)."""

    def __init__(self, kubeconfig, tmp):
        kc = yaml.safe_load(open(kubeconfig))
        cl = kc["clusters"][0]["cluster"]
        us = kc["users"][0]["user"]
        self.server = cl["server"]
        ca, crt, key = (os.path.join(tmp, n) for n in ("ca.pem", "crt.pem", "key.pem"))
        for path, field in ((ca, cl["certificate-authority-data"]), (crt, us["client-certificate-data"]),
                            (key, us["client-key-data"])):
            with open(path, "wb") as f:
                f.write(base64.b64decode(field))
        self.ctx = ssl.create_default_context(cafile=ca)
        self.ctx.load_cert_chain(crt, key)

    def req(self, method, path, body=None, ctype="application/json"):
        data = json.dumps(body).encode() if body is not None else None
        r = urllib.request.Request(self.server + path, data=data, method=method,
                                   headers={"Content-Type": ctype} if data else {})
        with urllib.request.urlopen(r, context=self.ctx, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def watch_node(self, name, on_labels, stop):
        rv = self.req("GET", "/api/v1/nodes/%s" % name)["metadata"]["resourceVersion"]
        r = urllib.request.Request(self.server + "/api/v1/nodes?watch=1&fieldSelector=metadata.name%%3D%s"
                                   "&resourceVersion=%s" % (name, rv))
        with urllib.request.urlopen(r, context=self.ctx, timeout=600) as resp:
            for line in resp:
                if stop.is_set():
                    return
                ev = json.loads(line)
                on_labels(time.time(), ev["object"]["metadata"].get("labels", {}))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def fake_root(tmp):
    for d in ("sys/module/apparmor/parameters", "securityfs/apparmor", "proc/1/attr", "bin", "host"):
        os.makedirs(os.path.join(tmp, d), exist_ok=True)
    open(os.path.join(tmp, "sys/module/apparmor/parameters/enabled"), "w").write("Y\n")
    open(os.path.join(tmp, "securityfs/apparmor/profiles"), "w").write("")
    open(os.path.join(tmp, "proc/1/attr/current"), "w").write("unconfined\n")
    shutil.copy(os.path.join(SRC, "test/agent/fake-apparmor-parser"), os.path.join(tmp, "bin/apparmor_parser"))
    return tmp


def start_agent(agent, kubeconfig, node, root, extra, log):
    port = free_port()
    args = [agent, "--node-name", node, "--kubeconfig", kubeconfig, "--host-profiles-dir", root + "/host",
            "--parser-path", root + "/bin/apparmor_parser", "--sysfs-root", root + "/sys",
            "--securityfs-root", root + "/securityfs", "--proc-root", root + "/proc",
            "--probe-listen", "127.0.0.1:%d" % port] + extra
    p = subprocess.Popen(args, stderr=open(log, "w"))
    return p, port


def wait_ready(port, timeout=120, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            if urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2).status == 200:
                return True
        except Exception:
            pass
        time.sleep(0.05)
    return False


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def bench_label_latency(api, agent, kubeconfig, tmp, n):
    node = "bench-latency"
    root = fake_root(os.path.join(tmp, "lat"))
    api.req("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    api.req("POST", "/api/v1/namespaces/armorgate-system/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench"},
             "data": {"custom.base": profile("custom.base")}})
    p, port = start_agent(agent, kubeconfig, node, root, ["--configmap", "armorgate-system/bench"],
                          os.path.join(tmp, "lat.log"))
    seen, stop_ev = {}, threading.Event()

    def on_labels(t, labels):
        for k, v in labels.items():
            if k.startswith("profiles.armorgate.io/") and v == "loaded" and k not in seen:
                seen[k] = t
    try:
        if not wait_ready(port, 120, p):
            raise SystemExit("agent not ready; see %s" % os.path.join(tmp, "lat.log"))
        th = threading.Thread(target=api.watch_node, args=(node, on_labels, stop_ev), daemon=True)
        th.start()
        time.sleep(1)
        total, to_confirm, confirm_to_label = [], [], []
        loadlog = os.path.join(root, "load-times")
        for i in range(n):
            name = "custom.lat%d" % i
            key = "profiles.armorgate.io/" + name
            before = len(open(loadlog).read().split()) if os.path.exists(loadlog) else 0
            t0 = time.time()
            api.req("PATCH", "/api/v1/namespaces/armorgate-system/configmaps/bench",
                    {"data": {name: profile(name)}}, "application/merge-patch+json")
            end = t0 + 30
            while key not in seen and time.time() < end:
                time.sleep(0.002)
            if key not in seen:
                raise SystemExit("label %s never appeared" % key)
            loads = open(loadlog).read().split()
            tc = float(loads[before]) if len(loads) > before else float("nan")
            total.append(seen[key] - t0)
            to_confirm.append(tc - t0)
            confirm_to_label.append(seen[key] - tc)
            time.sleep(0.3)
        stop_ev.set()
        # One more event lets the watch see stop_ev and close its stream: an
        # open watch held the test apiserver's shutdown for its full 15 s.
        api.req("PATCH", "/api/v1/nodes/%s" % node, {"metadata": {"annotations": {"bench.armorgate.io/done": "1"}}},
                "application/merge-patch+json")
        th.join(10)
        return total, to_confirm, confirm_to_label
    finally:
        stop(p)


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def bench_parser(tmp, count=200, small=False, opts=(), features=None):
    d = os.path.join(tmp, "p200small" if small else "p200")
    os.makedirs(d, exist_ok=True)
    files = []
    for i in range(count):
        f = os.path.join(d, "custom.p%d" % i)
        text = ("profile custom.p%d {\n  /usr/bin/** rix,\n  /tmp/** rw,\n}\n" % i) if small else profile("custom.p%d" % i)
        open(f, "w").write(text)
        files.append(f)
    base = [PARSER, "-Q", "-K", "-q"] + (["-M", features] if features else [])
    withopt = base + [x for o in opts for x in ("-O", o)]
    one = []
    for _ in range(9):
        t = time.time()
        subprocess.run(base + [files[0]], check=True, stderr=subprocess.DEVNULL)
        one.append(time.time() - t)

    def timed(runs):
        t, c = time.time(), child_cpu()
        for argv in runs:
            subprocess.run(argv, check=True, stderr=subprocess.DEVNULL)
        return time.time() - t, child_cpu() - c

    def agent_path(parser):
        # The agent's checked load (agent_loader_load with check) on this
        # kernel-less host: one -N run over all files (the names gate), then
        # the batched run that on a node is `--replace` (compile + load) and
        # here is -Q -K.
        t, c = time.time(), child_cpu()
        out = subprocess.run(base + ["-N", "--"] + files, check=True, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode().split()
        assert sorted(out) == sorted(os.path.basename(f) for f in files)
        subprocess.run(parser + files, check=True, stderr=subprocess.DEVNULL)
        return time.time() - t, child_cpu() - c

    r = {"one": statistics.median(one)}
    r["batched"] = timed([base + files])
    r["single"] = timed([base + [f] for f in files])  # what other loaders do: defaults, one run each
    r["agent"] = agent_path(base)
    if opts:  # a what-if: the agent's path with -O options (the agent itself passes none)
        r["single_opt"] = timed([withopt + [f] for f in files])
        r["agent_opt"] = agent_path(withopt)
    return r


def bench_first_load(api, agent, kubeconfig, tmp, compile_check, count=200):
    node = "bench-first-%s" % ("cc" if compile_check else "nocc")
    root = fake_root(os.path.join(tmp, node))
    cm = "bench-" + node
    api.req("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    api.req("POST", "/api/v1/namespaces/armorgate-system/configmaps",
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": cm},
             "data": {"custom.p%d" % i: profile("custom.p%d" % i) for i in range(count)}})
    t0 = time.time()
    p, port = start_agent(agent, kubeconfig, node, root,
                          ["--configmap", "armorgate-system/" + cm, "--compile-check=" + ("true" if compile_check else "false"),
                           "--parser-timeout", "600"], os.path.join(tmp, node + ".log"))
    try:
        ok = wait_ready(port, 600, p)
        t = time.time() - t0
        lines = open(os.path.join(root, "securityfs/apparmor/profiles")).read().split("\n")
        return t if ok else float("nan"), sum(1 for l in lines if l.startswith("custom.p"))
    finally:
        stop(p)


def bench_idle(api, agent, kubeconfig, tmp, secs):
    node = "bench-idle"
    root = fake_root(os.path.join(tmp, "idle"))
    api.req("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node}})
    p, port = start_agent(agent, kubeconfig, node, root, ["--configmap", "armorgate-system/bench"],
                          os.path.join(tmp, "idle.log"))
    try:
        wait_ready(port)
        time.sleep(2)
        hz = os.sysconf("SC_CLK_TCK")

        def cpu():
            f = open("/proc/%d/stat" % p.pid).read().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / hz
        c0, t0 = cpu(), time.time()
        time.sleep(secs)
        c1, t1 = cpu(), time.time()
        hwm = [l for l in open("/proc/%d/status" % p.pid) if l.startswith(("VmHWM", "VmRSS"))]
        hwm += [l for l in open("/proc/%d/smaps_rollup" % p.pid)
                if l.startswith(("Pss:", "Shared_Clean:", "Private_Dirty:"))]
        if os.environ.get("BENCH_SMAPS"):  # where the resident pages are, per mapping
            rss, name = {}, None
            for l in open("/proc/%d/smaps" % p.pid):
                f = l.split()
                if "-" in f[0] and len(f) >= 5:
                    name = os.path.basename(f[5]) if len(f) > 5 else "[anon]"
                elif f[0] == "Rss:":
                    rss[name] = rss.get(name, 0) + int(f[1])
            for n, kb in sorted(rss.items(), key=lambda x: -x[1])[:25]:
                print("   rss %6d kB  %s" % (kb, n))
        return c1 - c0, t1 - t0, hwm
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("agent")
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--idle", type=int, default=60)
    ap.add_argument("--only", choices=("all", "latency", "parser", "firstload", "idle"), default="all",
                    help="run one part only (short, repeatable measurements)")
    ap.add_argument("--features", metavar="FILE",
                    help="parser part: compile against this features file (-M), e.g. "
                         "/usr/share/apparmor-features/features (Debian's policy features, close to a recent "
                         "kernel: `network,` is then compiled into the DFA, ~2x the CPU); default: none "
                         "(this kernel-less host's built-in set)")
    ap.add_argument("--parser-option", action="append", default=[], metavar="OPT",
                    help="also time a what-if: the parser part's agent path with -O OPT (repeatable), printed "
                         "against one-by-one with defaults and one-by-one with the same options")
    a = ap.parse_args()
    want = lambda part: a.only in ("all", part)
    agent = os.path.abspath(a.agent)
    tmp = tempfile.mkdtemp(prefix="bench-agent.")
    cdir = os.path.join(tmp, "cluster")
    subprocess.run([os.path.join(SRC, "test/cluster/start"), cdir], check=True, stdout=subprocess.DEVNULL)
    try:
        kubeconfig = os.path.join(cdir, "kubeconfig")
        api = Api(kubeconfig, tmp)
        api.req("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "armorgate-system"}})
        print("armorgate-agent benchmark (%s, %d cores; no AppArmor here: fake securityfs, real parser)"
              % (os.uname().release, os.cpu_count()))
        if want("latency"):
            total, to_conf, conf_to_label = bench_label_latency(api, agent, kubeconfig, tmp, a.changes)
            print("1. ConfigMap change -> Node label visible, %d changes (API source, fake kernel):" % len(total))
            for what, v in (("change -> label", total),
                            ("change -> kernel confirm (incl. validate+compile+load)", to_conf),
                            ("kernel confirm -> label visible", conf_to_label)):
                print("   %-55s p50 %6.0f ms  p99 %6.0f ms  max %6.0f ms" % (what, pct(v, .5) * 1e3, pct(v, .99) * 1e3,
                                                                           max(v) * 1e3))
            print("   (load average %.1f on %d cores while measuring)" % (os.getloadavg()[0], os.cpu_count()))
        for small in ((False, True) if want("parser") else ()):
            r = bench_parser(tmp, small=small, opts=a.parser_option, features=a.features)
            (batched, bcpu), (single, scpu), (agent_t, acpu) = r["batched"], r["single"], r["agent"]
            kind = "3-rule profile, no includes" if small else "profile with tunables/global + abstractions/base"
            print("2. apparmor_parser -Q -K%s, one %s: median %.0f ms"
                  % (" -M " + a.features if a.features else "", kind, r["one"] * 1e3))
            print("3.   200 of them, compile-only: batched %.2f s wall / %.2f s CPU; one run per profile %.2f s wall"
                  " / %.2f s CPU; ratio %.2fx wall, %.2fx CPU" % (batched, bcpu, single, scpu, single / batched,
                                                               scpu / bcpu))
            print("3b.  the agent's checked load (one -N run + the batched run): %.2f s wall / %.2f s CPU; "
                  "ratio to one run per profile %.2fx wall, %.2fx CPU (load average %.1f)"
                  % (agent_t, acpu, single / agent_t, scpu / acpu, os.getloadavg()[0]))
            if a.parser_option:
                (so, socpu), (ao, aocpu) = r["single_opt"], r["agent_opt"]
                opt = " ".join("-O " + o for o in a.parser_option)
                print("3c.  what-if, the agent's path with %s (NOT what the agent runs): %.2f s wall / %.2f s CPU;\n"
                      "     (a) vs one run per profile with defaults (what other loaders do): %.2fx wall, %.2fx CPU\n"
                      "     (b) vs one run per profile with the same %s (%.2f s / %.2f s CPU; batching alone): "
                      "%.2fx wall, %.2fx CPU (load average %.1f)"
                      % (opt, ao, aocpu, single / ao, scpu / aocpu, opt, so, socpu, so / ao, socpu / aocpu,
                         os.getloadavg()[0]))
        for cc in ((False, True) if want("firstload") else ()):
            t, n = bench_first_load(api, agent, kubeconfig, tmp, cc)
            print("4. agent first load of 200 profiles (--compile-check %s): %.2f s to ready, %d in the fake kernel"
                  % ("true" if cc else "false", t, n))
        if want("idle"):
            cpu, wall, hwm = bench_idle(api, agent, kubeconfig, tmp, a.idle)
            print("5. idle over %.0f s (poll-interval 30, API source): CPU %.3f s (%.3f%%); %s"
                  % (wall, cpu, 100 * cpu / wall, ", ".join(" ".join(h.split()) for h in hwm)))
    finally:
        subprocess.run([os.path.join(SRC, "test/cluster/stop"), cdir], stdout=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
