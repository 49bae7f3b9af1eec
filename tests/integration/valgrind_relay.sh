#!/usr/bin/env bash
# The relay under valgrind (memcheck, full leak check) through an integration scenario:
# discovery, random traffic, a dropped socket and a socket_closing move, then SIGTERM.
# Runs the release build (build/, which make test also builds): sanitizer builds
# cannot run under valgrind. Passes only with no memory error and nothing leaked.
source tests/integration/lib.bash
RELEASE=${RELEASE_BUILD:-build}
if ! command -v valgrind >/dev/null; then
    ok 1 "valgrind is installed (deploy/install-deps.sh installs it)"
    finish; exit
fi
# The release build links mimalloc; memcheck sees its blocks only because valgrind's
# preloaded malloc takes precedence. Checked, so a leak check cannot pass unseen.
allocator=$(valgrind -q "$RELEASE/campaign-relay" --version 2>&1 | sed -n 's/^allocator: //p')
is "$allocator" "system malloc" "under valgrind, valgrind's malloc serves the relay"
BUILD=$RELEASE start_gcsim --campaigns 6 --seed 9 --traffic --traffic-interval-ms 200 \
    --heartbeat-ms 500 --stopping-ms 300 --closing-grace-ms 2000
cat >"$WORK/relay.yaml" <<YAML
platform:
  api_url: $GCSIM_URL
  login_url: $GCSIM_URL
  client_id: relay-client
  client_secret: relay-secret
stream:
  heartbeat_timeout: 5s
  ping_interval: 1s
  reconnect_min: 100ms
  reconnect_max: 1s
outbox:
  path: $WORK/outbox.db
sinks:
  file:
    path: $WORK/events.jsonl
admin:
  listen: 127.0.0.1:0
YAML
valgrind --leak-check=full --show-leak-kinds=definite,indirect \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    "$RELEASE/campaign-relay" run -c "$WORK/relay.yaml" 2>"$WORK/valgrind.log" &
RELAY_PID=$!
track_pid "$RELAY_PID"
wait_for_line "$WORK/valgrind.log" 'connected \(slot 0\)' 60 >/dev/null
ok $? "the relay connects under valgrind"
sleep 3
sim POST /sim/faults/drop-socket '{}' >/dev/null
wait_until 30 sh -c "[ \$(grep -c 'connected (slot 0)' $WORK/valgrind.log) -ge 2 ]"
ok $? "it reconnects after a dropped socket"
sim POST /sim/faults/socket-closing '{"grace_ms":2000}' >/dev/null
wait_until 30 grep -q 'replaced by' "$WORK/valgrind.log"
ok $? "it moves to a new channel on socket_closing"
sleep 3
kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
status=$?
is "$status" 0 "the relay exits 0 (99 would mean a memory error or a leak)"
grep -q 'ERROR SUMMARY: 0 errors' "$WORK/valgrind.log"
ok $? "valgrind reports no memory error"
grep -E -q 'All heap blocks were freed|definitely lost: 0 bytes' "$WORK/valgrind.log"
ok $? "valgrind reports no leak"
[ "$status" -eq 0 ] || grep -E -A12 'ERROR SUMMARY|definitely lost|Invalid' "$WORK/valgrind.log" | head -40 | sed 's/^/# /'
events=$(wc -l <"$WORK/events.jsonl")
ok "$([ "$events" -gt 0 ]; echo $?)" "events flowed ($events)"
finish
