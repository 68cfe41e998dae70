#!/usr/bin/env python3
"""Compare Kafka Streams' and Sluice's outputs of the differential test.

    compare.py CASE_DIR KS_OUT_DIR SLUICE_OUT_DIR DEVIATIONS

For every CASE_DIR/NAME.case, KS_OUT_DIR/NAME.out (TopologyTestDriver) and
SLUICE_OUT_DIR/NAME.out (Sluice's test driver) must be equal line for line:
the same records, in the same order, each after the same input record, with
the same key and value bytes and timestamp. The deviations listed in the
DEVIATIONS file (its header says how) are applied to both sides first; they
are the only ones accepted.

For a mismatching case it prints the case file, its spec, the first
differing record with a few records of context on both sides (bytes, and
decoded: key, window, value) and the input record that produced it; at the
end "N cases, M records compared, K mismatches" and the plain
"ksdiff: P passed, F failed". Exit status 1 if any case mismatched. Only
the first $KSDIFF_MAX_REPORTS (20) mismatches are shown in full.
"""

import os
import sys

CONTEXT = 3
# Cases reported in full; the other mismatches are listed by name.
MAX_REPORTS = int(os.environ.get("KSDIFF_MAX_REPORTS", "20"))
RULES = ("skip", "ignore-order-within-input", "drop-tombstones", "ignore-timestamps",
         "emit-expired-windows")


def die(msg):
    print("compare: " + msg, file=sys.stderr)
    sys.exit(2)


def read_spec(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if not lines or not lines[0].startswith("ksdiff "):
        die("%s: first line is not a ksdiff spec" % path)
    spec = dict(fld.split("=", 1) for fld in lines[0][7:].split())
    inputs = [ln for ln in lines[1:] if ln and not ln.startswith("#")]
    return lines[0], spec, inputs


def read_deviations(path):
    """[(filter dict or None for *, rule, reason, line number)]"""
    devs = []
    if not os.path.exists(path):
        return devs
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            ln = raw.strip()
            if not ln or ln.startswith("#"):
                continue
            parts = [p.strip() for p in ln.split("|")]
            if len(parts) != 3 or not parts[2]:
                die("%s:%d: not 'filter | rule | reason'" % (path, n))
            flt, rule, reason = parts
            if rule not in RULES:
                die("%s:%d: unknown rule %r (known: %s)" % (path, n, rule, ", ".join(RULES)))
            if flt == "*":
                fd = {}
            else:
                try:
                    fd = dict(x.split("=", 1) for x in flt.split())
                except ValueError:
                    die("%s:%d: filter is not field=value ..." % (path, n))
            devs.append((fd, rule, reason, n))
    return devs


def parse_out(path):
    """The lines of an output file as tuples (input#, key, value, ts), or
    strings for an !error line; None if the file is missing."""
    if not os.path.exists(path):
        return None
    recs = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if ln.startswith("!error"):
                recs.append(ln)
                continue
            t = ln.split("\t")
            if len(t) != 4:
                recs.append("!malformed " + ln)
                continue
            recs.append(tuple(t))
    return recs


def hidden_by_retention(rec, spec, inputs):
    """Whether Kafka Streams' onWindowClose scan cannot see the window of
    @rec when input rec[0] triggers it: its time (start; sessions: end) is
    below the newest window time its store has written minus the store's
    retention. Newest time: time windows, the last window start of the
    largest timestamp so far; sessions, that timestamp; sliding windows,
    that timestamp too (an upper bound: the newest start written lies
    within one time difference below it)."""
    kind = spec.get("kind")
    size, grace = int(spec["size"]), int(spec["grace"])
    adv = int(spec.get("advance", size)) if kind == "hopping" else size
    kb = bytes.fromhex(rec[1])
    if kind == "session":
        t1 = int.from_bytes(kb[-16:-8], "big", signed=True)
        retention = size + grace
    else:
        t1 = int.from_bytes(kb[-8:], "big", signed=True)
        retention = (2 * size if kind == "sliding" else size) + grace
    newest = -1
    for ln in inputs[: int(rec[0]) + 1]:
        k, v, ts = ln.split("\t")
        if k == "\\N" or (kind == "sliding" and v == "\\N"):
            continue
        newest = max(newest, int(ts))
    if kind in ("tumbling", "hopping"):
        newest = newest // adv * adv
    return t1 < newest - retention


def apply(recs, rules, spec=None, inputs=None):
    if recs is None:
        return None
    if "emit-expired-windows" in rules:
        recs = [r for r in recs
                if isinstance(r, str) or not hidden_by_retention(r, spec, inputs)]
    if "drop-tombstones" in rules:
        recs = [r for r in recs if isinstance(r, str) or r[2] != "\\N"]
    if "ignore-timestamps" in rules:
        recs = [r if isinstance(r, str) else r[:3] + ("*",) for r in recs]
    if "ignore-order-within-input" in rules:
        # stable: records stay grouped by their input, sorted within it
        def k(r):
            return (1 << 62, r) if isinstance(r, str) else (int(r[0]), r)
        recs = [r for _, r in sorted(((k(r), r) for r in recs), key=lambda x: x[0])]
    return recs


def decode(rec, spec):
    """A record as a person reads it: key@window = value (ts)."""
    if isinstance(rec, str):
        return rec
    n, kh, vh, ts = rec
    try:
        kb = bytes.fromhex(kh) if kh != "\\N" else None
        vb = bytes.fromhex(vh) if vh != "\\N" else None
    except ValueError:
        return "(not hex)"

    def be(b):
        return int.from_bytes(b, "big", signed=True)

    join = spec.get("kind", "").endswith("-join") or spec.get("kind") == "tfilter"
    if kb is None:
        key = "null"
    elif join:
        key = kb.decode("utf-8", "replace")
    elif spec.get("kind") == "session" and len(kb) >= 16:
        key = "%s@[%d,%d]" % (kb[:-16].decode("utf-8", "replace"), be(kb[-8:]), be(kb[-16:-8]))
    elif len(kb) >= 8:
        key = "%s@%d" % (kb[:-8].decode("utf-8", "replace"), be(kb[-8:]))
    else:
        key = "?" + kh
    if vb is None:
        val = "null"
    elif join or spec.get("agg") == "aggregate":
        val = repr(vb.decode("utf-8", "replace"))
    elif len(vb) == 8:
        val = str(be(vb))
    else:
        val = "?" + vh
    return "%s = %s" % (key, val)


def show(rec):
    if isinstance(rec, str):
        return rec
    return "in#%s %s %s ts=%s" % rec


def report(name, case_path, header, spec, inputs, ks, sl, rules):
    print("=" * 78)
    print("MISMATCH %s" % case_path)
    print("  spec: %s" % header)
    if rules:
        print("  deviations applied: %s" % ", ".join(sorted(rules)))
    if sl is None:
        print("  Sluice wrote no output file")
        return
    if ks is None:
        print("  Kafka Streams wrote no output file")
        return
    i = 0
    while i < len(ks) and i < len(sl) and ks[i] == sl[i]:
        i += 1
    print("  first difference at output record %d (Kafka Streams %d records, Sluice %d)"
          % (i, len(ks), len(sl)))
    for who, recs in (("Kafka Streams", ks), ("Sluice", sl)):
        print("  %s:" % who)
        lo, hi = max(0, i - CONTEXT), min(len(recs), i + CONTEXT + 1)
        if lo > 0:
            print("      ...")
        for j in range(lo, hi):
            mark = ">" if j == i else " "
            print("    %s%4d  %s\n             %s" % (mark, j, show(recs[j]), decode(recs[j], spec)))
        if i >= len(recs):
            print("    >%4d  (no more records)" % i)
        elif hi < len(recs):
            print("      ...")
    first = ks[i] if i < len(ks) else (sl[i] if i < len(sl) else None)
    if first is not None and not isinstance(first, str):
        n = int(first[0])
        print("  input records up to #%d (key, value, timestamp):" % n)
        for j in range(max(0, n - CONTEXT), min(len(inputs), n + 1)):
            print("    %s%4d  %s" % (">" if j == n else " ", j, inputs[j].replace("\t", "  ")))


def main():
    if len(sys.argv) != 5:
        die("usage: compare.py CASE_DIR KS_OUT_DIR SLUICE_OUT_DIR DEVIATIONS")
    case_dir, ks_dir, sl_dir, dev_path = sys.argv[1:]
    devs = read_deviations(dev_path)
    names = sorted(f[:-5] for f in os.listdir(case_dir) if f.endswith(".case"))
    if not names:
        die("no cases in %s" % case_dir)
    compared = records = mismatches = skipped = 0
    used = set()
    unreported = []
    for name in names:
        case_path = os.path.join(case_dir, name + ".case")
        header, spec, inputs = read_spec(case_path)
        rules = set()
        for fd, rule, _, n in devs:
            if all(spec.get(k) == v for k, v in fd.items()):
                rules.add(rule)
                used.add(n)
        if "skip" in rules:
            skipped += 1
            continue
        ks = apply(parse_out(os.path.join(ks_dir, name + ".out")), rules, spec, inputs)
        sl = apply(parse_out(os.path.join(sl_dir, name + ".out")), rules, spec, inputs)
        compared += 1
        records += len(ks or [])
        bad = ks is None or sl is None or ks != sl
        bad = bad or any(isinstance(r, str) for r in ks)
        if bad:
            mismatches += 1
            if mismatches <= MAX_REPORTS:
                report(name, case_path, header, spec, inputs, ks, sl, rules)
            else:
                unreported.append(case_path)
    if unreported:
        print("=" * 78)
        print("%d more mismatching cases (KSDIFF_MAX_REPORTS=%d shows more):"
              % (len(unreported), MAX_REPORTS))
        for p in unreported:
            print("  " + p)
    for fd, rule, _, n in devs:
        if n not in used:
            print("compare: note: %s:%d (%s) matched no case" % (dev_path, n, rule))
    print("%d cases, %d records compared, %d mismatches%s"
          % (compared, records, mismatches, " (%d skipped by DEVIATIONS)" % skipped if skipped else ""))
    print("ksdiff: %d passed, %d failed" % (compared - mismatches, mismatches))
    sys.exit(1 if mismatches else 0)


if __name__ == "__main__":
    main()
