#!/usr/bin/env python3
"""Checks of tests/integration/soak.sh after quiescence.

  soak_check.py TRUTH KAFKA_DUMP SIM_STATE RELAY_CAMPAIGNS WINDOWS

TRUTH            gcsim --truth JSONL ("change" and "notification" lines, t = ms since start)
KAFKA_DUMP       kafka_dump of the state topic (JSON lines: key, headers, value)
SIM_STATE        GET /sim/state after quiescence
RELAY_CAMPAIGNS  GET /v1/campaigns of the relay after quiescence
WINDOWS          one "START END REASON" line per window (gcsim ms) in which the relay could
                 not be held to see every notification: around kill -9 and restarts, socket
                 drops, heartbeat stalls, evictions and expiries. Notifications queued on a
                 socket inside a window may be lost with the socket; what the campaign ended
                 as is found by reconciliation (checked by the final-state checks).

Prints "check<TAB>0|1<TAB>name" lines (0 passes) and "# ..." diagnostics.
"""
import json
import sys

STATE_TYPE = "cx.outbound.campaign.state_changed"


def emit(ok, name):
    print(f"check\t{0 if ok else 1}\t{name}")


def diag(text):
    print(f"# {text}")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def main(truth_path, dump_path, sim_path, relay_path, windows_path):
    truth = read_jsonl(truth_path)
    dump = read_jsonl(dump_path)
    sim = json.load(open(sim_path, encoding="utf-8"))
    relay = json.load(open(relay_path, encoding="utf-8"))
    windows = []
    with open(windows_path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=2)
            if len(parts) >= 2:
                windows.append((int(parts[0]), int(parts[1]), parts[2].strip() if len(parts) > 2 else ""))

    # 1. The relay's cache equals gcsim's final state.
    final = {c["id"]: c for c in sim["campaigns"]}
    cached = {c["id"]: c for c in relay["campaigns"]}
    wrong = [cid for cid, c in final.items()
             if cid not in cached or cached[cid].get("status") != c["campaignStatus"]
             or cached[cid].get("version") != c["version"]]
    emit(not wrong and len(cached) == len(final),
         f"the relay's cache equals gcsim's final state ({len(final)} campaigns)")
    for cid in wrong[:5]:
        diag(f"{cid}: gcsim {final[cid]['campaignStatus']} v{final[cid]['version']}, relay "
             f"{cached.get(cid, {}).get('status')} v{cached.get(cid, {}).get('version')}")

    # 2. Kafka: per campaign, state changes in non-decreasing version order; a repeat
    #    only ever carries an id already seen with the same content.
    per_campaign = {}
    by_id = {}
    duplicates = 0
    bad_dup = []
    for row in dump:
        headers = row.get("headers", {})
        if headers.get("ce_type") != STATE_TYPE:
            continue
        value = json.loads(row["value"])
        event_id = headers.get("ce_id")
        if event_id in by_id:
            duplicates += 1
            if by_id[event_id] != row["value"]:
                bad_dup.append(event_id)
            continue
        by_id[event_id] = row["value"]
        per_campaign.setdefault(row["key"], []).append(
            (value["version"], value["current"]["status"]))
    disorder = [cid for cid, seq in per_campaign.items()
                if any(seq[i][0] > seq[i + 1][0] for i in range(len(seq) - 1))]
    emit(not disorder, "per campaign, Kafka holds the state changes in version order")
    for cid in disorder[:3]:
        diag(f"{cid}: {per_campaign[cid]}")
    emit(not bad_dup, f"repeated deliveries carry equal ids and content ({duplicates} repeats)")

    # 3. Every status change gcsim notified on a socket outside the windows reached Kafka.
    def in_window(t):
        return any(start <= t <= end for start, end, _ in windows)

    notified = {(l["campaignId"], l["version"]): l["t"] for l in truth
                if l.get("kind") == "notification" and l.get("campaignId")
                and l.get("topic", "").count(".") == 3}
    required = missing = 0
    missing_list = []
    for l in truth:
        if l.get("kind") != "change" or l.get("status") == l.get("previous"):
            continue
        key = (l["campaignId"], l["version"])
        sent = notified.get(key)
        if sent is None or in_window(sent):
            continue
        required += 1
        seen = {v for v, _ in per_campaign.get(l["campaignId"], [])}
        if l["version"] not in seen:
            missing += 1
            missing_list.append(f"{l['campaignId']} v{l['version']} {l['status']} at {sent} ms")
    emit(missing == 0, f"every status change notified outside a fault window reached Kafka "
                       f"({required} required)")
    for m in missing_list[:5]:
        diag(m)
    # 4. Kafka's last state per campaign is the final one.
    stale = [cid for cid, c in final.items()
             if not per_campaign.get(cid) or max(per_campaign[cid])[1] != c["campaignStatus"]]
    emit(not stale, "Kafka's latest state of every campaign is its final state")
    for cid in stale[:3]:
        diag(f"{cid}: final {final[cid]['campaignStatus']}, Kafka {max(per_campaign.get(cid, [(0, None)]))}")

    changes = sum(1 for l in truth if l.get("kind") == "change" and l.get("status") != l.get("previous"))
    diag(f"figures: {changes} status changes, {len(by_id)} distinct state events in Kafka, "
         f"{duplicates} repeats, {len(windows)} fault windows "
         f"({sum(e - s for s, e, _ in windows)} ms)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
