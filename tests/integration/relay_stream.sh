#!/usr/bin/env bash
# The consumer end to end against gcsim over real sockets: a scripted lifecycle
# arrives exactly once and in order; every socket and REST fault ends with the
# relay's picture equal to the simulator's and the gap reported; duplicates, stale
# versions, malformed, unknown and oversized frames change nothing and are survived.
source tests/integration/lib.bash

# write_config NAME [EXTRA_YAML]: a relay configuration against the running gcsim.
write_config() {
    local name=$1 extra=${2:-}
    cat >"$WORK/$name.yaml" <<EOF
platform:
  api_url: $GCSIM_URL
  login_url: $GCSIM_URL
  client_id: relay-client
  client_secret: relay-secret
stream:
  heartbeat_timeout: 3s
  ping_interval: 1s
  reconnect_min: 100ms
  reconnect_max: 1s
  healthy_after: 2s
  max_frame_bytes: 256KiB
outbox:
  path: $WORK/$name.db
sinks:
  file:
    path: $WORK/$name.jsonl
log:
  level: debug
$extra
EOF
}

start_relay() { # start_relay NAME
    "$BUILD/campaign-relay" run -c "$WORK/$1.yaml" 2>>"$WORK/$1.log" &
    RELAY_PID=$!
    track_pid "$RELAY_PID"
}

stop_relay() {
    kill -TERM "$RELAY_PID" 2>/dev/null
    wait "$RELAY_PID"
}

# last_status FILE CAMPAIGN: the relay's latest status of a campaign (highest version).
last_status() {
    jq -r --arg id "$2" 'select(.type=="cx.outbound.campaign.state_changed" and .subject==$id)
        | [.data.version, .data.current.status] | @tsv' "$1" 2>/dev/null |
        sort -n | tail -1 | cut -f2
}

count_type() { # count_type FILE TYPE
    jq -r --arg t "cx.outbound.$2" 'select(.type==$t) | .id' "$1" 2>/dev/null | wc -l
}

# states_match FILE: every gcsim campaign's status equals the relay's latest.
states_match() {
    local file=$1 id status mismatches=0
    while IFS=$'\t' read -r id status; do
        [ "$(last_status "$file" "$id")" = "$status" ] || mismatches=$((mismatches + 1))
    done < <(sim GET /sim/state | jq -r '.campaigns[] | [.id, .campaignStatus] | @tsv')
    [ "$mismatches" -eq 0 ]
}

# ---------------------------------------------------------------------------------
# 1. A scripted lifecycle: on -> stopping -> off -> on -> complete, once each, in order.
start_gcsim --scenario tests/gcsim/scenarios/lifecycle.json --heartbeat-ms 500 \
    --truth "$WORK/truth1.jsonl"
write_config life
start_relay life
campaign=c0ffee00-1111-4222-8333-444455556666
wait_until 30 sh -c "[ \"\$(jq -r --arg id $campaign 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id) | .data.current.status' $WORK/life.jsonl | tail -1)\" = complete ]"
ok $? "the scripted campaign reaches complete in the relay's events"
sleep 0.5
sequence=$(jq -r --arg id $campaign 'select(.type=="cx.outbound.campaign.state_changed" and .subject==$id)
    | .data.current.status' "$WORK/life.jsonl" | paste -sd' ')
truth=$(jq -r --arg id $campaign 'select(.kind=="change" and .campaignId==$id) | .status' \
    "$WORK/truth1.jsonl" | paste -sd' ')
is "$sequence" "off $truth" "state changes are the truth's, once each and in order"
is "$truth" "on stopping off on complete" "the truth is the scripted lifecycle"
versions=$(jq -r --arg id $campaign 'select(.type=="cx.outbound.campaign.state_changed" and .subject==$id)
    | .data.version' "$WORK/life.jsonl" | paste -sd' ')
sorted=$(echo "$versions" | tr ' ' '\n' | sort -n | paste -sd' ')
is "$versions" "$sorted" "versions increase along the sequence"
ids=$(jq -r 'select(.type=="cx.outbound.campaign.state_changed") | .id' "$WORK/life.jsonl" | sort | uniq -d | wc -l)
is "$ids" 0 "no state change is delivered twice"
stop_relay
ok $? "the relay exits 0 on SIGTERM"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 2. Faults, one after the other, each followed by a change the stream may miss.
start_gcsim --campaigns 12 --seed 11 --heartbeat-ms 500 --stopping-ms 300 \
    --tick-ms 60000 --calls-per-tick 0 --closing-grace-ms 3000 --truth "$WORK/truth2.jsonl"
write_config faults
start_relay faults
mapfile -t campaigns < <(sim GET /sim/state | jq -r '.campaigns[].id')
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.campaign.discovered\") | .id' $WORK/faults.jsonl | wc -l) -ge 12 ]"
ok $? "all 12 campaigns discovered"
wait_until 20 sh -c "curl -s $GCSIM_URL/sim/state | jq -e '[.channels[] | select(.connected)] | length == 1' >/dev/null"
ok $? "one channel connected"

# change N STATUS: sets a campaign's status directly (notifies if a socket is there).
change() {
    sim POST "/sim/campaigns/${campaigns[$1]}/status" "{\"status\":\"$2\",\"direct\":true}" >/dev/null
}
# settled N STATUS SECONDS: the relay's events end with that status for campaign N.
settled() {
    wait_until "$3" sh -c "[ \"\$(jq -r --arg id ${campaigns[$1]} 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id) | [.data.version, .data.current.status] | @tsv' $WORK/faults.jsonl | sort -n | tail -1 | cut -f2)\" = $2 ]"
}

gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
sim POST /sim/faults/drop-socket '{}' >/dev/null
change 0 on
settled 0 on 20
ok $? "drop-socket: the change made meanwhile reaches the relay"
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.stream_gap\") | .id' $WORK/faults.jsonl | wc -l) -gt $gaps_before ]"
ok $? "drop-socket: the gap is reported"
states_match "$WORK/faults.jsonl"
ok $? "drop-socket: the relay's picture equals the simulator's"

gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
sim POST /sim/faults/stall-heartbeats '{"ms":8000}' >/dev/null
sleep 4.5
change 1 on
settled 1 on 20
ok $? "heartbeat stall: the socket is declared dead, and the change arrives"
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.stream_gap\") | .id' $WORK/faults.jsonl | wc -l) -gt $gaps_before ]"
ok $? "heartbeat stall: the gap is reported"
grep -q 'heartbeat_timeout' "$WORK/faults.log"
ok $? "heartbeat stall: the log names the cause"
sim POST /sim/faults/clear '{}' >/dev/null

gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
old_channel=$(sim GET /sim/state | jq -r '.channels[] | select(.connected) | .id')
sim POST /sim/faults/socket-closing '{"grace_ms":3000}' >/dev/null
sleep 0.3
change 2 on
settled 2 on 10
ok $? "socket_closing: a change during the move arrives"
wait_until 10 sh -c "curl -s $GCSIM_URL/sim/state | jq -e --arg old $old_channel '[.channels[] | select(.connected and .id != \$old)] | length == 1' >/dev/null"
ok $? "socket_closing: a new channel is connected"
sleep 3.5
is "$(count_type "$WORK/faults.jsonl" alert.stream_gap)" "$gaps_before" "socket_closing: no gap"

for fault in expire-channel evict-channel; do
    gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
    channel=$(sim GET /sim/state | jq -r '[.channels[] | select(.connected)][0].id')
    sim POST "/sim/faults/$fault" "{\"channel\":\"$channel\"}" >/dev/null
    change 3 "$([ "$fault" = expire-channel ] && echo on || echo off)"
    settled 3 "$([ "$fault" = expire-channel ] && echo on || echo off)" 20
    ok $? "$fault: the change made meanwhile reaches the relay"
    wait_until 20 sh -c "curl -s $GCSIM_URL/sim/state | jq -e --arg old $channel '[.channels[] | select(.connected and .id != \$old)] | length == 1' >/dev/null"
    ok $? "$fault: a new channel replaces the lost one"
    wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.stream_gap\") | .id' $WORK/faults.jsonl | wc -l) -gt $gaps_before ]"
    ok $? "$fault: the gap is reported"
    states_match "$WORK/faults.jsonl"
    ok $? "$fault: the relay's picture equals the simulator's"
done

gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
sim POST /sim/faults/revoke-tokens '{}' >/dev/null
change 4 on
settled 4 on 20
ok $? "revoke-tokens: the relay gets a new token and the change arrives"
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.stream_gap\") | .id' $WORK/faults.jsonl | wc -l) -gt $gaps_before ]"
ok $? "revoke-tokens: the gap of the revoked channel is reported"
states_match "$WORK/faults.jsonl"
ok $? "revoke-tokens: the relay's picture equals the simulator's"

gaps_before=$(count_type "$WORK/faults.jsonl" alert.stream_gap)
sim POST /sim/faults/rest '{"status":429,"count":6,"retry_after":1,"path_prefix":"/api/v2/outbound"}' >/dev/null
sim POST /sim/faults/drop-socket '{}' >/dev/null
change 5 on
settled 5 on 30
ok $? "429 storm during reconciliation: delayed, not lost"
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.stream_gap\") | .id' $WORK/faults.jsonl | wc -l) -gt $gaps_before ]"
ok $? "429 storm: the gap is reported once reconciliation got through"
states_match "$WORK/faults.jsonl"
ok $? "429 storm: the relay's picture equals the simulator's"

# Duplicates and stale versions: no event.
state_events=$(count_type "$WORK/faults.jsonl" campaign.state_changed)
config_events=$(count_type "$WORK/faults.jsonl" campaign.config_changed)
sim POST /sim/faults/duplicate "{\"campaign\":\"${campaigns[0]}\"}" >/dev/null
sim POST /sim/faults/stale "{\"campaign\":\"${campaigns[0]}\"}" >/dev/null
sim POST /sim/faults/malformed-frame '{}' >/dev/null
sim POST /sim/faults/unknown-topic '{}' >/dev/null
sim POST /sim/faults/oversized '{"bytes":600000}' >/dev/null
sim POST /sim/faults/fragmented "{\"campaign\":\"${campaigns[6]}\",\"fragments\":5}" >/dev/null
change 7 on
settled 7 on 20
ok $? "after duplicate, stale, malformed, unknown, oversized and fragmented frames the stream still works"
is "$(count_type "$WORK/faults.jsonl" campaign.state_changed)" "$((state_events + 1))" \
    "duplicates and stale versions produce no state change (only the new change does)"
is "$(count_type "$WORK/faults.jsonl" campaign.config_changed)" "$config_events" \
    "duplicates and stale versions produce no config change"
grep -q 'undecodable notification' "$WORK/faults.log"
ok $? "the malformed frame is logged and counted"
grep -q 'over the 262144-byte limit' "$WORK/faults.log"
ok $? "the oversized frame is dropped and logged"
kill -0 "$RELAY_PID"
ok $? "the relay is still running"

sleep 1
states_match "$WORK/faults.jsonl"
ok $? "the relay's picture equals the simulator's for every campaign"
stop_relay
ok $? "the relay exits 0 after all faults"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$WORK/faults.log" >/dev/null; then
    ok 1 "no sanitizer report"; grep -E -A20 'Sanitizer|runtime error' "$WORK/faults.log" | head -40 | sed 's/^/# /'
else
    ok 0 "no sanitizer report"
fi
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 3. More than 1,000 topics shard across channels within the platform's limits.
start_gcsim --campaigns 300 --seed 5 --heartbeat-ms 1000 --tick-ms 60000 --calls-per-tick 0
write_config shard
start_relay shard
wait_until 40 sh -c "curl -s $GCSIM_URL/sim/state | jq -e '[.channels[] | select(.connected)] | length == 2' >/dev/null"
ok $? "1,200 topics use two connected channels"
topics=$(sim GET /sim/state | jq '[.channels[] | select(.connected) | .topics | length]')
is "$(echo "$topics" | jq 'add')" 1200 "every topic is subscribed once"
is "$(echo "$topics" | jq 'map(select(. > 1000)) | length')" 0 "no channel holds more than 1,000 topics"
stop_relay
ok $? "the relay exits 0"

# ---------------------------------------------------------------------------------
# 4. Restarts reuse the remembered channel: no channel leaks towards the 20-channel cap.
for i in $(seq 1 20); do
    start_relay shard
    wait_until 20 sh -c "curl -s $GCSIM_URL/sim/state | jq -e '[.channels[] | select(.connected)] | length == 2' >/dev/null" || break
    stop_relay
done
ok $? "20 restarts each reconnect both channels"
is "$(sim GET /sim/state | jq '.channels | length')" 2 "after 20 restarts the client still has 2 channels"

# ---------------------------------------------------------------------------------
# 5. Campaign selection: only the campaigns the filter names are followed.
write_config prefix 'subscriptions:
  campaigns:
    name_prefix: "Campaign 01"'
# The extra subscriptions block replaces nothing else: the loader rejects duplicate
# keys, so the base config must not have one.
start_relay prefix
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.campaign.discovered\") | .id' $WORK/prefix.jsonl 2>/dev/null | wc -l) -ge 10 ]"
ok $? "the name_prefix filter discovers the matching campaigns"
sleep 1
names=$(jq -r 'select(.type=="cx.outbound.campaign.discovered") | .data.campaign.name[0:11]' "$WORK/prefix.jsonl" | sort -u | paste -sd' ')
is "$names" "Campaign 01" "and only those ($(jq -r 'select(.type=="cx.outbound.campaign.discovered") | .id' "$WORK/prefix.jsonl" | wc -l) campaigns)"
stop_relay
ok $? "the relay exits 0"

if cat "$WORK"/*.log | grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' >/dev/null; then
    ok 1 "no sanitizer report in any relay run"
else
    ok 0 "no sanitizer report in any relay run"
fi
finish
