#!/usr/bin/env python3
"""Quix Streams' side of Sluice's side-by-side harness (bench/peers/run).

The workloads of bench/peers/peer_tool.c on the same topics with the same
serdes as bench/peers/sluice_peer.c, in one process (Quix Streams runs one
consumer per Application), Quix Streams' defaults for everything the harness
does not set (see bench/peers/README.md). Runs until SIGTERM, which Quix's
Application handles itself (it stops, commits, closes).

    peer.py WORKLOAD --bootstrap B --app-id ID --in TOPIC --out TOPIC
            [--table TOPIC] --guarantee at_least_once|exactly_once_v2
            --commit-interval-ms MS --state-dir DIR

  pipe       bytes: apply(flip byte 12's case) -> filter('#' at byte 11)
  wordcount  strings: apply(split, expand) -> group_by(word) (repartition
             topic) -> stateful apply(count) (in-memory store) -> int64
  windows    bytes: tumbling_window(1 min, no grace) -> count -> current(),
             the output keyed key bytes + window start (Kafka Streams'
             TimeWindowedSerializer), timestamp the window's latest record's
             (as Kafka Streams; Quix's own would be the window start)
  enrich     strings: join_asof(table dataframe) -> v + "|" + t
  json       JSON: filter(ok) -> add "tier" -> JSON

Prints "started" just before Application.run().
"""
import argparse
import struct
import sys

from quixstreams import Application
from quixstreams.dataframe.windows import aggregations as agg
from quixstreams.state.memory import MemoryStore

MARK_AT, FLIP_AT = 11, 12
_q = struct.Struct(">q")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload",
                    choices=["pipe", "wordcount", "windows", "enrich", "json"])
    for o in ("--bootstrap", "--app-id", "--in", "--out", "--guarantee",
              "--commit-interval-ms", "--state-dir"):
        ap.add_argument(o, required=True)
    ap.add_argument("--table")
    a = ap.parse_args()

    app = Application(
        broker_address=a.bootstrap,
        consumer_group=a.app_id,
        # Quix's default is "latest": the input is pre-loaded
        auto_offset_reset="earliest",
        commit_interval=int(a.commit_interval_ms) / 1000.0,
        processing_guarantee=("exactly-once" if a.guarantee == "exactly_once_v2"
                              else "at-least-once"),
        state_dir=a.state_dir,
        loglevel="WARNING",
    )
    wl = a.workload
    if wl == "pipe":
        src = app.topic(getattr(a, "in"), key_deserializer="bytes",
                        value_deserializer="bytes")
        out = app.topic(a.out, key_serializer="bytes", value_serializer="bytes")
        sdf = app.dataframe(src)

        def flip(v):
            b = bytearray(v)
            if len(b) > FLIP_AT:
                b[FLIP_AT] ^= 0x20
            return bytes(b)

        sdf = sdf.apply(flip)
        sdf = sdf.filter(lambda v: not (len(v) > MARK_AT and v[MARK_AT] == 0x23))
        sdf.to_topic(out)
    elif wl == "wordcount":
        src = app.topic(getattr(a, "in"), key_deserializer="str",
                        value_deserializer="str")
        out = app.topic(a.out, key_serializer="str", value_serializer="bytes")
        sdf = app.dataframe(src)
        sdf = sdf.apply(lambda line: [w for w in line.split(" ") if w],
                        expand=True)
        sdf = sdf.group_by(lambda w: w, name="word")
        # the in-memory store for the count (Quix's default is RocksDB)
        sdf.register_store(store_type=MemoryStore)

        def count(word, state):
            c = state.get("c", 0) + 1
            state.set("c", c)
            return _q.pack(c)

        sdf = sdf.apply(count, stateful=True)
        sdf.to_topic(out)
    elif wl == "windows":
        src = app.topic(getattr(a, "in"), key_deserializer="bytes",
                        value_deserializer="bytes")
        out = app.topic(a.out, key_serializer="bytes", value_serializer="bytes")
        sdf = app.dataframe(src)
        # the record's timestamp as the value: the window keeps its maximum
        sdf = sdf.apply(lambda v, k, ts, h: {"ts": ts}, metadata=True)
        sdf = (sdf.tumbling_window(duration_ms=60000, grace_ms=0)
               .agg(n=agg.Count(), ts=agg.Max("ts")).current())
        sdf = sdf.set_timestamp(lambda v, k, ts, h: v["ts"])
        # to_topic()'s key callback sees the value only: the windowed key
        # of the record in flight (Quix runs one record at a time through
        # the chain) is kept aside
        cur = [b""]

        def windowed(v, k, ts, h):
            cur[0] = k + _q.pack(v["start"])
            return _q.pack(v["n"])

        sdf = sdf.apply(windowed, metadata=True)
        sdf.to_topic(out, key=lambda v: cur[0])
    elif wl == "enrich":
        src = app.topic(getattr(a, "in"), key_deserializer="str",
                        value_deserializer="str")
        tbl = app.topic(a.table, key_deserializer="str", value_deserializer="str")
        out = app.topic(a.out, key_serializer="str", value_serializer="str")
        sdf = app.dataframe(src)
        sdf = sdf.join_asof(app.dataframe(tbl), how="inner",
                            on_merge=lambda v, t: v + "|" + t)
        sdf.to_topic(out)
    else:
        src = app.topic(getattr(a, "in"), key_deserializer="str",
                        value_deserializer="json")
        out = app.topic(a.out, key_serializer="str", value_serializer="json")
        sdf = app.dataframe(src)
        sdf = sdf.filter(lambda v: v.get("ok") is True)

        def tier(v):
            v["tier"] = "gold" if v["amount"] >= 500 else "std"
            return v

        sdf = sdf.apply(tier)
        sdf.to_topic(out)
    print("started", flush=True)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
