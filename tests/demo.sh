#!/usr/bin/env bash
# make demo: the simulator in traffic mode, the Kafka mock and the relay (file sink +
# Kafka), with the events shown live. Ctrl-C stops every process it started.
#
#   tests/demo.sh [BUILD_DIR]        (default build)
#   DEMO_SECONDS=20 tests/demo.sh    run headless for 20 s, then stop (used by a test)
set -u
cd "$(dirname "$0")/.."
build=${1:-${BUILD:-build}}
seconds=${DEMO_SECONDS:-0}
work=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/campaign-relay-demo.XXXXXX")}
mkdir -p "$work"
pids=()

stop_all() {
    trap - INT TERM EXIT
    # Newest first: the relay drains into Kafka before the mock goes away.
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
        wait "${pids[i]}" 2>/dev/null
    done
    echo
    echo "demo stopped; its files are in $work (events.jsonl, relay.log, gcsim.log)"
}
trap stop_all INT TERM EXIT

wait_line() { # FILE REGEX
    for _ in $(seq 1 200); do
        grep -m1 -E "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "demo: timed out waiting for '$2' in $1" >&2
    return 1
}

"$build/gcsim" --listen 127.0.0.1:0 --campaigns 8 --seed 2026 --traffic \
    --traffic-interval-ms 1500 --tick-ms 2000 --heartbeat-ms 10000 --stopping-ms 4000 \
    --truth "$work/truth.jsonl" >"$work/gcsim.out" 2>"$work/gcsim.log" &
pids+=($!)
line=$(wait_line "$work/gcsim.out" '^gcsim listening on ') || exit 1
sim_url=${line#gcsim listening on }

"$build/kafka-mock" --brokers 1 --control-port 0 >"$work/kafka.out" 2>"$work/kafka.log" </dev/null &
pids+=($!)
line=$(wait_line "$work/kafka.out" '^BOOTSTRAP=') || exit 1
bootstrap=${line#BOOTSTRAP=}

cat >"$work/relay.yaml" <<EOF
# Written by tests/demo.sh: the relay against the local simulator.
platform:
  api_url: $sim_url
  login_url: $sim_url
  client_id: relay-client
  client_secret: relay-secret
subscriptions:
  rediscover_interval: 30s
outbox:
  path: $work/outbox.db
sinks:
  file:
    path: $work/events.jsonl
  kafka:
    brokers: "$bootstrap"
admin:
  listen: 127.0.0.1:0
log:
  level: info
EOF

"$build/campaign-relay" run -c "$work/relay.yaml" 2>"$work/relay.log" &
relay_pid=$!
pids+=($relay_pid)
line=$(wait_line "$work/relay.log" 'admin endpoints on http://') || exit 1
admin=$(echo "$line" | grep -o 'http://[0-9.:]*')

first_campaign=$(curl -s "$sim_url/sim/state" | jq -r '.campaigns[0].id')
cat <<EOF
campaign-relay demo
  simulator   $sim_url   (8 campaigns, random transitions every ~1.5 s)
  kafka mock  $bootstrap
  relay log   $work/relay.log
  admin       $admin   (/healthz /readyz /metrics /v1/campaigns)
  events      $work/events.jsonl

Try, in another terminal:
  curl -s $sim_url/sim/state | jq '.campaigns[] | {name, campaignStatus, version}'
  curl -s -XPOST $sim_url/sim/campaigns/$first_campaign/status -d '{"status":"off"}'
  curl -s -XPOST $sim_url/sim/campaigns/$first_campaign/status -d '{"status":"on"}'
  curl -s -XPOST $sim_url/sim/faults/drop-socket -d '{}'      # the relay reconnects and reconciles
  curl -s -XPOST $sim_url/sim/faults/socket-closing -d '{"grace_ms":3000}'
  curl -s $admin/readyz                                    # which checks pass
  curl -s $admin/v1/campaigns | jq '.campaigns[] | {name, state, since}'
  curl -s $admin/metrics | grep -E '^campaign_relay_(sink_delivered|notifications_received)'
  build/campaign-relay audit verify $work/events.jsonl

Events as they are delivered (type, campaign, change); audit.notification and
campaign.dialer_stats go to the file and Kafka too but are not shown here:
EOF

touch "$work/events.jsonl"
tail -n +1 -F "$work/events.jsonl" 2>/dev/null | jq --unbuffered -r '
    (.type | sub("^cx\\.outbound\\."; "")) as $t
    | select($t != "audit.notification" and $t != "campaign.dialer_stats")
    | (.data.campaign.name // .data.topic // .subject // "") as $who
    | if $t == "campaign.state_changed" then
        "\(.time[11:23])  \($t | .[0:24] | . + " " * (24 - length))  \($who)  \(.data.previous.status // "-") -> \(.data.current.status)  [\(.data.origin)]"
      elif $t == "campaign.progress" then
        "\(.time[11:23])  \($t | .[0:24] | . + " " * (24 - length))  \(.data.campaign.name // .subject)  \(.data.percentage // "?")%"
      elif ($t | startswith("alert.")) then
        "\(.time[11:23])  \($t | .[0:24] | . + " " * (24 - length))  \(.data.summary // "")"
      else
        "\(.time[11:23])  \($t | .[0:24] | . + " " * (24 - length))  \($who)"
      end' &
pids+=($!)

if [ "$seconds" -gt 0 ]; then
    sleep "$seconds"
else
    wait "$relay_pid"
fi
