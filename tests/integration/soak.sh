#!/usr/bin/env bash
# Reliability soak: gcsim's seeded-random traffic with faults injected continuously
# (socket drops, heartbeat stalls, socket_closing, evictions, token revocation, 429s,
# Kafka brokers down and up, webhook 5xx) and the relay killed -9 and restarted. After
# quiescence: the relay's cache equals gcsim's final state; every status change
# notified outside a fault window is in Kafka, in order per campaign, repeats only with
# equal ids; Kafka ends at the final state; the audit chain verifies; RSS stays bounded.
#
#   SOAK_SECONDS=600 bash tests/integration/soak.sh     (default 75 s in make test)
#   SEED=N                                              replay a run (printed at the start)
source tests/integration/lib.bash

SOAK_SECONDS=${SOAK_SECONDS:-75}
SEED=${SEED:-$(( $(date +%s) % 100000 ))}
diag "soak: $SOAK_SECONDS s, seed $SEED"
RANDOM=$SEED
now_ms() { date +%s%3N; }

start_gcsim --campaigns 16 --seed "$SEED" --traffic --traffic-interval-ms 150 \
    --heartbeat-ms 500 --stopping-ms 400 --tick-ms 60000 --calls-per-tick 0 \
    --closing-grace-ms 2000 --truth "$WORK/truth.jsonl"
GCSIM_T0=$(now_ms) # gcsim's clock starts (within a few ms) when it prints its address
start_kafka_mock --brokers 3
"$BUILD/tools/webhook_receiver" --secret whsec_c29hay10ZXN0LXNlY3JldC0xMjM0NTY3ODkw \
    --fail-rate 0.2 --seed "$SEED" --out "$WORK/webhook.jsonl" >"$WORK/webhook.out" 2>&1 &
track_pid $!
line=$(wait_for_line "$WORK/webhook.out" 'listening on http://' 10) || { echo "# no receiver"; exit 1; }
WEBHOOK_URL=${line#*listening on }

cat >"$WORK/relay.yaml" <<EOF
platform:
  api_url: $GCSIM_URL
  login_url: $GCSIM_URL
  client_id: relay-client
  client_secret: relay-secret
stream:
  heartbeat_timeout: 2s
  ping_interval: 700ms
  reconnect_min: 100ms
  reconnect_max: 1s
  healthy_after: 2s
outbox:
  path: $WORK/outbox.db
sinks:
  file:
    path: $WORK/events.jsonl
  kafka:
    brokers: "$KAFKA_BOOTSTRAP"
  webhooks:
    - name: soak
      url: $WEBHOOK_URL/hook
      secret: whsec_c29hay10ZXN0LXNlY3JldC0xMjM0NTY3ODkw
      events: ["campaign.state_changed", "alert.*"]
      max_attempts: 1000
      backoff_min: 50ms
      backoff_max: 500ms
admin:
  listen: 127.0.0.1:0
log:
  level: info
EOF

# A small ASan quarantine so RSS reflects the relay, not freed memory kept for checking.
RELAY_ASAN=${ASAN_OPTIONS:-detect_leaks=1}:quarantine_size_mb=8
start_relay() {
    ASAN_OPTIONS=$RELAY_ASAN "$BUILD/campaign-relay" run -c "$WORK/relay.yaml" 2>>"$WORK/relay.log" &
    RELAY_PID=$!
    track_pid "$RELAY_PID"
    local before=$1 line
    for _ in $(seq 1 200); do
        [ "$(grep -c 'admin endpoints on' "$WORK/relay.log")" -gt "$before" ] && break
        sleep 0.05
    done
    line=$(grep -o 'admin endpoints on http://[0-9.:]*' "$WORK/relay.log" | tail -1)
    ADMIN=${line#admin endpoints on }
}
ready() { curl -sf "$ADMIN/readyz" >/dev/null; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$RELAY_PID/status" 2>/dev/null || echo 0; }

: >"$WORK/windows"
window() { # window START_WALL_MS END_WALL_MS REASON
    echo "$(( $1 - GCSIM_T0 )) $(( $2 - GCSIM_T0 )) $3" >>"$WORK/windows"
}

starts=0
start_relay 0
starts=1
wait_until 30 ready
ok $? "the relay becomes ready"
window "$GCSIM_T0" "$(now_ms)" "first start"

faults=0; kills=0; kafka_outages=0
declare -A fault_counts
rss_samples=()
deadline=$(( SECONDS + SOAK_SECONDS ))
while [ $SECONDS -lt $deadline ]; do
    sleep "0.$(( 5 + RANDOM % 5 ))"
    rss_samples+=("$(rss_kb)")
    fault=$(( RANDOM % 10 ))
    t0=$(now_ms)
    case $fault in
    0) sim POST /sim/faults/drop-socket '{}' >/dev/null
       fault_counts[drop-socket]=$(( ${fault_counts[drop-socket]:-0} + 1 ))
       sleep 1; window "$((t0 - 500))" "$(( $(now_ms) + 500 ))" drop-socket ;;
    1) sim POST /sim/faults/stall-heartbeats '{"ms":3000}' >/dev/null
       fault_counts[stall]=$(( ${fault_counts[stall]:-0} + 1 ))
       sleep 3.5; window "$t0" "$(( $(now_ms) + 1000 ))" heartbeat-stall ;;
    2) sim POST /sim/faults/socket-closing '{"grace_ms":1500}' >/dev/null
       fault_counts[socket-closing]=$(( ${fault_counts[socket-closing]:-0} + 1 )) ;;
    3) channel=$(sim GET /sim/state | jq -r '[.channels[] | select(.connected)][0].id // empty')
       if [ -n "$channel" ]; then
           sim POST /sim/faults/evict-channel "{\"channel\":\"$channel\"}" >/dev/null
           fault_counts[evict]=$(( ${fault_counts[evict]:-0} + 1 ))
           sleep 1; window "$((t0 - 500))" "$(( $(now_ms) + 1000 ))" evict
       fi ;;
    4) sim POST /sim/faults/revoke-tokens '{}' >/dev/null
       fault_counts[revoke]=$(( ${fault_counts[revoke]:-0} + 1 ))
       sleep 1; window "$((t0 - 500))" "$(( $(now_ms) + 1000 ))" revoke-tokens ;;
    5) sim POST /sim/faults/rest '{"status":429,"count":4,"retry_after":1}' >/dev/null
       fault_counts[rest-429]=$(( ${fault_counts[rest-429]:-0} + 1 )) ;;
    6) kafka_cmd "down all"; sleep 2; kafka_cmd "up all"
       kafka_outages=$((kafka_outages + 1)); fault_counts[kafka-down]=$kafka_outages ;;
    7) if [ "$kills" -lt 4 ]; then
           kill -KILL "$RELAY_PID" 2>/dev/null; wait "$RELAY_PID" 2>/dev/null
           kills=$((kills + 1))
           start_relay "$starts"; starts=$((starts + 1))
           wait_until 30 ready
           window "$((t0 - 1000))" "$(now_ms)" kill-9
       fi ;;
    *) ;; # quiet period
    esac
    faults=$(( faults + (fault < 8) ))
done

# Quiescence: no more traffic, faults cleared, every sink caught up.
sim POST /sim/traffic '{"enabled":false}' >/dev/null
sim POST /sim/faults/clear '{}' >/dev/null
kafka_cmd "up all"
sleep 2 # stopping campaigns reach off
wait_until 60 ready
ok $? "the relay is ready after quiescence"
caught_up() {
    curl -s "$ADMIN/metrics" | awk '/^campaign_relay_sink_lag_events/ { if ($2 > 0) bad = 1 } END { exit bad }'
}
wait_until 90 caught_up
ok $? "every sink caught up (lag 0)"
sim GET /sim/state >"$WORK/sim_state.json"
curl -s "$ADMIN/v1/campaigns" >"$WORK/relay_campaigns.json"
"$BUILD/tools/kafka_dump" --bootstrap "$KAFKA_BOOTSTRAP" --idle-ms 3000 campaign-relay.state \
    >"$WORK/kafka_state.jsonl" 2>"$WORK/kafka_dump.err"
ok $? "Kafka's state topic is read back"

while IFS=$'\t' read -r tag status name; do
    [ "$tag" = check ] && ok "$status" "$name"
done < <(python3 tests/integration/soak_check.py "$WORK/truth.jsonl" "$WORK/kafka_state.jsonl" \
    "$WORK/sim_state.json" "$WORK/relay_campaigns.json" "$WORK/windows" | tee "$WORK/check.out")
grep '^#' "$WORK/check.out"

"$BUILD/campaign-relay" audit verify "$WORK/events.jsonl" >"$WORK/verify.out" 2>&1
ok $? "the audit chain verifies across $kills kill -9 restarts: $(head -c 200 "$WORK/verify.out")"

bad_signatures=$(jq -r 'select(.signature_valid == false) | ."webhook-id"' "$WORK/webhook.jsonl" | wc -l)
is "$bad_signatures" 0 "every webhook request was signed correctly"

# RSS: the last third of the run must not keep climbing over the middle third.
n=${#rss_samples[@]}
if [ "$n" -ge 6 ]; then
    mid=$(printf '%s\n' "${rss_samples[@]:$((n / 3)):$((n / 3))}" | sort -n | tail -1)
    end=$(printf '%s\n' "${rss_samples[@]:$((2 * n / 3))}" | sort -n | tail -1)
    limit=$(( mid * 3 / 2 > mid + 32768 ? mid * 3 / 2 : mid + 32768 ))
    ok "$([ "$end" -le "$limit" ]; echo $?)" "RSS stays bounded (peak ${mid} kB mid-run, ${end} kB at the end)"
else
    ok 1 "RSS samples were taken ($n)"
fi

kill -TERM "$RELAY_PID"; wait "$RELAY_PID"
ok $? "the relay exits 0 at the end"
if grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$WORK/relay.log" >/dev/null; then
    ok 1 "no sanitizer report"; grep -E -A15 'Sanitizer|runtime error' "$WORK/relay.log" | head -30 | sed 's/^/# /'
else
    ok 0 "no sanitizer report"
fi
gaps=$(jq -r 'select(.type=="cx.outbound.alert.stream_gap") | .data.details.durationMs // empty' "$WORK/events.jsonl" 2>/dev/null | sort -n | tail -1)
events=$(wc -l <"$WORK/events.jsonl")
fault_summary=$(for k in "${!fault_counts[@]}"; do printf '%s=%s ' "$k" "${fault_counts[$k]}"; done)
diag "soak figures: ${SOAK_SECONDS}s, seed $SEED, $events events in the file sink, faults: $fault_summary, kill -9 restarts: $kills, max gap ${gaps:-0} ms, webhook requests $(wc -l <"$WORK/webhook.jsonl")"
finish
