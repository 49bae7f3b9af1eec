#!/usr/bin/env bash
# Operations end to end, with real processes (the relay, gcsim in traffic mode, the
# Kafka mock, webhook receivers):
#  1. Admin HTTP: /healthz, /readyz, /metrics (a strict exposition-format checker),
#     /v1/campaigns[/id], the bearer token; counters and latency histograms move as
#     events flow; readiness flips while the stream is being recovered and while the
#     Kafka brokers are down, and comes back; the outbox's high-water mark raises
#     alert.outbox_pressure and its resolution.
#  2. SIGHUP: a webhook added (delivers signed events), the log level applied, keys
#     that need a restart named, a broken file refused, a 410 endpoint raising
#     alert.webhook_disabled, a removed webhook unregistered from the outbox.
#  3. SIGTERM with Kafka down: exit 0 within the grace, events left in the outbox,
#     delivered after a restart with the brokers back (checked with kafka_dump); a
#     second signal exits at once.
source tests/integration/lib.bash

TOKEN=ops-test-token-5f1c
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
PROM="python3 tests/integration/promcheck.py"

start_gcsim --campaigns 6 --seed 21 --traffic --traffic-interval-ms 300 --tick-ms 500 \
    --heartbeat-ms 500 --stopping-ms 400
start_kafka_mock --brokers 1

# write_config NAME [EXTRA_YAML]: relay configuration (file + Kafka sinks, admin on an
# ephemeral port with a bearer token).
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
outbox:
  path: $WORK/relay.db
  max_bytes: 1MiB
  high_water: 0.15
sinks:
  file:
    path: $WORK/events.jsonl
  kafka:
    brokers: "$KAFKA_BOOTSTRAP"
    properties:
      linger.ms: "5"
admin:
  listen: 127.0.0.1:0
  bearer_token: $TOKEN
shutdown:
  grace: 3s
$extra
EOF
}

start_relay() { # start_relay CONFIG_NAME: sets RELAY_PID and ADMIN
    local before
    before=$(grep -c 'admin endpoints on' "$WORK/relay.log" 2>/dev/null)
    "$BUILD/campaign-relay" run -c "$WORK/$1.yaml" 2>>"$WORK/relay.log" &
    RELAY_PID=$!
    track_pid "$RELAY_PID"
    local deadline=$((SECONDS + 30))
    while [ "$(grep -c 'admin endpoints on' "$WORK/relay.log")" -le "${before:-0}" ]; do
        [ $SECONDS -gt $deadline ] && return 1
        sleep 0.1
    done
    ADMIN=$(grep -o 'admin endpoints on http://[0-9.:]*' "$WORK/relay.log" | tail -1)
    ADMIN=${ADMIN#admin endpoints on }
}

get() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
metrics() { curl -s -H "Authorization: Bearer $TOKEN" "$ADMIN/metrics" >"$WORK/metrics.txt"; }
metric() { # metric SELECTOR: one sample's value from a fresh scrape
    metrics && $PROM "$WORK/metrics.txt" --get "$1" 2>/dev/null
}
ready_is() { [ "$(get "$ADMIN/readyz")" = "$1" ]; }
metric_above() { [ "$(metric "$1")" -gt "$2" ] 2>/dev/null; }
sink_not_delivering() { # sink_not_delivering NAME: /readyz is 503 and names that sink
    [ "$(get "$ADMIN/readyz")" = 503 ] && grep -q "^sink $1: " "$WORK/body" &&
        ! grep -q "^sink $1: ok" "$WORK/body"
}
# has_event FILE FILTER: some JSON line of FILE matches the jq filter.
has_event() { jq -s -e "map(select($2)) | length > 0" "$1" >/dev/null 2>&1; }
count_type() { jq -r --arg t "cx.outbound.$1" 'select(.type==$t) | .id' "$WORK/events.jsonl" | wc -l; }

# ---------------------------------------------------------------------------------------
# 1. Admin HTTP.
write_config relay
start_relay relay
ok $? "the relay logs the admin address"
is "$(get "$ADMIN/healthz")" 200 "/healthz answers 200 without a token"
wait_until 30 ready_is 200
ok $? "/readyz turns 200 once channels are connected and reconciled"
grep -q '^stream: ok' "$WORK/body" && grep -q '^sink kafka: ok' "$WORK/body" &&
    grep -q '^outbox: ok' "$WORK/body"
ok $? "/readyz names every check (stream, sinks, outbox)"
is "$(get "$ADMIN/metrics")" 401 "/metrics without the token is 401"
is "$(get -H 'Authorization: Bearer wrong-token-5f1c' "$ADMIN/metrics")" 401 \
    "/metrics with a wrong token is 401"
is "$(get -X POST -H "Authorization: Bearer $TOKEN" "$ADMIN/metrics")" 405 "POST is 405"
is "$(get -H "Authorization: Bearer $TOKEN" "$ADMIN/metrics")" 200 "/metrics with the token"
cp "$WORK/body" "$WORK/metrics.txt"
problems=$($PROM "$WORK/metrics.txt")
ok $? "the exposition passes the strict checker"
[ -n "$problems" ] && echo "$problems" | head -10 | sed 's/^/#   /'
missing=""
for family in campaign_relay_notifications_received_total campaign_relay_updates_dropped_total \
    campaign_relay_reconnects_total campaign_relay_rest_calls_total \
    campaign_relay_rest_rate_limited_total campaign_relay_outbox_used_bytes \
    campaign_relay_outbox_depth_events campaign_relay_outbox_wal_bytes \
    campaign_relay_outbox_wal_restarts_total campaign_relay_sink_dead_lettered_total \
    campaign_relay_sink_lag_events campaign_relay_sink_read_total \
    campaign_relay_delivery_latency_seconds \
    campaign_relay_channels_connected campaign_relay_topics; do
    grep -q "^# TYPE $family " "$WORK/metrics.txt" || missing="$missing $family"
done
is "$missing" "" "the families of the issue are exposed"

# The checker itself must be able to fail: a broken exposition is refused.
printf '# HELP x a\n# TYPE x counter\nx 1\n' >"$WORK/bad1.txt"
printf '# HELP h a\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n' >"$WORK/bad2.txt"
printf '# HELP g a\n# TYPE g gauge\ng 1\ng 2\n' >"$WORK/bad3.txt"
! $PROM "$WORK/bad1.txt" >/dev/null && ! $PROM "$WORK/bad2.txt" >/dev/null &&
    ! $PROM "$WORK/bad3.txt" >/dev/null
ok $? "the checker refuses a counter without _total, decreasing buckets, a duplicate series"

campaign=$(sim GET /sim/state | jq -r '.campaigns[0].id')
campaigns_before=$(metric 'campaign_relay_notifications_received_total{family="campaign"}')
kafka_before=$(metric 'campaign_relay_sink_delivered_total{sink="kafka"}')
latency_before=$(metric 'campaign_relay_delivery_latency_seconds_count{sink="kafka"}')
sim POST "/sim/campaigns/$campaign/status" '{"status":"complete","direct":true}' >/dev/null
wait_until 20 sh -c "curl -s -H 'Authorization: Bearer $TOKEN' $ADMIN/v1/campaigns/$campaign | jq -e '.status == \"complete\" and .state == \"COMPLETE\"' >/dev/null"
ok $? "/v1/campaigns/ID shows the change (status, canonical state)"
get -H "Authorization: Bearer $TOKEN" "$ADMIN/v1/campaigns/$campaign" >/dev/null
jq -e '.since != null and (.version | type) == "number" and (.lastEventId | length) == 32' \
    "$WORK/body" >/dev/null
ok $? "a campaign carries since, version and its last event id"
wait_until 10 metric_above 'campaign_relay_sink_delivered_total{sink="kafka"}' "$kafka_before"
ok $? "Kafka deliveries counted as events flow"
metric_above 'campaign_relay_sink_read_total{sink="kafka",from="memory"}' 0
ok $? "a sink that keeps up reads what the writer committed from memory"
[ "$(metric 'campaign_relay_notifications_received_total{family="campaign"}')" -gt \
    "$campaigns_before" ]
ok $? "campaign notifications counted"
[ "$(metric 'campaign_relay_delivery_latency_seconds_count{sink="kafka"}')" -gt \
    "$latency_before" ] &&
    [ "$(metric 'campaign_relay_delivery_latency_seconds_count{sink="file"}')" -gt 0 ]
ok $? "end-to-end latency is observed for the Kafka and file sinks"
is "$(get -H "Authorization: Bearer $TOKEN" "$ADMIN/v1/campaigns")" 200 "/v1/campaigns"
is "$(jq '.count' "$WORK/body")" "$(sim GET /sim/state | jq '.campaigns | length')" \
    "/v1/campaigns lists every campaign"
is "$(get -H "Authorization: Bearer $TOKEN" "$ADMIN/v1/campaigns/no-such-campaign")" 404 \
    "an unknown campaign is 404"

# The stream is lost and its recovery held up: not ready until it is reconciled again.
sim POST /sim/faults/rest '{"delay_ms":2500,"count":2,"path_prefix":"/api/v2/outbound/campaigns"}' >/dev/null
sim POST /sim/faults/drop-socket '{}' >/dev/null
wait_until 10 ready_is 503
ok $? "/readyz turns 503 while the dropped stream is recovered"
grep -q '^stream: ' "$WORK/body" && ! grep -q '^stream: ok' "$WORK/body"
ok $? "the body says the stream check fails"
wait_until 30 ready_is 200
ok $? "/readyz is 200 again after reconnection and reconciliation"
[ "$(metric 'campaign_relay_reconnects_total{cause="remote_close"}')" -ge 1 ]
ok $? "the reconnect is counted by cause"

# All brokers down: the Kafka sink stops confirming; readiness says so within seconds.
kafka_cmd "down all"
wait_until 20 sink_not_delivering kafka
ok $? "/readyz turns 503 and names the Kafka sink with the brokers down"
grep -q '^sink file: ok' "$WORK/body"
ok $? "the file sink still delivers meanwhile"
is "$(metric 'campaign_relay_sink_delivering{sink="kafka"}')" 0 "sink_delivering is 0 for Kafka"
wait_until 30 has_event "$WORK/events.jsonl" \
    '.type=="cx.outbound.alert.outbox_pressure" and .data.details.state=="raised"'
ok $? "the outbox passing its high-water mark raises alert.outbox_pressure"
kafka_cmd "up all"
wait_until 40 ready_is 200
ok $? "/readyz is 200 again with the brokers back"
wait_until 30 has_event "$WORK/events.jsonl" \
    '.type=="cx.outbound.alert.outbox_pressure" and .data.details.state=="resolved"'
ok $? "and its resolution once Kafka caught up and the outbox was pruned"

# ---------------------------------------------------------------------------------------
# 2. SIGHUP.
"$BUILD/tools/webhook_receiver" --port 0 --secret "$SECRET" --out "$WORK/hooks.jsonl" \
    >"$WORK/hooks.out" 2>"$WORK/hooks.log" &
track_pid $!
"$BUILD/tools/webhook_receiver" --port 0 --secret "$SECRET" --default-status 410 \
    --out "$WORK/gone.jsonl" >"$WORK/gone.out" 2>"$WORK/gone.log" &
track_pid $!
hooks_url=$(wait_for_line "$WORK/hooks.out" 'listening on' 10 | grep -o 'http://[0-9.:]*')
gone_url=$(wait_for_line "$WORK/gone.out" 'listening on' 10 | grep -o 'http://[0-9.:]*')
write_config relay "$(printf 'log:\n  level: debug\n')"
sed -i 's/^  ping_interval: 1s/  ping_interval: 2s/' "$WORK/relay.yaml"
python3 - "$WORK/relay.yaml" "$hooks_url" "$gone_url" "$SECRET" <<'PYEOF'
import sys
path, hooks, gone, secret = sys.argv[1:]
text = open(path).read()
text = text.replace("sinks:\n", "sinks:\n  webhooks:\n"
    "    - name: hooks\n      url: %s/events\n      secret: %s\n"
    "      events: [campaign.state_changed]\n"
    "    - name: gone\n      url: %s/events\n      secret: %s\n"
    "      events: [campaign.state_changed]\n" % (hooks, secret, gone, secret), 1)
open(path, "w").write(text)
PYEOF
kill -HUP "$RELAY_PID"
wait_for_line "$WORK/relay.log" 'reload: applied' 10 >/dev/null
ok $? "SIGHUP applies the new configuration"
grep 'reload: applied' "$WORK/relay.log" | tail -1 | grep -q 'webhook:hooks added' &&
    grep 'reload: applied' "$WORK/relay.log" | tail -1 | grep -q 'log level debug'
ok $? "the log says which sinks were added and the new log level"
grep 'need a restart' "$WORK/relay.log" | tail -1 | grep -q 'stream.ping_interval'
ok $? "a changed key that needs a restart is named"
get "$ADMIN/healthz" >/dev/null
wait_until 10 grep -q 'level=debug component=admin msg="GET /healthz -> 200' "$WORK/relay.log"
ok $? "the new log level applies (admin requests are logged at debug)"
sim POST "/sim/campaigns/$campaign/status" '{"status":"on","direct":true}' >/dev/null
wait_until 20 has_event "$WORK/hooks.jsonl" \
    ".body.subject==\"$campaign\" and .body.data.current.status==\"on\""
ok $? "the added webhook receives the state change"
is "$(jq -s '[.[] | select(.signature_valid != true)] | length' "$WORK/hooks.jsonl")" 0 \
    "every request to it is signed with the configured key"
wait_until 20 has_event "$WORK/events.jsonl" \
    '.type=="cx.outbound.alert.webhook_disabled" and .data.details.sink=="webhook:gone"'
ok $? "an endpoint answering 410 raises alert.webhook_disabled"
wait_until 10 sink_not_delivering webhook:gone
grep -q '^sink webhook:gone: endpoint disabled' "$WORK/body"
ok $? "/readyz names the disabled endpoint"

reloads_ok=$(metric 'campaign_relay_config_reloads_total{result="applied"}')
cp "$WORK/relay.yaml" "$WORK/relay.good.yaml"
printf 'sinks:\n  kafka: [\n' >>"$WORK/relay.yaml"
kill -HUP "$RELAY_PID"
wait_for_line "$WORK/relay.log" 'does not load; still running with the previous' 10 >/dev/null
ok $? "a broken file is refused and the error logged"
is "$(metric 'campaign_relay_config_reloads_total{result="rejected"}')" 1 \
    "the refused reload is counted"
is "$(get "$ADMIN/healthz")" 200 "the relay keeps serving"

python3 - "$WORK/relay.good.yaml" "$WORK/relay.yaml" <<'PYEOF'
import sys
text = open(sys.argv[1]).read()
start = text.index("    - name: gone")
end = text.index("events: [campaign.state_changed]\n", start) + len("events: [campaign.state_changed]\n")
open(sys.argv[2], "w").write(text[:start] + text[end:])
PYEOF
kill -HUP "$RELAY_PID"
wait_until 15 grep -q 'sink webhook:gone is no longer configured' "$WORK/relay.log"
ok $? "a webhook removed by a reload stops and is unregistered from the outbox"
wait_until 20 ready_is 200
ok $? "/readyz is 200 again without the disabled endpoint"
is "$(metric 'campaign_relay_config_reloads_total{result="applied"}')" $((reloads_ok + 1)) \
    "the applied reloads are counted"

# ---------------------------------------------------------------------------------------
# 3. SIGTERM with Kafka down: nothing lost.
kafka_cmd "down all"
before=$(count_type campaign.state_changed)
for i in 1 2 3; do
    id=$(sim GET /sim/state | jq -r ".campaigns[$i].id")
    sim POST "/sim/campaigns/$id/status" '{"status":"invalid","direct":true}' >/dev/null
done
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.campaign.state_changed\") | .id' $WORK/events.jsonl | wc -l) -ge $((before + 3)) ]"
ok $? "changes made with Kafka down reach the file sink"
started=$SECONDS
kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
status=$?
elapsed=$((SECONDS - started))
is "$status" 0 "SIGTERM: exit 0"
[ "$elapsed" -le 6 ]
ok $? "SIGTERM: stopped within the 3 s grace (took ${elapsed} s)"
grep 'stopped;' "$WORK/relay.log" | tail -1 | grep -q 'wait in the outbox for the next start'
ok $? "the log says events wait in the outbox"

kafka_cmd "up all"
start_relay relay
wait_until 40 sh -c "curl -s -H 'Authorization: Bearer $TOKEN' $ADMIN/metrics | python3 tests/integration/promcheck.py /dev/stdin --get 'campaign_relay_sink_lag_events{sink=\"kafka\"}' | grep -qx 0"
ok $? "after a restart with the brokers back the Kafka sink catches up"
metric_above 'campaign_relay_sink_read_total{sink="kafka",from="disk"}' 0
ok $? "the backlog left from the first run is read from disk"
kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
is "$?" 0 "the second run exits 0"
"$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 2000 \
    campaign-relay.state campaign-relay.alerts campaign-relay.audit >"$WORK/kafka.jsonl"
jq -r '.headers.ce_id' "$WORK/kafka.jsonl" | sort -u >"$WORK/kafka.ids"
jq -r '.id' "$WORK/events.jsonl" | sort -u >"$WORK/file.ids"
missing=$(comm -23 "$WORK/file.ids" "$WORK/kafka.ids" | wc -l)
is "$missing" 0 "every event the file sink has ($(wc -l <"$WORK/file.ids")) is in Kafka"

# A second signal exits at once, leaving the rest to the outbox.
kafka_cmd "down all"
write_config slow "$(printf 'log:\n  level: info\n')"
sed -i 's/^  grace: 3s/  grace: 60s/' "$WORK/slow.yaml"
start_relay slow
id=$(sim GET /sim/state | jq -r '.campaigns[4].id')
sim POST "/sim/campaigns/$id/status" '{"status":"forced_off","direct":true}' >/dev/null
wait_until 20 has_event "$WORK/events.jsonl" \
    ".subject==\"$id\" and .data.current.status==\"forced_off\""
started=$SECONDS
kill -TERM "$RELAY_PID"
sleep 1
kill -TERM "$RELAY_PID"
wait "$RELAY_PID"
status=$?
[ "$status" -ne 0 ] && [ $((SECONDS - started)) -le 4 ]
ok $? "a second signal exits at once (status $status)"
grep -q 'second signal, exiting now' "$WORK/relay.log"
ok $? "and says undelivered events stay in the outbox"
kafka_cmd "up all"

if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$WORK/relay.log" >/dev/null; then
    ok 1 "no sanitizer report"
    grep -E -A20 'Sanitizer|runtime error' "$WORK/relay.log" | head -40 | sed 's/^/# /'
else
    ok 0 "no sanitizer report"
fi
finish
