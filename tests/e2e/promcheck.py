#!/usr/bin/env python3
"""tests/e2e/promcheck.py - checks a Prometheus text exposition (0.0.4).

    promcheck.py check FILE            "ok - ..." / "not ok - ..." lines
    promcheck.py get FILE NAME [K=V]... the value of the one sample NAME with
                                        exactly those labels ("" when absent)
    promcheck.py sum FILE NAME [K=V]... the sum over samples NAME whose labels
                                        include K=V

check: every line is a HELP, TYPE or sample line (name{labels} value, label
values quoted with \\ \" \\n escapes), each family has one TYPE before its
samples, counters end in _total, no series repeats, and each histogram has
increasing le bounds, cumulative buckets ending in le="+Inf" equal to its
_count, and a _sum."""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$" % NAME)
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_labels(text):
    labels, pos = {}, 0
    if text is None or text == "":
        return labels
    while True:
        m = re.compile(LABEL).match(text, pos)
        if not m:
            raise ValueError("bad labels at %r" % text[pos:])
        if m.group(1) in labels:
            raise ValueError("label %s twice" % m.group(1))
        labels[m.group(1)] = m.group(2)
        pos = m.end()
        if pos == len(text):
            return labels
        if text[pos] != ",":
            raise ValueError("expected , at %r" % text[pos:])
        pos += 1


def parse_value(v):
    if v in ("+Inf", "Inf"):
        return math.inf
    if v == "-Inf":
        return -math.inf
    if v == "NaN":
        return math.nan
    return float(v)


def parse(text):
    """Returns (samples [(name, labels, value)], types {family: type}, errors)."""
    samples, types, helps, errors = [], {}, set(), []
    if text and not text.endswith("\n"):
        errors.append("the text does not end with a newline")
    for i, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]) or parts[2] in helps:
                errors.append("line %d: bad or repeated HELP: %s" % (i, line))
            helps.add(parts[2] if len(parts) > 2 else "")
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in TYPES or parts[2] in types:
                errors.append("line %d: bad or repeated TYPE: %s" % (i, line))
            elif any(s[0] == parts[2] or s[0].startswith(parts[2] + "_") and
                     s[0][len(parts[2]):] in ("_bucket", "_sum", "_count") for s in samples):
                errors.append("line %d: TYPE after samples of %s" % (i, parts[2]))
            else:
                types[parts[2]] = parts[3]
            continue
        if line.startswith("#") or line == "":
            errors.append("line %d: not a HELP, TYPE or sample line: %r" % (i, line))
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append("line %d: not a sample: %r" % (i, line))
            continue
        try:
            samples.append((m.group(1), parse_labels(m.group(2)), parse_value(m.group(3))))
        except ValueError as e:
            errors.append("line %d: %s: %r" % (i, e, line))
    return samples, types, errors


def family(name, types):
    if name in types:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf) and types.get(name[:-len(suf)]) in ("histogram", "summary"):
            return name[:-len(suf)]
    return None


def check(text):
    samples, types, errors = parse(text)
    seen = set()
    for name, labels, _ in samples:
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            errors.append("series repeated: %s%s" % key)
        seen.add(key)
        fam = family(name, types)
        if fam is None:
            errors.append("%s has no TYPE line" % name)
        elif types[fam] == "counter" and not name.endswith("_total"):
            errors.append("counter %s does not end in _total" % name)
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for name, labels, v in samples:
            if name == fam + "_bucket":
                if "le" not in labels:
                    errors.append("%s without le" % name)
                    continue
                rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
                groups.setdefault(rest, {"b": [], "sum": None, "count": None})["b"].append(
                    (parse_value(labels["le"]), v))
        for name, labels, v in samples:
            for part in ("sum", "count"):
                if name == fam + "_" + part:
                    g = groups.get(tuple(sorted(labels.items())))
                    if g is None:
                        errors.append("%s_%s%s without buckets" % (fam, part, labels))
                    else:
                        g[part] = v
        if not groups:
            errors.append("histogram %s has no buckets" % fam)
        for rest, g in groups.items():
            les = [b[0] for b in g["b"]]
            counts = [b[1] for b in g["b"]]
            what = "%s%s" % (fam, dict(rest))
            if les != sorted(les) or len(set(les)) != len(les):
                errors.append("%s: le bounds not increasing: %s" % (what, les))
            if counts != sorted(counts):
                errors.append("%s: buckets not cumulative: %s" % (what, counts))
            if not les or les[-1] != math.inf:
                errors.append("%s: the last bucket is not le=\"+Inf\"" % what)
            elif g["count"] is None or counts[-1] != g["count"]:
                errors.append("%s: +Inf bucket %s != _count %s" % (what, counts[-1], g["count"]))
            if g["sum"] is None:
                errors.append("%s: no _sum" % what)
    return samples, types, errors


def want_labels(args):
    return dict(a.split("=", 1) for a in args)


def main():
    cmd, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if cmd == "check":
        samples, types, errors = check(text)
        for e in errors:
            print("not ok - exposition %s: %s" % (path, e))
        if not errors:
            print("ok - exposition %s is valid (%d families, %d samples)"
                  % (path.rsplit("/", 1)[-1], len(types), len(samples)))
        return 0
    samples, _, _ = parse(text)
    name, want = sys.argv[3], want_labels(sys.argv[4:])
    if cmd == "get":
        for n, labels, v in samples:
            if n == name and labels == want:
                print("%d" % v if v == int(v) else v)
                return 0
        print("")
        return 0
    if cmd == "sum":
        total = sum(v for n, labels, v in samples
                    if n == name and all(labels.get(k) == x for k, x in want.items()))
        print("%d" % total if total == int(total) else total)
        return 0
    print("usage: promcheck.py check|get|sum FILE [NAME K=V...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
