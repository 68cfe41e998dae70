#!/usr/bin/env python3
"""Generate the random cases of the differential test (tests/ksdiff).

    gen.py OUT_DIR [--seeds N] [--first S] [--records MIN:MAX]

Writes one case file per seed x window kind x aggregation x emit strategy x
cache setting: OUT_DIR/<kind>-<agg>-<emit>-c<on|off>-s<seed>.case. The
output depends on the arguments only (random.Random seeded with a string
is the same on every Python 3): a failing case can always be made again.

The input of a case is drawn from (seed, kind, agg): the six emit/cache
variants of one aggregation see the same records, so a mismatch in one can
be read against the others. What the records are made to probe:

  - keys from a small set (1-6 of them) so windows collide and sessions
    merge, now and then a null key (dropped by Kafka Streams);
  - small long values, now and then a null value (counted by time and
    session windows, dropped by sliding windows);
  - timestamps that mostly advance, in small steps and ties, with records
    out of order by up to twice the window, jumps that close everything,
    records exactly at a window's close (end + grace, sessions + gap) and
    1 ms either side of it, records exactly one gap / difference after the
    key's last one (sessions merge at exactly gap, sliding windows are
    inclusive at both ends), early records (t < size) and epoch-sized
    timestamps; never negative.

Join cases (and a table filter, which probes the tombstones a filter of a
materialized table sends): OUT_DIR/<kind>-<join>-c<on|off>-s<seed>.case
for kind ss-join (inner, left, outer), st-join (inner, left), tt-join
(inner, left, outer) and tfilter, over the topics "left" and "right" (one
line per record: side TAB key TAB value TAB timestamp, side L or R, string
values). Their records probe window boundaries (exactly t - before, t +
after, and 1 ms either side), the close of a left / outer join's window
(t + after + grace and 1 ms either side), out-of-order and late records,
jumps, duplicates, null keys and values (tombstones for tables).
"""

import argparse
import os
import random
import sys

KINDS = ("tumbling", "hopping", "sliding", "session")
AGGS = ("count", "reduce", "aggregate")
EMITS = ("update", "final", "suppress")
CACHES = ("on", "off")
KEYS = ("a", "b", "c", "d", "e", "f")


def window_spec(rng, kind):
    """size (difference, gap), advance, grace for one case."""
    if kind == "tumbling":
        size = rng.choice((5, 10, 20, 100))
        advance = size
    elif kind == "hopping":
        size = rng.choice((6, 10, 12, 20, 30))
        # divisors and non-divisors of size, and advance == size
        advance = rng.choice(sorted({size // 2, size // 3, size // 4, 3, 7, size} - {0}))
        advance = min(advance, size)
    else:  # sliding difference, session gap
        size = rng.choice((3, 5, 10, 20))
        advance = 0
    grace = rng.choice((0, 0, 1, size // 2, size, 2 * size))
    return size, advance, grace


def close_point(rng, kind, size, advance, grace, t0):
    """Stream time at which a window holding a record at t0 closes (or the
    record at t0 becomes late), for the boundary probes."""
    if kind in ("tumbling", "hopping"):
        # one of the windows that hold t0: [start, start + size)
        last = t0 // advance * advance
        starts = [s for s in range(last, max(-1, t0 - size), -advance) if s >= 0 and s + size > t0]
        start = rng.choice(starts) if starts else last
        return start + size + grace
    if kind == "sliding":
        # a record at t is dropped once t + d < streamTime - grace
        return t0 + size + grace
    # session [t0, t0]: closed once end < streamTime - grace - gap
    return t0 + size + grace


def records(rng, kind, size, advance, grace, n):
    nkeys = rng.randint(1, len(KEYS))
    keys = KEYS[:nkeys]
    if rng.random() < 0.3:
        t = 0
    elif rng.random() < 0.2:
        t = 5_000_000_000 + rng.randint(0, 10 * size)  # past 2^32
    else:
        t = rng.randint(0, 5 * size)
    max_ts = t
    last_of = {}
    out = []

    def value():
        return None if rng.random() < 0.06 else rng.randint(-3, 12)

    def key():
        return None if rng.random() < 0.02 else rng.choice(keys)

    def emit(k, ts):
        nonlocal max_ts
        ts = max(0, ts)
        out.append((k, value(), ts))
        max_ts = max(max_ts, ts)
        if k is not None:
            last_of[k] = ts

    emit(key(), t)
    while len(out) < n:
        r = rng.random()
        if r < 0.45:  # advancing, ties included
            emit(key(), max_ts + rng.randint(0, max(1, size // 2)))
        elif r < 0.65:  # out of order by up to twice the window
            emit(key(), max_ts - rng.randint(1, 2 * size))
        elif r < 0.77 and out:  # a close boundary, then a record into that window
            k0, _, t0 = rng.choice(out)
            c = close_point(rng, kind, size, advance, grace, t0)
            other = rng.choice(keys)
            emit(other, c + rng.choice((-1, 0, 1)))
            emit(k0 if k0 is not None else rng.choice(keys), t0)
        elif r < 0.87 and last_of:  # exactly one gap / difference after a key's last
            k = rng.choice(sorted(last_of))
            emit(k, last_of[k] + size + rng.choice((0, 0, 1, -1)))
        elif r < 0.92:  # a jump that closes every window
            emit(key(), max_ts + rng.randint(size + grace + 1, 3 * size + grace + 2))
        else:  # anywhere near stream time
            emit(key(), max_ts + rng.randint(-3 * size, size))
    return out[:n]


def write_case(path, kind, size, advance, grace, agg, emit, cache, seed, recs):
    with open(path, "w", encoding="utf-8") as f:
        f.write("ksdiff kind=%s size=%d advance=%d grace=%d agg=%s emit=%s cache=%s seed=%d\n"
                % (kind, size, advance, grace, agg, emit, cache, seed))
        for k, v, ts in recs:
            f.write("%s\t%s\t%d\n" % ("\\N" if k is None else k, "\\N" if v is None else v, ts))


JOIN_KINDS = (("ss-join", ("inner", "left", "outer")),
              ("st-join", ("inner", "left")),
              ("tt-join", ("inner", "left", "outer")),
              ("vst-join", ("inner", "left")),
              ("fk-join", ("inner", "left")),
              ("tfilter", ("none",)))


def join_records(rng, kind, before, after, grace, n):
    keys = KEYS[: rng.randint(1, 4)]
    span = max(1, before + after)
    r0 = rng.random()
    if r0 < 0.3:
        t = 0
    elif r0 < 0.4:
        t = 5_000_000_000 + rng.randint(0, 10 * span)
    else:
        t = rng.randint(0, 5 * span)
    max_ts = t
    out = []
    sides = "L" if kind == "tfilter" else "LR"

    def value():
        return None if rng.random() < 0.08 else "v%d" % len(out)

    def key():
        return None if rng.random() < 0.03 else rng.choice(keys)

    def emit(side, k, ts, v=0):
        nonlocal max_ts
        ts = max(0, ts)
        out.append((side, k, value() if v == 0 else v, ts))
        max_ts = max(max_ts, ts)

    emit(rng.choice(sides), key(), t)
    while len(out) < n:
        r = rng.random()
        side = rng.choice(sides)
        if r < 0.35:  # advancing, ties included
            emit(side, key(), max_ts + rng.randint(0, max(1, span // 2)))
        elif r < 0.5:  # out of order, sometimes beyond the retention
            emit(side, key(), max_ts - rng.randint(1, 2 * (span + grace) + 2))
        elif r < 0.68:  # the other side exactly at a window bound, or 1 ms off
            s0, k0, _, t0 = rng.choice(out)
            other = "R" if s0 == "L" else "L"
            if kind == "tfilter":
                other = "L"
            lo, hi = (t0 - before, t0 + after) if s0 == "L" else (t0 - after, t0 + before)
            emit(other, k0 if k0 is not None else rng.choice(keys),
                 rng.choice((lo, hi)) + rng.choice((-1, 0, 1)))
        elif r < 0.8:  # stream time at an unmatched record's close, or 1 ms off
            s0, _, _, t0 = rng.choice(out)
            close = t0 + (after if s0 == "L" else before) + grace
            emit(side, key(), close + rng.choice((-1, 0, 1)))
        elif r < 0.86:  # a duplicate of an earlier record
            s0, k0, v0, t0 = rng.choice(out)
            emit(s0, k0, t0, v0)
        elif r < 0.9:  # a jump that closes everything
            emit(side, key(), max_ts + span + grace + rng.randint(1, 20))
        else:
            emit(side, key(), max_ts + rng.randint(-span, span))
    return out[:n]


def fk_records(rng, n):
    """Foreign-key join inputs: left rows (keys p1..p5) whose values
    "FK:vN" refer to right rows (keys a..d), an empty FK now and then
    (none); updates that keep, change and drop the FK; deletes on both
    sides; timestamps that go back too (tables take them as they come)."""
    pks = ["p%d" % i for i in range(1, rng.randint(2, 6))]
    fks = ["a", "b", "c", "d"][: rng.randint(1, 4)]
    t = rng.choice((0, rng.randint(0, 100), 5_000_000_000))
    out = []
    while len(out) < n:
        t = max(0, t + rng.randint(-5, 10))
        r = rng.random()
        if r < 0.55:
            k = None if rng.random() < 0.03 else rng.choice(pks)
            if rng.random() < 0.1:
                v = None
            else:
                fk = "" if rng.random() < 0.12 else rng.choice(fks)
                v = "%s:v%d" % (fk, len(out))
            out.append(("L", k, v, t))
        else:
            k = None if rng.random() < 0.03 else rng.choice(fks)
            v = None if rng.random() < 0.15 else "v%d" % len(out)
            out.append(("R", k, v, t))
    return out


def join_cases(out_dir, seeds, first, lo, hi):
    cnt = 0
    for seed in range(first, first + seeds):
        for kind, joins in JOIN_KINDS:
            rng = random.Random("ksdiff-join:%d:%s" % (seed, kind))
            history = 0
            if kind == "ss-join":
                before = rng.choice((0, 1, 3, 5, 10, 20))
                after = before if rng.random() < 0.5 else rng.choice((0, 1, 3, 5, 10, 20))
                grace = rng.choice((0, 0, 1, 5, 10))
            elif kind == "vst-join":
                # a versioned table's history retention and a join grace
                # (0: none); before / after only spread the timestamps
                before = after = rng.choice((3, 5, 10, 20))
                grace = rng.choice((0, 0, 1, 5, 10, 20))
                # Kafka Streams refuses a history shorter than the grace
                history = rng.choice([h for h in (5, 10, 20, 50, 1000) if h >= grace])
            else:
                before = after = grace = 0
            if kind == "fk-join":
                recs = fk_records(rng, rng.randint(lo, hi))
            else:
                recs = join_records(rng, kind, before, after, grace, rng.randint(lo, hi))
            if kind == "vst-join" and grace > 0:
                # Kafka Streams 4.4.0 fails on a null-key stream record
                # with a grace period (DEVIATIONS): give those keys
                recs = [(s_, k if k is not None or s_ != "L" else KEYS[0], v, ts)
                        for s_, k, v, ts in recs]
            variants = [(j, c, "off", "off", "off") for j in joins for c in CACHES]
            if kind == "ss-join":
                # Kafka Streams' default emit interval of unmatched records
                # (1 s of a wall clock that stands still: one scan)
                variants += [(j, "on", "on", "off", "off") for j in ("left", "outer")]
            if kind in ("ss-join", "st-join"):
                # the left stream's key "changed" (an identity select_key):
                # that side goes through a repartition topic
                variants += [(j, "on", "off", "on", "off") for j in joins]
            if kind in ("st-join", "tt-join"):
                # the right table through a filter: the join reads the
                # filtered view, the filter's old values drive tt-joins
                variants += [(j, c, "off", "off", "on") for j in joins for c in CACHES]
            for join, cache, throttle, rekey, filt in variants:
                    name = "%s-%s-c%s%s%s%s-s%d.case" % (kind, join, cache,
                                                         "-throttle" if throttle == "on" else "",
                                                         "-rekey" if rekey == "on" else "",
                                                         "-filter" if filt == "on" else "", seed)
                    with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
                        f.write("ksdiff kind=%s join=%s before=%d after=%d grace=%d cache=%s "
                                "throttle=%s rekey=%s filter=%s%s seed=%d\n"
                                % (kind, join, before, after, grace, cache, throttle, rekey,
                                   filt, " history=%d" % history if history else "", seed))
                        for side, k, v, ts in recs:
                            f.write("%s\t%s\t%s\t%d\n" % (side, "\\N" if k is None else k,
                                                         "\\N" if v is None else v, ts))
                    cnt += 1
    return cnt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--first", type=int, default=1)
    ap.add_argument("--records", default="15:60", help="MIN:MAX records per case")
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.records.split(":"))
    os.makedirs(a.out, exist_ok=True)
    cnt = 0
    for seed in range(a.first, a.first + a.seeds):
        for kind in KINDS:
            for agg in AGGS:
                rng = random.Random("ksdiff:%d:%s:%s" % (seed, kind, agg))
                size, advance, grace = window_spec(rng, kind)
                recs = records(rng, kind, size, advance, grace, rng.randint(lo, hi))
                for emit in EMITS:
                    for cache in CACHES:
                        name = "%s-%s-%s-c%s-s%d.case" % (kind, agg, emit, cache, seed)
                        write_case(os.path.join(a.out, name), kind, size, advance, grace,
                                   agg, emit, cache, seed, recs)
                        cnt += 1
    cnt += join_cases(a.out, a.seeds * 4, a.first, lo, hi)
    print("ksdiff: generated %d cases in %s" % (cnt, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
