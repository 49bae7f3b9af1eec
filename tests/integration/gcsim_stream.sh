#!/usr/bin/env bash
# gcsim's WebSocket side over real sockets with the ws_tap client: the envelope,
# heartbeats and ping/pong, notifications from campaign changes, every socket fault,
# one socket per channel, socket_closing, eviction, expiry and the truth log.
source tests/integration/lib.bash
# start_gcsim reads gcsim.out right after starting the process in the background; a
# file left by an earlier instance could be read before the new one truncates it.
fresh_gcsim() { rm -f "$WORK/gcsim.out"; start_gcsim "$@"; }

token() { curl -sS -u relay-client:relay-secret -d grant_type=client_credentials \
              "$GCSIM_URL/oauth/token" | jq -r .access_token; }
api() { # api METHOD PATH [BODY] -> body
    local args=(-sS -X "$1" -H "Authorization: Bearer $TOKEN")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data "$3")
    curl "${args[@]}" "$GCSIM_URL$2"
}
head_status() { curl -sS -o /dev/null -I -w '%{http_code}' -H "Authorization: Bearer $TOKEN" \
                     "$GCSIM_URL/api/v2/notifications/channels/$1"; }
new_channel() { api POST /api/v2/notifications/channels | jq -r .id; }
subscribe() { # subscribe CHANNEL TOPIC...
    local ch=$1; shift
    local body; body=$(printf '{"id":"%s"},' "$@"); body="[${body%,}]"
    api PUT "/api/v2/notifications/channels/$ch/subscriptions" "$body" >/dev/null
}
ws_uri() { echo "ws://${GCSIM_URL#http://}/channels/$1"; }
# tap NAME CHANNEL [ARGS]: starts ws_tap writing $WORK/NAME.out; waits until connected.
tap() {
    local name=$1 ch=$2; shift 2
    "$BUILD/tools/ws_tap" "$(ws_uri "$ch")" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    track_pid $!
    eval "${name}_PID=$!"
    wait_for_line "$WORK/$name.out" '^#connected' 10 >/dev/null
}
frames() { grep '^{' "$WORK/$1.out"; }
count_matching() { grep -c -- "$2" "$WORK/$1.out"; }

fresh_gcsim --campaigns 2 --seed 5 --heartbeat-ms 300 --stopping-ms 200 --calls-per-tick 0 \
    --closing-grace-ms 400 --truth "$WORK/truth.jsonl" || { finish; exit 1; }
TOKEN=$(token)
state=$(sim GET /sim/state)
CID=$(jq -r '.campaigns[0].id' <<<"$state")
CID2=$(jq -r '.campaigns[1].id' <<<"$state")
CH=$(new_channel)
subscribe "$CH" "v2.outbound.campaigns.$CID" "v2.outbound.campaigns.$CID.progress"

tap a "$CH" --ping-ms 200
ok $? "ws_tap connects to the channel's connectUri without a subprotocol"
is "$(sim GET /sim/state | jq -r ".channels[] | select(.id==\"$CH\") | .connected")" true \
    "the control API shows the channel connected"
wait_for_line "$WORK/a.out" '"message":"WebSocket Heartbeat"' 3 | jq -e '.topicName == "channel.metadata"' >/dev/null
ok $? "heartbeats arrive on channel.metadata"
wait_for_line "$WORK/a.out" '"message":"pong"' 3 >/dev/null
ok $? "a ping is answered with pong"

sim POST "/sim/campaigns/$CID/status" '{"status":"on"}' >/dev/null
line=$(wait_for_line "$WORK/a.out" '"campaignStatus":"on"' 3)
is "$(jq -r '[.topicName, .version, .eventBody.version, .eventBody.id, (.metadata.CorrelationId|length)]|@csv' <<<"$line")" \
    "\"v2.outbound.campaigns.$CID\",\"2\",2,\"$CID\",36" \
    "a status change arrives in the platform envelope with the new version"
jq -e '.eventBody | has("dialingMode") and has("contactList") and has("division") and has("phoneColumns") and has("abandonRate") and has("dateModified")' <<<"$line" >/dev/null
ok $? "the body has the DialerCampaignConfigChangeCampaign fields"
size=$(jq -c .eventBody <<<"$line" | wc -c)
[ "$size" -ge 1200 ] && [ "$size" -le 2500 ]
ok $? "the config-change body is about 1.5 KB ($size bytes)"
sim POST "/sim/campaigns/$CID/progress" '{"percentage":30}' >/dev/null
line=$(wait_for_line "$WORK/a.out" "\"topicName\":\"v2.outbound.campaigns.$CID.progress\"" 3)
is "$(jq -r .eventBody.percentage <<<"$line")" 30 "progress arrives on the .progress topic"
sim POST "/sim/campaigns/$CID2/status" '{"status":"on"}' >/dev/null
sim POST "/sim/campaigns/$CID/status" '{"status":"off"}' >/dev/null
wait_for_line "$WORK/a.out" '"campaignStatus":"off"' 3 >/dev/null
is "$(frames a | jq -r "select(.topicName==\"v2.outbound.campaigns.$CID\") | .eventBody.campaignStatus + \":\" + (.eventBody.version|tostring)" | tr '\n' ' ')" \
    "on:2 stopping:3 off:4 " "turning off notifies stopping then off, each with a new version"
is "$(count_matching a "$CID2")" 0 "changes to unsubscribed campaigns are not delivered"

last=$(frames a | grep "\"topicName\":\"v2.outbound.campaigns.$CID\"" | tail -1)
sim POST /sim/faults/duplicate "{\"campaign\":\"$CID\"}" >/dev/null
sim POST /sim/faults/stale "{\"campaign\":\"$CID\"}" >/dev/null
sim POST /sim/faults/fragmented "{\"campaign\":\"$CID\",\"fragments\":3}" >/dev/null
sim POST /sim/faults/malformed-frame >/dev/null
sim POST /sim/faults/unknown-topic >/dev/null
sim POST /sim/faults/oversized '{"bytes":4194304}' >/dev/null
wait_for_line "$WORK/a.out" 'padding' 10 >/dev/null
is "$(grep -cxF -- "$last" "$WORK/a.out")" 3 "duplicate and fragmented resend the identical last notification"
is "$(frames a | jq -r 'select(.eventBody.campaignStatus!=null) | .eventBody.version' 2>/dev/null | tail -n +4 | head -2 | tr '\n' ' ')" \
    "4 3 " "stale sends an older version after the current one"
grep -A1 '^#fragments 3' "$WORK/a.out" | tail -1 | grep -qxF -- "$last"
ok $? "fragmented arrives as 3 WebSocket fragments that reassemble to the notification"
grep -qx '{"topicName":"v2.outbound.campaigns.","eventBody":{' "$WORK/a.out"
ok $? "malformed-frame sends text that is not JSON"
frames a | grep -q '"topicName":"v2.outbound.unknownthing\.[0-9a-f-]*"'
ok $? "unknown-topic sends a notification on a topic nobody subscribed"
big=$(grep padding "$WORK/a.out" | head -1)
[ "${#big}" -ge 4194304 ] && jq -e '.eventBody.id' <<<"$big" >/dev/null
ok $? "oversized sends one valid notification of at least 4 MiB (${#big} bytes)"

sim POST /sim/faults/stall-heartbeats "{\"channel\":\"$CH\"}" >/dev/null
before=$(grep -cE '"message":"(WebSocket Heartbeat|pong)"' "$WORK/a.out")
sleep 1
is "$(grep -cE '"message":"(WebSocket Heartbeat|pong)"' "$WORK/a.out")" "$before" \
    "a stall withholds heartbeats and pongs"
sim POST /sim/faults/resume-heartbeats "{\"channel\":\"$CH\"}" >/dev/null
sleep 0.7
[ "$(grep -cE '"message":"(WebSocket Heartbeat|pong)"' "$WORK/a.out")" -gt "$before" ]
ok $? "resume-heartbeats brings them back"

tap b "$CH"
wait_for_line "$WORK/a.out" '^#closed' 3 >/dev/null
is "$(grep '^#closed' "$WORK/a.out")" "#closed code=1000" "a second socket on the channel closes the first"
sim POST "/sim/campaigns/$CID/status" '{"status":"on"}' >/dev/null
wait_for_line "$WORK/b.out" '"campaignStatus":"on"' 3 >/dev/null
ok $? "the new socket keeps the channel's subscriptions"

sim POST /sim/faults/socket-closing "{\"channel\":\"$CH\"}" >/dev/null
wait_for_line "$WORK/b.out" 'v2.system.socket_closing' 2 >/dev/null
ok $? "socket-closing sends v2.system.socket_closing"
sleep 0.2
is "$(count_matching b '^#closed')" 0 "the socket stays open during the grace period"
wait_for_line "$WORK/b.out" '^#closed' 3 >/dev/null
is "$(grep '^#closed' "$WORK/b.out")" "#closed code=1001" "the server closes after the grace period"
is "$(head_status "$CH")" 200 "the channel survives socket_closing"

tap c "$CH"
sim POST /sim/faults/drop-socket "{\"channel\":\"$CH\"}" >/dev/null
wait_for_line "$WORK/c.out" '^#closed' 3 >/dev/null
is "$(grep '^#closed' "$WORK/c.out")" "#closed noframe" "drop-socket ends the connection without a close frame"

tap d "$CH"
sim POST /sim/faults/evict-channel "{\"channel\":\"$CH\"}" >/dev/null
wait_for_line "$WORK/d.out" '^#closed' 3 >/dev/null
frames d | jq -e "select(.topicName==\"v2.system.no_longer_subscribed.$CH\") | .eventBody.systemTopicType == \"no_longer_subscribed\"" >/dev/null
ok $? "evict-channel sends v2.system.no_longer_subscribed.{id}"
is "$(grep '^#closed' "$WORK/d.out")" "#closed code=1000" "then closes the socket"
is "$(head_status "$CH")" 404 "an evicted channel answers HEAD 404"
"$BUILD/tools/ws_tap" "$(ws_uri "$CH")" --seconds 3 >"$WORK/refused.out" 2>&1
is "$?" 2 "a socket to an evicted channel is refused"

CH2=$(new_channel)
subscribe "$CH2" "v2.outbound.campaigns.$CID"
tap e "$CH2"
sim POST /sim/faults/expire-channel "{\"channel\":\"$CH2\"}" >/dev/null
wait_for_line "$WORK/e.out" '^#closed' 3 >/dev/null
is "$(grep '^#closed' "$WORK/e.out")" "#closed code=1001" "expire-channel closes the socket with 1001"
is "$(head_status "$CH2")" 404 "an expired channel answers HEAD 404"

CH3=$(new_channel)
tap f "$CH3"
sim POST /sim/faults/revoke-tokens >/dev/null
wait_for_line "$WORK/f.out" "v2.system.token_revoked.$CH3" 3 >/dev/null
ok $? "revoke-tokens sends v2.system.token_revoked.{id} on connected sockets"

kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID"
is "$?" 0 "gcsim exits cleanly with sockets open"
truth=$WORK/truth.jsonl
is "$(jq -r "select(.kind==\"change\" and .campaignId==\"$CID\") | .status + \":\" + (.version|tostring)" "$truth" | head -3 | tr '\n' ' ')" \
    "on:2 stopping:3 off:4 " "the truth log records every change with its version"
is "$(jq -r "select(.kind==\"notification\" and .campaignId==\"$CID\" and .status!=null) | .channel" "$truth" | sort -u | head -1)" \
    "$CH" "notification lines name the channel they went to"
is "$(jq -r '.kind' "$truth" | sort -u | grep -E '^(duplicate|stale|malformed|unknown_topic|fragmented|oversized|drop)$' | tr '\n' ' ')" \
    "drop duplicate fragmented malformed oversized stale unknown_topic " "faults are logged with their kind"
# GET /sim/state also writes final lines; the last ones are from the exit.
is "$(jq -r 'select(.kind=="final") | .campaignId' "$truth" | tail -n 2 | sort | tr '\n' ' ')" \
    "$(printf '%s\n' "$CID" "$CID2" | sort | tr '\n' ' ')" "the final state of every campaign is logged on exit"

# --- the channel limit with connected sockets, and channel lifetime -----------------------
fresh_gcsim --campaigns 1 --max-channels 2 --channel-lifetime 2 --heartbeat-ms 0 || { finish; exit 1; }
TOKEN=$(token)
K1=$(new_channel); tap k1 "$K1"
K2=$(new_channel)
K3=$(new_channel)
is "$(head_status "$K2") $(head_status "$K1")" "404 200" "the limit evicts an unconnected channel before a connected one"
tap k3 "$K3"
K4=$(new_channel)
wait_for_line "$WORK/k1.out" '^#closed' 3 >/dev/null
grep -q "v2.system.no_longer_subscribed.$K1" "$WORK/k1.out"
ok $? "with every channel connected the least recently used one is evicted and told so"
tap k4 "$K4"
sleep 1.2
subscribe "$K3" "v2.outbound.campaigns.00000000-0000-4000-8000-000000000001"
wait_for_line "$WORK/k4.out" '^#closed' 3 >/dev/null
is "$(grep '^#closed' "$WORK/k4.out")" "#closed code=1001" "a channel past its lifetime is closed with 1001"
is "$(head_status "$K4") $(head_status "$K3")" "404 200" "resubscribing extends a channel's lifetime"
finish
