#!/usr/bin/env bash
# No Docker engine here, so the images are checked statically against the
# binaries this build produced (this machine is Debian 12, the images' base):
#   - each Dockerfile is multi-stage, its base pinned (dated tag or digest),
#     its build stage builds the CMake target and installs the -dev package
#     of every pkg-config module the product's CMake requires, OCI labels are set; the webhook
#     runs as 65532; both images carry apparmor (apparmor_parser with its
#     /etc/apparmor.d includes: the agent loads profiles, the webhook
#     compile-checks them);
#   - every DT_NEEDED library of the binary belongs (dpkg -S) to a package the
#     runtime stage installs (or libc6);
#   - every library ldd resolves (transitively) belongs to one of those
#     packages or their Depends closure, i.e. apt will bring it in;
#   - apparmor_parser's own libraries are covered the same way, in both.
# usage: image_deps_test.sh WEBHOOK_BINARY AGENT_BINARY
set -euo pipefail
# shellcheck source=test/deploy/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -eq 2 ] || die "usage: $0 WEBHOOK_BINARY AGENT_BINARY"
command -v dpkg-query >/dev/null || td_skip "not a Debian system (no dpkg)"
cd "$td_root"

python3 - "$1" "$2" <<'PY'
import os, re, subprocess, sys

def fail(msg):
    print("image_deps_test.sh: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def log(msg):
    print("image_deps_test.sh: " + msg, file=sys.stderr)

def stages(path):
    """[(from_line, [instructions])], continuation lines joined, comments dropped."""
    text = open(path).read()
    lines, cur = [], ""
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        lines.append(cur + s)
        cur = ""
    args = {}
    out = []
    for l in lines:
        word = l.split(None, 1)[0].upper()
        if word == "ARG" and not out:
            k, _, v = l.split(None, 1)[1].partition("=")
            args[k] = v
        elif word == "FROM":
            out.append((l, []))
        elif out:
            out[-1][1].append(l)
    return args, out

def apt_packages(instrs):
    pkgs = []
    for ins in instrs:
        if not ins.upper().startswith("RUN "):
            continue
        for cmd in re.split(r"&&|;", ins[4:]):
            t = cmd.split()
            if "apt-get" in t and "install" in t:
                pkgs += [w for w in t[t.index("install") + 1:] if not w.startswith("-")]
    return pkgs

_owners = {}

def owners(paths):
    """Fills _owners for paths: the Debian package owning each file, tolerant
    of the /usr merge. One dpkg-query run for all (it is slow to start)."""
    cands = {}
    for path in paths:
        c = [path, os.path.realpath(path)]
        for q in list(c):
            c.append(q[4:] if q.startswith("/usr/") else "/usr" + q)
        cands[path] = c
    flat = sorted({c for cs in cands.values() for c in cs})
    r = subprocess.run(["dpkg-query", "-S"] + flat, capture_output=True, text=True)
    found = {}
    for line in r.stdout.splitlines():
        pkg, _, f = line.partition(": ")
        found.setdefault(f.strip(), pkg.split(",")[0].split(":")[0].strip())
    for path, cs in cands.items():
        hit = [found[c] for c in cs if c in found]
        if not hit:
            fail("no Debian package owns " + path)
        _owners[path] = hit[0]

def owner(path):
    if path not in _owners:
        owners([path])
    return _owners[path]

def depends_closure(pkgs):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\t${Depends}, ${Pre-Depends}\n"],
                       capture_output=True, text=True, check=True)
    deps = {}
    for line in r.stdout.splitlines():
        name, status, dep = line.split("\t")
        if status.startswith("ii"):
            deps[name] = dep
    seen, todo = set(), list(pkgs)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        if p not in deps:
            fail("runtime package %s is not installed on this machine (cannot check it)" % p)
        seen.add(p)
        for alt in deps[p].split(","):
            for choice in alt.split("|"):
                name = choice.strip().split(" ")[0].split(":")[0]
                if name in deps:
                    todo.append(name)
    return seen

def needed(binary):
    r = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", r.stdout)

def ldd(binary):
    r = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True)
    libs = {}
    for l in r.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+) \(", l)
        if m:
            libs[m.group(1)] = m.group(2)
        elif "not found" in l:
            fail(binary + ": unresolved library: " + l.strip())
    return libs

def cmake_pkg_modules():
    mods = set()
    for dirpath, dirs, files in os.walk("."):
        dirs[:] = [d for d in dirs if not (d.startswith(".") or d.startswith("build") or d in ("test", "bench"))]
        if "CMakeLists.txt" in files:
            text = open(os.path.join(dirpath, "CMakeLists.txt")).read()
            for m in re.finditer(r"pkg_check_modules\(([^)]*)\)", text):
                words = m.group(1).split()[1:]
                mods.update(w for w in words if w not in ("REQUIRED", "QUIET", "IMPORTED_TARGET", "GLOBAL", "NO_CMAKE_PATH", "NO_CMAKE_ENVIRONMENT_PATH"))
    if len(mods) < 5:
        fail("found only %s pkg-config modules in CMakeLists.txt files" % sorted(mods))
    return sorted(mods)

IGNORED = re.compile(r"^lib(asan|ubsan|lsan|tsan)\.so")   # sanitizer builds only

def check(name, dockerfile, binary, target, extra_checks):
    args, st = stages(dockerfile)
    if len(st) < 2:
        fail(dockerfile + ": not multi-stage")
    base = args.get("BASE", "")
    for frm, _ in st:
        ref = frm.split()[1].replace("${BASE}", base)
        if not re.match(r"^debian:bookworm-\d{8}-slim(@sha256:[0-9a-f]{64})?$|^debian@sha256:[0-9a-f]{64}$", ref):
            fail("%s: base %r is not Debian bookworm-slim pinned by dated tag or digest" % (dockerfile, ref))
    build = " ".join(st[0][1])
    if "--target " + target not in build:
        fail(dockerfile + ": build stage does not build the CMake target " + target)
    # The build stage installs every -dev package whose pkg-config module the
    # product's CMake requires (test/ and bench/ are off in the image build).
    bpkgs = set(apt_packages(st[0][1]))
    for tool in ("build-essential", "cmake", "ninja-build", "pkg-config"):
        if tool not in bpkgs:
            fail("%s: build stage lacks %s" % (dockerfile, tool))
    for mod in cmake_pkg_modules():
        pcdir = subprocess.run(["pkg-config", "--variable=pcfiledir", mod], capture_output=True, text=True).stdout.strip()
        if not pcdir:
            fail("pkg-config module %s (required by CMake) not found on this machine" % mod)
        p = owner(os.path.join(pcdir, mod + ".pc"))
        if p not in bpkgs:
            fail("%s: build stage lacks %s (pkg-config module %s required by CMake)" % (dockerfile, p, mod))
    runtime = st[-1][1]
    text = "\n".join(runtime)
    for lab in ("title", "description", "version", "revision", "source"):
        if "org.opencontainers.image." + lab not in text:
            fail(dockerfile + ": missing OCI label org.opencontainers.image." + lab)
    if "build-essential" in text or "-dev" in " ".join(apt_packages(runtime)):
        fail(dockerfile + ": runtime stage installs build tools")
    pkgs = apt_packages(runtime)
    if not pkgs:
        fail(dockerfile + ": no apt-get install in the runtime stage")
    extra_checks(runtime, pkgs)
    allowed_direct = set(pkgs) | {"libc6"}
    closure = depends_closure(pkgs + ["libc6"])
    libs = ldd(binary)
    owners(list(libs.values()))
    for so in needed(binary):
        if IGNORED.match(so):
            continue
        if so not in libs:
            fail("%s: DT_NEEDED %s not resolved by ldd" % (binary, so))
        p = owner(libs[so])
        if p not in allowed_direct:
            fail("%s: needs %s from package %s, which %s's runtime stage does not install (it installs: %s)"
                 % (name, so, p, dockerfile, " ".join(pkgs)))
    for so, path in libs.items():
        if IGNORED.match(so):
            continue
        p = owner(path)
        if p not in closure:
            fail("%s: %s (package %s) would be missing from the image: not in the Depends closure of %s"
                 % (name, so, p, " ".join(pkgs)))
    log("ok: %s: %d direct and %d transitive libraries covered by %s" % (name, len(needed(binary)), len(libs), " ".join(pkgs)))
    return closure

def webhook_checks(runtime, pkgs):
    users = [i for i in runtime if i.upper().startswith("USER ")]
    if not users or users[-1].split()[1].split(":")[0] != "65532":
        fail("webhook image does not run as USER 65532")
    if "apparmor" not in pkgs:
        fail("webhook image lacks the apparmor package (apparmor_parser compile-checks the profiles ConfigMap)")

def agent_checks(runtime, pkgs):
    if "apparmor" not in pkgs:
        fail("agent image lacks the apparmor package (apparmor_parser)")

closures = {
    "webhook": check("armorgate-webhook", "deploy/images/webhook.Dockerfile", sys.argv[1], "armorgate-webhook",
                     webhook_checks),
    "agent": check("armorgate-agent", "deploy/images/agent.Dockerfile", sys.argv[2], "armorgate-agent", agent_checks),
}

# apparmor_parser: both daemons run it; its libraries must be in both images.
r = subprocess.run(["dpkg-query", "-L", "apparmor"], capture_output=True, text=True, check=True)
parser = [p for p in r.stdout.split() if p.endswith("/apparmor_parser")]
if not parser:
    fail("apparmor package has no apparmor_parser")
parser_libs = ldd(parser[0])
for image, closure in closures.items():
    for so, path in parser_libs.items():
        p = owner(path)
        if p not in closure:
            fail("apparmor_parser needs %s (package %s), missing from the %s image" % (so, p, image))
    log("ok: apparmor_parser's libraries covered by the %s image" % image)
PY
