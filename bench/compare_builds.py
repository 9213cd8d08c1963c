#!/usr/bin/python3
"""Before/after check of two teesplit builds beside ONNX Runtime (a quick A/B loop).

  /usr/bin/python3 bench/compare_builds.py BEFORE_BIN AFTER_BIN MODELS ROUNDS [THREADS] [BATCHES]

MODELS, THREADS (default 1,2) and BATCHES (default 1,8) are comma lists; the models
are BUILD/bench/models/MODEL.onnx as bench/run_benchmarks.py exports them. Per
configuration, ROUNDS rounds of `BIN bench MODEL --json` for both builds and of
bench/ort_runner.js, rotating which goes first, with run_benchmarks.py's warm-up and
run counts; prints one Markdown row per configuration: pooled medians (ms), the
ratios after/before, before/ORT, after/ORT, and the minimums.
"""
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from run_benchmarks import MODEL_TITLES, RUNS  # noqa: E402


def main(argv):
    if len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    bins = {"before": argv[1], "after": argv[2], "ort": None}
    models, rounds = argv[3].split(","), int(argv[4])
    threads_list = [int(t) for t in (argv[5] if len(argv) > 5 else "1,2").split(",")]
    batches = [int(b) for b in (argv[6] if len(argv) > 6 else "1,8").split(",")]
    for threads in threads_list:
        for m in models:
            for batch in batches:
                w, r = RUNS.get((m, batch), RUNS[(m, 8)])
                onnx = os.path.join(ROOT, "build", "bench", "models", m + ".onnx")
                common = ["--batch", str(batch), "--threads", str(threads), "--warmup", str(w),
                          "--runs", str(r)]
                samples = {k: [] for k in bins}
                keys = list(bins)
                for rd in range(rounds):
                    for k in keys[rd % 3:] + keys[:rd % 3]:
                        cmd = (["node", os.path.join(ROOT, "bench", "ort_runner.js"), onnx] + common
                               if k == "ort" else [bins[k], "bench", onnx] + common + ["--json"])
                        out = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
                        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
                        if out.returncode != 0 or not lines:
                            print(f"{k} failed: {out.stderr[-500:]}", file=sys.stderr)
                            return 1
                        samples[k] += json.loads(lines[-1])["times_ms"]
                med = {k: statistics.median(v) for k, v in samples.items()}
                mi = {k: min(v) for k, v in samples.items()}
                print(f"| {MODEL_TITLES.get(m, m)} | {batch} | {threads} | {med['before']:.1f} | "
                      f"{med['after']:.1f} | {med['ort']:.1f} | {med['after'] / med['before']:.2f} | "
                      f"{med['before'] / med['ort']:.2f} | {med['after'] / med['ort']:.2f} | "
                      f"{mi['before']:.1f} / {mi['after']:.1f} / {mi['ort']:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
