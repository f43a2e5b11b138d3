#!/usr/bin/env -S python3 -u
"""Does an apparmor_parser -O option change the policy, and is it faster?

A program, not a test; run it under the bench lock:

    flock /work/bench.lock python3 bench/agent/compile_options.py \\
        [-O no-expr-simplify] [-O expr-left-simplify ...] [--reps 3] [--list]

For every profile of the corpus it compiles `-Q -K -S -M FEATURES` (binary
policy to stdout, nothing loaded, no cache) once with the parser's default
options and once per -O set, then compares: exit status, the binary policy
bytes, and stderr (the compile check quotes the parser's first error line,
so a failing profile must fail the same way). Times are the child's CPU
(user+sys), the minimum of --reps interleaved runs per profile.

The corpus (deduplicated by content):
  bench   the 200 realistic profiles of bench_agent.py (tunables/global +
          abstractions/base; they differ only in the name)
  repo    every profile text in the repo's tests and examples: files under
          test/data/profiles and charts/*/files, ConfigMap data in YAML/JSON
          (deploy/, test/, kind/, fuzz corpus), heredocs and quoted strings in
          shell scripts, C string literals in test/*.c
  system  every profile Debian installed: /etc/apparmor.d/* (apparmor,
          apparmor-profiles) and /usr/share/apparmor/extra-profiles/*
          (apparmor-profiles-extra), when present
  stress  13 hand-made profiles (many rules with an inner `**`) where some
          option turns a compile of milliseconds into seconds or a timeout
Exit status 1 when some option set changed any output or timed out where
the defaults finish (either is a blocker for that option).
"""
import argparse, ast, glob, hashlib, json, os, re, shutil, signal, subprocess, sys, tempfile, time

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_agent import SRC, PARSER, profile as bench_profile  # noqa: E402

FEATURES = "/usr/share/apparmor-features/features"


def walk_data(obj, out):
    """ConfigMap-like dicts: every string value that holds a profile."""
    if isinstance(obj, dict):
        for v in obj.values():
            walk_data(v, out)
    elif isinstance(obj, list):
        for v in obj:
            walk_data(v, out)
    elif isinstance(obj, str):
        if re.search(r"\bprofile\s+\S+.*\{", obj):
            out.append(obj)
        elif obj.lstrip().startswith(("{", "[")):  # JSON inside JSON (AdmissionReview objects)
            try:
                walk_data(json.loads(obj), out)
            except ValueError:
                pass


def from_structured(text, out):
    """YAML (a superset of JSON) documents; False when it is neither."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return False
    if not any(isinstance(d, (dict, list)) for d in docs):
        return False
    for d in docs:
        walk_data(d, out)
    return True


def from_shell(text, out):
    for m in re.finditer(r"<<-?\s*'?(\w+)'?[^\n]*\n(.*?)\n\s*\1\n", text, re.S):
        body = m.group(2)
        if "profile" in body and not from_structured(body, out):
            out.append(body)
    for m in re.finditer(r"'([^'\n]*\bprofile\s[^'\n]*)'", text):
        s = m.group(1)
        if not (s.lstrip().startswith("{") and from_structured(s, out)):
            out.append(s.replace("\\n", "\n") + "\n")


def from_c(text, out):
    for m in re.finditer(r'"((?:[^"\\\n]|\\.)*\bprofile\s(?:[^"\\\n]|\\.)*)"', text):
        try:
            s = ast.literal_eval('"' + m.group(1) + '"')
        except (ValueError, SyntaxError):
            continue
        if s.lstrip().startswith("{"):
            from_structured(s, out)
        elif "{" in s:
            out.append(s)


def repo_corpus():
    out = []
    files = sorted(set(glob.glob(os.path.join(SRC, "test/data/profiles/**/custom.*"), recursive=True)
                       + glob.glob(os.path.join(SRC, "charts/*/files/*"))))
    for f in files:
        out.append((os.path.relpath(f, SRC), open(f, errors="replace").read()))
    git = subprocess.run(["git", "-C", SRC, "ls-files", "deploy", "test", "kind", "charts", "examples"],
                         stdout=subprocess.PIPE, text=True).stdout.split()
    for rel in git:
        path = os.path.join(SRC, rel)
        if not os.path.isfile(path) or path in files or "/templates/" in rel:
            continue
        try:
            text = open(path).read()
        except (UnicodeDecodeError, OSError):
            continue
        if "profile" not in text:
            continue
        found = []
        if rel.endswith((".yaml", ".yml", ".json")) or "/corpus/" in rel or rel.startswith("test/data/admission"):
            from_structured(text, found)
        elif rel.endswith((".c", ".h")):
            from_c(text, found)
        elif text.startswith("#!") and ("sh" in text.split("\n", 1)[0]):
            from_shell(text, found)
        out += [("%s#%d" % (rel, i), t) for i, t in enumerate(found)]
    return out


def system_corpus():
    out = []
    for d in ("/etc/apparmor.d", "/usr/share/apparmor/extra-profiles"):
        for f in sorted(glob.glob(d + "/*")):
            if os.path.isfile(f) and not f.endswith((".dpkg-old", ".dpkg-new", "README")):
                out.append((f, open(f, errors="replace").read()))
    return out


def run_cpu(path, opts, timeout):
    """(status, stdout, stderr, cpu seconds) of one compile; status None = killed after timeout s
    (counted as timeout s of CPU: the killed workers' CPU is not reported)."""
    argv = [PARSER, "-Q", "-K", "-S", "-M", FEATURES]
    for o in opts:
        argv += ["-O", o]
    argv += ["--", path]
    with tempfile.TemporaryFile() as o, tempfile.TemporaryFile() as e:
        pid = os.posix_spawn(PARSER, argv, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, o.fileno(), 1),
                                                                    (os.POSIX_SPAWN_DUP2, e.fileno(), 2)],
                             setpgroup=0)  # the parser forks its compile workers: kill them all
        end = time.time() + timeout
        while True:
            done, status, ru = os.wait4(pid, os.WNOHANG)
            if done:
                break
            if time.time() > end:
                os.killpg(pid, signal.SIGKILL)
                os.wait4(pid, 0)
                return None, b"", b"", timeout
            time.sleep(0.001)
        o.seek(0)
        e.seek(0)
        return os.waitstatus_to_exitcode(status), o.read(), e.read(), ru.ru_utime + ru.ru_stime


def stress_corpus():
    """Plausible profiles (many rules with an inner `**`) where one tree
    optimisation is known to matter: each compiles in < 200 ms with the
    defaults here; with some -O sets the DFA construction explodes. Found
    by hand on 3.0.8 (upstream's expr-tree.cc says right-first
    simplification is the default because left-first can explode)."""
    def prof(name, rules):
        return "profile custom.%s {\n%s}\n" % (name, "".join("  %s,\n" % r for r in rules))
    return [("stress:" + n, prof(n, r)) for n, r in (
        ("g1", ["/**/d%d/**/f%d r" % (i, i % 5) for i in range(40)]),
        ("g2", ["/**/x%d*/**.log w" % i for i in range(40)]),
        ("h1", ["/**/d%d/**/f r" % i for i in range(40)]),
        ("h3", ["/d%d/**/e/**/f r" % i for i in range(40)]),
        ("h4", ["/**/d%d* r" % i for i in range(60)] + ["/**/e%d/** w" % i for i in range(60)]),
        ("h5", ["/**/d/**/f%d r" % i for i in range(40)]),
        ("h6", ["/**/[a-z]%d/**/g r" % i for i in range(40)]),
        ("h7", ["/x%d/**/d/** r" % i for i in range(40)]),
        ("h8", ["/**/d%d/*/*/f r" % i for i in range(40)]),
        ("k10", ["/**/d%d/**/f%d r" % (i, i % 3) for i in range(60)]),
        ("m2", ["/**/d%d/**/f%d r" % (i, i % 7) for i in range(120)]),
        ("m4", ["/**/d%d/**/f%d/**/g%d r" % (i, i % 3, i % 2) for i in range(60)]),
        ("s1", ["/**/a*/**/b/** r", "/{usr,opt,srv}/**/lib*/**/*.so* mr", "/home/*/**/.cache/**/[0-9]*/** rw",
                "/var/**/log/**/{a,b,c,d}*.log w", "/x/**/y/**/z/**/w r"]))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-O", dest="sets", action="append", metavar="OPT[,OPT...]",
                    help="an option set to compare with the defaults (repeatable; comma = several -O in one run); "
                         "default: no-expr-simplify")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--only", choices=("bench", "repo", "system", "stress"), action="append")
    ap.add_argument("--timeout", type=float, default=10.0,
                    help="seconds per compile (10 = PROFILE_PARSER_TIMEOUT_MS, the compile check's default)")
    ap.add_argument("--list", action="store_true", help="print the corpus and exit")
    ap.add_argument("--verbose", action="store_true", help="one line per profile")
    a = ap.parse_args()
    sets = [s.split(",") for s in (a.sets or ["no-expr-simplify"])]
    kinds = a.only or ["bench", "repo", "system", "stress"]

    corpus, seen = [], set()
    groups = {"bench": lambda: [("bench:custom.p%d" % i, bench_profile("custom.p%d" % i)) for i in range(200)],
              "repo": repo_corpus, "system": system_corpus, "stress": stress_corpus}
    for kind in kinds:
        for name, text in groups[kind]():
            h = hashlib.sha256(text.encode(errors="replace")).hexdigest()
            if h not in seen:
                seen.add(h)
                corpus.append((kind, name, text))
    if a.list:
        for kind, name, text in corpus:
            print("%-7s %s (%d bytes)" % (kind, name, len(text)))
        return 0

    tmp = tempfile.mkdtemp(prefix="compile-options.")
    print("apparmor_parser %s, -M %s, %d profiles (%s), %d rep(s) each, load average %s"
          % (subprocess.run([PARSER, "--version"], stdout=subprocess.PIPE, text=True).stdout.split("\n")[0].split()[-1],
             FEATURES, len(corpus), ", ".join("%s %d" % (k, sum(1 for c in corpus if c[0] == k)) for k in kinds),
             a.reps, open("/proc/loadavg").read().split()[0]))
    try:
        variants = [[]] + sets
        rows = []
        for i, (kind, name, text) in enumerate(corpus):
            path = os.path.join(tmp, "p%04d" % i)
            # a system profile is read in place: its relative includes (local/...) resolve there
            src = name if kind == "system" else path
            if kind != "system":
                open(path, "w").write(text)
            best = [None] * len(variants)
            outs = [None] * len(variants)
            for rep in range(a.reps):
                order = range(len(variants)) if rep % 2 == 0 else reversed(range(len(variants)))
                for v in order:
                    if outs[v] is not None and outs[v][0] is None:
                        continue  # timed out once: not again
                    st, out, err, cpu = run_cpu(src, variants[v], a.timeout)
                    err = err.replace(src.encode(), b"FILE")
                    if outs[v] is None:
                        outs[v] = (st, hashlib.md5(out).hexdigest(), len(out), err)
                    elif outs[v][:3] != (st, hashlib.md5(out).hexdigest(), len(out)):
                        outs[v] = (st, "NONDETERMINISTIC", len(out), err)
                    best[v] = cpu if best[v] is None else min(best[v], cpu)
            rows.append((kind, name, outs, best))
            if a.verbose:
                print("  %-60s %s" % (name[-60:], "  ".join("%s %3d %6.1f ms" % (o[1][:8], o[0], b * 1e3)
                                                            for o, b in zip(outs, best))))
        bad = 0
        for v, opts in enumerate(sets, start=1):
            same = fail_same = 0
            differ, slower, blowups = [], [], []
            per_kind = {}
            for kind, name, outs, best in rows:
                d, o = outs[0], outs[v]
                if o[0] is None and d[0] is not None:
                    blowups.append((best[0], name))
                elif d == o and d[0] == 0:
                    same += 1
                elif d == o:
                    fail_same += 1
                else:
                    what = ("status %s vs %s" % (d[0], o[0]) if d[0] != o[0] else
                            "binary %d vs %d bytes" % (d[2], o[2]) if d[1] != o[1] else "stderr")
                    differ.append((name, what, d[3][:200], o[3][:200]))
                k = per_kind.setdefault(kind, [0.0, 0.0])
                k[0] += best[0]
                k[1] += best[v]
                if o[0] is not None and best[v] > best[0] * 1.25 and best[v] - best[0] > 0.010:
                    slower.append((best[v] / best[0], best[0], best[v], name))
            print("\n-O %s vs defaults:" % " -O ".join(opts))
            print("  identical binary policy (and stderr): %d; fail identically (same status and message): %d; "
                  "DIFFERENT: %d; TIMED OUT (> %.0f s) where the defaults finish: %d"
                  % (same, fail_same, len(differ), a.timeout, len(blowups)))
            for name, what, e0, e1 in differ:
                print("    DIFFERENT %s: %s\n      default stderr: %r\n      option  stderr: %r" % (name, what, e0, e1))
            for c0, name in blowups:
                print("    TIMED OUT %s (defaults: %.1f ms CPU)" % (name, c0 * 1e3))
            print("  CPU, sum of per-profile minima (a timed-out run counts as --timeout s):")
            for kind, (c0, c1) in per_kind.items():
                print("    %-7s defaults %7.2f s, option %7.2f s: %.2fx" % (kind, c0, c1, c0 / c1 if c1 else float("nan")))
            slower.sort(reverse=True)
            print("  slower by > 25%% and > 10 ms (finished): %d%s" % (len(slower), "" if not slower else ":"))
            for r, c0, c1, name in slower[:15]:
                print("    %.2fx  %7.1f -> %7.1f ms  %s" % (r, c0 * 1e3, c1 * 1e3, name))
            gains = sorted(((best[0] / best[v] if best[v] else 0, best[0], best[v], name)
                            for kind, name, outs, best in rows if outs[v][0] is not None), reverse=True)
            print("  biggest gains: " + "; ".join("%.1fx %.0f->%.0f ms %s" % (r, c0 * 1e3, c1 * 1e3, os.path.basename(n))
                                                  for r, c0, c1, n in gains[:5]))
            if differ or blowups:
                bad = 1
        print("\n(load average at the end %s)" % open("/proc/loadavg").read().split()[0])
        return bad
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
