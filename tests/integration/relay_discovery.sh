#!/usr/bin/env bash
# Discovery walks the campaign listing one page at a time: every campaign of a
# multi-page listing is discovered, a walk that fails part way removes nothing, and
# a campaign deleted on the platform is reported removed by the next complete walk.
source tests/integration/lib.bash

start_gcsim --campaigns 250 --seed 11 --rate-limit 0 --heartbeat-ms 1000 \
    --tick-ms 600000 --calls-per-tick 0
cat >"$WORK/relay.yaml" <<YAML
platform:
  api_url: $GCSIM_URL
  login_url: $GCSIM_URL
  client_id: relay-client
  client_secret: relay-secret
subscriptions:
  topics: [campaign]
  rediscover_interval: 1s
outbox:
  path: $WORK/relay.db
  commit_interval: 5ms
sinks:
  file:
    path: $WORK/events.jsonl
log:
  level: info
YAML
"$BUILD/campaign-relay" run -c "$WORK/relay.yaml" 2>>"$WORK/relay.log" &
RELAY_PID=$!
track_pid "$RELAY_PID"

count_type() { # count_type TYPE
    jq -r --arg t "cx.outbound.$1" 'select(.type==$t) | .subject' "$WORK/events.jsonl" \
        2>/dev/null | sort -u | wc -l
}

line=$(wait_for_line "$WORK/relay.log" 'discovered [0-9]+ campaign' 30)
ok $? "the first discovery finishes"
is "$(echo "$line" | grep -o 'discovered [^"]*')" "discovered 250 campaign(s) in 3 page(s)" \
    "250 campaigns arrive on three pages of 100"
wait_until 10 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.campaign.discovered\") | .subject' \
    $WORK/events.jsonl | sort -u | wc -l) -eq 250 ]"
ok $? "one campaign.discovered per campaign ($(count_type campaign.discovered))"

# A walk that fails part way: the next listing request is answered, the one after
# fails (page 2 of a walk, or page 1 when a walk was already under way). Faults are
# taken in the order they were posted.
sim POST /sim/faults/rest '{"delay_ms":1,"count":1,"path_prefix":"/api/v2/outbound/campaigns"}' \
    >/dev/null
sim POST /sim/faults/rest '{"status":404,"count":1,"path_prefix":"/api/v2/outbound/campaigns"}' \
    >/dev/null
failed=$(wait_for_line "$WORK/relay.log" 'discovery failed' 15)
ok $? "the failed walk is reported"
diag "$(echo "$failed" | grep -o 'msg=.*')"
sleep 1.5
is "$(count_type campaign.removed)" 0 "a failed walk removes nothing"

# A campaign deleted on the platform (on the last page) is removed by the next walk.
victim=$(sim GET /sim/state | jq -r '.campaigns[-1].id')
sim DELETE "/sim/campaigns/$victim" >/dev/null
wait_until 15 sh -c "jq -e 'select(.type==\"cx.outbound.campaign.removed\")' \
    $WORK/events.jsonl >/dev/null"
ok $? "the deleted campaign is reported removed"
sleep 1.5
is "$(jq -r 'select(.type=="cx.outbound.campaign.removed") | .subject' "$WORK/events.jsonl" |
    sort -u | paste -sd' ')" "$victim" "exactly the deleted campaign is removed"

kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
ok $? "the relay exits 0 on SIGTERM"
if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$WORK/relay.log"; then
    ok 1 "no sanitizer report"
    grep -E 'Sanitizer|runtime error' "$WORK/relay.log" | head -5 | sed 's/^/# /'
else
    ok 0 "no sanitizer report"
fi
finish
