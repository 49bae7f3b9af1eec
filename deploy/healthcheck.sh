#!/bin/bash
# Container health probe for campaign-relay: exits 0 when the admin endpoint answers
# GET /healthz with HTTP 200, and 1 (with the reason on stderr) when the connection is
# refused, the answer is anything else, or no answer arrives within the timeout.
#
#   healthcheck [PORT [PATH]]
#
# PORT defaults to $CRELAY_HEALTH_PORT or 9464, PATH to /healthz; the timeout is
# $CRELAY_HEALTH_TIMEOUT seconds (default 3). The runtime image carries no HTTP client,
# so this speaks HTTP/1.0 over bash's /dev/tcp: with HTTP/1.0 the server closes the
# connection after its answer, so reading the status line never waits on keep-alive.
set -u

port=${1:-${CRELAY_HEALTH_PORT:-9464}}
path=${2:-/healthz}
timeout_s=${CRELAY_HEALTH_TIMEOUT:-3}
host=127.0.0.1

# The group keeps bash's own "connection refused" message out of the health log.
if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
    echo "healthcheck: cannot connect to $host:$port" >&2
    exit 1
fi

printf 'GET %s HTTP/1.0\r\nHost: %s:%s\r\nUser-Agent: campaign-relay-healthcheck\r\n\r\n' \
    "$path" "$host" "$port" >&3

status_line=
if ! IFS= read -r -t "$timeout_s" status_line <&3; then
    echo "healthcheck: no answer from $host:$port$path within ${timeout_s}s" >&2
    exit 1
fi
exec 3<&-
status_line=${status_line%$'\r'}

case $status_line in
    "HTTP/1."[01]" 200"|"HTTP/1."[01]" 200 "*)
        exit 0
        ;;
    *)
        echo "healthcheck: $host:$port$path answered '$status_line'" >&2
        exit 1
        ;;
esac
