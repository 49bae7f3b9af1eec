#!/usr/bin/env bash
# The delivery guarantees end to end, with real processes: the relay against gcsim,
# the Kafka mock, and webhook receivers that verify signatures.
#
#  1. kill -9 at random points during a seeded gcsim scenario, then restart; five
#     times, two of them followed by a second kill during the restart. Asserted
#     against gcsim's truth by consuming the Kafka topics:
#     - every event that was committed to the outbox when the relay died (the rows
#       left in a copy of the outbox right after the kill) reached Kafka;
#     - per campaign, first deliveries have increasing versions, and a repeated
#       delivery reuses an id already delivered (at-least-once, same ids);
#     - every delivered state is the truth's status at that version;
#     - the sequence of states delivered per campaign is the truth's sequence of status
#       changes minus exactly those no observer could see: a change made inside an
#       unobserved window and superseded by another change of the same campaign before
#       the window closed. A window opens at the commit horizon of a killed relay (the
#       truth time of the newest stream event it had committed: it reads its one socket
#       in order and commits in append order, so everything notified before that was
#       committed) and closes when the restarted relay's channel is connected and
#       subscribed again (gcsim's clock, measured a little late, so slightly wider).
#       The last state of every window must arrive, found by reconciliation;
#     - the last state in Kafka is gcsim's final state; the audit chain in Kafka
#       (one partition) verifies.
#  2. All Kafka brokers down during a scenario, then up: nothing lost, nothing
#     reordered. 8 s by default; FULL=1 makes it the 30 s of the issue (the script
#     then takes about a minute longer).
#  3. A webhook receiver that answers 500, 429 with Retry-After, times out and then
#     200: every event arrives once with a valid signature, and the retry after the
#     429 came no sooner than Retry-After.
#  4. A permanently failing endpoint fills the dead-letter table; after the endpoint
#     recovers, `dlq replay` delivers every dead letter once.
#  5. A tampered audit file (a changed field, a deleted line, two swapped lines) fails
#     `audit verify` at the right line.
# Every relay log is checked for sanitizer reports.
#
# SEED=N replays a run (the kill points, the scenarios); it is printed at the start.
source tests/integration/lib.bash

SEED=${SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$SEED
diag "seed $SEED (SEED=$SEED $0 replays this run)"
OUTAGE_SECONDS=8
[ "${FULL:-0}" = 1 ] && OUTAGE_SECONDS=30
CHECK=tests/integration/delivery_check.py
STATE_TOPIC=campaign-relay.state
ALERT_TOPIC=campaign-relay.alerts
AUDIT_TOPIC=campaign-relay.audit

# write_config NAME SINKS_YAML: a relay configuration against the running gcsim.
write_config() {
    local name=$1 sinks=$2
    cat >"$WORK/$name.yaml" <<EOF
platform:
  api_url: $GCSIM_URL
  login_url: $GCSIM_URL
  client_id: relay-client
  client_secret: relay-secret
subscriptions:
  topics: [campaign]
stream:
  # The decode thread is not the default; the delivery scenarios keep it covered.
  decode_thread: true
  heartbeat_timeout: 3s
  ping_interval: 1s
  reconnect_min: 100ms
  reconnect_max: 1s
  healthy_after: 2s
outbox:
  path: $WORK/$name.db
sinks:
$sinks
admin:
  listen: 127.0.0.1:0
shutdown:
  grace: 15s
log:
  level: info
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

# sim_clock: gcsim's truth clock now (ms since it started), read from the final-state
# lines that GET /sim/state appends to the truth file.
sim_clock() {
    sim GET /sim/state >/dev/null
    grep '"kind":"final"' "$TRUTH" | tail -1 | jq -r '.t'
}

relay_subscribed() { # a channel is connected and has topics
    sim GET /sim/state | jq -e '[.channels[] | select(.connected and (.topics | length) > 0)]
        | length > 0' >/dev/null
}

relay_disconnected() {
    sim GET /sim/state | jq -e '[.channels[] | select(.connected)] | length == 0' >/dev/null
}

# settled FILE: the relay's file sink ends, for every campaign, at gcsim's status.
settled() {
    local file=$1 want got
    want=$(sim GET /sim/state | jq -r '.campaigns[] | "\(.id) \(.campaignStatus)"' | sort)
    got=$(jq -r 'select(.type=="cx.outbound.campaign.state_changed")
            | [.subject, .data.version, .data.current.status] | @tsv' "$file" 2>/dev/null |
          sort -k1,1 -k2,2n | awk -F'\t' '{last[$1]=$3} END {for (c in last) print c, last[c]}' |
          sort)
    [ -n "$want" ] && [ "$want" = "$got" ]
}

# scenario_end_wait FILE: sleeps until the scenario's timeline (started at the first
# connection, CONNECTED_AT on gcsim's clock) has played out.
scenario_end_wait() {
    local last now
    last=$(jq '[.timeline[].at] | max' "$1")
    now=$(sim_clock)
    local left=$((CONNECTED_AT + last + 600 - now))
    [ "$left" -gt 0 ] && sleep "$(awk -v ms="$left" 'BEGIN {printf "%.3f", ms / 1000}')"
}

# run_checks OUTPUT: turns the helper's "check<TAB>status<TAB>name" lines into TAP.
run_checks() {
    local kind status name
    while IFS=$'\t' read -r kind status name; do
        if [ "$kind" = check ]; then
            ok "$status" "$name"
        else
            echo "$kind${status:+	$status}${name:+	$name}"
        fi
    done <<<"$1"
}

no_sanitizer_report() { # no_sanitizer_report LOG NAME
    if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$1" >/dev/null; then
        ok 1 "$2: no sanitizer report"
        grep -E -A20 'Sanitizer|runtime error' "$1" | head -40 | sed 's/^/# /'
    else
        ok 0 "$2: no sanitizer report"
    fi
}

# outbox_rows OUT: the events of the killed relay's outbox as sqlite3 JSON rows. A copy is
# read, so that the restarted relay starts from exactly what the kill left.
outbox_rows() {
    rm -f "$WORK/copy.db"*
    cp "$WORK/kill.db" "$WORK/copy.db"
    [ -f "$WORK/kill.db-wal" ] && cp "$WORK/kill.db-wal" "$WORK/copy.db-wal"
    sqlite3 -json "$WORK/copy.db" 'SELECT id, type, subject, data FROM events' >"$1"
}

random_ms() { # random_ms MIN MAX
    echo $(($1 + RANDOM % ($2 - $1 + 1)))
}

seconds_of() { awk -v ms="$1" 'BEGIN {printf "%.3f", ms / 1000}'; }

# start_receiver NAME ARGS…: a webhook receiver logging to $WORK/NAME.jsonl; sets
# RECEIVER_URL and RECEIVER_PID.
start_receiver() {
    local name=$1; shift
    rm -f "$WORK/$name.out"
    "$BUILD/tools/webhook_receiver" --out "$WORK/$name.jsonl" "$@" >"$WORK/$name.out" \
        2>"$WORK/$name.err" &
    RECEIVER_PID=$!
    track_pid "$RECEIVER_PID"
    local line
    line=$(wait_for_line "$WORK/$name.out" '^webhook-receiver listening on ' 20) || {
        echo "# webhook_receiver did not start:"; sed 's/^/#   /' "$WORK/$name.err"; return 1; }
    RECEIVER_URL=${line#webhook-receiver listening on }
}

# state_ids FILE: the ids of the state changes in a file sink's output, sorted, unique.
state_ids() {
    jq -r 'select(.type == "cx.outbound.campaign.state_changed") | .id' "$1" | sort -u
}

# acked_ids FILE: the webhook ids a receiver answered with a 2xx, sorted (repeats kept).
acked_ids() {
    jq -r 'select(.status_given >= 200 and .status_given < 300) | ."webhook-id"' "$1" | sort
}

# all_acked EVENTS RECEIVER_LOG: every state change of a file sink got a 2xx.
all_acked() {
    [ -z "$(comm -23 <(state_ids "$1") <(acked_ids "$2" | sort -u))" ]
}

count_type() { # count_type FILE TYPE: events of that type (without prefix), repeats kept
    jq -r --arg t "cx.outbound.$2" 'select(.type == $t) | .id' "$1" 2>/dev/null | wc -l
}

start_kafka_mock --brokers 3 --topic "$STATE_TOPIC:3" --topic "$ALERT_TOPIC:1" \
    --topic "$AUDIT_TOPIC:1" || { finish; exit 1; }

kafka_sink_yaml() { # the sinks.kafka section for the running mock
    printf '  kafka:\n    brokers: "%s"\n    topics:\n' "$KAFKA_BOOTSTRAP"
    printf '      state: %s\n      alerts: %s\n      audit: %s' "$STATE_TOPIC" "$ALERT_TOPIC" \
        "$AUDIT_TOPIC"
}

# ---------------------------------------------------------------------------------
# 1. kill -9 at random points during a scenario, then restart.
KILLS=5
python3 "$CHECK" scenario "$SEED" 22000 >"$WORK/kill-scenario.json"
TRUTH=$WORK/kill-truth.jsonl
start_gcsim --scenario "$WORK/kill-scenario.json" --heartbeat-ms 500 --tick-ms 60000 \
    --truth "$TRUTH"
write_config kill "$(kafka_sink_yaml)
  file:
    path: $WORK/kill.jsonl"
mkdir -p "$WORK/kills"
start_relay kill
wait_until 30 relay_subscribed
ok $? "kill -9: the relay connects and subscribes"
CONNECTED_AT=$(sim_clock)
echo "$CONNECTED_AT" >"$WORK/kills/start.reconnect"

restarts=0
for k in $(seq 1 $KILLS); do
    sleep "$(seconds_of "$(random_ms 300 2500)")"
    kill -KILL "$RELAY_PID"
    wait "$RELAY_PID" 2>/dev/null
    killed_at=$(sim_clock)
    wait_until 10 relay_disconnected
    outbox_rows "$WORK/kills/kill$k.outbox.json"
    "$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 700 "$STATE_TOPIC" \
        >"$WORK/kills/kill$k.kafka.jsonl" 2>>"$WORK/kafka_dump.log"
    start_relay kill
    if [ $((k % 2)) = 0 ]; then
        # Every other time, kill it again during its start (outbox replay, discovery,
        # reconciliation); its window closes only after the next start.
        sleep "$(seconds_of "$(random_ms 50 500)")"
        kill -KILL "$RELAY_PID"
        wait "$RELAY_PID" 2>/dev/null
        outbox_rows "$WORK/kills/kill$k.early.outbox.json"
        start_relay kill
    fi
    if wait_until 30 relay_subscribed; then
        restarts=$((restarts + 1))
    fi
    reconnected_at=$(sim_clock)
    echo "$reconnected_at" >"$WORK/kills/kill$k.reconnect"
    left=$(jq -s '.[0] // [] | length' "$WORK/kills/kill$k.outbox.json")
    diag "kill $k at gcsim time $killed_at ms: $left events in the outbox; back at" \
        "$reconnected_at ms"
done
is "$restarts" "$KILLS" "kill -9: the relay came back after each of the $KILLS kills"

scenario_end_wait "$WORK/kill-scenario.json"
wait_until 30 settled "$WORK/kill.jsonl"
ok $? "kill -9: the relay settles on gcsim's state once the scenario is over"
stop_relay
ok $? "kill -9: the last relay exits 0 on SIGTERM after draining"
sim GET /sim/state >/dev/null # the final states, into the truth file
"$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 1500 "$STATE_TOPIC" \
    "$ALERT_TOPIC" "$AUDIT_TOPIC" >"$WORK/kill-final.jsonl" 2>>"$WORK/kafka_dump.log"
ok $? "kill -9: the topics can be read back"
run_checks "$(python3 "$CHECK" kills "$TRUTH" "$WORK/kill-final.jsonl" "$WORK/kills")"
missing=$(comm -23 <(jq -r '.id' "$WORK/kill.jsonl" | sort -u) \
    <(jq -r '.headers.ce_id' "$WORK/kill-final.jsonl" | sort -u) | wc -l)
is "$missing" 0 "kill -9: every event the file sink got (all types) is in Kafka too"
jq -c "select(.topic == \"$AUDIT_TOPIC\")" "$WORK/kill-final.jsonl" >"$WORK/kill-audit.jsonl"
verify=$("$BUILD/campaign-relay" audit verify "$WORK/kill-audit.jsonl" 2>&1)
ok $? "kill -9: the audit chain read back from Kafka verifies ($verify)"
no_sanitizer_report "$WORK/kill.log" "kill -9"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 2. Every broker down for OUTAGE_SECONDS in the middle of a scenario, then up.
kill -TERM "$KAFKA_PID"; wait "$KAFKA_PID" 2>/dev/null
exec {KAFKA_CONTROL_FD}>&-
start_kafka_mock --brokers 3 --topic "$STATE_TOPIC:3" --topic "$ALERT_TOPIC:1" \
    --topic "$AUDIT_TOPIC:1" || { finish; exit 1; }
python3 "$CHECK" scenario "$((SEED + 1))" "$((OUTAGE_SECONDS * 1000 + 7000))" \
    >"$WORK/outage-scenario.json"
TRUTH=$WORK/outage-truth.jsonl
start_gcsim --scenario "$WORK/outage-scenario.json" --heartbeat-ms 500 --tick-ms 60000 \
    --truth "$TRUTH"
write_config outage "$(kafka_sink_yaml)
  file:
    path: $WORK/outage.jsonl"
start_relay outage
wait_until 30 relay_subscribed
ok $? "brokers down: the relay connects and subscribes"
CONNECTED_AT=$(sim_clock)
sleep 2.5
kafka_cmd "down all"
down_at=$(sim_clock)
before=$(state_ids "$WORK/outage.jsonl" | wc -l)
sleep "$OUTAGE_SECONDS"
during=$(( $(state_ids "$WORK/outage.jsonl" | wc -l) - before ))
kafka_cmd "up all"
up_at=$(sim_clock)
diag "brokers down from gcsim time $down_at to $up_at ms; $during state changes meanwhile"
ok "$([ "$during" -gt 0 ]; echo $?)" \
    "brokers down: the relay kept consuming while every broker was down ($during state changes)"
grep -q 'component=kafka .*_ALL_BROKERS_DOWN' "$WORK/outage.log"
ok $? "brokers down: the relay logs that every broker is down"
scenario_end_wait "$WORK/outage-scenario.json"
wait_until 30 settled "$WORK/outage.jsonl"
ok $? "brokers down: the relay settles on gcsim's state once the scenario is over"
# Delivery resumes by itself once the brokers are back, not only in the shutdown drain.
kafka_has_file_states() {
    "$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 500 "$STATE_TOPIC" \
        2>>"$WORK/kafka_dump.log" | jq -r '.headers.ce_id' | sort -u >"$WORK/outage-ids.txt"
    [ -z "$(comm -23 <(state_ids "$WORK/outage.jsonl") "$WORK/outage-ids.txt")" ]
}
wait_until 30 kafka_has_file_states
ok $? "brokers down: with the brokers back, every state change reaches Kafka while the relay runs"
is "$(grep -vc '^ts=' "$WORK/outage.log")" 0 \
    "brokers down: the relay's log stays structured (librdkafka's lines go through it)"
stop_relay
ok $? "brokers down: the relay exits 0 on SIGTERM after draining"
sim GET /sim/state >/dev/null
"$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 1500 "$STATE_TOPIC" \
    "$ALERT_TOPIC" "$AUDIT_TOPIC" >"$WORK/outage-final.jsonl" 2>>"$WORK/kafka_dump.log"
ok $? "brokers down: the topics can be read back"
run_checks "$(python3 "$CHECK" outage "$TRUTH" "$WORK/outage-final.jsonl")"
missing=$(comm -23 <(jq -r '.id' "$WORK/outage.jsonl" | sort -u) \
    <(jq -r '.headers.ce_id' "$WORK/outage-final.jsonl" | sort -u) | wc -l)
is "$missing" 0 "brokers down: every event the file sink got (all types) is in Kafka too"
jq -c "select(.topic == \"$AUDIT_TOPIC\")" "$WORK/outage-final.jsonl" >"$WORK/outage-audit.jsonl"
verify=$("$BUILD/campaign-relay" audit verify --from-genesis "$WORK/outage-audit.jsonl" 2>&1)
ok $? "brokers down: the audit chain in Kafka verifies from genesis ($(echo $verify))"
no_sanitizer_report "$WORK/outage.log" "brokers down"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 3. A webhook that answers 500, 429 with Retry-After: 2, times out, then 200.
SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
python3 "$CHECK" scenario "$((SEED + 2))" 5000 >"$WORK/hook-scenario.json"
TRUTH=$WORK/hook-truth.jsonl
start_gcsim --scenario "$WORK/hook-scenario.json" --heartbeat-ms 500 --tick-ms 60000 \
    --truth "$TRUTH"
start_receiver hook --secret "$SECRET" --script "500,429:retry-after=2,timeout,200"
write_config hook "  file:
    path: $WORK/hook.events.jsonl
  webhooks:
    - name: flaky
      url: $RECEIVER_URL/events
      secret: $SECRET
      events: [campaign.state_changed]
      timeout: 1s
      max_attempts: 20
      concurrency: 2
      backoff_min: 100ms
      backoff_max: 1s"
start_relay hook
wait_until 30 relay_subscribed
ok $? "webhook: the relay connects and subscribes"
CONNECTED_AT=$(sim_clock)
scenario_end_wait "$WORK/hook-scenario.json"
wait_until 30 settled "$WORK/hook.events.jsonl"
ok $? "webhook: the relay settles on gcsim's state once the scenario is over"
wait_until 30 all_acked "$WORK/hook.events.jsonl" "$WORK/hook.jsonl"
ok $? "webhook: every state change the relay produced got a 2xx"
stop_relay
ok $? "webhook: the relay exits 0 on SIGTERM"
events=$(state_ids "$WORK/hook.events.jsonl" | wc -l)
is "$(acked_ids "$WORK/hook.jsonl" | uniq -d | wc -l)" 0 \
    "webhook: no event was acknowledged twice ($events events)"
is "$(comm -13 <(state_ids "$WORK/hook.events.jsonl") <(acked_ids "$WORK/hook.jsonl" | sort -u) |
    wc -l)" 0 \
    "webhook: nothing was delivered that the relay did not produce"
requests=$(jq -s 'length' "$WORK/hook.jsonl")
is "$(jq -s '[.[] | select(.signature_valid != true)] | length' "$WORK/hook.jsonl")" 0 \
    "webhook: all $requests requests carry a valid Standard Webhooks signature"
is "$(jq -s '[.[] | select(."webhook-id" != .body.id
        or .content_type != "application/cloudevents+json")] | length' "$WORK/hook.jsonl")" 0 \
    "webhook: each request is the structured CloudEvent, webhook-id = event id"
is "$(jq -r '.status_given' "$WORK/hook.jsonl" | head -4 | paste -sd' ')" "500 429 0 200" \
    "webhook: the receiver answered 500, 429, timed out, then 200"
# retry_gap STATUS: ms from the request answered STATUS to the next attempt of that event.
retry_gap() {
    jq -s --argjson s "$1" '(map(select(.status_given == $s)) | first) as $r
        | map(select(."webhook-id" == $r."webhook-id" and .t_ms > $r.t_ms)) | first
        | .t_ms - $r.t_ms' "$WORK/hook.jsonl"
}
gap=$(retry_gap 429)
diag "webhook: retry after the 429 came $gap ms later; after the timeout, $(retry_gap 0) ms later"
ok "$([ "$gap" -ge 2000 ] && [ "$gap" -le 6000 ]; echo $?)" \
    "webhook: the retry after 429 Retry-After: 2 waited at least 2 s ($gap ms)"
gap=$(retry_gap 0)
# The receiver stamps a request once it has read it, and the relay's 1 s timeout runs
# from the start of the transfer: connecting and sending the first attempt (a new
# connection) come off the gap the receiver sees, and the retry's full-jitter backoff
# may be near 0. A run measured 999 ms.
ok "$([ "$gap" -ge 980 ]; echo $?)" \
    "webhook: the held request was given up after the 1 s timeout and retried ($gap ms)"
disorder=$(jq -r 'select(.status_given >= 200 and .status_given < 300)
        | [.body.subject, .body.data.version] | @tsv' "$WORK/hook.jsonl" |
    awk -F'\t' '($1 in v) && $2 <= v[$1] {bad++} {v[$1] = $2} END {print bad + 0}')
is "$disorder" 0 "webhook: per campaign, deliveries kept version order through the retries"
no_sanitizer_report "$WORK/hook.log" "webhook"
kill -TERM "$RECEIVER_PID"; wait "$RECEIVER_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 4. A permanently failing endpoint fills the dead-letter table; dlq replay delivers.
start_receiver dead --secret "$SECRET" --default-status 503
dead_url=$RECEIVER_URL
dead_pid=$RECEIVER_PID
write_config dlq "  file:
    path: $WORK/dlq.events.jsonl
  webhooks:
    - name: down
      url: $dead_url/events
      secret: $SECRET
      events: [campaign.state_changed]
      timeout: 1s
      max_attempts: 3
      concurrency: 4
      backoff_min: 50ms
      backoff_max: 200ms"
start_relay dlq
dlq_count() {
    "$BUILD/campaign-relay" dlq list -c "$WORK/dlq.yaml" 2>/dev/null | grep -c '^webhook:down '
}
at_least() { [ "$("${@:2}")" -ge "$1" ]; } # at_least N COMMAND…: COMMAND prints >= N
wait_until 30 at_least 8 count_type "$WORK/dlq.events.jsonl" campaign.state_changed
ok $? "dead letters: the relay produced the 8 campaigns' states"
letters_expected=$(state_ids "$WORK/dlq.events.jsonl" | wc -l)
wait_until 30 at_least "$letters_expected" dlq_count
ok $? "dead letters: every state change is dead-lettered after 3 failed attempts"
listed=$("$BUILD/campaign-relay" dlq list -c "$WORK/dlq.yaml")
is "$(echo "$listed" | awk '$1 == "webhook:down" {print $2}' | sort -u | paste -sd' ')" \
    "$(state_ids "$WORK/dlq.events.jsonl" | paste -sd' ')" \
    "dead letters: dlq list names exactly those events"
echo "$listed" | awk '$1 == "webhook:down"' | head -1 | grep -q '503'
ok $? "dead letters: the reason names the endpoint's answer (503)"
is "$(jq -r '."webhook-id"' "$WORK/dead.jsonl" | sort | uniq -c | awk '$1 != 3' | wc -l)" 0 \
    "dead letters: the endpoint saw every event exactly max_attempts (3) times"
distinct_alerts() { jq -r 'select(.type == "cx.outbound.alert.dead_letter") | .id' "$1" |
    sort -u | wc -l; }
wait_until 10 at_least "$letters_expected" distinct_alerts "$WORK/dlq.events.jsonl"
ok $? "dead letters: one alert.dead_letter per dead letter"
file_states=$(count_type "$WORK/dlq.events.jsonl" campaign.state_changed)

# The endpoint recovers on the same address; the operator replays.
kill -TERM "$dead_pid"; wait "$dead_pid" 2>/dev/null
port=${dead_url##*:}
start_receiver healed --secret "$SECRET" --port "$port"
replay=$("$BUILD/campaign-relay" dlq replay -c "$WORK/dlq.yaml" --all 2>&1)
ok $? "dead letters: dlq replay --all succeeds while the relay runs ($replay)"
wait_until 20 all_acked "$WORK/dlq.events.jsonl" "$WORK/healed.jsonl"
ok $? "dead letters: the replay delivered every dead letter to the recovered endpoint"
sleep 0.5
is "$(acked_ids "$WORK/healed.jsonl" | uniq -d | wc -l)" 0 "dead letters: each exactly once"
is "$(jq -s '[.[] | select(.signature_valid != true)] | length' "$WORK/healed.jsonl")" 0 \
    "dead letters: replayed deliveries are signed correctly"
is "$("$BUILD/campaign-relay" dlq list -c "$WORK/dlq.yaml")" "no dead letters" \
    "dead letters: the table is empty after the replay"
is "$(count_type "$WORK/dlq.events.jsonl" campaign.state_changed)" \
    "$file_states" "dead letters: the replay went to the webhook only, not to the file sink"
stop_relay
ok $? "dead letters: the relay exits 0 on SIGTERM"
no_sanitizer_report "$WORK/dlq.log" "dead letters"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 5. Tampering with the audit trail of a real run fails `audit verify` at the line.
AUDIT_FILE=$WORK/hook.events.jsonl
verify=$("$BUILD/campaign-relay" audit verify --from-genesis "$AUDIT_FILE")
ok $? "audit: the file sink's audit chain verifies from genesis ($(echo $verify))"
mapfile -t audit_lines < <(jq -r 'select(.type == "cx.outbound.audit.notification")
    | input_line_number' "$AUDIT_FILE")
m=$(( ${#audit_lines[@]} / 2 ))
line=${audit_lines[$m]}
next=${audit_lines[$((m + 1))]}
diag "audit: ${#audit_lines[@]} audit events; tampering with line $line (next audit line $next)"

# verify_fails_at FILE LINE NAME: audit verify exits 1 naming FILE:LINE.
verify_fails_at() {
    local out status
    out=$("$BUILD/campaign-relay" audit verify "$1" 2>&1)
    status=$?
    if [ "$status" -eq 1 ] && [[ "$out" == "$1:$2: broken link"* ]]; then
        ok 0 "$3"
    else
        ok 1 "$3"
        diag "exit $status: $out"
    fi
}
awk -v n="$line" 'NR == n {sub(/"topicName":"/, "&x")} {print}' "$AUDIT_FILE" \
    >"$WORK/tampered-field.jsonl"
ok "$(cmp -s "$AUDIT_FILE" "$WORK/tampered-field.jsonl"; [ $? -eq 1 ]; echo $?)" \
    "audit: the field tampering changed the file"
verify_fails_at "$WORK/tampered-field.jsonl" "$line" \
    "audit: a changed field fails at its line ($line)"
awk -v n="$line" 'NR != n' "$AUDIT_FILE" >"$WORK/tampered-deleted.jsonl"
verify_fails_at "$WORK/tampered-deleted.jsonl" "$((next - 1))" \
    "audit: a deleted line fails at the next audit event ($((next - 1)))"
awk -v a="$line" -v b="$next" '{l[NR] = $0} END {t = l[a]; l[a] = l[b]; l[b] = t;
    for (i = 1; i <= NR; i++) print l[i]}' "$AUDIT_FILE" >"$WORK/tampered-swapped.jsonl"
verify_fails_at "$WORK/tampered-swapped.jsonl" "$line" \
    "audit: two swapped events fail at the first of them ($line)"

finish
