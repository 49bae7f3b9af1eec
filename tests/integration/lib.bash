# Shared helpers for the integration scripts (sourced, not run). Each script is a
# TAP producer run from the repository root by tests/run.sh with BUILD set to the
# build tree under test (build/asan by default).
#
#   source tests/integration/lib.bash
#   start_gcsim --campaigns 5 --seed 7          # sets GCSIM_URL, GCSIM_PID
#   ok "$cond" "name"; is "$got" "$want" "name"; finish
#
# Every process started through these helpers is stopped on exit, and a scratch
# directory ($WORK) is removed unless KEEP_WORK=1.

set -u
BUILD=${BUILD:-build/asan}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/crelay-it.XXXXXX")
TAP_COUNT=0
TAP_FAILED=0
BACKGROUND_PIDS=()

cleanup() {
    local pid
    for pid in "${BACKGROUND_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${BACKGROUND_PIDS[@]}"; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ "${KEEP_WORK:-0}" = 1 ]; then
        echo "# scratch directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

ok() { # ok CONDITION_EXIT_STATUS NAME  (use: ok $? "name", or ok "$(test …; echo $?)")
    local status=$1; shift
    TAP_COUNT=$((TAP_COUNT + 1))
    if [ "$status" -eq 0 ]; then
        echo "ok $TAP_COUNT - $*"
    else
        TAP_FAILED=$((TAP_FAILED + 1))
        echo "not ok $TAP_COUNT - $*"
    fi
}

is() { # is GOT WANT NAME
    local got=$1 want=$2; shift 2
    if [ "$got" = "$want" ]; then
        ok 0 "$*"
    else
        ok 1 "$*"
        echo "#   got:  '$got'"
        echo "#   want: '$want'"
    fi
}

diag() { echo "# $*"; }

finish() {
    echo "1..$TAP_COUNT"
    [ "$TAP_FAILED" -eq 0 ]
}

# wait_for_line FILE REGEX SECONDS: waits until a line of FILE matches; prints it.
wait_for_line() {
    local file=$1 regex=$2 seconds=$3 line
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -le $deadline ]; do
        line=$(grep -m1 -E "$regex" "$file" 2>/dev/null) && { echo "$line"; return 0; }
        sleep 0.05
    done
    return 1
}

# wait_until SECONDS COMMAND…: retries COMMAND until it succeeds.
wait_until() {
    local seconds=$1; shift
    local deadline=$((SECONDS + seconds))
    while [ $SECONDS -le $deadline ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# start_gcsim ARGS…: starts the simulator; sets GCSIM_URL, GCSIM_PID, GCSIM_LOG.
start_gcsim() {
    GCSIM_LOG=$WORK/gcsim.log
    rm -f "$WORK/gcsim.out" # a restarted simulator must not be found by the old one's line
    "$BUILD/gcsim" --listen 127.0.0.1:0 "$@" >"$WORK/gcsim.out" 2>"$GCSIM_LOG" &
    GCSIM_PID=$!
    BACKGROUND_PIDS+=("$GCSIM_PID")
    local line
    line=$(wait_for_line "$WORK/gcsim.out" '^gcsim listening on ' 20) || {
        echo "# gcsim did not start:"; sed 's/^/#   /' "$GCSIM_LOG" | tail -20; return 1; }
    GCSIM_URL=${line#gcsim listening on }
}

# start_kafka_mock ARGS…: starts the Kafka mock; sets KAFKA_BOOTSTRAP, KAFKA_PID.
# Fault commands go to its stdin through the FIFO $KAFKA_CONTROL (kafka_cmd "down all").
start_kafka_mock() {
    KAFKA_CONTROL=$WORK/kafka.ctl
    rm -f "$WORK/kafka.out" "$KAFKA_CONTROL"
    mkfifo "$KAFKA_CONTROL"
    "$BUILD/kafka-mock" "$@" <"$KAFKA_CONTROL" >"$WORK/kafka.out" 2>"$WORK/kafka.log" &
    KAFKA_PID=$!
    BACKGROUND_PIDS+=("$KAFKA_PID")
    exec {KAFKA_CONTROL_FD}>"$KAFKA_CONTROL"
    local line
    line=$(wait_for_line "$WORK/kafka.out" '^BOOTSTRAP=' 20) || {
        echo "# kafka-mock did not start:"; sed 's/^/#   /' "$WORK/kafka.log" | tail -20; return 1; }
    KAFKA_BOOTSTRAP=${line#BOOTSTRAP=}
}

kafka_cmd() { echo "$*" >&"$KAFKA_CONTROL_FD"; }

# sim POST|GET PATH [JSON]: calls gcsim's control API.
sim() {
    local method=$1 path=$2 body=${3:-}
    if [ -n "$body" ]; then
        curl -sS -X "$method" -H 'Content-Type: application/json' --data "$body" "$GCSIM_URL$path"
    else
        curl -sS -X "$method" "$GCSIM_URL$path"
    fi
}

# track_pid PID: stop this process on exit too.
track_pid() { BACKGROUND_PIDS+=("$1"); }
