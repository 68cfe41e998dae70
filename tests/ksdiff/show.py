#!/usr/bin/env python3
"""Print a case with its outputs decoded, each output under the input
record that produced it:

    show.py CASE_FILE OUT_FILE [OUT_FILE2]

With two output files (Kafka Streams', Sluice's) both are shown, the
second's records marked with '|'.
"""

import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
from compare import decode, parse_out, read_spec  # noqa: E402


def main():
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    header, spec, inputs = read_spec(sys.argv[1])
    outs = [parse_out(p) or [] for p in sys.argv[2:]]
    print(header)
    for side, recs in enumerate(outs):
        for r in recs:
            if isinstance(r, str):
                print(("| " if side else "") + r)
    by_input = [[[] for _ in inputs] for _ in outs]
    for side, recs in enumerate(outs):
        for r in recs:
            if not isinstance(r, str) and int(r[0]) < len(inputs):
                by_input[side][int(r[0])].append(r)
    for n, ln in enumerate(inputs):
        k, v, ts = ln.split("\t")
        print("#%-3d %s %s @%s" % (n, k, v, ts))
        for side in range(len(outs)):
            for r in by_input[side][n]:
                print("      %s %-40s ts=%s" % ("|" if side else "->", decode(r, spec), r[3]))


if __name__ == "__main__":
    main()
