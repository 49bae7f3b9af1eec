#!/usr/bin/env bash
# Campaign control end to end: the admin API and the CLI against a relay that holds
# gcsim's stream. Start and stop complete on the stream; the state gate refuses a
# command during stopping; an importing contact list refuses a start unless
# overridden (and the override is audited); five stops on one edge group run at most
# two at a time; a 404 on start falls back to GET+PUT and a version conflict is
# re-read and retried; a 429 storm delays but does not fail; a predictive stop that
# drains past the progressive tolerance is not timed out; the audit chain verifies.
source tests/integration/lib.bash

start_gcsim --scenario tests/gcsim/scenarios/control.json --heartbeat-ms 500 --tick-ms 60000
cat >"$WORK/relay.yaml" <<EOF
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
lifecycle:
  tolerance:
    progressive: 2s
    predictive: 30s
    power: 20s
control:
  max_concurrent_per_dialer: 2
outbox:
  path: $WORK/outbox.db
sinks:
  file:
    path: $WORK/events.jsonl
admin:
  listen: 127.0.0.1:0
log:
  level: debug
EOF
"$BUILD/campaign-relay" run -c "$WORK/relay.yaml" 2>"$WORK/relay.log" &
RELAY_PID=$!
track_pid "$RELAY_PID"
line=$(wait_for_line "$WORK/relay.log" 'admin endpoints on http://' 20)
ok $? "the relay serves its admin endpoints"
ADMIN=$(echo "$line" | grep -o 'http://[0-9.:]*' | head -1)
wait_until 20 sh -c "curl -sf $ADMIN/readyz >/dev/null"
ok $? "the relay is ready (discovered, connected, reconciled)"

id() { printf 'c0000000-0000-4000-8000-%012d' "$1"; }
BASIC=$(id 1); IMPORTING=$(id 20); PREDICTIVE=$(id 30); CONFLICT=$(id 40)
RATE=$(id 50); STOPPING=$(id 60)

post() { # post CAMPAIGN ACTION [JSON] -> prints "STATUS BODY"
    curl -s -o "$WORK/post.out" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data "${3:-{\}}" "$ADMIN/v1/campaigns/$1/$2"
    echo " $(cat "$WORK/post.out")"
}
command_status() { curl -s "$ADMIN/v1/commands/$1" | jq -r .status; }
wait_command() { # wait_command ID STATUS SECONDS
    wait_until "$3" sh -c "[ \"\$(curl -s $ADMIN/v1/commands/$1 | jq -r .status)\" = $2 ]"
}
sim_status() { sim GET /sim/state | jq -r --arg id "$1" '.campaigns[] | select(.id==$id) | .campaignStatus'; }

# 1. Start and stop, completion seen on the stream.
answer=$(post "$BASIC" start '{"reason":"morning shift","requestedBy":"wfm-scheduler"}')
is "${answer%% *}" 202 "start answers 202 at once"
cmd=$(echo "${answer#* }" | jq -r .commandId)
wait_command "$cmd" succeeded 15
ok $? "the start succeeds once the stream shows the campaign on"
is "$(sim_status "$BASIC")" on "the platform has the campaign on"
"$BUILD/campaign-relay" campaign stop "$BASIC" --admin "$ADMIN" --reason "end of shift" --wait \
    >"$WORK/cli.out" 2>&1
ok $? "campaign stop --wait exits 0 when the stop succeeds"
grep -q succeeded "$WORK/cli.out"
ok $? "the CLI follows the command to its end"
is "$(sim_status "$BASIC")" off "the platform has the campaign off"
answer=$(post "$BASIC" stop)
is "${answer%% *}" 200 "stopping an off campaign succeeds without a platform call"

# 2. The state gate: a second command while the campaign is stopping.
answer=$(post "$STOPPING" stop '{"reason":"drain"}')
is "${answer%% *}" 202 "stop of a running campaign is accepted"
cmd_stopping=$(echo "${answer#* }" | jq -r .commandId)
wait_until 10 sh -c "[ \"\$(curl -s $ADMIN/v1/campaigns/$STOPPING | jq -r '.status // .rawStatus // empty')\" = stopping ]" ||
    wait_until 10 sh -c "[ \"\$(jq -r --arg id $STOPPING 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id) | .data.current.status' $WORK/events.jsonl | tail -1)\" = stopping ]"
answer=$(post "$STOPPING" start)
is "${answer%% *}" 409 "a start while the campaign is stopping is refused with 409"
echo "${answer#* }" | jq -r .reason | grep -q -E 'in flight|STOPPING'
ok $? "the refusal says why and in what state: $(echo "${answer#* }" | jq -r .reason)"
"$BUILD/campaign-relay" campaign start "$STOPPING" --admin "$ADMIN" >/dev/null 2>"$WORK/cli.err"
is "$?" 1 "the CLI exits 1 on a refusal"
grep -q 'refused (HTTP 409)' "$WORK/cli.err"
ok $? "and prints the reason"

# 3. Contact list importing: refused, then accepted with an override that is audited.
# The stream has not reported this list's import, so the first pre-flight reads the
# import status from the platform and the command ends refused; the relay then knows,
# and refuses the next start at once.
answer=$(post "$IMPORTING" start)
is "${answer%% *}" 202 "a start whose list's import state is unknown is checked first"
cmd_checked=$(echo "${answer#* }" | jq -r .commandId)
wait_command "$cmd_checked" refused 10
ok $? "the pre-flight read finds the import in progress and refuses"
curl -s "$ADMIN/v1/commands/$cmd_checked" | jq -r .detail | grep -q importing
ok $? "the refusal names the import"
is "$(sim_status "$IMPORTING")" off "the campaign was not started"
answer=$(post "$IMPORTING" start)
is "${answer%% *}" 409 "the next start is refused at once"
echo "${answer#* }" | jq -r .reason | grep -q importing
ok $? "with the import as the reason"
answer=$(post "$IMPORTING" start '{"overrides":["contact_list_import"]}')
is "${answer%% *}" 422 "an override without a reason is rejected"
answer=$(post "$IMPORTING" start '{"overrides":["contact_list_import"],"overrideReason":"append-only list","requestedBy":"ops"}')
is "${answer%% *}" 202 "with an override and a reason the start is accepted"
cmd_import=$(echo "${answer#* }" | jq -r .commandId)
wait_command "$cmd_import" succeeded 15
ok $? "the overridden start succeeds"

# 4. Five stops on one edge group: at most two in flight.
for i in 10 11 12 13 14; do
    answer=$(post "$(id $i)" stop '{"reason":"shift change"}')
    [ "${answer%% *}" = 202 ] || echo "# stop $i answered $answer"
done
max_stopping=0
for _ in $(seq 1 120); do
    n=$(sim GET /sim/state | jq '[.campaigns[] | select(.id | startswith("c0000000-0000-4000-8000-00000000001")) | select(.campaignStatus=="stopping")] | length')
    [ "$n" -gt "$max_stopping" ] && max_stopping=$n
    off=$(sim GET /sim/state | jq '[.campaigns[] | select(.id | startswith("c0000000-0000-4000-8000-00000000001")) | select(.campaignStatus=="off")] | length')
    [ "$off" -eq 5 ] && break
    sleep 0.1
done
is "$off" 5 "all five campaigns of the edge group end off"
ok "$([ "$max_stopping" -le 2 ] && [ "$max_stopping" -ge 1 ]; echo $?)" \
    "at most two were stopping at once on the edge group (seen: $max_stopping)"
first_two=$(grep -o 'command cmd_[0-9a-f]* (stop c0000000-0000-4000-8000-00000000001[0-9])' "$WORK/relay.log" | head -5 | grep -o '0001[0-9])' | tr -d ')' | paste -sd' ')
diag "stop completion order by campaign: $first_two"

# 5. 404 on start -> GET + PUT with version; a 409 on the PUT is re-read and retried.
sim POST /sim/faults/rest "{\"status\":404,\"count\":1,\"path_prefix\":\"/api/v2/outbound/campaigns/$CONFLICT/start\"}" >/dev/null
sim POST /sim/faults/rest "{\"status\":409,\"count\":1,\"method\":\"PUT\",\"path_prefix\":\"/api/v2/outbound/campaigns/$CONFLICT\"}" >/dev/null
answer=$(post "$CONFLICT" start)
cmd_conflict=$(echo "${answer#* }" | jq -r .commandId)
wait_command "$cmd_conflict" succeeded 15
ok $? "after a 404 and a version conflict the start succeeds"
# The stream can show the campaign on before the last PUT's answer comes back; the
# command ends on what the stream shows, so that answer may not be recorded.
calls=$(curl -s "$ADMIN/v1/commands/$cmd_conflict" | jq -r '.platform[] | "\(.call | split(" ")[0]) \(.status)"' | paste -sd',')
is "${calls%,PUT 200}" "POST 404,GET 200,PUT 409,GET 200" "the platform calls were POST (404), GET, PUT (409), GET, then PUT"

# 6. A 429 storm delays but does not fail a command.
sim POST /sim/faults/rest "{\"status\":429,\"count\":3,\"retry_after\":1,\"path_prefix\":\"/api/v2/outbound/campaigns/$RATE/start\"}" >/dev/null
started=$(date +%s%N)
answer=$(post "$RATE" start)
cmd_rate=$(echo "${answer#* }" | jq -r .commandId)
wait_command "$cmd_rate" succeeded 30
ok $? "a start answered by three 429s succeeds"
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
ok "$([ "$elapsed_ms" -ge 2500 ]; echo $?)" "it waited for Retry-After (${elapsed_ms} ms)"

# 7. A predictive stop drains for 6 s: past the progressive tolerance (2 s), within its own.
answer=$(post "$PREDICTIVE" stop)
cmd_pred=$(echo "${answer#* }" | jq -r .commandId)
sleep 3
is "$(command_status "$cmd_pred")" confirming "3 s into the drain the predictive stop is still confirming"
wait_command "$cmd_pred" succeeded 20
ok $? "the predictive stop succeeds when the campaign reaches off"
deadline=$(curl -s "$ADMIN/v1/commands/$cmd_pred" | jq -r .toleranceMs)
is "$deadline" 30000 "its tolerance is the predictive one"
wait_command "$cmd_stopping" timed_out 20
ok $? "a progressive stop draining 8 s times out after its 2 s tolerance"

# 8. The audit trail holds every command and outcome, and the chain verifies.
stop_relay() { kill -TERM "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID"; }
stop_relay
ok $? "the relay exits 0"
actions=$(jq -c 'select(.type=="cx.outbound.audit.action") | .data' "$WORK/events.jsonl")
ok "$([ -n "$actions" ]; echo $?)" "audit.action events were written"
override=$(echo "$actions" | jq -c --arg id "$cmd_import" 'select(.commandId==$id and .phase=="accepted")')
is "$(echo "$override" | jq -r '.overrides.reason')" "append-only list" "the override reason is audited"
is "$(echo "$override" | jq -r '.checks[] | select(.check=="contact_list_import") | .result')" overridden \
    "the overridden check is recorded"
is "$(echo "$override" | jq -r .requestedBy)" ops "who asked is recorded"
refused=$(echo "$actions" | jq -r 'select(.phase=="refused") | .commandId' | wc -l)
ok "$([ "$refused" -ge 3 ]; echo $?)" "refusals are audited too ($refused)"
outcome=$(echo "$actions" | jq -c --arg id "$cmd_conflict" 'select(.commandId==$id and .phase=="succeeded")')
ok "$(echo "$outcome" | jq -e '.platform | length >= 4' >/dev/null; echo $?)" \
    "the outcome records what the platform answered"
ok "$(echo "$outcome" | jq -e '.durationMs >= 0' >/dev/null; echo $?)" "and how long it took"
"$BUILD/campaign-relay" audit verify "$WORK/events.jsonl" >"$WORK/verify.out" 2>&1
ok $? "the audit chain verifies: $(cat "$WORK/verify.out")"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$WORK/relay.log" >/dev/null; then
    ok 1 "no sanitizer report"
else
    ok 0 "no sanitizer report"
fi
finish
