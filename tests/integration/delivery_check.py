#!/usr/bin/env python3
"""Helpers of tests/integration/relay_delivery.sh: a seeded gcsim scenario generator and
the checks that compare what reached Kafka with gcsim's ground truth.

  delivery_check.py scenario SEED DURATION_MS            a scenario JSON on stdout
  delivery_check.py kills TRUTH FINAL_DUMP KILL_DIR      checks of the kill -9 run
  delivery_check.py outage TRUTH FINAL_DUMP              checks of the broker outage run

The check commands print one line per check, "check<TAB>0|1<TAB>name" (0 is a pass),
and diagnostics as "# ..." lines; the shell script turns them into TAP.

Inputs:
  TRUTH       gcsim --truth file (kind "change" lines: campaignId, version, status,
              previous, t).
  FINAL_DUMP  kafka_dump of the state, alerts and audit topics after the run.
  KILL_DIR    per kill N: killN.outbox.json (sqlite3 -json rows id,type,subject,data of
              the outbox's events table right after the kill), killN.kafka.jsonl
              (kafka_dump of the state topic right after the kill) and killN.reconnect
              (gcsim's clock, ms, when the restarted relay's channel was connected and
              subscribed again); killN.early.outbox.json when the restarted relay was
              killed once more during its start; start.reconnect for the first start.
"""
import functools
import json
import os
import random
import sys

STATE_TYPE = "cx.outbound.campaign.state_changed"


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise SystemExit(f"{path}:{number}: not JSON: {e}")
    return rows


def emit(ok, name):
    print(f"check\t{0 if ok else 1}\t{name}")


def diag(text):
    for line in str(text).splitlines():
        print(f"# {line}")


# --------------------------------------------------------------------------------------
# Scenario


def scenario(seed, duration_ms):
    """Eight campaigns, one random action every ~120 ms for duration_ms: starts, stops
    (through stopping), completions and config changes; statuses are tracked so that
    every action is one the platform accepts."""
    rng = random.Random(seed)
    modes = ["predictive", "progressive", "power", "preview", "agentless", "external"]
    campaigns = []
    for i in range(8):
        campaigns.append({
            "id": f"de1e0000-{seed % 10000:04d}-4000-8000-{i:012d}",
            "name": f"Delivery {i}",
            "dialingMode": modes[i % len(modes)],
            "contactListId": f"de1e1157-{seed % 10000:04d}-4000-8000-{i:012d}",
            "campaignStatus": "off",
            "totalContacts": 1000,
            "callsPerTick": 0,
            "stoppingMs": 150 + 50 * (i % 4),
        })
    status = {c["id"]: "off" for c in campaigns}
    busy_until = {c["id"]: 0 for c in campaigns}
    timeline = []
    at = 200
    while at < duration_ms:
        c = rng.choice(campaigns)
        cid = c["id"]
        roll = rng.random()
        if at < busy_until[cid] or roll < 0.2:
            timeline.append({"at": at, "action": "config", "campaign": cid,
                             "params": {"outboundLineCount": rng.randint(10, 99)}})
        elif status[cid] == "on" and roll < 0.3:
            timeline.append({"at": at, "action": "status", "campaign": cid,
                             "status": "complete", "direct": True})
            status[cid] = "complete"
        elif status[cid] == "on":
            timeline.append({"at": at, "action": "status", "campaign": cid, "status": "off"})
            status[cid] = "off"
            busy_until[cid] = at + c["stoppingMs"] + 100
        else:
            timeline.append({"at": at, "action": "status", "campaign": cid, "status": "on"})
            status[cid] = "on"
        at += rng.randint(40, 200)
    # The timeline starts at the first subscribed connection: the relay discovers every
    # campaign in its initial state first.
    return {"startOn": "connect", "campaigns": campaigns, "timeline": timeline}


# --------------------------------------------------------------------------------------
# Truth and Kafka


class Truth:
    def __init__(self, path):
        self.changes = {}  # campaign -> [(version, status, previous, t)] in order
        self.final = {}
        for row in read_jsonl(path):
            if row.get("kind") == "change":
                self.changes.setdefault(row["campaignId"], []).append(
                    (row["version"], row["status"], row["previous"], row["t"]))
            elif row.get("kind") == "final":
                self.final[row["campaignId"]] = (row["version"], row["status"])

    def status_changes(self, cid):
        return [c for c in self.changes.get(cid, []) if c[1] != c[2]]

    def status_at(self, cid, version):
        """The campaign's status at that version: that of its newest change not newer than
        the version, or the initial status before the first change (None: unknown)."""
        changes = self.changes.get(cid, [])
        if not changes:
            final = self.final.get(cid)
            return final[1] if final and version <= final[0] else None
        status = changes[0][2] if version < changes[0][0] else None
        for v, s, _, _ in changes:
            if v <= version:
                status = s
        return status

    def time_of(self, cid, version):
        for v, _, _, t in self.changes.get(cid, []):
            if v == version:
                return t
        return None


def header(message, name):
    return (message.get("headers") or {}).get(name)


def state_events(dump):
    """Per campaign, the state_changed messages in partition order:
    [(ce_id, version, status, origin)]."""
    per = {}
    for m in dump:
        if header(m, "ce_type") != STATE_TYPE:
            continue
        data = json.loads(m["value"])
        per.setdefault(m["key"], []).append(
            (header(m, "ce_id"), data["version"], data["current"]["status"], data["origin"]))
    return per


def first_occurrences(events):
    seen = set()
    out = []
    for e in events:
        if e[0] not in seen:
            seen.add(e[0])
            out.append(e)
    return out


def check_order_and_truth(truth, per_campaign, label):
    """Per-campaign order (first deliveries by id have increasing versions, repeats reuse
    an id already delivered) and no invented state (each version's status is the
    truth's). Returns the duplicate count."""
    disorder, invented, duplicates = [], [], 0
    for cid, events in per_campaign.items():
        firsts = first_occurrences(events)
        duplicates += len(events) - len(firsts)
        versions = [e[1] for e in firsts]
        if any(b <= a for a, b in zip(versions, versions[1:])):
            disorder.append(f"{cid}: versions {versions}")
        for _, version, status, _ in firsts:
            if truth.status_at(cid, version) != status:
                invented.append(f"{cid} v{version}: Kafka says {status}, the truth "
                                f"{truth.status_at(cid, version)}")
    emit(not disorder, f"{label}: per campaign, state changes arrive in version order "
                       "(repeats only as an earlier id)")
    for d in disorder[:5]:
        diag(d)
    emit(not invented, f"{label}: every delivered state is the truth's state of that version")
    for d in invented[:5]:
        diag(d)
    return duplicates


def collapse(statuses):
    out = []
    for s in statuses:
        if not out or out[-1] != s:
            out.append(s)
    return out


def explains(sequence, got):
    """True when got (a delivered status sequence, equal neighbours merged) is what an
    observer sees of sequence [(status, optional)]: optional entries may be missing,
    and a status equal to the one before it merges into it."""
    @functools.lru_cache(maxsize=None)
    def walk(i, j, last):
        if i == len(sequence):
            return j == len(got)
        status, optional = sequence[i]
        if optional and walk(i + 1, j, last):
            return True
        if status == last:
            return walk(i + 1, j, last)
        return j < len(got) and got[j] == status and walk(i + 1, j + 1, status)
    return walk(0, 0, None)


def compare_sequences(truth, per_campaign, windows, window_ends_required):
    """Compares, per campaign, the delivered status sequence with the truth's status
    changes. The initial state counts as a change before everything (the first event of
    a campaign reports it). Equal neighbours merge (a campaign that went off and on again
    while nobody watched is, for any observer, still on). Changes made inside an
    unobserved window may be missing when a later status change of the campaign came
    before the window closed (nobody could see them); the last one of a window must be
    there when window_ends_required (reconciliation finds it), and may be missing
    otherwise. Returns (mismatch descriptions, required count, optional count)."""
    mismatches, optional_count, required = [], 0, 0
    for cid in sorted(set(truth.changes) | set(per_campaign)):
        changes = truth.status_changes(cid)
        initial = changes[0][2] if changes else truth.final.get(cid, (0, None))[1]
        changes = [(None, initial, None, -0.5)] + changes
        sequence = []
        for i, (_, status, _, t) in enumerate(changes):
            optional = False
            for start, end in windows:
                superseded = i + 1 < len(changes) and changes[i + 1][3] < end
                if start < t < end and (superseded or not window_ends_required):
                    optional = True
            optional_count += optional
            required += not optional
            sequence.append((status, optional))
        got = tuple(collapse([e[2] for e in first_occurrences(per_campaign.get(cid, []))]))
        if not explains(tuple(sequence), got):
            want = " ".join(f"[{s}]" if o else s for s, o in sequence)
            mismatches.append(f"{cid}: delivered {' '.join(got)}; truth {want} "
                              "([optional])")
    return mismatches, required, optional_count


def check_final(truth, per_campaign, label):
    wrong = []
    for cid, (_, status) in truth.final.items():
        events = per_campaign.get(cid, [])
        last = max(events, key=lambda e: e[1])[2] if events else None
        if last != status:
            wrong.append(f"{cid}: Kafka ends at {last}, gcsim at {status}")
    emit(bool(truth.final) and not wrong,
         f"{label}: the last state in Kafka is gcsim's final state for all "
         f"{len(truth.final)} campaigns")
    for w in wrong[:5]:
        diag(w)


# --------------------------------------------------------------------------------------
# kill -9 run


def load_kills(kill_dir):
    kills = []
    n = 1
    while os.path.exists(os.path.join(kill_dir, f"kill{n}.reconnect")):
        base = os.path.join(kill_dir, f"kill{n}")
        with open(base + ".outbox.json", encoding="utf-8") as f:
            text = f.read().strip()
            outbox = json.loads(text) if text else []
        with open(base + ".reconnect", encoding="utf-8") as f:
            reconnect = int(f.read().strip())
        early = []
        if os.path.exists(base + ".early.outbox.json"):
            with open(base + ".early.outbox.json", encoding="utf-8") as f:
                text = f.read().strip()
                early = json.loads(text) if text else []
        kills.append({"outbox": outbox, "kafka": read_jsonl(base + ".kafka.jsonl"),
                      "reconnect": reconnect, "early_outbox": early})
        n += 1
    return kills


def commit_horizon(truth, kill):
    """gcsim time of the newest change whose stream event the relay had committed when it
    was killed. The relay reads one socket in order and commits in append order, so
    every change notified before it was committed too; what came later may have been
    in flight. Committed = still in the outbox, or already delivered to Kafka (the
    outbox prunes an event only once every sink has it)."""
    horizon = 0
    rows = [(r["subject"], json.loads(r["data"])) for r in kill["outbox"]
            if r["type"] == STATE_TYPE]
    for m in kill["kafka"]:
        if header(m, "ce_type") == STATE_TYPE:
            rows.append((m["key"], json.loads(m["value"])))
    for cid, data in rows:
        if data.get("origin") != "stream":
            continue
        t = truth.time_of(cid, data["version"])
        if t is not None:
            horizon = max(horizon, t)
    return horizon


def cmd_kills(truth_path, dump_path, kill_dir):
    truth = Truth(truth_path)
    dump = read_jsonl(dump_path)
    kills = load_kills(kill_dir)
    delivered_ids = {header(m, "ce_id") for m in dump}

    committed, lost = 0, []
    for n, kill in enumerate(kills, 1):
        for row in kill["outbox"] + kill["early_outbox"]:
            committed += 1
            if row["id"] not in delivered_ids:
                lost.append(f"kill {n}: {row['type']} {row['id']} ({row['subject']})")
    emit(committed > 0 and not lost,
         f"kill -9: all {committed} events left in the outbox at the kills reached Kafka")
    for item in lost[:5]:
        diag(item)

    per_campaign = state_events(dump)
    duplicates = check_order_and_truth(truth, per_campaign, "kill -9")
    # The start-up is unobserved too: from gcsim's start to the first connection.
    with open(os.path.join(kill_dir, "start.reconnect"), encoding="utf-8") as f:
        windows = [(-1, int(f.read().strip()))]
    for kill in kills:
        windows.append((commit_horizon(truth, kill), kill["reconnect"]))
    for start, end in windows:
        diag(f"unobserved window: gcsim time {start} .. {end} ms")
    mismatches, required, optional = compare_sequences(truth, per_campaign, windows, False)
    emit(not mismatches, "kill -9: every state change made while the relay watched (outside "
                         "the unobserved windows) reached Kafka, in order")
    for m in mismatches[:5]:
        diag(m)
    diag(f"kill -9: {required} changes required, {optional} inside unobserved windows")
    # The state each window ends in must be found by reconciliation after the restart:
    # the cache the relay restores is exactly what its committed events describe.
    mismatches, required, optional = compare_sequences(truth, per_campaign, windows, True)
    emit(not mismatches, "kill -9: the state every unobserved window ended in reached "
                         "Kafka (found by reconciliation)")
    for m in mismatches[:5]:
        diag(m)
    check_final(truth, per_campaign, "kill -9")
    changes = sum(len(truth.status_changes(c)) for c in truth.changes)
    diag(f"kill -9: {len(kills)} kills, {changes} status changes in the truth, "
         f"{sum(len(v) for v in per_campaign.values())} state messages in Kafka, "
         f"{duplicates} repeated deliveries")


def cmd_outage(truth_path, dump_path):
    truth = Truth(truth_path)
    dump = read_jsonl(dump_path)
    per_campaign = state_events(dump)
    duplicates = check_order_and_truth(truth, per_campaign, "brokers down")
    # The relay was connected all along: only the start-up is unobserved, and the
    # scenario makes no change before the first connection can have happened.
    mismatches, required, _ = compare_sequences(truth, per_campaign, [], True)
    emit(not mismatches, "brokers down: every state change of every campaign reached Kafka, "
                         "in order")
    for m in mismatches[:5]:
        diag(m)
    diag(f"brokers down: {required} state changes required")
    check_final(truth, per_campaign, "brokers down")
    ids = [header(m, "ce_id") for m in dump]
    diag(f"brokers down: {len(ids)} messages, {len(set(ids))} distinct ids, "
         f"{duplicates} repeated state deliveries")


def main(argv):
    if len(argv) >= 4 and argv[1] == "scenario":
        json.dump(scenario(int(argv[2]), int(argv[3])), sys.stdout, indent=1)
        print()
    elif len(argv) == 5 and argv[1] == "kills":
        cmd_kills(argv[2], argv[3], argv[4])
    elif len(argv) == 4 and argv[1] == "outage":
        cmd_outage(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
