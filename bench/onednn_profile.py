#!/usr/bin/env python3
"""Where a teesplit run spends its time inside oneDNN, from ONEDNN_VERBOSE's log.

  ONEDNN_VERBOSE=1 build/teesplit bench MODEL --backend cpu --warmup 0 --runs 20 2>&1 |
      python3 bench/onednn_profile.py --runs 20 [--top 15]

Reads oneDNN 2.x verbose lines ("onednn_verbose,exec,cpu,KIND,IMPL,PROP,SRC_MD ...,TIME")
from stdin, groups the executed primitives by kind, implementation and source data type
and layout, and prints, per group, the number of calls per run and the milliseconds per
run (the total divided by --runs: every execution in the log counts, so a one-off weight
reorder at the first run is spread over the runs). Lines that are not exec lines are
ignored; no exec line at all is an error (exit 1).
"""
import argparse
import collections
import sys


def group_key(fields):
    kind, impl = fields[3], fields[4]
    # fields[6] is the memory descriptors, "src_f32::blocked:acdb:f0 wei_...".
    src = fields[6].split(" ")[0] if len(fields) > 6 else ""
    return f"{kind} {impl} {src}"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="inference runs in the log (default 1)")
    ap.add_argument("--top", type=int, default=15, help="groups to print (default 15)")
    a = ap.parse_args(argv)
    if a.runs < 1 or a.top < 1:
        ap.error("--runs and --top must be >= 1")
    calls = collections.Counter()
    ms = collections.defaultdict(float)
    for line in sys.stdin:
        if not line.startswith(("onednn_verbose,exec,", "dnnl_verbose,exec,")):
            continue
        f = line.rstrip("\n").split(",")
        try:
            t = float(f[-1])
        except ValueError:
            continue
        k = group_key(f)
        calls[k] += 1
        ms[k] += t
    if not calls:
        print("onednn_profile.py: no exec lines on stdin (was ONEDNN_VERBOSE=1 set?)",
              file=sys.stderr)
        return 1
    total = sum(ms.values()) / a.runs
    print(f"oneDNN time per run: {total:.2f} ms in {sum(calls.values()) / a.runs:.0f} primitive "
          f"calls ({len(calls)} groups)")
    print(f"{'ms/run':>8} {'share':>6} {'calls/run':>9}  kind implementation source")
    for k in sorted(ms, key=lambda k: -ms[k])[:a.top]:
        print(f"{ms[k] / a.runs:8.3f} {ms[k] / a.runs / total:6.1%} {calls[k] / a.runs:9.1f}  {k}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
