#!/usr/bin/env bash
# TAP checks of deploy/: what can be proven about the container image, the compose
# set-up, the systemd unit and the Kubernetes manifests on a machine without a container
# engine or a cluster.
#
#   - YAML well-formedness and the cross-references between files: the outbox path is on
#     persistent storage, secret files are mounted where the configuration reads them,
#     probes hit /healthz and /readyz on the configured admin port, selectors match, ...
#   - Dockerfile structure, and its runtime package list against the libraries the built
#     binary and the Makefile's pkg-config modules need (dpkg -S on each library).
#   - The image's health probe against a real HTTP server on a loopback port.
#   - systemd-analyze verify and security on the unit; systemd-sysusers on the user file.
#   - campaign-relay check-config on the compose and Kubernetes configurations.
#
# Run from the repository root by tests/run.sh; BUILD is the build tree (build/asan).
# Checks whose tool is missing are reported as skipped (PyYAML: Debian package
# python3-yaml; systemd-analyze; kubectl for the kustomize rendering).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build/asan}

tmp=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

count=0
failures=0
pass() {
    count=$((count + 1))
    echo "ok $count - $1"
}
fail() {
    count=$((count + 1))
    failures=$((failures + 1))
    echo "not ok $count - $1"
    shift
    local line
    for line in "$@"; do
        printf '%s\n' "$line" | sed 's/^/#   /'
    done
}
skip() {
    count=$((count + 1))
    echo "ok $count - $1 # SKIP $2"
}
# Runs a command; passes when it exits 0, fails with its output otherwise.
expect_success() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
# Reads "ok|not ok|skip<TAB>name<TAB>detail" lines (from the Python checks) as results.
report_lines() {
    local verdict name detail
    while IFS=$'\t' read -r verdict name detail; do
        case $verdict in
            ok) pass "$name" ;;
            skip) skip "$name" "$detail" ;;
            *) fail "$name" "$detail" ;;
        esac
    done
}

relay_bin=
for candidate in "$BUILD/campaign-relay" build/campaign-relay; do
    if [ -x "$candidate" ]; then
        relay_bin=$candidate
        break
    fi
done

# ---------------------------------------------------------------------------------------
# Dockerfile: structure, and the runtime package list it installs.

python3 - deploy/Dockerfile .dockerignore >"$tmp/dockerfile.out" 2>&1 <<'PY'
import fnmatch, json, os, re, sys

dockerfile, ignore_file = sys.argv[1], sys.argv[2]
results = []
def check(name, cond, detail=""):
    results.append(("ok" if cond else "not ok", name, "" if cond else detail))

# Join continuation lines, drop comments, split into (instruction, arguments) per stage.
text = open(dockerfile).read()
logical, pending = [], ""
for raw in text.splitlines():
    line = raw.strip()
    if not pending and (not line or line.startswith("#")):
        continue
    if pending and line.startswith("#"):
        continue
    if line.endswith("\\"):
        pending += line[:-1] + " "
        continue
    logical.append(pending + line)
    pending = ""
stages = []
for line in logical:
    instr, _, args = line.partition(" ")
    instr = instr.upper()
    if instr == "FROM":
        stages.append({"from": args.split()[0], "name": (args.split() + [""] * 3)[2], "ins": []})
    elif stages:
        stages[-1]["ins"].append((instr, args.strip()))

check("Dockerfile: two stages", len(stages) == 2, "found %d FROM lines" % len(stages))
if len(stages) < 2:
    for r in results:
        print("\t".join(r))
    sys.exit(0)
build, runtime = stages[0], stages[-1]
for st in stages:
    check("Dockerfile: stage %s is FROM debian:bookworm-slim" % (st["name"] or "?"),
          st["from"] == "debian:bookworm-slim", "FROM " + st["from"])

def args_of(stage, instr):
    return [a for i, a in stage["ins"] if i == instr]

build_runs = " ; ".join(args_of(build, "RUN"))
check("Dockerfile: build stage installs build dependencies",
      "install-deps.sh" in build_runs or "apt-get install" in build_runs, build_runs)
check("Dockerfile: build stage runs make", re.search(r"\bmake\b", build_runs) is not None,
      build_runs)

for st in stages:
    for run in args_of(st, "RUN"):
        if "apt-get install" in run:
            check("Dockerfile: apt-get install uses --no-install-recommends",
                  "--no-install-recommends" in run, run)
        if "apt-get install" in run or "install-deps.sh" in run:
            check("Dockerfile: apt lists are removed in the same RUN",
                  "rm -rf /var/lib/apt/lists" in run, run)

def exec_form(value):
    try:
        parsed = json.loads(value)
        return parsed if isinstance(parsed, list) else None
    except ValueError:
        return None

users = args_of(runtime, "USER")
uid = users[-1].split(":")[0] if users else ""
check("Dockerfile: runtime runs as a fixed non-root UID",
      uid.isdigit() and int(uid) != 0, "USER %r" % uid)
check("Dockerfile: EXPOSE 9464", "9464" in " ".join(args_of(runtime, "EXPOSE")).split(),
      str(args_of(runtime, "EXPOSE")))
volumes = " ".join(args_of(runtime, "VOLUME"))
check("Dockerfile: the outbox directory is a volume", "/var/lib/campaign-relay" in volumes,
      "VOLUME " + volumes)
check("Dockerfile: STOPSIGNAL SIGTERM", args_of(runtime, "STOPSIGNAL") == ["SIGTERM"],
      str(args_of(runtime, "STOPSIGNAL")))
entry = [exec_form(a) for a in args_of(runtime, "ENTRYPOINT")]
check("Dockerfile: ENTRYPOINT [\"campaign-relay\"]", entry[-1:] == [["campaign-relay"]],
      str(entry))
cmd = [exec_form(a) for a in args_of(runtime, "CMD")]
check("Dockerfile: CMD runs the daemon on /etc/campaign-relay/relay.yaml",
      cmd[-1:] == [["run", "-c", "/etc/campaign-relay/relay.yaml"]], str(cmd))

# The health probe: an exec-form CMD whose program the image copies in from the repo.
copies = {}
for a in args_of(runtime, "COPY"):
    parts = [p for p in a.split() if not p.startswith("--")]
    if not a.startswith("--from") and len(parts) == 2:
        copies[parts[1]] = parts[0]
health = args_of(runtime, "HEALTHCHECK")
probe = None
if health:
    m = re.search(r"\bCMD\s+(.*)$", health[-1])
    form = exec_form(m.group(1)) if m else None
    probe = form[0] if form else None
check("Dockerfile: HEALTHCHECK runs a program the image copies in",
      probe is not None and probe in copies, "HEALTHCHECK %s; COPY targets %s" % (health, copies))
if probe in copies:
    src = copies[probe]
    check("Dockerfile: the health probe %s is executable in the repo" % src,
          os.path.isfile(src) and os.access(src, os.X_OK), src)

# Every COPY source must exist and survive .dockerignore, or the build fails.
ignores = [l.strip().rstrip("/") for l in open(ignore_file) if l.strip() and not l.startswith("#")]
def ignored(path):
    parts = path.split("/")
    for pat in ignores:
        pat = pat.replace("**/", "")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatch("/".join(parts[:i]), pat) or fnmatch.fnmatch(parts[i - 1], pat):
                return True
    return False
for st in stages:
    for a in args_of(st, "COPY"):
        if a.startswith("--from"):
            continue
        parts = [p for p in a.split() if not p.startswith("--")]
        for src in parts[:-1]:
            if src == ".":
                continue
            check("Dockerfile: COPY source %s exists and is not in .dockerignore" % src,
                  os.path.exists(src) and not ignored(src), src)
check(".dockerignore keeps build trees and secrets out of the context",
      ignored("build") and ignored("deploy/secrets") and ignored(".git"), str(ignores))
check(".dockerignore keeps the sources in the context",
      not any(ignored(p) for p in ("Makefile", "app", "util", "config", "consumer",
                                    "publishers", "tests/tools", "deploy/install-deps.sh")),
      str(ignores))

# Packages the runtime stage installs, for the library checks that follow.
pkgs = []
for run in args_of(runtime, "RUN"):
    m = re.search(r"apt-get install\s+(.*?)(&&|;|$)", run)
    if m:
        pkgs += [w for w in m.group(1).split() if not w.startswith("-")]
for r in results:
    print("\t".join(r))
print("packages\t" + " ".join(pkgs))
PY
rc=$?
report_lines < <(grep -E $'^(ok|not ok|skip)\t' "$tmp/dockerfile.out")
if [ $rc -ne 0 ]; then
    fail "Dockerfile checks ran to the end" "$(cat "$tmp/dockerfile.out")"
fi
read -r -a runtime_pkgs < <(sed -n 's/^packages\t//p' "$tmp/dockerfile.out")

# Maps a shared library path to the Debian package that ships it. Debian 12 has a merged
# /usr, so the file may be recorded under /usr/lib or /lib whichever path ldd printed.
package_of() {
    local path=$1 real alt owner
    real=$(readlink -f "$path")
    for alt in "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real"; do
        owner=$(dpkg -S "$alt" 2>/dev/null | head -n 1 | cut -d: -f1) || true
        if [ -n "$owner" ]; then
            echo "$owner"
            return 0
        fi
    done
    return 1
}
in_runtime_stage() {
    local want=$1 p
    for p in "${runtime_pkgs[@]}"; do
        [ "$p" = "$want" ] && return 0
    done
    return 1
}
# debian:bookworm-slim already has these (dpkg and apt need them); the sanitizer runtimes
# appear only in the test build and never belong in the image.
base_image_pkgs=" libc6 libgcc-s1 libstdc++6 zlib1g "
sanitizer_pkgs=" libasan8 libubsan1 liblsan0 libtsan2 "

if [ ${#runtime_pkgs[@]} -eq 0 ]; then
    fail "Dockerfile: runtime stage installs packages" "no apt-get install found in the last stage"
elif ! command -v dpkg >/dev/null 2>&1; then
    skip "runtime packages cover the binary's libraries" "dpkg not available"
else
    pass "Dockerfile: runtime stage installs ${#runtime_pkgs[@]} packages"
    if ! in_runtime_stage ca-certificates; then
        fail "Dockerfile: runtime stage installs ca-certificates" "missing from: ${runtime_pkgs[*]}"
    else
        pass "Dockerfile: runtime stage installs ca-certificates"
    fi

    # Every package named must exist in Debian 12, or the image build fails.
    if [ -n "$(apt-cache policy libc6 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v none)" ]; then
        unknown=()
        for p in "${runtime_pkgs[@]}"; do
            dpkg-query -W "$p" >/dev/null 2>&1 && continue
            apt-cache show "$p" >/dev/null 2>&1 || unknown+=("$p")
        done
        if [ ${#unknown[@]} -eq 0 ]; then
            pass "Dockerfile: every runtime package is known to apt"
        else
            fail "Dockerfile: every runtime package is known to apt" "unknown: ${unknown[*]}"
        fi
    else
        skip "Dockerfile: every runtime package is known to apt" "apt package lists are empty"
    fi

    # The libraries each built binary links directly (NEEDED), resolved by ldd.
    binaries=()
    for b in build/campaign-relay "$BUILD/campaign-relay"; do
        [ -x "$b" ] && ! printf '%s\n' "${binaries[@]}" | grep -qx "$b" && binaries+=("$b")
    done
    if [ ${#binaries[@]} -eq 0 ]; then
        skip "runtime packages cover the libraries of the built binary" "no campaign-relay built"
    fi
    for b in "${binaries[@]}"; do
        missing=()
        checked=0
        ldd_out=$(ldd "$b" 2>&1)
        for soname in $(readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            path=$(printf '%s\n' "$ldd_out" | awk -v s="$soname" '$1 == s && $2 == "=>" { print $3 }')
            if [ -z "$path" ] || [ "$path" = "not" ]; then
                missing+=("$soname (not found by ldd)")
                continue
            fi
            pkg=$(package_of "$path") || { missing+=("$soname ($path: no package owns it)"); continue; }
            pkg=${pkg%%:*}
            [[ $sanitizer_pkgs == *" $pkg "* ]] && continue
            checked=$((checked + 1))
            [[ $base_image_pkgs == *" $pkg "* ]] && continue
            in_runtime_stage "$pkg" || missing+=("$soname from package $pkg")
        done
        if [ ${#missing[@]} -eq 0 ]; then
            pass "Dockerfile: runtime packages cover the $checked libraries $b links"
        else
            fail "Dockerfile: runtime packages cover the libraries $b links" "${missing[@]}"
        fi
    done

    # The image ships the release build, which must run on mimalloc (see the Makefile):
    # asked of the binary itself, which checks a live allocation.
    if [ -x build/campaign-relay ]; then
        allocator=$(build/campaign-relay --version 2>&1 | sed -n 's/^allocator: //p')
        if [[ $allocator == mimalloc* ]]; then
            pass "the release build's malloc is $allocator"
        else
            fail "the release build's malloc is mimalloc" "--version says: ${allocator:-nothing}"
        fi
    else
        skip "the release build's malloc is mimalloc" "no release build"
    fi

    # The Makefile's pkg-config modules, library by library: this holds even when the
    # linker dropped a library the current code does not call yet (--as-needed).
    if command -v pkg-config >/dev/null 2>&1 && command -v cc >/dev/null 2>&1; then
        pkg_modules=$(sed -n 's/^PKGS *:= *//p' Makefile)
        missing=()
        libs=0
        for flag in $(pkg-config --libs $pkg_modules 2>/dev/null); do
            case $flag in -l*) ;; *) continue ;; esac
            lib=${flag#-l}
            so=$(cc -print-file-name="lib$lib.so")
            if [ "$so" = "lib$lib.so" ]; then
                missing+=("-l$lib: no lib$lib.so found")
                continue
            fi
            libs=$((libs + 1))
            pkg=$(package_of "$(readlink -f "$so")") || { missing+=("-l$lib: no package owns $so"); continue; }
            pkg=${pkg%%:*}
            [[ $base_image_pkgs == *" $pkg "* ]] && continue
            in_runtime_stage "$pkg" || missing+=("-l$lib from package $pkg")
        done
        if [ "$libs" -eq 0 ]; then
            fail "Dockerfile: runtime packages cover the Makefile's pkg-config libraries" \
                "pkg-config --libs $pkg_modules gave no libraries"
        elif [ ${#missing[@]} -eq 0 ]; then
            pass "Dockerfile: runtime packages cover the Makefile's $libs pkg-config libraries"
        else
            fail "Dockerfile: runtime packages cover the Makefile's pkg-config libraries" "${missing[@]}"
        fi
    else
        skip "Dockerfile: runtime packages cover the Makefile's pkg-config libraries" \
            "pkg-config or cc not installed"
    fi
fi

# ---------------------------------------------------------------------------------------
# The image's health probe, against a real HTTP server on an ephemeral loopback port.

cat >"$tmp/server.py" <<'PY'
import http.server, sys, time

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(5)
        code = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"ok\n" if code == 200 else b"no\n")

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_port, flush=True)
server.serve_forever()
PY
python3 "$tmp/server.py" >"$tmp/server.port" 2>"$tmp/server.err" &
server_pid=$!
for _ in $(seq 50); do
    [ -s "$tmp/server.port" ] && break
    sleep 0.1
done
port=$(cat "$tmp/server.port" 2>/dev/null)
if [ -z "$port" ]; then
    fail "healthcheck: test HTTP server started" "$(cat "$tmp/server.err")"
else
    expect_success "healthcheck: 200 on /healthz is healthy" deploy/healthcheck.sh "$port"
    if out=$(deploy/healthcheck.sh "$port" /readyz 2>&1); then
        fail "healthcheck: 503 is unhealthy" "exited 0 for a 503 answer"
    elif [[ $out == *"503"* ]]; then
        pass "healthcheck: 503 is unhealthy, and the reason names the status"
    else
        fail "healthcheck: 503 is unhealthy, and the reason names the status" "$out"
    fi
    start=$(date +%s)
    if CRELAY_HEALTH_TIMEOUT=1 deploy/healthcheck.sh "$port" /slow 2>/dev/null; then
        fail "healthcheck: a server that does not answer is unhealthy" "exited 0"
    elif [ $(($(date +%s) - start)) -le 3 ]; then
        pass "healthcheck: a server that does not answer is unhealthy within the timeout"
    else
        fail "healthcheck: a server that does not answer is unhealthy within the timeout" \
            "took $(($(date +%s) - start)) s with a 1 s timeout"
    fi
    kill "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
    # The server is gone, so its port now refuses connections.
    if out=$(deploy/healthcheck.sh "$port" 2>&1); then
        fail "healthcheck: a refused connection is unhealthy" "exited 0"
    else
        pass "healthcheck: a refused connection is unhealthy"
    fi
fi

# ---------------------------------------------------------------------------------------
# YAML: compose, the relay configurations, the Kubernetes manifests.

if ! python3 -c 'import yaml' 2>/dev/null; then
    skip "compose and Kubernetes YAML checks" "PyYAML missing (Debian package python3-yaml)"
else
    python3 - >"$tmp/yaml.out" 2>&1 <<'PY'
import glob, os, re, sys
import yaml

results = []
def check(name, cond, detail=""):
    results.append(("ok" if cond else "not ok", name, "" if cond else str(detail)))
    return cond

def load_all(path):
    try:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        check("%s is well-formed YAML" % path, True)
        return docs
    except yaml.YAMLError as e:
        check("%s is well-formed YAML" % path, False, e)
        return []

def duration_ms(text, default_ms):
    if text is None:
        return default_ms
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)?\s*", str(text))
    if not m:
        return None
    scale = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, None: 1000}[m.group(2)]
    return int(m.group(1)) * scale

def dig(d, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d

def port_of(listen):
    m = re.search(r":(\d+)$", str(listen or ""))
    return int(m.group(1)) if m else None

SHUTDOWN_GRACE_DEFAULT_MS = 10000

def check_relay_config(label, cfg):
    """What every deployed configuration must get right."""
    if not check("%s: is a mapping" % label, isinstance(cfg, dict), type(cfg)):
        return
    outbox = dig(cfg, "outbox", "path")
    check("%s: outbox.path is absolute" % label, isinstance(outbox, str) and outbox.startswith("/"),
          outbox)
    listen = dig(cfg, "admin", "listen")
    check("%s: admin listens on every interface of the container" % label,
          str(listen).startswith("0.0.0.0:") and port_of(listen), listen)
    check("%s: log.format is json" % label, dig(cfg, "log", "format") == "json",
          dig(cfg, "log", "format"))
    platform = dig(cfg, "platform") or {}
    check("%s: the client secret comes from a file" % label,
          "client_secret" not in platform and str(platform.get("client_secret_file", "")).startswith("/"),
          platform)
    inline = [w.get("name") for w in (dig(cfg, "sinks", "webhooks") or []) if "secret" in w]
    check("%s: no webhook secret is inline" % label, not inline, inline)
    grace = duration_ms(dig(cfg, "shutdown", "grace"), SHUTDOWN_GRACE_DEFAULT_MS)
    check("%s: shutdown.grace is a duration" % label, grace is not None,
          dig(cfg, "shutdown", "grace"))

def secret_files(cfg, prefix=""):
    """Every *_file value in the configuration, with its key path."""
    out = []
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            path = "%s.%s" % (prefix, k) if prefix else str(k)
            if str(k).endswith("_file") and isinstance(v, str):
                out.append((path, v))
            else:
                out += secret_files(v, path)
    elif isinstance(cfg, list):
        for i, v in enumerate(cfg):
            out += secret_files(v, "%s[%d]" % (prefix, i))
    return out

# ---- compose -------------------------------------------------------------------------
docs = load_all("deploy/compose.yaml")
relay_cfg_docs = load_all("deploy/relay.compose.yaml")
compose = docs[0] if docs else {}
relay_cfg = relay_cfg_docs[0] if relay_cfg_docs else {}
check_relay_config("relay.compose.yaml", relay_cfg)
services = compose.get("services") or {}
kafka = services.get("kafka") or {}
relay = services.get("relay") or {}
check("compose: has kafka and relay services", kafka and relay, sorted(services))

env = kafka.get("environment") or {}
if isinstance(env, list):
    env = dict(e.split("=", 1) for e in env)
env = {k: str(v) for k, v in env.items()}
check("compose: kafka is an Apache Kafka image", str(kafka.get("image", "")).startswith("apache/kafka:"),
      kafka.get("image"))
roles = set(env.get("KAFKA_PROCESS_ROLES", "").split(","))
check("compose: kafka runs broker and controller (KRaft single node)",
      roles == {"broker", "controller"}, env.get("KAFKA_PROCESS_ROLES"))
listeners = {}
for item in env.get("KAFKA_LISTENERS", "").split(","):
    m = re.fullmatch(r"(\w+)://([^:]*):(\d+)", item.strip())
    if m:
        listeners[m.group(1)] = int(m.group(3))
protocols = dict(p.split(":", 1) for p in env.get("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "").split(",") if ":" in p)
controller = env.get("KAFKA_CONTROLLER_LISTENER_NAMES", "")
voters = env.get("KAFKA_CONTROLLER_QUORUM_VOTERS", "")
vm = re.fullmatch(r"(\d+)@([\w.-]+):(\d+)", voters)
hostname = kafka.get("hostname", "kafka")
check("compose: the quorum voter is this node on its controller listener",
      vm is not None and vm.group(1) == env.get("KAFKA_NODE_ID")
      and vm.group(2) in (hostname, "kafka", "localhost")
      and controller in listeners and int(vm.group(3)) == listeners[controller],
      "voters %r, node %r, listeners %r, controller %r" % (voters, env.get("KAFKA_NODE_ID"), listeners, controller))
advertised = {}
for item in env.get("KAFKA_ADVERTISED_LISTENERS", "").split(","):
    m = re.fullmatch(r"(\w+)://([^:]*):(\d+)", item.strip())
    if m:
        advertised[m.group(1)] = (m.group(2), int(m.group(3)))
names = set(listeners) | set(advertised) | {controller, env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")}
check("compose: every Kafka listener has a security protocol", names <= set(protocols),
      "listeners %s, map %s" % (sorted(names), protocols))
check("compose: advertised listeners are listeners and exclude the controller",
      set(advertised) <= set(listeners) and controller not in advertised, advertised)
for key in ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"):
    check("compose: %s=1 for a single broker" % key, env.get(key) == "1", env.get(key))
named_volumes = set((compose.get("volumes") or {}).keys())
def mounts(service):
    out = {}
    for v in service.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            out[parts[1]] = parts[0]
        else:
            out[v.get("target")] = v.get("source")
    return out
kafka_mounts = mounts(kafka)
check("compose: Kafka's log directory is a named volume",
      kafka_mounts.get(env.get("KAFKA_LOG_DIRS", "/tmp/kraft-combined-logs")) in named_volumes,
      "log dirs %r, mounts %r" % (env.get("KAFKA_LOG_DIRS"), kafka_mounts))
check("compose: kafka has a healthcheck", bool(dig(kafka, "healthcheck", "test")), kafka.get("healthcheck"))

build = relay.get("build") or {}
context = os.path.normpath(os.path.join("deploy", build.get("context", ".")))
check("compose: relay is built from deploy/Dockerfile",
      os.path.normpath(os.path.join(context, build.get("dockerfile", "Dockerfile"))) == "deploy/Dockerfile",
      build)
depends = relay.get("depends_on") or {}
check("compose: relay waits for Kafka to be healthy",
      isinstance(depends, dict) and dig(depends, "kafka", "condition") == "service_healthy", depends)
relay_mounts = mounts(relay)
check("compose: relay.compose.yaml is mounted as the image's configuration",
      os.path.normpath(os.path.join("deploy", relay_mounts.get("/etc/campaign-relay/relay.yaml", "?"))) == "deploy/relay.compose.yaml",
      relay_mounts)
outbox = dig(relay_cfg, "outbox", "path") or ""
outbox_dir = os.path.dirname(outbox)
check("compose: the outbox directory %s is a named volume" % outbox_dir,
      relay_mounts.get(outbox_dir) in named_volumes, relay_mounts)
file_sink = dig(relay_cfg, "sinks", "file", "path")
if file_sink:
    check("compose: the file sink writes to a volume", os.path.dirname(file_sink) in relay_mounts,
          "%s not under %s" % (file_sink, sorted(relay_mounts)))
granted = set(s if isinstance(s, str) else s.get("source") for s in relay.get("secrets") or [])
declared = compose.get("secrets") or {}
for key, path in secret_files(relay_cfg):
    name = path[len("/run/secrets/"):] if path.startswith("/run/secrets/") else None
    check("compose: %s is a secret granted to the relay" % key,
          name in granted and name in declared, "%s; granted %s" % (path, sorted(granted)))
for name in granted:
    check("compose: secret %s is read from a file under deploy/secrets" % name,
          str(dig(declared, name, "file") or "").startswith("./secrets/"), declared.get(name))
admin_port = port_of(dig(relay_cfg, "admin", "listen"))
ports = [str(p) for p in relay.get("ports") or []]
check("compose: the admin port is published on loopback only",
      any(p == "127.0.0.1:%d:%d" % (admin_port, admin_port) for p in ports), ports)
for svc_name, svc in services.items():
    for p in svc.get("ports") or []:
        check("compose: %s publishes %s on loopback" % (svc_name, p), str(p).startswith("127.0.0.1:"), p)
brokers = str(dig(relay_cfg, "sinks", "kafka", "brokers") or "")
check("compose: the relay's brokers are a listener Kafka advertises",
      all(tuple((b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1]))) in advertised.values()
          for b in brokers.split(",") if ":" in b) and brokers,
      "%r vs %r" % (brokers, advertised))
stop_ms = duration_ms(relay.get("stop_grace_period", "10s"), 10000)
grace = duration_ms(dig(relay_cfg, "shutdown", "grace"), SHUTDOWN_GRACE_DEFAULT_MS) or 0
check("compose: stop_grace_period exceeds the relay's shutdown grace", stop_ms and stop_ms > grace,
      "%s vs %d ms" % (relay.get("stop_grace_period"), grace))
init_cmd = " ".join(str(c) for c in (dig(services, "kafka-init", "command") or []))
for role, topic in (dig(relay_cfg, "sinks", "kafka", "topics") or {}).items():
    check("compose: topic %s (%s) is created by kafka-init" % (topic, role), topic in init_cmd)
for hook in dig(relay_cfg, "sinks", "webhooks") or []:
    host = re.match(r"https?://([^/:]+)", str(hook.get("url", "")))
    check("compose: webhook %s goes to a compose service" % hook.get("name"),
          host is not None and host.group(1) in services, hook.get("url"))
check("compose: relay has a read-only root and drops every capability",
      relay.get("read_only") is True and relay.get("cap_drop") == ["ALL"],
      (relay.get("read_only"), relay.get("cap_drop")))

# ---- Kubernetes ----------------------------------------------------------------------
objects = {}
manifests = sorted(glob.glob("deploy/k8s/*.yaml"))
for path in manifests:
    for doc in load_all(path):
        objects.setdefault(doc.get("kind"), []).append((path, doc))
kust = (objects.pop("Kustomization", None) or [(None, {})])[0][1]
listed = set(kust.get("resources") or [])
present = set(os.path.basename(p) for p in manifests) - {"kustomization.yaml"}
check("k8s: kustomization.yaml lists exactly the manifests present", listed == present,
      "listed %s, present %s" % (sorted(listed), sorted(present)))
for kind in ("Deployment", "ConfigMap", "Secret", "PersistentVolumeClaim", "Service"):
    check("k8s: one %s" % kind, len(objects.get(kind, [])) == 1, len(objects.get(kind, [])))
namespaced = [p for kind in objects for p, d in objects[kind] if dig(d, "metadata", "namespace")]
check("k8s: manifests are namespace-agnostic", not namespaced, namespaced)

def one(kind):
    items = objects.get(kind) or [(None, {})]
    return items[0][1]
deploy, cm, secret, pvc, svc = (one(k) for k in ("Deployment", "ConfigMap", "Secret",
                                                 "PersistentVolumeClaim", "Service"))
relay_yaml_text = dig(cm, "data", "relay.yaml") or ""
try:
    k8s_cfg = yaml.safe_load(relay_yaml_text)
    check("k8s: the ConfigMap's relay.yaml is well-formed YAML", isinstance(k8s_cfg, dict))
except yaml.YAMLError as e:
    k8s_cfg = {}
    check("k8s: the ConfigMap's relay.yaml is well-formed YAML", False, e)
check_relay_config("k8s relay.yaml", k8s_cfg or {})

spec = deploy.get("spec") or {}
pod = dig(spec, "template", "spec") or {}
containers = pod.get("containers") or [{}]
c = containers[0]
check("k8s: Deployment runs one replica", spec.get("replicas") == 1, spec.get("replicas"))
check("k8s: Deployment strategy is Recreate", dig(spec, "strategy", "type") == "Recreate",
      spec.get("strategy"))
labels = dig(spec, "template", "metadata", "labels") or {}
selector = dig(spec, "selector", "matchLabels") or {}
check("k8s: the Deployment's selector matches its pod labels",
      selector and all(labels.get(k) == v for k, v in selector.items()), (selector, labels))

psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
check("k8s: pod runs as non-root", psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True,
      (psc, csc))
check("k8s: a non-zero runAsUser", (csc.get("runAsUser") or psc.get("runAsUser") or 0) != 0, (psc, csc))
check("k8s: read-only root filesystem", csc.get("readOnlyRootFilesystem") is True, csc)
check("k8s: no privilege escalation", csc.get("allowPrivilegeEscalation") is False, csc)
check("k8s: drops ALL capabilities", "ALL" in (dig(csc, "capabilities", "drop") or []), csc)
check("k8s: resources has requests and limits",
      dig(c, "resources", "requests") and dig(c, "resources", "limits"), c.get("resources"))

admin_port = port_of(dig(k8s_cfg, "admin", "listen"))
named_ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    get = dig(c, probe, "httpGet") or {}
    port = get.get("port")
    port = named_ports.get(port, port)
    check("k8s: %s is GET %s on the admin port" % (probe, path),
          get.get("path") == path and port == admin_port,
          "%s on %r; admin port %r" % (get.get("path"), port, admin_port))
grace = duration_ms(dig(k8s_cfg, "shutdown", "grace"), SHUTDOWN_GRACE_DEFAULT_MS) or 0
tgps = pod.get("terminationGracePeriodSeconds", 30)
check("k8s: terminationGracePeriodSeconds exceeds the shutdown grace", tgps * 1000 > grace,
      "%s s vs %d ms" % (tgps, grace))

volumes = {v.get("name"): v for v in pod.get("volumes") or []}
mounts_k8s = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
outbox_dir = os.path.dirname(dig(k8s_cfg, "outbox", "path") or "")
outbox_vol = volumes.get(mounts_k8s.get(outbox_dir)) or {}
check("k8s: the outbox directory %s is on the PersistentVolumeClaim" % outbox_dir,
      dig(outbox_vol, "persistentVolumeClaim", "claimName") == dig(pvc, "metadata", "name"),
      "mount %r -> %r; PVC %r" % (outbox_dir, outbox_vol, dig(pvc, "metadata", "name")))
check("k8s: the PVC is ReadWriteOnce with a size",
      dig(pvc, "spec", "accessModes") == ["ReadWriteOnce"]
      and dig(pvc, "spec", "resources", "requests", "storage"), pvc.get("spec"))
args = c.get("args") or []
config_path = args[args.index("-c") + 1] if "-c" in args[:-1] else "/etc/campaign-relay/relay.yaml"
config_vol = volumes.get(mounts_k8s.get(os.path.dirname(config_path))) or {}
check("k8s: %s comes from the ConfigMap" % config_path,
      dig(config_vol, "configMap", "name") == dig(cm, "metadata", "name")
      and os.path.basename(config_path) in (cm.get("data") or {}),
      config_vol)
secret_keys = set((secret.get("stringData") or {}).keys()) | set((secret.get("data") or {}).keys())
for key, path in secret_files(k8s_cfg):
    d, base = os.path.dirname(path), os.path.basename(path)
    vol = volumes.get(mounts_k8s.get(d)) or {}
    items = {i.get("path"): i.get("key") for i in dig(vol, "secret", "items") or []}
    skey = items.get(base, base if not items else None)
    check("k8s: %s (%s) is mounted from the Secret" % (key, path),
          dig(vol, "secret", "secretName") == dig(secret, "metadata", "name") and skey in secret_keys,
          "volume %r, keys %s" % (vol, sorted(secret_keys)))
for e in c.get("env") or []:
    ref = dig(e, "valueFrom", "secretKeyRef")
    if ref:
        check("k8s: env %s refers to a key of the Secret" % e.get("name"),
              ref.get("name") == dig(secret, "metadata", "name") and ref.get("key") in secret_keys, ref)
check("k8s: the Service selects the relay's pods",
      dig(svc, "spec", "selector") and all(labels.get(k) == v for k, v in dig(svc, "spec", "selector").items()),
      dig(svc, "spec", "selector"))
svc_ports = dig(svc, "spec", "ports") or [{}]
target = svc_ports[0].get("targetPort")
check("k8s: the Service targets the admin port",
      named_ports.get(target, target) == admin_port, "%r; admin port %r" % (target, admin_port))
ann = dig(svc, "metadata", "annotations") or {}
check("k8s: the Service carries scrape annotations for /metrics",
      ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/path") == "/metrics"
      and str(ann.get("prometheus.io/port")) == str(admin_port), ann)

for r in results:
    print("\t".join(r))
PY
    rc=$?
    report_lines < <(grep -E $'^(ok|not ok|skip)\t' "$tmp/yaml.out")
    if [ $rc -ne 0 ]; then
        fail "compose and Kubernetes YAML checks ran to the end" "$(cat "$tmp/yaml.out")"
    fi
fi

if command -v kubectl >/dev/null 2>&1; then
    expect_success "k8s: kubectl kustomize renders deploy/k8s" kubectl kustomize deploy/k8s
else
    skip "k8s: kubectl kustomize renders deploy/k8s" "kubectl not installed"
fi

# ---------------------------------------------------------------------------------------
# systemd unit and sysusers file.

unit=deploy/systemd/campaign-relay.service
required=(
    "Restart=on-failure" "ExecReload=/bin/kill -HUP \$MAINPID" "StateDirectory=campaign-relay"
    "ProtectSystem=strict" "ProtectHome=true" "PrivateTmp=true" "NoNewPrivileges=true"
    "CapabilityBoundingSet=" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
    "SystemCallFilter=@system-service" "MemoryDenyWriteExecute=true" "LockPersonality=true"
)
absent=()
for directive in "${required[@]}"; do
    grep -qxF "$directive" "$unit" || absent+=("$directive")
done
if [ ${#absent[@]} -eq 0 ]; then
    pass "systemd: the unit sets the ${#required[@]} required directives"
else
    fail "systemd: the unit sets the required directives" "missing: ${absent[@]}"
fi
if grep -q '^LoadCredential=client_secret:' "$unit"; then
    pass "systemd: the client secret is a LoadCredential"
else
    fail "systemd: the client secret is a LoadCredential" "no LoadCredential=client_secret:..."
fi
if grep -qE '^User=|^DynamicUser=(yes|true)' "$unit"; then
    pass "systemd: runs as a dedicated or dynamic user"
else
    fail "systemd: runs as a dedicated or dynamic user" "neither User= nor DynamicUser="
fi
stop_s=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")
if [ -n "$stop_s" ] && [ "$stop_s" -gt 10 ]; then
    pass "systemd: TimeoutStopSec=${stop_s}s exceeds the 10 s shutdown grace"
else
    fail "systemd: TimeoutStopSec exceeds the 10 s shutdown grace" \
        "$(grep TimeoutStopSec "$unit" || echo 'TimeoutStopSec not set in seconds')"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
    # verify needs ExecStart's program to exist: point the unit at a copy of the built
    # binary (or of /bin/true before the first build) in a temporary directory.
    cp "${relay_bin:-/bin/true}" "$tmp/campaign-relay"
    sed "s#/usr/local/bin/campaign-relay#$tmp/campaign-relay#g" "$unit" >"$tmp/campaign-relay.service"
    if grep -q "/usr/local/bin/campaign-relay" "$tmp/campaign-relay.service" \
        || ! grep -q "^ExecStart=$tmp/campaign-relay " "$tmp/campaign-relay.service"; then
        fail "systemd: unit ExecStart rewritten for verification" "ExecStart is not /usr/local/bin/campaign-relay"
    elif out=$(systemd-analyze verify "$tmp/campaign-relay.service" 2>&1) && [ -z "$out" ]; then
        pass "systemd: systemd-analyze verify reports nothing"
    else
        fail "systemd: systemd-analyze verify reports nothing" "$out"
    fi
    # Exposure on systemd's 0-10 scale, threshold given in tenths: at most 2.0 ("OK").
    if out=$(systemd-analyze security --offline=true --threshold=20 \
        "$tmp/campaign-relay.service" 2>&1); then
        pass "systemd: $(printf '%s\n' "$out" | grep -o 'Overall exposure level.*: [0-9.]*' | sed 's/ for [^:]*//')"
    else
        fail "systemd: security exposure at most 2.0" "$(printf '%s\n' "$out" | grep -E '✗|Overall' | head -20)"
    fi
else
    skip "systemd: systemd-analyze verify" "systemd-analyze not installed"
fi

if command -v systemd-sysusers >/dev/null 2>&1; then
    mkdir -p "$tmp/root/etc"
    if out=$(systemd-sysusers --root="$tmp/root" - <deploy/systemd/campaign-relay.sysusers.conf 2>&1) \
        && grep -q '^campaign-relay:x:[0-9]*:[0-9]*:.*:/var/lib/campaign-relay:' "$tmp/root/etc/passwd"; then
        pass "systemd: sysusers file creates the campaign-relay user"
    else
        fail "systemd: sysusers file creates the campaign-relay user" "$out"
    fi
else
    skip "systemd: sysusers file creates the campaign-relay user" "systemd-sysusers not installed"
fi

# ---------------------------------------------------------------------------------------
# The deployed configurations pass the relay's own loader. Secret files are made up in a
# temporary directory standing in for /run/secrets and systemd's $CREDENTIALS_DIRECTORY.

check_config() {
    local label=$1 config=$2 out rc
    if [ -z "$relay_bin" ]; then
        skip "check-config accepts $label" "campaign-relay is not built"
        return
    fi
    mkdir -p "$tmp/secrets"
    printf 'client-secret-for-tests' >"$tmp/secrets/client_secret"
    printf 'whsec_%s' "$(head -c 32 /dev/urandom | base64 -w0)" >"$tmp/secrets/webhook_secret"
    sed -e "s#/run/secrets/campaign-relay/#$tmp/secrets/#g" -e "s#/run/secrets/#$tmp/secrets/#g" \
        "$config" >"$tmp/check.yaml"
    out=$(GENESYS_CLIENT_ID=client-id-for-tests CREDENTIALS_DIRECTORY="$tmp/secrets" \
        "$relay_bin" check-config "$tmp/check.yaml" 2>&1)
    rc=$?
    if [[ $out == *"not built yet"* ]]; then
        skip "check-config accepts $label" "the configuration loader is not built yet"
    elif [ $rc -eq 0 ]; then
        pass "check-config accepts $label"
    else
        fail "check-config accepts $label" "exit $rc" "$out"
    fi
}
check_config deploy/relay.compose.yaml deploy/relay.compose.yaml
check_config deploy/systemd/relay.yaml deploy/systemd/relay.yaml
if python3 -c 'import yaml' 2>/dev/null; then
    python3 -c 'import sys, yaml; sys.stdout.write(yaml.safe_load(open(sys.argv[1]))["data"]["relay.yaml"])' \
        deploy/k8s/configmap.yaml >"$tmp/k8s-relay.yaml"
    check_config "the Kubernetes ConfigMap's relay.yaml" "$tmp/k8s-relay.yaml"
else
    skip "check-config accepts the Kubernetes ConfigMap's relay.yaml" "PyYAML missing"
fi

echo "1..$count"
[ "$failures" -eq 0 ]
