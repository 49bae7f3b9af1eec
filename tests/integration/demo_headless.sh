#!/usr/bin/env bash
# make demo, headless: tests/demo.sh (what `make demo` runs after installing and
# building) started for a few seconds against the build under test. Events must show
# in the terminal and in the file sink, the relay's admin endpoints must answer, and
# when the demo ends, by its timer or by a signal, every process it started is gone.
source tests/integration/lib.bash

make -n demo >"$WORK/make-n.txt" 2>&1
grep -q 'install-deps.sh' "$WORK/make-n.txt" && grep -q 'tests/demo.sh' "$WORK/make-n.txt"
ok $? "make demo installs what is missing, builds and runs tests/demo.sh"

leftovers() { pgrep -f "$1" >/dev/null; }

# 1. Headless for a fixed time.
demo_dir=$WORK/demo
DEMO_SECONDS=14 DEMO_DIR=$demo_dir tests/demo.sh "$BUILD" >"$WORK/demo.out" 2>&1 &
demo_pid=$!
track_pid "$demo_pid"
admin=$(wait_for_line "$WORK/demo.out" '^  admin ' 40 | grep -o 'http://[0-9.:]*')
ok $? "the legend shows the admin address"
grep -q 'Try, in another terminal' "$WORK/demo.out" && grep -q '/sim/faults/drop-socket' "$WORK/demo.out"
ok $? "the legend says what to try"
wait_until 30 sh -c "curl -s $admin/readyz | grep -q '^ready'"
ok $? "the demo's relay becomes ready (stream, Kafka and file sinks)"
wait "$demo_pid"
is "$?" 0 "the headless demo ends by itself with status 0"
shown=$(grep -cE '^[0-9:.]{12}  campaign\.(state_changed|discovered)' "$WORK/demo.out")
[ "$shown" -ge 8 ]
ok $? "events flowed live in the terminal ($shown campaign events shown)"
discovered=$(jq -r 'select(.type=="cx.outbound.campaign.discovered") | .subject' \
    "$demo_dir/events.jsonl" | sort -u | wc -l)
is "$discovered" 8 "the file sink has all 8 simulated campaigns"
changes=$(jq -r 'select(.type=="cx.outbound.campaign.state_changed" and .data.origin=="stream") | .id' \
    "$demo_dir/events.jsonl" | wc -l)
[ "$changes" -ge 1 ]
ok $? "traffic-mode state changes arrived over the stream ($changes)"
"$BUILD/campaign-relay" audit verify "$demo_dir/events.jsonl" >"$WORK/audit.txt" 2>&1
ok $? "the demo's audit chain verifies"
grep -q 'msg="stopped;' "$demo_dir/relay.log"
ok $? "the relay stopped gracefully"
sleep 0.5
leftovers "$demo_dir"
ok $((!$?)) "no process of the demo is left"

# 2. Interrupted like Ctrl-C (SIGTERM here: a background job ignores SIGINT).
demo_dir2=$WORK/demo2
DEMO_DIR=$demo_dir2 tests/demo.sh "$BUILD" >"$WORK/demo2.out" 2>&1 &
demo_pid=$!
track_pid "$demo_pid"
wait_for_line "$WORK/demo2.out" '^  admin ' 40 >/dev/null
wait_until 20 grep -qE 'campaign\.discovered' "$WORK/demo2.out"
kill -TERM "$demo_pid"
wait "$demo_pid"
grep -q 'demo stopped' "$WORK/demo2.out"
ok $? "a signal stops the demo"
sleep 0.5
leftovers "$demo_dir2"
ok $((!$?)) "and every process it started"
finish
