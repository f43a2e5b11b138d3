#!/usr/bin/env python3
"""bench/fleet/fleet.py: the measuring half of bench/fleet/run.sh (which
starts and stops every process; see its header and README.md).

  fleet.py setup --cluster DIR --nodes N
      namespace, the chart's RBAC for the agents' and the webhook's client
      certificate groups, FlowSchemas that give each group its own line in
      the apiserver's APF metrics, the profiles ConfigMap (2 profiles) and N
      Node objects (status.nodeInfo.bootID = the fake root's boot_id).
  fleet.py run --cluster DIR --agents agents.tsv ...
      waits for the fleet to converge, makes the ConfigMap changes, restarts
      the apiserver after one of them, checks and prints the report.

Only the Python standard library; talks to loopback only (the apiserver
with the admin certificate, the webhook, the agents' probe ports)."""
import argparse
import collections
import hashlib
import http.client
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

NS = "armorgate-system"
CM = "armorgate-profiles"
PFX = "profiles.armorgate.io/"
AGENT_GROUP = "armorgate:fleet-agents"
WEBHOOK_GROUP = "armorgate:fleet-webhook"
AGENT_FS = "armorgate-fleet-agents"
WEBHOOK_FS = "armorgate-fleet-webhook"
HZ = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, flush=True)


def boot_id(i):
    # The same formula as run.sh's boot_id.
    return "%08x-0000-4000-8000-%012x" % (i, i)


def profile(name, rule):
    return ("#include <tunables/global>\nprofile %s flags=(attach_disconnected) {\n"
            "  #include <abstractions/base>\n  file,\n  %s\n}\n" % (name, rule))


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


class Api:
    """The apiserver as admin (client certificate), one connection per thread."""

    def __init__(self, cl):
        st = dict(line.split("=", 1) for line in open(os.path.join(cl, "state")).read().split("\n") if "=" in line)
        self.port = int(st["APISERVER_PORT"])
        self.cl = cl
        self.ctx = ssl.create_default_context(cafile=os.path.join(cl, "pki/ca.crt"))
        self.ctx.load_cert_chain(os.path.join(cl, "pki/admin.crt"), os.path.join(cl, "pki/admin.key"))
        self.local = threading.local()

    def conn(self, timeout=30):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=timeout)

    def req(self, method, path, body=None, ctype="application/json", timeout=30):
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        for attempt in (0, 1):
            c = getattr(self.local, "c", None)
            if c is None:
                c = self.local.c = self.conn(timeout)
            try:
                hdr = {"Content-Type": ctype} if data is not None else {}
                c.request(method, path, body=data, headers=hdr)
                r = c.getresponse()
                return r.status, r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                self.local.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def ok(self, method, path, body=None, ctype="application/json", accept=(200, 201)):
        s, b = self.req(method, path, body, ctype)
        if s not in accept:
            raise RuntimeError("%s %s -> %d %s" % (method, path, s, b[:300]))
        return json.loads(b) if b else None

    def pid(self, name):
        try:
            return int(open(os.path.join(self.cl, name + ".pid")).read())
        except (OSError, ValueError):
            return None


# --------------------------------------------------------------- setup
def setup(a):
    api = Api(a.cluster)
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        # The chart's agent RBAC (charts/armorgate/templates/rbac.yaml), bound to the certificates' group.
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "fleet-agent"},
         "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "fleet-agent"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fleet-agent"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": AGENT_GROUP}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "fleet-agent-events", "namespace": "default"},
         "rules": [{"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "fleet-agent-events", "namespace": "default"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-agent-events"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": AGENT_GROUP}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "fleet-agent-profiles", "namespace": NS},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": [CM], "verbs": ["get", "list", "watch"]},
                   {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "fleet-agent-profiles", "namespace": NS},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "fleet-agent-profiles"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": AGENT_GROUP}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "fleet-webhook"},
         "rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "fleet-webhook"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "fleet-webhook"},
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": WEBHOOK_GROUP}]},
    ]
    # Own FlowSchemas: the apiserver's APF metrics then count each client group
    # apart (apiserver_request_total has no client label). Service accounts,
    # which the real DaemonSet uses, land on workload-low too.
    for fs, grp, prec in ((AGENT_FS, AGENT_GROUP, 500), (WEBHOOK_FS, WEBHOOK_GROUP, 501)):
        objs.append({"apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema", "metadata": {"name": fs},
                     "spec": {"matchingPrecedence": prec, "priorityLevelConfiguration": {"name": "workload-low"},
                              "distinguisherMethod": {"type": "ByUser"},
                              "rules": [{"subjects": [{"kind": "Group", "group": {"name": grp}}],
                                         "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"],
                                                            "clusterScope": True, "namespaces": ["*"]}],
                                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]}]}})
    objs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CM, "namespace": NS},
                 "data": {"custom.base-1": profile("custom.base-1", "network,"),
                          "custom.base-2": profile("custom.base-2", "network,")}})
    subprocess.run(["kubectl", "apply", "-f", "-"], input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}).encode(),
                   check=True, stdout=subprocess.DEVNULL)
    for i in range(1, a.nodes + 1):
        n = "node-%d" % i
        api.ok("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                         "metadata": {"name": n, "labels": {"kubernetes.io/hostname": n}}})
        api.ok("PATCH", "/api/v1/nodes/%s/status" % n, {"status": {"nodeInfo": {"bootID": boot_id(i)}}},
               ctype="application/merge-patch+json")
    log("setup: %d nodes" % a.nodes)


# --------------------------------------------------------------- metrics
LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LBL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def prom(text, names):
    """{(name, frozenset(labels)): value} for the metric names given."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        m = LINE.match(line)
        if not m or m.group(1) not in names:
            continue
        out[(m.group(1), frozenset(LBL.findall(m.group(2) or "")))] = float(m.group(3))
    return out


def psum(p, name, **want):
    return sum(v for (n, l), v in p.items() if n == name and all((k, w) in l for k, w in want.items()))


APIS_METRICS = {"apiserver_request_total", "apiserver_flowcontrol_dispatched_requests_total",
                "apiserver_flowcontrol_rejected_requests_total"}


def apiserver_metrics(api):
    s, b = api.req("GET", "/metrics", timeout=60)
    if s != 200:
        raise RuntimeError("apiserver /metrics -> %d" % s)
    return prom(b.decode(), APIS_METRICS)


def req_breakdown(m0, m1):
    """(verb, resource, subresource) -> requests between two scrapes (resource requests only)."""
    d = collections.Counter()
    for (n, l), v in m1.items():
        if n != "apiserver_request_total":
            continue
        ld = dict(l)
        if not ld.get("resource"):
            continue
        d[(ld.get("verb"), ld.get("resource"), ld.get("subresource", ""))] += v - m0.get((n, l), 0.0)
    return {k: v for k, v in d.items() if v > 0}


def fs_dispatched(m0, m1, fs):
    return psum(m1, "apiserver_flowcontrol_dispatched_requests_total", flow_schema=fs) - \
        psum(m0, "apiserver_flowcontrol_dispatched_requests_total", flow_schema=fs)


def fs_rejected(m0, m1, fs):
    return psum(m1, "apiserver_flowcontrol_rejected_requests_total", flow_schema=fs) - \
        psum(m0, "apiserver_flowcontrol_rejected_requests_total", flow_schema=fs)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode()


AGENT_METRICS = {"armorgate_agent_node_patches_total", "armorgate_agent_node_patch_failures_total",
                 "armorgate_agent_parser_runs_total", "armorgate_agent_loads_total",
                 "armorgate_agent_load_failures_total"}


def agents_metrics(agents):
    tot = collections.Counter()
    bad = 0
    for ag in agents:
        try:
            _, t = http_get("http://127.0.0.1:%s/metrics" % ag["port"])
        except OSError:
            bad += 1
            continue
        for (n, _), v in prom(t, AGENT_METRICS).items():
            tot[n] += v
    return tot, bad


def proc_cpu(pid, children=False):
    """utime+stime (+ reaped children's) of pid, seconds; None when gone."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    t = int(f[11]) + int(f[12])
    if children:
        t += int(f[13]) + int(f[14])
    return t / HZ


def proc_status(pid):
    d = {}
    try:
        for line in open("/proc/%d/status" % pid):
            k, v = line.split(":", 1)
            d[k] = v.strip()
    except OSError:
        pass
    return d


def pss_kb(pid):
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def alive(pid):
    s = proc_status(pid)
    return bool(s) and not s.get("State", "").startswith(("Z", "X"))


def steal_ticks():
    f = open("/proc/stat").readline().split()
    return int(f[8])


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


# --------------------------------------------------------------- node watch
class NodeWatch(threading.Thread):
    """Keeps every Node's armorgate labels and status profiles (list + watch,
    relist after any break: the apiserver restart) and records, for the
    current target (profile, sha256), when each node first showed it
    labelled and loaded with that content."""

    def __init__(self, api):
        super().__init__(daemon=True)
        self.api = api
        self.mu = threading.Condition()
        self.nodes = {}  # name -> (labels, status profiles)
        self.target = None
        self.done = {}
        self.events = 0
        self.relists = 0
        self.stop = False

    def _apply(self, obj, now):
        md = obj.get("metadata", {})
        name = md.get("name")
        labels = md.get("labels") or {}
        try:
            st = json.loads((md.get("annotations") or {}).get("armorgate.io/status", "{}"))
        except ValueError:
            st = {}
        profs = st.get("profiles") or {}
        self.nodes[name] = (labels, profs, st)
        if self.target and name not in self.done:
            p, h = self.target
            e = profs.get(p) or {}
            if labels.get(PFX + p) == "loaded" and e.get("sha256") == h and e.get("state") == "loaded":
                self.done[name] = now
                self.mu.notify_all()

    def set_target(self, p, h):
        with self.mu:
            self.target = (p, h)
            self.done = {}
            for n, (labels, profs, _) in list(self.nodes.items()):
                e = profs.get(p) or {}
                if labels.get(PFX + p) == "loaded" and e.get("sha256") == h:
                    self.done[n] = time.time()

    def wait_done(self, n, timeout):
        end = time.time() + timeout
        with self.mu:
            while len(self.done) < n and time.time() < end:
                self.mu.wait(min(1.0, end - time.time()))
            return dict(self.done)

    def run(self):
        while not self.stop:
            c = None
            try:
                s, b = self.api.req("GET", "/api/v1/nodes", timeout=30)
                if s != 200:
                    raise RuntimeError("list %d" % s)
                lst = json.loads(b)
                now = time.time()
                with self.mu:
                    self.relists += 1
                    for o in lst["items"]:
                        self._apply(o, now)
                rv = lst["metadata"]["resourceVersion"]
                c = self.api.conn(timeout=330)
                c.request("GET", "/api/v1/nodes?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=" + rv)
                r = c.getresponse()
                if r.status != 200:
                    raise RuntimeError("watch %d" % r.status)
                while not self.stop:
                    line = r.readline()
                    if not line:
                        break
                    ev = json.loads(line)
                    now = time.time()
                    if ev.get("type") in ("ADDED", "MODIFIED"):
                        with self.mu:
                            self.events += 1
                            self._apply(ev["object"], now)
                    elif ev.get("type") == "ERROR":
                        break
            except Exception:  # noqa: BLE001 - any break: relist after a pause
                time.sleep(0.5)
            finally:
                if c:
                    c.close()


# --------------------------------------------------------------- webhook
class Webhook:
    def __init__(self, port, probe):
        self.port, self.probe = port, probe
        self.ctx = ssl._create_unverified_context()  # our own throwaway certificate on loopback
        self.c = None

    def metric(self):
        _, t = http_get("http://127.0.0.1:%s/metrics" % self.probe)
        p = prom(t, {"armorgate_webhook_nodes", "armorgate_webhook_nodes_apparmor_enabled",
                     "armorgate_webhook_node_watch_connected", "armorgate_webhook_node_events_total",
                     "armorgate_webhook_node_relists_total", "armorgate_webhook_node_watch_restarts_total"})
        return {n: v for (n, _), v in p.items()}

    def allowed(self, node, prof):
        """Would the webhook admit a pod bound to node using prof? (POST /validate)"""
        rev = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
            "uid": "fleet-%s-%s" % (node, prof), "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
            "namespace": "apps", "userInfo": {"username": "fleet"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"},
                       "spec": {"nodeName": node, "containers": [{"name": "app", "image": "x", "securityContext": {
                           "appArmorProfile": {"type": "Localhost", "localhostProfile": prof}}}]}}}}
        body = json.dumps(rev).encode()
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
            try:
                self.c.request("POST", "/validate", body=body, headers={"Content-Type": "application/json"})
                r = self.c.getresponse()
                out = json.loads(r.read())
                return bool(out["response"]["allowed"])
            except (OSError, http.client.HTTPException, ValueError, KeyError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        return False


def kubectl_count(selector):
    out = subprocess.run(["kubectl", "get", "nodes", "-l", selector, "-o", "name"], check=True,
                         capture_output=True, text=True).stdout
    return len(out.split())


# --------------------------------------------------------------- run
class Run:
    def __init__(self, a):
        self.a = a
        self.api = Api(a.cluster)
        self.agents = []
        for line in open(a.agents):
            node, pid, port, root = line.rstrip("\n").split("\t")
            self.agents.append({"node": node, "pid": int(pid), "port": port, "root": root})
        self.n = len(self.agents)
        self.wh = Webhook(a.webhook_port, a.webhook_probe)
        self.watch = NodeWatch(self.api)
        self.expected = {}  # profile -> sha256
        self.rows = []
        self.restart = None
        self.problems = []

    def cpu(self):
        return {"apiserver": proc_cpu(self.api.pid("kube-apiserver")) or 0.0,
                "etcd": proc_cpu(self.api.pid("etcd")) or 0.0,
                "webhook": proc_cpu(self.a.webhook_pid) or 0.0,
                "agents": sum(proc_cpu(ag["pid"], children=True) or 0.0 for ag in self.agents),
                "agents_self": sum(proc_cpu(ag["pid"]) or 0.0 for ag in self.agents),
                "steal": steal_ticks() / HZ, "wall": time.time()}

    def check_labels(self, what):
        """Every node: exactly the expected profiles labelled loaded with the expected sha256, apparmor=enabled."""
        bad = []
        with self.watch.mu:
            for ag in self.agents:
                labels, profs, st = self.watch.nodes.get(ag["node"], ({}, {}, {}))
                have = {k[len(PFX):] for k, v in labels.items() if k.startswith(PFX)}
                lost = set(self.expected) - have
                stale = have - set(self.expected)
                wrong = [p for p, h in self.expected.items() if (profs.get(p) or {}).get("sha256") != h]
                if labels.get("armorgate.io/apparmor") != "enabled" or lost or stale or wrong:
                    bad.append("%s: lost %s stale %s wrong-sha %s apparmor=%s" % (
                        ag["node"], sorted(lost), sorted(stale), wrong, labels.get("armorgate.io/apparmor")))
        if bad:
            self.problems.append("%s: %d nodes wrong, e.g. %s" % (what, len(bad), bad[0]))
        return len(bad)

    def check_kernels(self):
        """The fake kernels hold exactly the expected custom.* profiles."""
        bad = 0
        for ag in self.agents:
            lst = open(os.path.join(ag["root"], "securityfs/apparmor/profiles")).read().split("\n")
            have = {line.split(" ")[0] for line in lst if line.startswith("custom.")}
            if have != set(self.expected):
                bad += 1
        return bad

    def webhook_converged(self, prof, timeout=60):
        """Seconds until the webhook admits a pod using prof on every node and its
        node gauges equal the apiserver's counts; None if not within timeout."""
        t0 = time.time()
        pending = [ag["node"] for ag in self.agents]
        while time.time() - t0 < timeout:
            pending = [n for n in pending if not self.wh.allowed(n, prof)]
            m = self.wh.metric()
            if not pending and m.get("armorgate_webhook_nodes") == self.n and \
                    m.get("armorgate_webhook_nodes_apparmor_enabled") == self.n:
                return time.time() - t0
            time.sleep(0.2)
        self.problems.append("webhook not converged on %s after %d s: %d nodes deny, metrics %s" % (
            prof, timeout, len(pending), self.wh.metric()))
        return None

    def wait_initial(self):
        t0 = time.time()
        self.expected = {"custom.base-%d" % i: sha(profile("custom.base-%d" % i, "network,")) for i in (1, 2)}
        end = t0 + 600
        while time.time() < end:
            with self.watch.mu:
                ok = sum(1 for ag in self.agents if all(
                    self.watch.nodes.get(ag["node"], ({}, {}, {}))[0].get(PFX + p) == "loaded" for p in self.expected))
            if ok == self.n:
                break
            time.sleep(0.5)
        else:
            raise RuntimeError("initial convergence: only %d of %d nodes labelled after 600 s" % (ok, self.n))
        dt = time.time() - t0
        end = time.time() + 60
        while time.time() < end:
            try:
                if http_get("http://127.0.0.1:%s/readyz" % self.wh.probe)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        return dt

    def change(self, c):
        if c % 2:
            p = "custom.fleet-%d" % c
            kind = "add"
        else:
            p = "custom.base-%d" % (1 + (c // 2) % 2)
            kind = "modify"
        text = profile(p, "/tmp/fleet-%d r," % c)
        h = sha(text)
        m0 = apiserver_metrics(self.api)
        a0, _ = agents_metrics(self.agents)
        wh0 = self.wh.metric()
        cpu0 = self.cpu()
        self.watch.set_target(p, h)
        t0 = time.time()
        self.api.ok("PATCH", "/api/v1/namespaces/%s/configmaps/%s" % (NS, CM), {"data": {p: text}},
                    ctype="application/merge-patch+json")
        self.expected[p] = h
        done = self.watch.wait_done(self.n, self.a.change_timeout)
        cpu1 = self.cpu()
        lat = sorted(t - t0 for t in done.values())
        # The fake parser appends the time the "kernel" accepted each load:
        # change -> kernel (agent + parser) and kernel -> label seen (publish path).
        to_kernel, to_label = [], []
        for ag in self.agents:
            try:
                lt = [float(x) for x in open(os.path.join(ag["root"], "load-times")).read().split()]
            except (OSError, ValueError):
                continue
            lt = [x for x in lt if x >= t0]
            if lt and ag["node"] in done:
                to_kernel.append(lt[-1] - t0)
                to_label.append(done[ag["node"]] - lt[-1])
        # Let stragglers (Events, retries) land before counting requests.
        time.sleep(1.0)
        m1 = apiserver_metrics(self.api)
        a1, unreachable = agents_metrics(self.agents)
        br = req_breakdown(m0, m1)
        agent_reqs = fs_dispatched(m0, m1, AGENT_FS)
        whc = self.webhook_converged(p)
        wh1 = self.wh.metric()
        k_prof = kubectl_count("%s%s=loaded" % (PFX, p))
        k_en = kubectl_count("armorgate.io/apparmor=enabled")
        bad = self.check_labels("after change %d" % c)
        # Completions per 1 s window: the burst the apiserver saw.
        buckets = collections.Counter(int(x) for x in lat)
        row = {
            "change": c, "kind": kind, "profile": p, "labelled": len(done),
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": lat[-1] if lat else float("nan"),
            "first": lat[0] if lat else float("nan"),
            "kernel_p50": pct(to_kernel, 50), "kernel_max": max(to_kernel, default=float("nan")),
            "kernel_to_label_p50": pct(to_label, 50), "kernel_to_label_p99": pct(to_label, 99),
            "kernel_to_label_max": max(to_label, default=float("nan")),
            "peak_nodes_per_s": max(buckets.values()) if buckets else 0,
            "agent_requests": agent_reqs, "agent_requests_per_agent": agent_reqs / self.n,
            "agent_rejected": fs_rejected(m0, m1, AGENT_FS),
            "patches_per_agent": (a1["armorgate_agent_node_patches_total"] - a0["armorgate_agent_node_patches_total"]) / self.n,
            "patch_failures": a1["armorgate_agent_node_patch_failures_total"] - a0["armorgate_agent_node_patch_failures_total"],
            "parser_runs_per_agent": (a1["armorgate_agent_parser_runs_total"] - a0["armorgate_agent_parser_runs_total"]) / self.n,
            "agents_unreachable": unreachable,
            "node_get": br.get(("GET", "nodes", ""), 0), "node_patch": br.get(("PATCH", "nodes", ""), 0),
            "breakdown": {"%s %s%s" % (k[0], k[1], "/" + k[2] if k[2] else ""): v for k, v in sorted(br.items())},
            "cpu_apiserver": cpu1["apiserver"] - cpu0["apiserver"], "cpu_etcd": cpu1["etcd"] - cpu0["etcd"],
            "cpu_agents": cpu1["agents"] - cpu0["agents"], "cpu_agents_self": cpu1["agents_self"] - cpu0["agents_self"],
            "cpu_webhook": cpu1["webhook"] - cpu0["webhook"],
            "steal_pct": 100.0 * (cpu1["steal"] - cpu0["steal"]) / max(1e-9, (cpu1["wall"] - cpu0["wall"]) * os.cpu_count()),
            "window_s": cpu1["wall"] - cpu0["wall"],
            "webhook_lag_s": whc, "webhook_nodes": wh1.get("armorgate_webhook_nodes"),
            "webhook_enabled": wh1.get("armorgate_webhook_nodes_apparmor_enabled"),
            "webhook_events": wh1.get("armorgate_webhook_node_events_total", 0) - wh0.get("armorgate_webhook_node_events_total", 0),
            "kubectl_profile": k_prof, "kubectl_enabled": k_en, "nodes_wrong": bad,
        }
        if len(done) < self.n:
            self.problems.append("change %d: only %d of %d nodes labelled within %d s" % (c, len(done), self.n, self.a.change_timeout))
        self.rows.append(row)
        log("change %2d %-6s %-15s all %3d/%d  p50 %5.2f s  p99 %5.2f s  max %5.2f s (kernel->label p50 %.2f max %.2f) | agent req/agent %.2f "
            "(GET nodes %d, PATCH nodes %d) patches/agent %.2f | apiserver CPU %.2f s, etcd %.2f s, agents %.2f s, "
            "(self %.2f s) steal %.0f%% | webhook %s (lag %s s), kubectl %d/%d, wrong nodes %d" % (
                c, kind, p, len(done), self.n, row["p50"], row["p99"], row["max"], row["kernel_to_label_p50"],
                row["kernel_to_label_max"], row["agent_requests_per_agent"],
                row["node_get"], row["node_patch"], row["patches_per_agent"], row["cpu_apiserver"], row["cpu_etcd"],
                row["cpu_agents"], row["cpu_agents_self"], row["steal_pct"],
                "%d/%d" % (row["webhook_nodes"] or 0, row["webhook_enabled"] or 0),
                "%.2f" % whc if whc is not None else "never", k_prof, k_en, bad))

    def do_restart(self):
        log("restarting the kube-apiserver (test/cluster/restart-apiserver) ...")
        a0, _ = agents_metrics(self.agents)
        wh0 = self.wh.metric()
        cpu_ag0 = sum(proc_cpu(ag["pid"], children=True) or 0.0 for ag in self.agents)
        t0 = time.time()
        out = subprocess.run([self.a.restart_cmd, self.a.cluster], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise RuntimeError("restart-apiserver failed: %s" % out.stderr[-2000:])
        t_ready = time.time() - t0
        cpu_api0 = proc_cpu(self.api.pid("kube-apiserver")) or 0.0
        # The webhook's watch back, then a settle period for the agents' informers.
        end = time.time() + 60
        while time.time() < end and self.wh.metric().get("armorgate_webhook_node_watch_connected") != 1:
            time.sleep(0.2)
        t_wh = time.time() - t0
        time.sleep(self.a.settle)
        m1 = apiserver_metrics(self.api)
        a1, _ = agents_metrics(self.agents)
        wh1 = self.wh.metric()
        bad = self.check_labels("after the apiserver restart")
        kern = self.check_kernels()
        self.restart = {
            "ready_s": t_ready, "webhook_watch_back_s": t_wh,
            "agent_requests": fs_dispatched({}, m1, AGENT_FS),
            "breakdown": {"%s %s%s" % (k[0], k[1], "/" + k[2] if k[2] else ""): v
                          for k, v in sorted(req_breakdown({}, m1).items())},
            "patches": a1["armorgate_agent_node_patches_total"] - a0["armorgate_agent_node_patches_total"],
            "patch_failures": a1["armorgate_agent_node_patch_failures_total"] - a0["armorgate_agent_node_patch_failures_total"],
            "webhook_relists": wh1.get("armorgate_webhook_node_relists_total", 0) - wh0.get("armorgate_webhook_node_relists_total", 0),
            "webhook_restarts": wh1.get("armorgate_webhook_node_watch_restarts_total", 0) - wh0.get("armorgate_webhook_node_watch_restarts_total", 0),
            "apiserver_cpu_after_ready": (proc_cpu(self.api.pid("kube-apiserver")) or 0.0) - cpu_api0,
            "agents_cpu": sum(proc_cpu(ag["pid"], children=True) or 0.0 for ag in self.agents) - cpu_ag0,
            "nodes_wrong": bad, "kernels_wrong": kern, "settle_s": self.a.settle,
        }
        log("restart: apiserver ready in %.1f s, webhook watch back after %.1f s; in the %d s after: agent requests %d "
            "(%s), agent patches %d, patch failures %d; nodes with lost/stale/wrong labels %d, fake kernels wrong %d" % (
                t_ready, t_wh, self.a.settle, self.restart["agent_requests"],
                ", ".join("%s %d" % kv for kv in self.restart["breakdown"].items()),
                self.restart["patches"], self.restart["patch_failures"], bad, kern))

    def final(self):
        dead = [ag["node"] for ag in self.agents if not alive(ag["pid"])]
        crash_re = re.compile(r"Segmentation|core dumped|AddressSanitizer|runtime error|Assertion|abort|double free|"
                              r"corrupted|stack smashing", re.I)
        crashes, levels, msgs = [], collections.Counter(), collections.Counter()
        for ag in self.agents:
            for line in open(os.path.join(ag["root"], "agent.log"), errors="replace"):
                if crash_re.search(line):
                    crashes.append("%s: %s" % (ag["node"], line.strip()[:200]))
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                lvl = j.get("level", "?")
                levels[lvl] += 1
                if lvl in ("warn", "error"):
                    msgs["%s: %s" % (lvl, j.get("msg"))] += 1
        st = [proc_status(ag["pid"]) for ag in self.agents]
        rss = [int(s.get("VmRSS", "0 kB").split()[0]) for s in st if s]
        hwm = [int(s.get("VmHWM", "0 kB").split()[0]) for s in st if s]
        pss = sum(pss_kb(ag["pid"]) for ag in self.agents)
        thr = sum(int(s.get("Threads", "0")) for s in st if s)
        node = self.api.ok("GET", "/api/v1/nodes/%s" % self.agents[0]["node"])
        cm = self.api.ok("GET", "/api/v1/namespaces/%s/configmaps/%s" % (NS, CM))
        wst = proc_status(self.a.webhook_pid)
        aps = proc_status(self.api.pid("kube-apiserver") or 0)
        ets = proc_status(self.api.pid("etcd") or 0)
        whlog = collections.Counter()
        for line in open(self.a.webhook_log, errors="replace"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if j.get("level") in ("warn", "error"):
                whlog["%s: %s" % (j.get("level"), j.get("msg"))] += 1
        return {
            "dead": dead, "crashes": crashes, "log_levels": dict(levels), "log_warn_error": dict(msgs.most_common(12)),
            "webhook_alive": alive(self.a.webhook_pid), "webhook_warn_error": dict(whlog.most_common(8)),
            "rss_sum_mb": sum(rss) / 1024, "rss_median_kb": statistics.median(rss) if rss else 0,
            "hwm_max_kb": max(hwm) if hwm else 0, "pss_sum_mb": pss / 1024, "threads": thr,
            "node_bytes": len(json.dumps(node, separators=(",", ":"))),
            "status_annotation_bytes": len(node["metadata"]["annotations"].get("armorgate.io/status", "")),
            "configmap_bytes": len(json.dumps(cm, separators=(",", ":"))), "profiles": len(cm["data"]),
            "webhook_rss_kb": int(wst.get("VmRSS", "0 kB").split()[0]) if wst else 0,
            "webhook_hwm_kb": int(wst.get("VmHWM", "0 kB").split()[0]) if wst else 0,
            "apiserver_rss_mb": int(aps.get("VmRSS", "0 kB").split()[0]) / 1024 if aps else 0,
            "etcd_rss_mb": int(ets.get("VmRSS", "0 kB").split()[0]) / 1024 if ets else 0,
            "nodes_wrong": self.check_labels("at the end"), "kernels_wrong": self.check_kernels(),
        }

    def main(self):
        self.watch.start()
        t_init = self.wait_initial()
        log("fleet converged: %d nodes labelled %s %.1f s after the measuring started" % (
            self.n, "+".join(sorted(self.expected)), t_init))
        for c in range(1, self.a.changes + 1):
            self.change(c)
            if c == self.a.restart_after:
                self.do_restart()
        fin = self.final()
        self.report(t_init, fin)
        return 1 if (self.problems or fin["dead"] or fin["crashes"]) else 0

    def report(self, t_init, fin):
        rows = self.rows
        allp = [r for r in rows]
        log("")
        log("==== fleet report: %d agents, %d changes (%s parser mock), %d CPUs ====" % (
            self.n, len(rows), self.a.parser, os.cpu_count()))
        log("change -> all %d labelled (s):" % self.n)
        med = lambda k: statistics.median([r[k] for r in allp]) if allp else float("nan")  # noqa: E731
        log("  per change p50 of p50s %.2f, median p99 %.2f, median max %.2f, worst max %.2f" % (
            med("p50"), med("p99"), med("max"), max((r["max"] for r in allp), default=float("nan"))))
        log("  API requests per agent per change (APF FlowSchema %s): median %.2f, max %.2f; "
            "agent node patches per change per agent: median %.2f" % (
                AGENT_FS, med("agent_requests_per_agent"), max((r["agent_requests_per_agent"] for r in allp), default=0),
                med("patches_per_agent")))
        log("  kernel (fake parser) accepted the load -> label seen: median p50 %.2f s, median p99 %.2f s, worst %.2f s" % (
            med("kernel_to_label_p50"), med("kernel_to_label_p99"), max((r["kernel_to_label_max"] for r in allp), default=float("nan"))))
        log("  apiserver CPU s per change: median %.2f (etcd %.2f, agents incl. parser runs %.2f of which the agents "
            "themselves %.2f, webhook %.3f); steal median %.0f%%" % (
                med("cpu_apiserver"), med("cpu_etcd"), med("cpu_agents"), med("cpu_agents_self"), med("cpu_webhook"),
                med("steal_pct")))
        lags = [r["webhook_lag_s"] for r in allp if r["webhook_lag_s"] is not None]
        log("  webhook converged after every change: %s (lag after the apiserver view, max %.2f s); "
            "its nodes/enabled gauges = kubectl counts on every change: %s" % (
                "yes" if len(lags) == len(allp) else "NO (%d of %d)" % (len(lags), len(allp)),
                max(lags, default=float("nan")),
                all(r["webhook_nodes"] == self.n and r["webhook_enabled"] == r["kubectl_enabled"] and
                    r["kubectl_profile"] == self.n for r in allp)))
        if self.restart:
            log("  restart: %s" % json.dumps(self.restart, sort_keys=True))
        log("  agents alive %d/%d, crash lines %d, lost/stale labels at end %d, wrong fake kernels %d, log levels %s" % (
            self.n - len(fin["dead"]), self.n, len(fin["crashes"]), fin["nodes_wrong"], fin["kernels_wrong"],
            fin["log_levels"]))
        if fin["log_warn_error"]:
            log("  agent warn/error lines: %s" % fin["log_warn_error"])
        if fin["webhook_warn_error"]:
            log("  webhook warn/error lines: %s" % fin["webhook_warn_error"])
        log("  memory: agents RSS sum %.0f MB (median %d kB, peak VmHWM max %d kB), PSS sum %.0f MB, %d threads; "
            "webhook RSS %d kB (peak %d kB); apiserver %.0f MB, etcd %.0f MB" % (
                fin["rss_sum_mb"], fin["rss_median_kb"], fin["hwm_max_kb"], fin["pss_sum_mb"], fin["threads"],
                fin["webhook_rss_kb"], fin["webhook_hwm_kb"], fin["apiserver_rss_mb"], fin["etcd_rss_mb"]))
        log("  sizes: Node object %d B (status annotation %d B), ConfigMap %d B with %d profiles" % (
            fin["node_bytes"], fin["status_annotation_bytes"], fin["configmap_bytes"], fin["profiles"]))
        reqs = med("agent_requests_per_agent")
        cpu_per_req = med("cpu_apiserver") / max(1.0, reqs * self.n)
        log("  projection, 5,000 nodes: %.0f agent requests per change; apiserver CPU at this machine's %.2f ms "
            "per agent request (whole-change CPU / agent requests) = %.1f CPU s per change; ConfigMap watch fan-out "
            "%.1f MB per change; Node watch events %.1f MB per Node watcher per change" % (
                reqs * 5000, cpu_per_req * 1000, cpu_per_req * reqs * 5000,
                fin["configmap_bytes"] * 5000 / 1e6, fin["node_bytes"] * 5000 / 1e6))
        if self.problems:
            log("  PROBLEMS:")
            for p in self.problems:
                log("   - " + p)
        if fin["dead"]:
            log("  DEAD agents: %s" % fin["dead"][:20])
        for c in fin["crashes"][:10]:
            log("  CRASH: " + c)
        if self.a.json:
            with open(self.a.json, "w") as f:
                json.dump({"agents": self.n, "init_s": t_init, "rows": rows, "restart": self.restart,
                           "final": fin, "problems": self.problems}, f, indent=1, default=str)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--cluster", required=True)
    s.add_argument("--nodes", type=int, required=True)
    r = sub.add_parser("run")
    r.add_argument("--cluster", required=True)
    r.add_argument("--agents", required=True)
    r.add_argument("--webhook-pid", type=int, required=True)
    r.add_argument("--webhook-port", required=True)
    r.add_argument("--webhook-probe", required=True)
    r.add_argument("--webhook-log", required=True)
    r.add_argument("--changes", type=int, default=20)
    r.add_argument("--restart-after", type=int, default=10)
    r.add_argument("--change-timeout", type=int, default=180)
    r.add_argument("--settle", type=int, default=15)
    r.add_argument("--restart-cmd", required=True)
    r.add_argument("--parser", default="cheap")
    r.add_argument("--json")
    a = ap.parse_args()
    if a.cmd == "setup":
        setup(a)
        return 0
    return Run(a).main()


if __name__ == "__main__":
    sys.exit(main())
