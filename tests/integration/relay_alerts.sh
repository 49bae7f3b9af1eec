#!/usr/bin/env bash
# Alerts end to end against gcsim, with tolerances and stopping times scaled down
# (progressive 3 s, predictive 30 s; both campaigns stop for 10 s): the predictive
# campaign raises nothing while the progressive one raises transition_stuck with its
# tolerance and the importing contact list as the cause, resolved at "off"; a forbidden
# transition and an invalid campaign raise once despite duplicates and config changes;
# the active-campaign count raises and resolves alert.active_limit. Then restarts
# (SIGTERM and kill -9, before and after the alert fired) neither lose nor duplicate a
# stuck alert, and an unfired one fires at entered-state + tolerance.
source tests/integration/lib.bash

write_config() { # write_config NAME LIFECYCLE_YAML
    cat >"$WORK/$1.yaml" <<EOF
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
  path: $WORK/$1.db
sinks:
  file:
    path: $WORK/$1.jsonl
log:
  level: debug
$2
EOF
}

start_relay() { # start_relay NAME
    "$BUILD/campaign-relay" run -c "$WORK/$1.yaml" 2>>"$WORK/$1.log" &
    RELAY_PID=$!
    track_pid "$RELAY_PID"
}

# alerts FILE TYPE CAMPAIGN [resolved]: distinct ids of that alert type for a campaign
# ("" for org-wide), firings by default or resolutions with "resolved". A file sink
# may deliver an event again after kill -9; the same id is the same event.
alerts() {
    local want=${4:-fired}
    jq -r --arg t "cx.outbound.alert.$2" --arg id "$3" --arg want "$want" '
        select(.type == $t and .subject == $id)
        | select((.data.details.resolved == true) == ($want == "resolved")) | .id' \
        "$1" 2>/dev/null | sort -u | wc -l
}

# alert_field FILE TYPE CAMPAIGN JQ_PATH: a field of the (first) firing of an alert.
alert_field() {
    jq -r --arg t "cx.outbound.alert.$2" --arg id "$3" "
        select(.type == \$t and .subject == \$id and .data.details.resolved != true)
        | $4" "$1" 2>/dev/null | head -1
}

# entered_at FILE CAMPAIGN STATUS: when the relay saw the campaign take that status.
entered_at() {
    jq -r --arg id "$2" --arg s "$3" 'select(.type == "cx.outbound.campaign.state_changed"
        and .subject == $id and .data.current.status == $s) | .data.observedAt' "$1" |
        head -1
}

sanitizer_clean() {
    ! cat "$WORK"/*.log | grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' >/dev/null
}

# ---------------------------------------------------------------------------------
# 1. Tolerances per dialing mode, causes, resolution, invalid and failed, active limit.
start_gcsim --scenario tests/gcsim/scenarios/stuck_alerts.json --heartbeat-ms 500
write_config modes 'lifecycle:
  tolerance:
    predictive: 30s
    progressive: 3s
    power: 3s
  active_limit: 4
  active_warn: 3'
start_relay modes
predictive=bbbbbbbb-0000-4000-8000-000000000001
progressive=bbbbbbbb-0000-4000-8000-000000000002
invalid=bbbbbbbb-0000-4000-8000-000000000003
forbidden=bbbbbbbb-0000-4000-8000-000000000004
F=$WORK/modes.jsonl

wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.transition_stuck\") | .id' $F 2>/dev/null | wc -l) -ge 1 ]"
ok $? "a stuck alert is raised"
is "$(alerts "$F" transition_stuck $progressive)" 1 "the progressive campaign stopping past 3 s raises transition_stuck"
is "$(alert_field "$F" transition_stuck $progressive .data.details.toleranceMs)" 3000 \
    "with the progressive tolerance"
is "$(alert_field "$F" transition_stuck $progressive .data.details.likelyCause)" \
    "contact list importing" "and the importing contact list as the likely cause"
is "$(alert_field "$F" transition_stuck $progressive .data.details.contactList.importState)" \
    IN_PROGRESS "the import state comes from the platform"
is "$(alert_field "$F" transition_stuck $progressive .data.details.lookups.importStatus)" ok \
    "the import status was looked up over REST"
is "$(alert_field "$F" transition_stuck $progressive .data.dedupKey)" \
    "transition_stuck:$progressive" "the dedup key names the campaign"
stuck_for=$(alert_field "$F" transition_stuck $progressive .data.details.stuckForMs)
ok "$([ "$stuck_for" -ge 3000 ] && [ "$stuck_for" -lt 8000 ]; echo $?)" \
    "it fired just after the tolerance (stuck for $stuck_for ms)"

wait_until 25 sh -c "[ \"\$(jq -r --arg id $progressive 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id) | .data.current.status' $F | tail -1)\" = off ]"
ok $? "the progressive campaign reaches off"
wait_until 5 sh -c "[ \"\$(jq -r --arg id $predictive 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id) | .data.current.status' $F | tail -1)\" = off ]"
ok $? "the predictive campaign reaches off"
wait_until 5 sh -c "[ \$(jq -r --arg id $progressive 'select(.type==\"cx.outbound.alert.transition_stuck\" and .subject==\$id and .data.details.resolved==true) | .id' $F | wc -l) -ge 1 ]"
ok $? "the stuck alert is resolved when the campaign reaches off"
is "$(alerts "$F" transition_stuck $progressive resolved)" 1 "resolved once"
is "$(jq -r --arg id $progressive 'select(.type=="cx.outbound.alert.transition_stuck" and .subject==$id and .data.details.resolved==true) | .data.dedupKey' "$F")" \
    "transition_stuck:$progressive" "the resolution carries the firing's dedup key"
is "$(jq -s --arg id $predictive '[.[] | select(.type=="cx.outbound.alert.transition_stuck" and .subject==$id)] | length' "$F")" \
    0 "the predictive campaign stopping as long raises nothing (within its 30 s tolerance)"

is "$(alerts "$F" campaign_failed $invalid)" 1 \
    "the invalid campaign raises campaign_failed once (duplicate and config change after it)"
is "$(alert_field "$F" campaign_failed $invalid .data.severity)" critical "campaign_failed is critical"
is "$(alerts "$F" transition_invalid $forbidden)" 1 \
    "stopping -> on raises transition_invalid once (a duplicate followed)"
is "$(alert_field "$F" transition_invalid $forbidden '.data.details.from.status + ">" + .data.details.to.status')" \
    "stopping>on" "naming both statuses"
is "$(jq -s --arg id $forbidden '[.[] | select(.type=="cx.outbound.alert.transition_stuck" and .subject==$id)] | length' "$F")" \
    0 "the campaign that left stopping after 1 s raised no stuck alert"
severities=$(jq -r 'select(.type=="cx.outbound.alert.active_limit") | .data.severity' "$F" | paste -sd' ')
is "$severities" "critical warning info" \
    "active_limit: critical at 4 active, warning at 3, resolved below 3"
is "$(jq -r 'select(.type=="cx.outbound.alert.active_limit") | .data.dedupKey' "$F" | sort -u)" \
    active_limit "one dedup key for the firing and its resolution"
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"
ok $? "the relay exits 0"
kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID" 2>/dev/null

# ---------------------------------------------------------------------------------
# 2. Restarts while campaigns are stuck (stopping lasts 120 s in this scenario).
start_gcsim --scenario tests/gcsim/scenarios/stuck_restart.json --heartbeat-ms 500
write_config restart 'lifecycle:
  tolerance:
    progressive: 2s
    power: 6s'
F=$WORK/restart.jsonl
raised=cccccccc-0000-4000-8000-000000000001
termed=cccccccc-0000-4000-8000-000000000002
killed=cccccccc-0000-4000-8000-000000000003
start_relay restart
wait_until 20 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.campaign.discovered\") | .id' $F 2>/dev/null | wc -l) -ge 3 ]"
ok $? "three campaigns discovered"
wait_until 20 sh -c "curl -s $GCSIM_URL/sim/state | jq -e '[.channels[] | select(.connected)] | length == 1' >/dev/null"
ok $? "the relay's channel is connected"

sim POST "/sim/campaigns/$raised/status" '{"status":"off"}' >/dev/null
wait_until 15 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.transition_stuck\") | .id' $F | wc -l) -ge 1 ]"
ok $? "a campaign stuck in stopping raises its alert"
first_id=$(jq -r --arg id $raised 'select(.type=="cx.outbound.alert.transition_stuck" and .subject==$id) | .id' "$F" | head -1)

# After the alert: SIGTERM, restart.
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"
start_relay restart
# Before the alert: SIGTERM a second after the campaign entered stopping.
sim POST "/sim/campaigns/$termed/status" '{"status":"off"}' >/dev/null
wait_until 10 sh -c "[ -n \"\$(jq -r --arg id $termed 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id and .data.current.status==\"stopping\") | .id' $F)\" ]"
ok $? "the restarted relay sees the second campaign stopping"
sleep 2
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"
start_relay restart
wait_until 15 sh -c "[ \$(jq -r --arg id $termed 'select(.type==\"cx.outbound.alert.transition_stuck\" and .subject==\$id) | .id' $F | wc -l) -ge 1 ]"
ok $? "SIGTERM before the deadline: the alert still fires after the restart"
is "$(alert_field "$F" transition_stuck $termed .data.details.enteredAt)" \
    "$(entered_at "$F" $termed stopping)" "timed from when the campaign entered stopping"
stuck_for=$(alert_field "$F" transition_stuck $termed .data.details.stuckForMs)
# Timed from the restart it would be stuck for at least 2 s + 6 s.
ok "$([ "$stuck_for" -ge 6000 ] && [ "$stuck_for" -lt 7800 ]; echo $?)" \
    "at entered + tolerance, not restart + tolerance (stuck for $stuck_for ms)"

# After the alerts: kill -9, restart.
kill -KILL "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null
start_relay restart
# Before the alert: kill -9 a second after the campaign entered stopping.
sim POST "/sim/campaigns/$killed/status" '{"status":"off"}' >/dev/null
wait_until 10 sh -c "[ -n \"\$(jq -r --arg id $killed 'select(.type==\"cx.outbound.campaign.state_changed\" and .subject==\$id and .data.current.status==\"stopping\") | .id' $F)\" ]"
ok $? "the relay sees the third campaign stopping"
sleep 1
kill -KILL "$RELAY_PID"; wait "$RELAY_PID" 2>/dev/null
start_relay restart
wait_until 15 sh -c "[ \$(jq -r --arg id $killed 'select(.type==\"cx.outbound.alert.transition_stuck\" and .subject==\$id) | .id' $F | wc -l) -ge 1 ]"
ok $? "kill -9 before the deadline: the alert still fires after the restart"
is "$(alert_field "$F" transition_stuck $killed .data.details.enteredAt)" \
    "$(entered_at "$F" $killed stopping)" "timed from when the campaign entered stopping"
sleep 2
is "$(alerts "$F" transition_stuck $raised)" 1 \
    "raised before a SIGTERM and a kill -9: not raised again"
is "$(jq -r --arg id $raised 'select(.type=="cx.outbound.alert.transition_stuck" and .subject==$id) | .id' "$F" | sort -u)" \
    "$first_id" "and any redelivery carries the same id"
is "$(alerts "$F" transition_stuck $termed)" 1 "the SIGTERM case raised once across a kill -9"
is "$(alerts "$F" transition_stuck $killed)" 1 "the kill -9 case raised once"

for id in $raised $termed $killed; do
    sim POST "/sim/campaigns/$id/status" '{"status":"off","direct":true}' >/dev/null
done
wait_until 10 sh -c "[ \$(jq -r 'select(.type==\"cx.outbound.alert.transition_stuck\" and .data.details.resolved==true) | .id' $F | sort -u | wc -l) -ge 3 ]"
ok $? "all three resolve when their campaigns reach off"
sleep 0.5
resolved=$(for id in $raised $termed $killed; do alerts "$F" transition_stuck $id resolved; done | paste -sd' ')
is "$resolved" "1 1 1" "each resolved once"
kill -TERM "$RELAY_PID"; wait "$RELAY_PID"
ok $? "the relay exits 0"
sanitizer_clean
ok $? "no sanitizer report in any relay run"
finish
