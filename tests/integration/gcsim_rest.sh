#!/usr/bin/env bash
# gcsim's REST side over real sockets with curl: OAuth, rate limits, token expiry and
# revocation, channels and subscriptions with their limits, outbound campaigns, contact
# lists, REST faults and the control API's errors.
source tests/integration/lib.bash
# start_gcsim reads gcsim.out right after starting the process in the background; a
# file left by an earlier instance could be read before the new one truncates it.
fresh_gcsim() { rm -f "$WORK/gcsim.out"; start_gcsim "$@"; }

# api METHOD PATH [BODY]: prints the body, then the status code on the last line.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS -X "$method" -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}')
    [ "$method" = HEAD ] && args=(-sS -I -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}')
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data "$body")
    curl "${args[@]}" "$GCSIM_URL$path"
}
status_of() { tail -n1 <<<"$1"; }
body_of() { sed '$d' <<<"$1"; }
token() { curl -sS -u "${1:-relay-client}:${2:-relay-secret}" -d grant_type=client_credentials \
              "$GCSIM_URL/oauth/token"; }

fresh_gcsim --campaigns 130 --seed 11 --max-channels 3 --max-topics 4 --stopping-ms 300 \
    --calls-per-tick 0 --rate-limit 0 || { finish; exit 1; }

# --- OAuth -----------------------------------------------------------------------
resp=$(token)
TOKEN=$(jq -r .access_token <<<"$resp")
is "$(jq -r '.token_type + " " + (.expires_in|tostring)' <<<"$resp")" "bearer 86400" \
    "token endpoint issues a bearer token with the default lifetime"
resp=$(curl -sS -u relay-client:wrong -d grant_type=client_credentials -w '\n%{http_code}' \
       "$GCSIM_URL/oauth/token")
is "$(status_of "$resp")" 401 "wrong client secret answers 401"
is "$(body_of "$resp" | jq -r '.error + "|" + (.error_description|type)')" "invalid_client|string" \
    "401 carries the platform's OAuth error shape"
resp=$(curl -sS -u relay-client:relay-secret -d grant_type=password -w '\n%{http_code}' \
       "$GCSIM_URL/oauth/token")
is "$(status_of "$resp")" 400 "another grant type answers 400"
resp=$(curl -sS -w '\n%{http_code}' "$GCSIM_URL/api/v2/outbound/campaigns")
is "$(status_of "$resp")" 401 "a call without a token answers 401"
is "$(body_of "$resp" | jq -r '(.status|tostring) + " " + .code')" "401 bad.credentials" \
    "401 uses the ErrorBody shape"
hdr=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $TOKEN" \
      "$GCSIM_URL/api/v2/outbound/campaigns")
grep -qi '^inin-correlation-id: [0-9a-f-]\{36\}' <<<"$hdr"
ok $? "responses carry an inin-correlation-id header"

# --- outbound campaigns ----------------------------------------------------------
resp=$(api GET "/api/v2/outbound/campaigns?pageSize=100")
is "$(body_of "$resp" | jq -c '[.total,.pageSize,.pageNumber,.pageCount,(.entities|length)]')" \
    "[130,100,1,2,100]" "campaign list pages with pageSize 100"
is "$(body_of "$resp" | jq -r .nextUri)" "/api/v2/outbound/campaigns?pageSize=100&pageNumber=2" \
    "first page has a nextUri"
resp=$(api GET "/api/v2/outbound/campaigns?pageSize=100&pageNumber=2")
is "$(body_of "$resp" | jq -c '[(.entities|length), has("nextUri"), .previousUri != null]')" \
    "[30,false,true]" "last page has no nextUri and a previousUri"
is "$(status_of "$(api GET "/api/v2/outbound/campaigns?pageSize=101")")" 400 \
    "pageSize above 100 answers 400"
resp=$(api GET "/api/v2/outbound/campaigns?name=Campaign%20007")
is "$(body_of "$resp" | jq -r '.total')" 1 "name filter selects by prefix"

CID=$(body_of "$(api GET "/api/v2/outbound/campaigns?pageSize=1")" | jq -r '.entities[0].id')
resp=$(api GET "/api/v2/outbound/campaigns/$CID")
camp=$(body_of "$resp")
is "$(jq -r '[.campaignStatus, .version, .dialingMode, (.contactList.id|length), (.selfUri|length>0)]|@csv' <<<"$camp")" \
    '"off",1,"predictive",36,true' "GET campaign returns the REST Campaign"
is "$(status_of "$(api GET /api/v2/outbound/campaigns/00000000-0000-4000-8000-000000000000)")" 404 \
    "unknown campaign answers 404"

stale=$(jq -c '.campaignStatus="on" | .version=7' <<<"$camp")
resp=$(api PUT "/api/v2/outbound/campaigns/$CID" "$stale")
is "$(status_of "$resp")" 409 "PUT with a wrong version answers 409"
body_of "$resp" | jq -e '.code == "conflict" and (.message|test("does not match the current version"))' >/dev/null
ok $? "409 body says the version does not match"
resp=$(api PUT "/api/v2/outbound/campaigns/$CID" "$(jq -c '.campaignStatus="on"' <<<"$camp")")
is "$(body_of "$resp" | jq -r '.campaignStatus + " " + (.version|tostring)')" "on 2" \
    "PUT campaignStatus on with the right version turns it on and bumps the version"
resp=$(api PUT "/api/v2/outbound/campaigns/$CID" "$(body_of "$resp" | jq -c '.campaignStatus="off"')")
is "$(body_of "$resp" | jq -r .campaignStatus)" stopping "turning off passes through stopping"
wait_until 5 bash -c "curl -s -H 'Authorization: Bearer $TOKEN' $GCSIM_URL/api/v2/outbound/campaigns/$CID | jq -e '.campaignStatus==\"off\"'"
ok $? "stopping ends in off after the stopping time"

is "$(status_of "$(api POST "/api/v2/outbound/campaigns/$CID/start")")" 200 "POST start answers 200"
is "$(body_of "$(api GET "/api/v2/outbound/campaigns/$CID")" | jq -r .campaignStatus)" on \
    "POST start turned the campaign on"
is "$(status_of "$(api POST "/api/v2/outbound/campaigns/$CID/stop")")" 200 "POST stop answers 200"
is "$(body_of "$(api GET "/api/v2/outbound/campaigns/$CID")" | jq -r .campaignStatus)" stopping \
    "POST stop puts the campaign in stopping"

CID2=$(body_of "$(api GET "/api/v2/outbound/campaigns?pageSize=2")" | jq -r '.entities[1].id')
sim POST "/sim/campaigns/$CID2/status" '{"status":"invalid"}' >/dev/null
resp=$(api POST "/api/v2/outbound/campaigns/$CID2/start")
is "$(status_of "$resp")" 400 "starting an invalid campaign answers 400"
sim POST "/sim/campaigns/$CID2/progress" '{"percentage":25}' >/dev/null
resp=$(api GET "/api/v2/outbound/campaigns/$CID2/progress")
is "$(body_of "$resp" | jq -c '[.percentage, .numberOfContactsCalled, .totalNumberOfContacts, .campaign.id == "'"$CID2"'"]')" \
    "[25,250,1000,true]" "progress reports what the control API set"
resp=$(api POST /api/v2/outbound/campaigns/progress "[\"$CID\",\"$CID2\",\"nope\"]")
is "$(body_of "$resp" | jq -r 'length')" 2 "bulk progress answers the known campaigns"
resp=$(api GET "/api/v2/outbound/campaigns/$CID2/stats")
body_of "$resp" | jq -e '.contactRate.attempts == 250 and (.linesUtilization|has("totalAvailableOutboundLines"))' >/dev/null
ok $? "stats carry contactRate and linesUtilization"

LID=$(body_of "$(api GET "/api/v2/outbound/campaigns/$CID")" | jq -r .contactList.id)
resp=$(api GET "/api/v2/outbound/contactlists/$LID")
is "$(body_of "$resp" | jq -r '.id == "'"$LID"'" and .importStatus.state == "COMPLETED"')" true \
    "contact list GET returns the list with its import status"
sim POST "/sim/contactlists/$LID/import" '{"state":"IN_PROGRESS","completedRecords":100}' >/dev/null
resp=$(api GET "/api/v2/outbound/contactlists/$LID/importstatus")
is "$(body_of "$resp" | jq -c '[.state,.completedRecords,.totalRecords,.percentComplete]')" \
    '["IN_PROGRESS",100,1000,10]' "importstatus reports an import in progress"

# --- channels and subscriptions -----------------------------------------------------
ch1=$(body_of "$(api POST /api/v2/notifications/channels)")
CH1=$(jq -r .id <<<"$ch1")
[[ $(jq -r .connectUri <<<"$ch1") == ws://127.0.0.1:*/channels/streaming-0-* ]]
ok $? "channel creation returns a connectUri on this server"
jq -e '.expires|test("^[0-9-]+T[0-9:.]+Z$")' <<<"$ch1" >/dev/null
ok $? "channel has an ISO expires"
is "$(status_of "$(api HEAD "/api/v2/notifications/channels/$CH1")")" 200 "HEAD on a live channel is 200"
is "$(status_of "$(api HEAD /api/v2/notifications/channels/streaming-0-nosuch)")" 404 \
    "HEAD on an unknown channel is 404"
t1="v2.outbound.campaigns.$CID"; t2="v2.outbound.campaigns.$CID.progress"
resp=$(api PUT "/api/v2/notifications/channels/$CH1/subscriptions" "[{\"id\":\"$t1\"},{\"id\":\"v2.users.x.presence\"}]")
is "$(status_of "$resp")" 400 "a rejected topic without ignoreErrors fails the request"
resp=$(api PUT "/api/v2/notifications/channels/$CH1/subscriptions?ignoreErrors=true" \
       "[{\"id\":\"$t1\"},{\"id\":\"v2.users.x.presence\"}]")
is "$(body_of "$resp" | jq -c '[.entities[].state]')" '["Permitted","Rejected"]' \
    "ignoreErrors reports Permitted and Rejected per topic"
resp=$(api POST "/api/v2/notifications/channels/$CH1/subscriptions" "[{\"id\":\"$t2\"}]")
resp=$(api GET "/api/v2/notifications/channels/$CH1/subscriptions")
is "$(body_of "$resp" | jq -c '[.entities[].id]')" "[\"$t1\",\"$t2\"]" "POST adds to the subscription list"
many="[$(for i in 1 2 3 4 5; do printf '{"id":"v2.outbound.campaigns.%s.stats"},' "$(printf '%08d-0000-4000-8000-000000000000' $i)"; done | sed 's/,$//')]"
resp=$(api PUT "/api/v2/notifications/channels/$CH1/subscriptions" "$many")
is "$(status_of "$resp")" 400 "more topics than the per-channel limit answers 400"
is "$(body_of "$(api GET "/api/v2/notifications/channels/$CH1/subscriptions")" | jq '.entities|length')" 2 \
    "a refused subscription leaves the list unchanged"
is "$(status_of "$(api DELETE "/api/v2/notifications/channels/$CH1/subscriptions")")" 200 "DELETE answers 200"
is "$(body_of "$(api GET "/api/v2/notifications/channels/$CH1/subscriptions")" | jq '.entities|length')" 0 \
    "DELETE removes every subscription"
CH2=$(body_of "$(api POST /api/v2/notifications/channels)" | jq -r .id)
CH3=$(body_of "$(api POST /api/v2/notifications/channels)" | jq -r .id)
CH4=$(body_of "$(api POST /api/v2/notifications/channels)" | jq -r .id)
is "$(status_of "$(api HEAD "/api/v2/notifications/channels/$CH1")")" 404 \
    "creating one channel past the limit evicts the oldest"
is "$(body_of "$(api GET /api/v2/notifications/channels)" | jq -c '[.entities[].id]')" \
    "[\"$CH2\",\"$CH3\",\"$CH4\"]" "channel list shows the remaining channels"

# --- REST faults -------------------------------------------------------------------
sim POST /sim/faults/rest '{"status":429,"count":2,"retry_after":7,"path_prefix":"/api/v2/outbound"}' >/dev/null
hdr=$(curl -sS -D - -o "$WORK/body" -H "Authorization: Bearer $TOKEN" "$GCSIM_URL/api/v2/outbound/campaigns")
grep -q '^HTTP/1.1 429' <<<"$hdr" && grep -qi '^retry-after: 7' <<<"$hdr"
ok $? "an armed 429 fault answers 429 with Retry-After"
jq -e '.code == "too.many.requests.retry.after" and .status == 429' "$WORK/body" >/dev/null
ok $? "the 429 body has the platform's error code"
is "$(status_of "$(api GET /api/v2/notifications/channels)")" 200 "faults only hit their path prefix"
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 429 "the fault lasts count calls"
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 200 "then calls succeed again"
sim POST /sim/faults/rest '{"status":500}' >/dev/null
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 500 "a 500 fault answers 500"
sim POST /sim/faults/rest '{"delay_ms":700}' >/dev/null
start=$(date +%s%N)
resp=$(api GET "/api/v2/outbound/campaigns/$CID")
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$(status_of "$resp")" = 200 ] && [ "$elapsed" -ge 650 ]
ok $? "a delay fault answers normally after the delay (${elapsed} ms)"
resp=$(sim POST /sim/faults/rest '{"status":200}')
jq -e '.error|test("status")' <<<"$resp" >/dev/null
ok $? "a bad fault parameter is refused with a message"
resp=$(curl -sS -w '\n%{http_code}' -X POST "$GCSIM_URL/sim/faults/no-such-fault")
is "$(status_of "$resp")" 404 "an unknown fault answers 404"
resp=$(curl -sS -w '\n%{http_code}' -X POST -d '{bad' "$GCSIM_URL/sim/campaigns")
is "$(status_of "$resp")" 400 "malformed control JSON answers 400"
resp=$(sim POST /sim/campaigns '{"name":"Made here","dialingMode":"power","campaignStatus":"off"}')
NEW=$(jq -r .id <<<"$resp")
is "$(body_of "$(api GET "/api/v2/outbound/campaigns/$NEW")" | jq -r '.name + "/" + .dialingMode')" \
    "Made here/power" "a campaign created through the control API is served over REST"
resp=$(sim POST /sim/campaigns '{"dialingMode":"telepathic"}')
jq -e '.error|test("dialingMode")' <<<"$resp" >/dev/null
ok $? "a bad campaign spec names the bad field"

# --- revocation --------------------------------------------------------------------
sim POST /sim/faults/revoke-tokens >/dev/null
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 401 "a revoked token answers 401"
TOKEN=$(token | jq -r .access_token)
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 200 "a new token works after revocation"

kill -TERM "$GCSIM_PID"; wait "$GCSIM_PID"
is "$?" 0 "gcsim exits cleanly on SIGTERM"

# --- rate limit and expiry on a second instance ---------------------------------------
fresh_gcsim --campaigns 1 --rate-limit 5 --token-lifetime 1 || { finish; exit 1; }
TOKEN=$(token | jq -r .access_token)
codes=""
for _ in 1 2 3 4 5 6; do codes="$codes $(status_of "$(api GET /api/v2/outbound/campaigns)")"; done
is "$codes" " 200 200 200 200 200 429" "the sixth call within a minute is rate limited"
hdr=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "$GCSIM_URL/api/v2/outbound/campaigns")
grep -qi '^retry-after: [1-9]' <<<"$hdr"
ok $? "the rate-limit 429 says when to retry"
sleep 1.2
is "$(status_of "$(api GET /api/v2/outbound/campaigns)")" 401 "an expired token answers 401"
is "$("$BUILD/gcsim" --rate-limit x 2>&1 >/dev/null; echo "rc=$?")" \
    'gcsim: --rate-limit: expected an integer from 0 to 1000000, got "x"
rc=2' "a bad option is refused with a message naming it"
"$BUILD/gcsim" --help | grep -q -- '--load-rate'
ok $? "--help documents the options"
finish
