#!/usr/bin/env python3
"""Strict checker of the Prometheus text exposition format (version 0.0.4).

    promcheck.py FILE                  exit 0 when FILE is valid, else 1 with one line per
                                       problem ("line N: what is wrong")
    promcheck.py FILE --get SELECTOR   also print the value of one sample; SELECTOR is
                                       name or name{label="value",...} (the labels given
                                       must match; exactly one sample may match)

Checked: every line is a HELP, a TYPE or a sample; HELP and TYPE come once per family,
before its samples; a family's samples are not interleaved with another family's;
metric and label names are valid; label values use only the \\\\ \\" \\n escapes;
values parse; counters are named *_total, are not negative, and have no other sample
names; histograms have _bucket samples with an le label in strictly increasing order
ending at +Inf, non-decreasing counts, _sum, and _count equal to the +Inf bucket, per
label set; no series appears twice. Only the standard library is used.
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SAMPLE = re.compile(r"^(" + NAME + r")(\{[^\n]*\})? ([^ ]+)( -?[0-9]+)?$")


def parse_value(text):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.match(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$", text):
        raise ValueError("not a number: %r" % text)
    return float(text)


def parse_labels(text):
    """'{a="x",b="y"}' -> [("a","x"),("b","y")]; raises ValueError."""
    body = text[1:-1]
    labels = []
    i = 0
    while i < len(body):
        m = re.match(LABEL, body[i:])
        if not m:
            raise ValueError("bad label name at %r" % body[i:])
        name = m.group(0)
        i += len(name)
        if body[i:i + 2] != '="':
            raise ValueError("expected =\" after label %s" % name)
        i += 2
        value = []
        while True:
            if i >= len(body):
                raise ValueError("unterminated value of label %s" % name)
            c = body[i]
            if c == "\\":
                nxt = body[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise ValueError("bad escape \\%s in label %s" % (nxt, name))
                value.append({"n": "\n"}.get(nxt, nxt))
                i += 2
                continue
            if c == '"':
                i += 1
                break
            value.append(c)
            i += 1
        if name.startswith("__"):
            raise ValueError("label name %s is reserved" % name)
        if any(n == name for n, _ in labels):
            raise ValueError("label %s given twice" % name)
        labels.append((name, "".join(value)))
        if i < len(body):
            if body[i] != ",":
                raise ValueError("expected , between labels")
            i += 1
    return labels


def family_of(sample_name, families):
    for suffix in ("_bucket", "_sum", "_count"):
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            if families.get(base, {}).get("type") in ("histogram", "summary"):
                return base
    return sample_name


def check(text):
    problems = []
    samples = []  # (name, labels, value)
    families = {}
    finished = set()
    current = None
    if text and not text.endswith("\n"):
        problems.append("the exposition does not end with a newline")
    for number, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else
                                  text.split("\n"), 1):
        where = "line %d" % number
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not re.fullmatch(NAME, name):
                    problems.append("%s: invalid metric name %r" % (where, name))
                    continue
                fam = families.setdefault(name, {"help": False, "type": None, "samples": 0})
                if name in finished or fam["samples"]:
                    problems.append("%s: %s for %s after its samples" % (where, kind, name))
                if kind == "HELP":
                    if fam["help"]:
                        problems.append("%s: second HELP for %s" % (where, name))
                    fam["help"] = True
                else:
                    if fam["type"]:
                        problems.append("%s: second TYPE for %s" % (where, name))
                    t = parts[3] if len(parts) > 3 else ""
                    if t not in TYPES:
                        problems.append("%s: unknown type %r for %s" % (where, t, name))
                    fam["type"] = t
                    if t == "counter" and not name.endswith("_total"):
                        problems.append("%s: counter %s is not named *_total" % (where, name))
                if current and current != name:
                    finished.add(current)
                current = name
            continue
        if not line.strip():
            problems.append("%s: empty line" % where)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("%s: not a sample line: %r" % (where, line))
            continue
        name, label_text, value_text = m.group(1), m.group(2), m.group(3)
        try:
            labels = parse_labels(label_text) if label_text else []
            value = parse_value(value_text)
        except ValueError as e:
            problems.append("%s: %s" % (where, e))
            continue
        fam_name = family_of(name, families)
        fam = families.get(fam_name)
        if not fam or not fam["type"]:
            problems.append("%s: sample %s has no TYPE before it" % (where, name))
            fam = families.setdefault(fam_name, {"help": False, "type": "untyped",
                                                 "samples": 0})
        if not fam["help"]:
            problems.append("%s: sample %s has no HELP before it" % (where, name))
        if fam_name in finished:
            problems.append("%s: samples of %s are not together" % (where, fam_name))
        if current and current != fam_name:
            finished.add(current)
        current = fam_name
        fam["samples"] += 1
        if fam["type"] == "counter":
            if name != fam_name:
                problems.append("%s: counter sample %s is not named %s" % (where, name, fam_name))
            if value < 0 or math.isnan(value):
                problems.append("%s: counter %s is %s" % (where, name, value_text))
        if fam["type"] == "gauge" and name != fam_name:
            problems.append("%s: gauge sample %s is not named %s" % (where, name, fam_name))
        if fam["type"] == "histogram":
            has_le = any(n == "le" for n, _ in labels)
            if name == fam_name:
                problems.append("%s: histogram %s has a bare sample" % (where, name))
            if name.endswith("_bucket") != has_le:
                problems.append("%s: le label on %s is %s" % (where, name,
                                "missing" if not has_le else "not allowed"))
        samples.append((name, labels, value, where, fam_name))

    seen = set()
    for name, labels, _, where, _ in samples:
        key = (name, tuple(sorted(labels)))
        if key in seen:
            problems.append("%s: series %s%s appears twice" % (where, name, dict(labels)))
        seen.add(key)

    for fam_name, fam in families.items():
        if fam["type"] != "histogram":
            continue
        groups = {}
        for name, labels, value, where, f in samples:
            if f != fam_name:
                continue
            rest = tuple(sorted((n, v) for n, v in labels if n != "le"))
            g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
            if name.endswith("_bucket"):
                le = dict(labels).get("le")
                try:
                    g["buckets"].append((parse_value(le), value, where))
                except ValueError as e:
                    problems.append("%s: le %s" % (where, e))
            elif name.endswith("_sum"):
                g["sum"] = value
            elif name.endswith("_count"):
                g["count"] = value
        for rest, g in groups.items():
            label = "%s%s" % (fam_name, dict(rest))
            bounds = [b for b, _, _ in g["buckets"]]
            if not bounds or bounds[-1] != math.inf:
                problems.append("histogram %s: the last bucket is not le=\"+Inf\"" % label)
            if any(b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
                problems.append("histogram %s: le bounds are not strictly increasing" % label)
            counts = [c for _, c, _ in g["buckets"]]
            if any(c2 < c1 for c1, c2 in zip(counts, counts[1:])):
                problems.append("histogram %s: bucket counts decrease" % label)
            if g["count"] is None or g["sum"] is None:
                problems.append("histogram %s: _sum or _count is missing" % label)
            elif counts and counts[-1] != g["count"]:
                problems.append("histogram %s: +Inf bucket %s != _count %s" %
                                (label, counts[-1], g["count"]))
    return problems, samples


def select(samples, selector):
    m = re.match(r"^(" + NAME + r")(\{.*\})?$", selector)
    if not m:
        raise SystemExit("bad selector %r" % selector)
    want = dict(parse_labels(m.group(2))) if m.group(2) else {}
    found = [v for name, labels, v, _, _ in samples
             if name == m.group(1) and all(dict(labels).get(k) == x for k, x in want.items())]
    if len(found) != 1:
        raise SystemExit("selector %s matches %d samples" % (selector, len(found)))
    return found[0]


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--get"):
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        text = f.read()
    problems, samples = check(text)
    for p in problems:
        print(p)
    if problems:
        return 1
    if len(argv) == 4:
        value = select(samples, argv[3])
        print(int(value) if value == int(value) else value)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
