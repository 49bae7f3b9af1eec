#!/usr/bin/env bash
# gcsim's scripted scenarios, seeded traffic and load mode over real sockets: the
# lifecycle scenario's notifications and truth, campaigns held in stopping, scenario
# errors, traffic reproducible from its seed, and the load mode's rate report.
source tests/integration/lib.bash
# start_gcsim reads gcsim.out right after starting the process in the background; a
# file left by an earlier instance could be read before the new one truncates it.
fresh_gcsim() { rm -f "$WORK/gcsim.out"; start_gcsim "$@"; }

token() { curl -sS -u relay-client:relay-secret -d grant_type=client_credentials \
              "$GCSIM_URL/oauth/token" | jq -r .access_token; }
api() {
    local args=(-sS -X "$1" -H "Authorization: Bearer $TOKEN")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data "$3")
    curl "${args[@]}" "$GCSIM_URL$2"
}
# channel_for TOPIC...: creates a channel subscribed to the topics; prints its id.
channel_for() {
    local ch body
    ch=$(api POST /api/v2/notifications/channels | jq -r .id)
    body=$(printf '{"id":"%s"},' "$@"); body="[${body%,}]"
    api PUT "/api/v2/notifications/channels/$ch/subscriptions" "$body" >/dev/null
    echo "$ch"
}
ws_uri() { echo "ws://${GCSIM_URL#http://}/channels/$1"; }

# --- the lifecycle scenario ------------------------------------------------------------
C=c0ffee00-1111-4222-8333-444455556666
fresh_gcsim --scenario tests/gcsim/scenarios/lifecycle.json --heartbeat-ms 0 \
    --truth "$WORK/life.jsonl" || { finish; exit 1; }
TOKEN=$(token)
is "$(sim GET /sim/state | jq -r .startedScenario)" false "a connect scenario waits for a socket"
CH=$(channel_for "v2.outbound.campaigns.$C" "v2.outbound.campaigns.$C.progress")
"$BUILD/tools/ws_tap" "$(ws_uri "$CH")" --max 7 --seconds 15 >"$WORK/life.out" 2>&1
is "$(grep '^{' "$WORK/life.out" | jq -r 'select(.topicName|endswith(".progress")|not) | .eventBody.campaignStatus + ":" + (.eventBody.version|tostring)' | tr '\n' ' ')" \
    "on:2 stopping:3 off:4 on:5 complete:6 " \
    "the campaign goes on, stopping, off, on, complete with a notification each"
is "$(grep '^{' "$WORK/life.out" | jq -r 'select(.topicName|endswith(".progress")) | .eventBody.percentage' | tr '\n' ' ')" \
    "40 100 " "progress notifications report 40 % and then 100 %"
is "$(jq -r "select(.kind==\"change\") | .status + \"/\" + .cause" "$WORK/life.jsonl" | tr '\n' ' ')" \
    "on/scenario stopping/scenario off/timer on/scenario complete/scenario " \
    "the truth log has each change and who caused it"
is "$(jq -r 'select(.kind=="notification" and .status!=null) | .version' "$WORK/life.jsonl" | tr '\n' ' ')" \
    "2 3 4 5 6 " "the truth log has each notification sent"
resp=$(api GET "/api/v2/outbound/campaigns/$C")
is "$(jq -r '.campaignStatus + " " + .edgeGroup.name + " " + .division.name + " " + .contactList.name' <<<"$resp")" \
    "complete Edge group east Home Spring leads" "REST shows the scenario's campaign and references"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID"

# --- campaigns held in stopping by dialing mode -----------------------------------------
fresh_gcsim --scenario tests/gcsim/scenarios/stuck_stopping.json --heartbeat-ms 0 || { finish; exit 1; }
TOKEN=$(token)
CH=$(channel_for "v2.outbound.campaigns.aaaaaaaa-0000-4000-8000-000000000001")
"$BUILD/tools/ws_tap" "$(ws_uri "$CH")" --max 1 --seconds 5 >"$WORK/stuck.out" 2>&1
sleep 2.2
is "$(sim GET /sim/state | jq -r '[.campaigns[] | .dialingMode + "=" + .campaignStatus] | join(" ")')" \
    "predictive=stopping progressive=stopping power=off" \
    "predictive and progressive stay stopping while power finishes"
is "$(api GET /api/v2/outbound/contactlists/11111111-2222-4333-8444-555555555555/importstatus | jq -r '.state + " " + (.percentComplete|tostring)')" \
    "IN_PROGRESS 24" "the scenario's contact list stays IN_PROGRESS"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID"

# --- scenario errors -----------------------------------------------------------------------
cat >"$WORK/bad.json" <<'JSON'
{"campaigns": [{"id": "c1", "dialingMode": "power"}],
 "timeline": [{"at": 10, "action": "status", "campaign": "c1", "status": "on"},
              {"at": 20, "action": "status", "campaign": "c1", "status": "paused"}]}
JSON
out=$("$BUILD/gcsim" --scenario "$WORK/bad.json" 2>&1 >/dev/null); rc=$?
is "$rc" 2 "a bad scenario stops gcsim with status 2"
grep -qF 'timeline[1].status: unknown status \"paused\"' <<<"$out"
ok $? "the error names the JSON path and the bad value"
printf '{"campaigns": [\n  {"id": "c1",,}\n]}\n' >"$WORK/broken.json"
out=$("$BUILD/gcsim" --scenario "$WORK/broken.json" 2>&1 >/dev/null)
grep -qF "broken.json:2: not valid JSON" <<<"$out"
ok $? "invalid JSON is reported with its line"

# --- traffic is reproducible from its seed ---------------------------------------------------
traffic_run() { # traffic_run SEED OUT
    fresh_gcsim --campaigns 20 --seed "$1" --traffic --traffic-interval-ms 15 \
        --stopping-ms 100000 --calls-per-tick 0 --heartbeat-ms 0 --truth "$2" || return 1
    wait_until 10 bash -c "[ \$(grep -c '\"cause\":\"traffic\"' '$2') -ge 12 ]"
    kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID"
    jq -r 'select(.kind=="change") | .campaignId + " " + .status + " " + (.version|tostring)' "$2" | head -12
}
first=$(traffic_run 9 "$WORK/t1.jsonl")
second=$(traffic_run 9 "$WORK/t2.jsonl")
other=$(traffic_run 10 "$WORK/t3.jsonl")
[ "$(wc -l <<<"$first")" -eq 12 ] && [ "$first" = "$second" ]
ok $? "the same seed plays the same traffic"
[ "$first" != "$other" ]
ok $? "another seed plays different traffic"

# --- load mode ---------------------------------------------------------------------------------
fresh_gcsim --campaigns 1 --heartbeat-ms 0 --load-rate 3000 --load-seconds 2 --load-campaigns 50 \
    || { finish; exit 1; }
TOKEN=$(token)
CH=$(channel_for "v2.outbound.campaigns.00000000-0000-4000-8000-000000000001")
"$BUILD/tools/ws_discard" "$(ws_uri "$CH")" --seconds 10 --idle-ms 1500 >"$WORK/discard.out" 2>&1
report=$(wait_for_line "$GCSIM_LOG" '^gcsim load: sent' 5)
diag "$report"
diag "$(cat "$WORK/discard.out")"
sent=$(sed -E 's/^gcsim load: sent ([0-9]+) notifications in ([0-9.]+) s \(([0-9]+)\/s\)$/\1/' <<<"$report")
received=$(sed -E 's/^ws_discard: ([0-9]+) frames.*/\1/' "$WORK/discard.out")
# Half the target: the sanitizer build on a shared 2-core machine runs well below it.
[[ $sent =~ ^[0-9]+$ ]] && [ "$sent" -ge 3000 ]
ok $? "load mode reports what it sent in the agreed format ($sent)"
is "$received" "$sent" "the reader received every notification the load mode sent"

# What the load mode sends: two campaigns taking turns, the first half of each hundred
# with config bodies, each notification one version past its campaign's last.
fresh_gcsim --campaigns 1 --heartbeat-ms 0 --load-rate 200 --load-seconds 2 --load-campaigns 2 \
    --load-config-percent 50 || { finish; exit 1; }
TOKEN=$(token)
CH=$(channel_for "v2.outbound.campaigns.00000000-0000-4000-8000-000000000001")
"$BUILD/tools/ws_tap" "$(ws_uri "$CH")" --max 54 --seconds 15 >"$WORK/load.out" 2>&1
grep '^{' "$WORK/load.out" >"$WORK/load.jsonl"
is "$(wc -l <"$WORK/load.jsonl")" 54 "the load mode's frames are each one JSON line"
is "$(jq -r 'if (.topicName|endswith(".progress")) then "p" else "c" end' "$WORK/load.jsonl" \
      | uniq -c | awk '{printf "%s%s ", $1, $2}')" "50c 4p " \
    "config bodies for the first half of a hundred, then progress bodies"
is "$(jq -r 'select((.topicName|ltrimstr("v2.outbound.campaigns.")|rtrimstr(".progress"))
                    != (.eventBody.id // .eventBody.campaign.id)) | .topicName' "$WORK/load.jsonl")" "" \
    "every frame's topic names the campaign its body is about"
is "$(jq -sr '[.[] | {id: (.eventBody.id // .eventBody.campaign.id), v: (.eventBody.version // .eventBody.numberOfContactsCalled)}]
              | group_by(.id) | map([.[].v] | . == [range(.[0]; .[0] + length)] and .[0] == 1)
              | map(tostring) | join(" ")' "$WORK/load.jsonl")" "true true" \
    "each campaign's versions count up by one from 1, across both kinds"
is "$(jq -r '.metadata.CorrelationId' "$WORK/load.jsonl" | sed -n '1p;10p;54p' | tr '\n' ' ')" \
    "00000000-0000-4000-8000-000000000001 00000000-0000-4000-8000-00000000000a 00000000-0000-4000-8000-000000000036 " \
    "correlation ids count up in twelve hex digits"
now_us=$(( $(date +%s) * 1000000 ))
is "$(jq -r --argjson now "$now_us" 'select((.metadata.gcsimSentUs | type) != "number"
        or (.metadata.gcsimSentUs - $now | fabs) > 60000000) | .metadata' "$WORK/load.jsonl")" "" \
    "every frame carries its send time in wall-clock microseconds"
finish
