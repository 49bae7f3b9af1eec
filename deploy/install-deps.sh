#!/usr/bin/env bash
# Installs the Debian 12 packages that campaign-relay needs to build, test, fuzz and
# run its demo. Idempotent: packages already present are skipped, and apt is not
# touched at all when nothing is missing.
set -euo pipefail

packages=(
    build-essential pkg-config
    libwebsockets-dev libcurl4-openssl-dev libcjson-dev librdkafka-dev
    libsqlite3-dev libyaml-dev libssl-dev
    libmimalloc-dev                 # the release relay's allocator (see the Makefile)
    clang libclang-rt-14-dev        # libFuzzer for `make fuzz`
    curl jq sqlite3 python3 python3-yaml  # used by tests and the demo
    valgrind
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "install-deps: missing packages (${missing[*]}) and not root; install them or run as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
