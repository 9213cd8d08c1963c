#!/usr/bin/env python3
"""ONNX Runtime peer for teesplit's benchmarks, through python3's onnxruntime.

  python3 bench/ort_runner.py MODEL.onnx --batch B --threads N --warmup W --runs R [--seed S]
      [--input X.npy] [--output Y.npy]

The same runner as bench/ort_runner.js (same options, same session settings, same
seeded input, same JSON line), for machines that have python3's onnxruntime but no
Node.js, such as the lent GPU machine (scripts/device-check.sh, section amx):
intra_op_num_threads=N, inter_op_num_threads=1, sequential execution, all graph
optimisations, the CPU provider; W untimed and R timed runs of session.run() on one
input [B,3,H,W] (H, W from the model, 224 where dynamic) filled by the C++ runners'
32-bit LCG. Prints one line:
  {"peer":"onnxruntime","model":..,"batch":..,"threads":..,"times_ms":[..],"runtime":"python"}
Exits 2 on bad arguments, 1 with a message on stderr on any other error.
"""
import argparse
import json
import os
import sys
import time


def lcg_input(count, seed):
    """Uniform values in [-1, 1) from the LCG of bench/runner_common.h and ort_runner.js:
    s <- 1664525 s + 1013904223 (mod 2^32), value (s >> 8) / 2^23 - 1. Computed a block
    at a time: s_{n+k} = A_k s_n + C_k (mod 2^32), with A_k, C_k for k = 1..block."""
    import numpy as np
    mask = 0xFFFFFFFF
    block = min(count, 4096)
    a = np.empty(block, dtype=np.uint64)
    c = np.empty(block, dtype=np.uint64)
    ak, ck = 1, 0
    for k in range(block):
        ak, ck = (ak * 1664525) & mask, (ck * 1664525 + 1013904223) & mask
        a[k], c[k] = ak, ck
    states = np.empty(count, dtype=np.uint64)
    s = (seed & mask) or 1
    for start in range(0, count, block):
        n = min(block, count - start)
        # A_k < 2^32 and s < 2^32: the product fits in 64 bits.
        states[start:start + n] = (a[:n] * np.uint64(s) + c[:n]) & np.uint64(mask)
        s = int(states[start + n - 1])
    return ((states >> np.uint64(8)).astype(np.float64) / 8388608.0 - 1.0).astype(np.float32)


def model_name(path):
    base = os.path.basename(path)
    dot = base.find(".")
    return base[:dot] if dot > 0 else base


def nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if not 0 <= v <= 1_000_000:
        raise argparse.ArgumentTypeError(f"out of range 0..1000000: {v}")
    return v


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="ort_runner.py", description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=nonneg_int, default=1)
    ap.add_argument("--threads", type=nonneg_int, default=1)
    ap.add_argument("--warmup", type=nonneg_int, default=3)
    ap.add_argument("--runs", type=nonneg_int, default=10)
    ap.add_argument("--seed", type=nonneg_int, default=1)
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--json", action="store_true", help="accepted for symmetry with teesplit")
    a = ap.parse_args(argv)
    if a.batch < 1 or a.threads < 1 or a.runs < 1:
        ap.error("batch, threads and runs must be >= 1")
    return a


def main(argv):
    args = parse_args(argv)
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"ort_runner.py: {e} (python3's onnxruntime and numpy are needed)", file=sys.stderr)
        return 1
    try:
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ValueError(f"expected one input, model has {len(inputs)}")
        dims = [args.batch, 3, 224, 224]
        shape = inputs[0].shape
        if isinstance(shape, (list, tuple)) and len(shape) == 4:
            dims = [args.batch] + [d if isinstance(d, int) and d > 0 else dims[i + 1]
                                   for i, d in enumerate(shape[1:])]
        if args.input:
            x = np.load(args.input, allow_pickle=False)
            if x.dtype != np.float32 or x.ndim != 4 or x.shape[0] != args.batch:
                raise ValueError(f"{args.input}: expected float32 [batch,C,H,W] with batch "
                                 f"{args.batch}, got {x.dtype} {list(x.shape)}")
            x = np.ascontiguousarray(x)
        else:
            count = dims[0] * dims[1] * dims[2] * dims[3]
            x = lcg_input(count, args.seed).reshape(dims)
        feed = {inputs[0].name: x}
        for _ in range(args.warmup):
            session.run(None, feed)
        times = []
        out = None
        for _ in range(args.runs):
            t0 = time.perf_counter_ns()
            out = session.run(None, feed)
            times.append((time.perf_counter_ns() - t0) / 1e6)
        if args.output:
            np.save(args.output, np.ascontiguousarray(out[0], dtype=np.float32))
    except Exception as e:  # onnxruntime raises its own exception types
        print(f"ort_runner.py: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"peer": "onnxruntime", "model": model_name(args.model),
                      "batch": args.batch, "threads": args.threads,
                      "times_ms": [round(t, 3) for t in times], "runtime": "python",
                      "version": getattr(ort, "__version__", None)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
