#!/usr/bin/python3
"""Compare teesplit with ONNX Runtime, OpenCV DNN and LibTorch; write docs/benchmarks.md.

  /usr/bin/python3 bench/run_benchmarks.py [--models vgg16,resnet50,efficientnet_b0]
      [--batches 1,8] [--threads 1,2]
      [--peers teesplit,teesplit-bf16,onnxruntime,opencv,libtorch]
      [--rounds 3] [--runs-scale 1.0] [--build-dir build] [--teesplit PATH] [--no-build]
      [--max-wait 20] [--ort node|python] [--models-source torchvision|zoo]
      [--doc docs/benchmarks.md] [--results build/bench/results.jsonl]
  /usr/bin/python3 bench/run_benchmarks.py --report-only [--results FILE] [--doc FILE]
  /usr/bin/python3 bench/run_benchmarks.py --check [--models ...] [--peers ...]

Steps: build the peer runners (and the teesplit CLI) in --build-dir, install
onnxruntime-node into bench/ if missing, export the models with
tests/fixtures/export_torchvision.py and rewrite them for OpenCV with
bench/prepare_models.py, then for every (threads, model, batch) configuration
run each peer process once per round, in a rotating order, with W warm-up and
R timed runs (W and R per model and batch, R scaled by --runs-scale). All timed
samples of a peer in a configuration are pooled: the report gives their
median, min and max and teesplit's ratio to each peer (without teesplit: each
peer's ratio to ONNX Runtime). Every runner's JSON line goes to --results (with
a "round" field added; the first line holds the run's metadata), so the report
can be rebuilt with --report-only. A peer that cannot be built or fails is
reported and left out; the other peers go on. --check instead runs each peer
runner once per model at batch 1 and compares its output with PyTorch's and
with ONNX Runtime's (same weights, same seeded input), exit code 1 on mismatch.

The peer teesplit-bf16 is `teesplit bench --precision bf16` (docs/usage.md,
"Precision"); the report gives it its own table, its speed-up over ONNX Runtime
fp32 from the same run, and whether the issue's targets are met (4x on VGG-16
and ResNet-50, 1.4x on EfficientNet-B0). On a CPU without bf16 it fails and is
left out with the reason.

--ort python runs ONNX Runtime through python3's onnxruntime (bench/ort_runner.py,
the same settings and output as ort_runner.js) instead of onnxruntime-node, for a
machine with no Node.js (the lent GPU machine). --models-source zoo writes the models
with `teesplit zoo` (the same architectures, seeded weights) instead of exporting
torchvision's, for a machine whose python3 has no torchvision; --check needs the
torchvision exports (it compares with PyTorch's output).
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
ALL_MODELS = ("vgg16", "resnet50", "efficientnet_b0")
ALL_PEERS = ("teesplit", "teesplit-bf16", "onnxruntime", "opencv", "libtorch")
PEER_TITLES = {"teesplit": "teesplit", "teesplit-bf16": "teesplit bf16",
               "onnxruntime": "ONNX Runtime", "opencv": "OpenCV DNN", "libtorch": "LibTorch"}
# The fp32 comparison table leaves bf16 out; it has its own table.
FP32_PEERS = ("teesplit", "onnxruntime", "opencv", "libtorch")
# Speed-up over ONNX Runtime fp32 that issue 14 asks of bf16.
BF16_TARGETS = {"vgg16": 4.0, "resnet50": 4.0, "efficientnet_b0": 1.4}
MODEL_TITLES = {"vgg16": "VGG-16", "resnet50": "ResNet-50", "efficientnet_b0": "EfficientNet-B0"}
# (warm-up, timed runs) per process, by model and batch; about 1-4 s of work per
# process for the fast peers on 2 threads. Batches not listed use batch 8's.
RUNS = {
    ("vgg16", 1): (2, 8), ("vgg16", 8): (1, 3),
    ("resnet50", 1): (3, 15), ("resnet50", 8): (1, 5),
    ("efficientnet_b0", 1): (5, 30), ("efficientnet_b0", 8): (2, 10),
}
PROCESS_TIMEOUT_S = 900


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def csv_list(text, allowed=None, conv=str):
    items = [conv(x.strip()) for x in text.split(",") if x.strip()]
    if not items:
        raise argparse.ArgumentTypeError("empty list")
    if allowed is not None:
        bad = [x for x in items if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {','.join(allowed)}")
    return items


def positive_ints(text):
    items = csv_list(text, conv=int)
    if any(x < 1 or x > 256 for x in items):
        raise argparse.ArgumentTypeError("values must be in 1..256")
    return items


def run_cmd(cmd, cwd=ROOT, env=None, timeout=None):
    """Runs cmd; returns (returncode, stdout, stderr). Never raises on failure."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        return 124, e.stdout or "", f"timed out after {timeout} s"
    except OSError as e:
        return 127, "", str(e)


# ---- environment facts for the report ----

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_count():
    return os.cpu_count() or 0


def dpkg_version(pkg):
    rc, out, _ = run_cmd(["dpkg-query", "-W", "-f", "${Version}", pkg])
    return out.strip() if rc == 0 and out.strip() else None


ORT_RUNNER = "node"   # --ort


def python_ort_version():
    rc, out, _ = run_cmd([sys.executable, "-c",
                          "import numpy, onnxruntime; print(onnxruntime.__version__)"])
    return out.strip() if rc == 0 and out.strip() else None


def ort_version():
    if ORT_RUNNER == "python":
        return python_ort_version()
    try:
        with open(os.path.join(BENCH, "node_modules", "onnxruntime-node", "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError):
        return None


def git_revision():
    rc, out, _ = run_cmd(["git", "rev-parse", "--short", "HEAD"])
    if rc != 0:
        return None
    rev = out.strip()
    rc, out, _ = run_cmd(["git", "status", "--porcelain", "--untracked-files=no"])
    return rev + ("+dirty" if rc == 0 and out.strip() else "")


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def cpu_busy(window_s=1.0):
    """Fraction of all CPUs busy (not idle or iowait) over the next window_s seconds."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]), idle
    try:
        t0, i0 = sample()
        time.sleep(window_s)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 0.0 if t1 <= t0 else 1.0 - (i1 - i0) / (t1 - t0)


def wait_for_quiet(max_wait_s, threshold=0.25):
    """Waits (up to max_wait_s) until other processes leave the CPUs mostly idle.
    Returns the busy fraction measured last."""
    busy = cpu_busy()
    waited = 1.0
    while busy > threshold and waited < max_wait_s:
        busy = cpu_busy(2.0)
        waited += 2.0
    return busy


def system_blas():
    """Path that the system's libblas.so.3 resolves to (Debian alternatives)."""
    for p in ("/usr/lib/x86_64-linux-gnu/libblas.so.3", "/lib/x86_64-linux-gnu/libblas.so.3"):
        if os.path.exists(p):
            return os.path.realpath(p)
    return None


# ---- preparation ----

def build_targets(build_dir, peers):
    """Configures and builds what the peers need; returns the set of peers built."""
    cache = os.path.join(build_dir, "CMakeCache.txt")
    cmd = ["cmake", "-S", ROOT, "-B", build_dir]
    if not os.path.exists(cache):
        cmd.append("-DTEESPLIT_BENCH=ON")
    else:
        with open(cache) as f:
            if "TEESPLIT_BENCH:BOOL=OFF" in f.read():
                log(f"{build_dir} has TEESPLIT_BENCH=OFF: the peer runners are not built there; "
                    "reconfigure it with -DTEESPLIT_BENCH=ON or pass another --build-dir")
    # Re-running the configure step picks up bench/CMakeLists.txt if it is new.
    log(f"configuring {build_dir}")
    rc, out, err = run_cmd(cmd)
    if rc != 0:
        log(f"cmake configure failed:\n{err[-2000:]}")
    targets = {"teesplit": "teesplit", "teesplit-bf16": "teesplit", "opencv": "opencv_runner",
               "libtorch": "libtorch_runner"}
    ok = set(p for p in peers if p not in targets)
    for peer in peers:
        if peer not in targets:
            continue
        log(f"building {targets[peer]}")
        rc, out, err = run_cmd(["cmake", "--build", build_dir, "--target", targets[peer], "-j2"])
        if rc == 0:
            ok.add(peer)
        else:
            log(f"cannot build {targets[peer]}; peer {peer} left out:\n{(out + err)[-1500:]}")
    return ok


def ensure_ort():
    if ort_version():
        return True
    if ORT_RUNNER == "python":
        log("python3 cannot import onnxruntime and numpy (needed by --ort python)")
        return False
    log("installing onnxruntime-node into bench/ (npm install --ignore-scripts)")
    rc, out, err = run_cmd(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"],
                           cwd=BENCH, timeout=600)
    if rc != 0:
        log(f"npm install failed:\n{err[-1500:]}")
    return ort_version() is not None


def ensure_models(models_dir, models, batches, need_opencv, source="torchvision",
                  teesplit=None):
    exporter = os.path.join(ROOT, "tests", "fixtures", "export_torchvision.py")
    ok = []
    for m in models:
        if source == "zoo":
            cmd = [teesplit, "zoo", m, "-o", os.path.join(models_dir, m + ".onnx")]
        else:
            cmd = ["/usr/bin/python3", exporter, m, models_dir]
        rc, out, err = run_cmd(cmd, timeout=1800)
        if rc != 0:
            log(f"export of {m} failed; model left out:\n{(out + err)[-1500:]}")
            continue
        ok.append(m)
    if need_opencv and ok:
        cmd = ["/usr/bin/python3", os.path.join(BENCH, "prepare_models.py")]
        for b in batches:
            cmd += ["--batch", str(b)]
        cmd += [os.path.join(models_dir, m + ".onnx") for m in ok]
        rc, out, err = run_cmd(cmd, timeout=1800)
        if rc != 0:
            log(f"prepare_models.py failed; OpenCV runs will fail:\n{(out + err)[-1500:]}")
    return ok


def blas_description():
    """What libblas.so.3 (used by Debian's LibTorch and OpenCV) resolves to.

    scripts/install-deps.sh installs OpenBLAS (libopenblas0-pthread); with only the
    netlib reference BLAS, LibTorch's Gemms are about 50x slower, so say so loudly.
    """
    sysblas = system_blas() or "not found"
    if "openblas" not in sysblas:
        log(f"WARNING: libblas.so.3 -> {sysblas}, not OpenBLAS: LibTorch and OpenCV will be "
            f"far slower than they should (run scripts/install-deps.sh)")
        return f"system libblas.so.3 -> {sysblas} (NOT OpenBLAS: LibTorch/OpenCV handicapped)"
    return f"system libblas.so.3 -> {sysblas}"


# ---- running ----

TEESPLIT_BIN = None   # --teesplit; default BUILD_DIR/teesplit


def peer_command(peer, build_dir, models_dir, model, batch, threads, warmup, runs):
    common = ["--batch", str(batch), "--threads", str(threads), "--warmup", str(warmup),
              "--runs", str(runs)]
    onnx = os.path.join(models_dir, model + ".onnx")
    if peer in ("teesplit", "teesplit-bf16"):
        precision = "bf16" if peer == "teesplit-bf16" else "fp32"
        # --backend cpu: on a machine with a GPU, auto would run teesplit there.
        return [TEESPLIT_BIN or os.path.join(build_dir, "teesplit"), "bench", onnx] + common + [
            "--backend", "cpu", "--precision", precision, "--json"]
    if peer == "onnxruntime":
        if ORT_RUNNER == "python":
            return [sys.executable, os.path.join(BENCH, "ort_runner.py"), onnx] + common
        return ["node", os.path.join(BENCH, "ort_runner.js"), onnx] + common
    if peer == "opencv":
        fixed = os.path.join(models_dir, f"{model}.b{batch}.opencv.onnx")
        return [os.path.join(build_dir, "bench", "opencv_runner"), fixed] + common
    if peer == "libtorch":
        return [os.path.join(build_dir, "bench", "libtorch_runner"),
                os.path.join(models_dir, model + ".pt")] + common
    raise ValueError(peer)


def peer_env(peer):
    env = dict(os.environ)
    if peer in ("libtorch", "opencv"):
        env["OPENBLAS_NUM_THREADS"] = "1"   # MACHINE-NOTES: OpenBLAS threads fight OpenMP's
    return env


def parse_result(stdout, peer, batch, threads, runs):
    """Returns the runner's JSON object (last JSON line of stdout) or raises ValueError."""
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        times = obj.get("times_ms")
        if peer == "teesplit-bf16" and obj.get("peer") == "teesplit":
            if obj.get("precision") != "bf16":
                raise ValueError(f"precision is {obj.get('precision')!r}, expected 'bf16'")
            obj["peer"] = peer
        if obj.get("peer") != peer:
            raise ValueError(f"peer is {obj.get('peer')!r}, expected {peer!r}")
        if obj.get("batch") != batch or obj.get("threads") != threads:
            raise ValueError(f"batch/threads {obj.get('batch')}/{obj.get('threads')} "
                             f"!= {batch}/{threads}")
        if not isinstance(times, list) or not times or not all(
                isinstance(t, (int, float)) and t > 0 for t in times):
            raise ValueError("times_ms missing or not positive numbers")
        if len(times) != runs:
            log(f"  {peer}: {len(times)} samples, asked for {runs}")
        return obj
    raise ValueError("no JSON line on stdout")


MEMORY_KEYS = ("peak_activation_bytes", "weight_bytes", "peak_rss_bytes")


def add_record(obj, samples, memory):
    """Adds one runner result to samples[(threads, model, batch, peer)] and, for the
    memory figures teesplit reports, to memory[(threads, model, batch)]."""
    key = (obj["threads"], obj["model"], obj["batch"], obj["peer"])
    samples.setdefault(key, []).extend(obj["times_ms"])
    if obj["peer"] in ("teesplit", "teesplit-bf16"):
        m = memory.setdefault(key, {})
        for k in MEMORY_KEYS:
            if isinstance(obj.get(k), (int, float)):
                m[k] = max(m.get(k, 0), obj[k])


def run_all(args, peers, models, results_file):
    samples = {}   # (threads, model, batch, peer) -> list of ms
    memory = {}    # (threads, model, batch) -> teesplit's memory figures
    failures = []
    busy_launches = [0, 0]
    configs = [(t, m, b) for t in args.threads for m in models for b in args.batches]
    for ci, (threads, model, batch) in enumerate(configs):
        warmup, runs = RUNS.get((model, batch), RUNS.get((model, 8)))
        runs = max(1, round(runs * args.runs_scale))
        log(f"[{ci + 1}/{len(configs)}] {model} batch {batch}, {threads} thread(s): "
            f"{args.rounds} rounds x (W={warmup}, R={runs})")
        dead = set()
        for rnd in range(args.rounds):
            order = peers[rnd % len(peers):] + peers[:rnd % len(peers)]
            for peer in order:
                if peer in dead:
                    continue
                cmd = peer_command(peer, args.build_dir, args.models_dir, model, batch, threads,
                                   warmup, runs)
                busy = wait_for_quiet(args.max_wait)
                rc, out, err = run_cmd(cmd, env=peer_env(peer), timeout=PROCESS_TIMEOUT_S)
                try:
                    if rc != 0:
                        raise ValueError(f"exit code {rc}: {err.strip()[-600:]}")
                    obj = parse_result(out, peer, batch, threads, runs)
                except ValueError as e:
                    log(f"  {peer} failed ({e}); left out of this configuration")
                    failures.append((threads, model, batch, peer, str(e).splitlines()[0][:200]))
                    dead.add(peer)
                    continue
                obj["round"] = rnd + 1
                obj["cpu_busy_before"] = round(busy, 2)
                busy_launches[0] += busy > 0.25
                busy_launches[1] += 1
                obj["model"] = model
                results_file.write(json.dumps(obj) + "\n")
                results_file.flush()
                add_record(obj, samples, memory)
                log(f"  round {rnd + 1} {peer:12s} median "
                    f"{statistics.median(obj['times_ms']):9.2f} ms   (CPU busy before: {busy:.0%})")
    return samples, memory, failures, busy_launches


# ---- correctness check of the peer runners ----

def rel_error(y, ref):
    """max |y - ref| / max |ref|, teesplit's agreement measure (core/tensor.h)."""
    import numpy as np
    return float(np.max(np.abs(y - ref)) / max(1e-12, float(np.max(np.abs(ref)))))


def check_peers(args, peers, models):
    """Runs each C++/JS peer runner once per model on the exporter's reference input
    (ARCH.input.npy, batch 1) and once on the seeded random input, and compares
    the outputs with PyTorch's (ARCH.output.npy) and with ONNX Runtime's.
    Returns the number of failed comparisons."""
    import numpy as np

    tmp = os.path.join(os.path.dirname(os.path.abspath(args.results)), "check")
    os.makedirs(tmp, exist_ok=True)
    bad = 0
    for model in models:
        ref = np.load(os.path.join(args.models_dir, model + ".output.npy"))
        random_out = {}
        for peer in [p for p in peers if not p.startswith("teesplit")]:
            for what in ("reference", "random"):
                out = os.path.join(tmp, f"{model}.{peer}.{what}.npy")
                if os.path.exists(out):
                    os.remove(out)
                cmd = peer_command(peer, args.build_dir, args.models_dir, model, 1, 2, 0, 1)
                cmd += ["--output", out]
                if what == "reference":
                    cmd += ["--input", os.path.join(args.models_dir, model + ".input.npy")]
                rc, so, se = run_cmd(cmd, env=peer_env(peer), timeout=PROCESS_TIMEOUT_S)
                if rc != 0 or not os.path.exists(out):
                    log(f"check {model} {peer} {what}: FAILED to run: {se.strip()[-400:]}")
                    bad += 1
                    continue
                y = np.load(out)
                if what == "random":
                    random_out[peer] = y
                    continue
                err = rel_error(y, ref)
                ok = y.shape == ref.shape and err < 1e-3
                bad += 0 if ok else 1
                log(f"check {model} {peer}: shape {list(y.shape)}, max error / max |ref| "
                    f"{err:.2e} vs PyTorch: {'ok' if ok else 'FAILED'}")
        if "onnxruntime" in random_out:
            base = random_out["onnxruntime"]
            for peer, y in random_out.items():
                if peer == "onnxruntime":
                    continue
                err = rel_error(y, base)
                ok = y.shape == base.shape and err < 1e-3
                bad += 0 if ok else 1
                log(f"check {model} {peer}: same seeded input as ONNX Runtime, output error "
                    f"{err:.2e}: {'ok' if ok else 'FAILED'}")
    return bad


# ---- report ----

def summarize(samples):
    out = {}
    for key, ts in samples.items():
        out[key] = {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "n": len(ts)}
    return out


def fmt_ms(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def write_report(path, meta, samples, memory, failures):
    stats = summarize(samples)
    peers = [p for p in FP32_PEERS if p in meta["peers"]]
    base = "teesplit" if "teesplit" in peers else "onnxruntime"
    lines = []
    w = lines.append
    w("# Benchmarks: teesplit and its peers on CPU")
    w("")
    w("Generated by `bench/run_benchmarks.py`; do not edit by hand. Rerun the command below to")
    w("reproduce (times drift by about ±10% between runs on this machine; compare ratios).")
    w("")
    w(f"- Date: {meta['date']}")
    w(f"- CPU: {meta['cpu']} ({meta['cpus']} logical CPUs), {meta['kernel']}")
    w(f"- Load average (1 min) at start / end: {meta['load_start']} / {meta.get('load_end', '?')}")
    if meta.get("busy_launches"):
        k, n = meta["busy_launches"]
        w(f"- Peer processes started while other load kept the CPUs over 25% busy: {k} of {n} "
          f"(after waiting up to {meta.get('max_wait', '?')} s for quiet)")
    w(f"- teesplit: git {meta.get('teesplit') or 'unknown'}")
    ort_pkg = "python3 onnxruntime" if meta.get("ort_runner") == "python" else "onnxruntime-node"
    w(f"- ONNX Runtime: {ort_pkg} {meta.get('onnxruntime') or 'not installed'} (CPU provider)")
    w(f"- OpenCV DNN: libopencv-dev {meta.get('opencv') or 'not installed'}")
    w(f"- LibTorch: libtorch-dev {meta.get('libtorch') or 'not installed'}")
    w(f"- BLAS for LibTorch and OpenCV: {meta.get('blas', '?')}")
    w(f"- Command: `{meta['command']}`")
    w("")
    w("## Method")
    w("")
    if meta.get("models_source") == "zoo":
        w("Models: `teesplit zoo`'s VGG-16, ResNet-50 and EfficientNet-B0 (torchvision's")
        w("architectures with seeded weights, `--models-source zoo`), input 3×224×224, float32.")
        w("Every peer runs the same file.")
    else:
        w("Models: torchvision 0.14 VGG-16, ResNet-50 and EfficientNet-B0 with random weights")
        w("(`tests/fixtures/export_torchvision.py`, seed 0), exported to ONNX opset 13 with a dynamic")
        w("batch and as a TorchScript trace, input 3×224×224, float32. Every peer runs the same")
        w("weights. OpenCV 4.6 gets a rewritten copy (`bench/prepare_models.py`: Identity nodes of")
        w("shared weights become separate initializers and the batch is fixed, which OpenCV needs).")
    w("")
    w("Each peer is a separate process that loads the model, runs W untimed warm-up inferences,")
    w("then R timed ones on one seeded random input, and prints its times:")
    ort_file = "bench/ort_runner.py" if meta.get("ort_runner") == "python" else "bench/ort_runner.js"
    w(f"teesplit `build/teesplit bench`; ONNX Runtime `{ort_file}` (intra-op threads = N,")
    w("inter-op 1, sequential, graph optimisation level `all`); OpenCV `bench/opencv_runner`")
    w("(`DNN_BACKEND_OPENCV`, `DNN_TARGET_CPU`, `cv::setNumThreads(N)`); LibTorch")
    w("`bench/libtorch_runner` (TorchScript, `InferenceMode`, `at::set_num_threads(N)`, inter-op 1,")
    w("`OPENBLAS_NUM_THREADS=1`). Only inference is timed: no model loading, no input conversion.")
    w(f"For each configuration the peers run in turn, {meta['rounds']} rounds, each round starting")
    w("with the next peer, so that background load on this shared machine falls on all of them.")
    w("All timed samples of a peer are pooled; the tables give their median in milliseconds per")
    w("batch.")
    if base == "teesplit":
        w("A ratio is teesplit's median divided by the peer's: below 1 means teesplit is faster.")
    else:
        w("teesplit was not part of this run; a ratio is the peer's median divided by ONNX Runtime's.")
    w("")
    for threads in sorted({k[0] for k in stats}):
        w(f"## {threads} thread{'s' if threads > 1 else ''}")
        w("")
        others = [p for p in peers if p != base]
        head = ["model", "batch"] + [f"{PEER_TITLES[p]} ms" for p in peers]
        if base == "teesplit":
            head += [f"teesplit / {PEER_TITLES[p]}" for p in others]
        else:
            head += [f"{PEER_TITLES[p]} / ONNX Runtime" for p in others]
        w("| " + " | ".join(head) + " |")
        w("|" + "|".join(["---", "---:"] + ["---:"] * (len(head) - 2)) + "|")
        rows = sorted({(k[1], k[2]) for k in stats if k[0] == threads},
                      key=lambda mb: (ALL_MODELS.index(mb[0]) if mb[0] in ALL_MODELS else 99, mb[1]))
        for model, batch in rows:
            cells = [MODEL_TITLES.get(model, model), str(batch)]
            for p in peers:
                s = stats.get((threads, model, batch, p))
                cells.append(fmt_ms(s["median"]) if s else "—")
            b = stats.get((threads, model, batch, base))
            for p in others:
                s = stats.get((threads, model, batch, p))
                if b and s:
                    r = b["median"] / s["median"] if base == "teesplit" else s["median"] / b["median"]
                    cells.append(f"{r:.2f}")
                else:
                    cells.append("—")
            w("| " + " | ".join(cells) + " |")
        w("")
    if "teesplit-bf16" in meta["peers"]:
        write_bf16_section(w, stats)
    if memory:
        w("## teesplit memory")
        w("")
        w("As reported by `teesplit bench`: peak activation memory (the runtime's plan), weights,")
        w("and the process's peak resident set, in MiB.")
        w("")
        w("| threads | model | batch | precision | peak activations | weights | peak RSS |")
        w("|---:|---|---:|---|---:|---:|---:|")
        for key in sorted(memory, key=lambda k: (k[0], ALL_MODELS.index(k[1]) if k[1] in
                                                 ALL_MODELS else 99, k[2], k[3])):
            m = memory[key]
            cells = [f"{m[k] / 2**20:.1f}" if k in m else "—" for k in MEMORY_KEYS]
            precision = "bf16" if key[3] == "teesplit-bf16" else "fp32"
            w(f"| {key[0]} | {MODEL_TITLES.get(key[1], key[1])} | {key[2]} | {precision} | "
              + " | ".join(cells) + " |")
        w("")
    w("## Spread")
    w("")
    w("Median, minimum and maximum of all timed samples (ms), and their number.")
    w("")
    w("| threads | model | batch | peer | median | min | max | n |")
    w("|---:|---|---:|---|---:|---:|---:|---:|")
    for key in sorted(stats, key=lambda k: (k[0], ALL_MODELS.index(k[1]) if k[1] in ALL_MODELS
                                            else 99, k[2], ALL_PEERS.index(k[3]))):
        s = stats[key]
        w(f"| {key[0]} | {MODEL_TITLES.get(key[1], key[1])} | {key[2]} | {PEER_TITLES[key[3]]} | "
          f"{fmt_ms(s['median'])} | {fmt_ms(s['min'])} | {fmt_ms(s['max'])} | {s['n']} |")
    w("")
    if failures:
        w("## Failures")
        w("")
        for threads, model, batch, peer, msg in failures:
            w(f"- {PEER_TITLES[peer]}, {MODEL_TITLES.get(model, model)} batch {batch}, "
              f"{threads} threads: {msg}")
        w("")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # The GPU section (from scripts/device-check.sh on a GPU machine) is written
    # by hand below GPU_MARKER; keep it.
    kept = ""
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
        at = old.find(GPU_MARKER)
        if at >= 0:
            kept = "\n" + old[at:]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + kept)
    log(f"wrote {path}")


GPU_MARKER = "<!-- GPU section: kept as is by bench/run_benchmarks.py -->"


def write_bf16_section(w, stats):
    """The bf16 table: teesplit bf16 beside teesplit fp32 and ONNX Runtime fp32 of the
    same run, the speed-ups, and the issue's targets (met or not, per configuration)."""
    w("## bf16 (`teesplit bench --precision bf16`)")
    w("")
    w("teesplit's bf16 path (docs/usage.md, \"Precision\") beside teesplit fp32 and ONNX")
    w("Runtime fp32, all from this run. Speed-up = ONNX Runtime's median / teesplit bf16's.")
    w("Targets (issue 14): at least 4x on VGG-16 and ResNet-50, 1.4x on EfficientNet-B0.")
    w("")
    w("| threads | model | batch | teesplit bf16 ms | teesplit fp32 ms | ONNX Runtime ms | "
      "bf16 / fp32 speed-up | bf16 / ONNX Runtime speed-up | target | met |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
    keys = sorted({(k[0], k[1], k[2]) for k in stats if k[3] == "teesplit-bf16"},
                  key=lambda k: (k[0], ALL_MODELS.index(k[1]) if k[1] in ALL_MODELS else 99,
                                 k[2]))
    for threads, model, batch in keys:
        b = stats[(threads, model, batch, "teesplit-bf16")]["median"]
        f = stats.get((threads, model, batch, "teesplit"))
        o = stats.get((threads, model, batch, "onnxruntime"))
        target = BF16_TARGETS.get(model)
        up_f = f"{f['median'] / b:.2f}" if f else "—"
        up_o = o["median"] / b if o else None
        met = "—" if up_o is None or target is None else ("yes" if up_o >= target else "no")
        w(f"| {threads} | {MODEL_TITLES.get(model, model)} | {batch} | {fmt_ms(b)} | "
          f"{fmt_ms(f['median']) if f else '—'} | {fmt_ms(o['median']) if o else '—'} | {up_f} | "
          f"{f'{up_o:.2f}' if up_o is not None else '—'} | "
          f"{f'{target:.1f}' if target else '—'} | {met} |")
    w("")


def read_results(path):
    meta, samples, memory, failures = None, {}, {}, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            if "meta" in obj:
                meta = obj["meta"]
            elif "failure" in obj:
                failures.append(tuple(obj["failure"]))
            else:
                add_record(obj, samples, memory)
    if meta is None:
        raise ValueError(f"{path}: no metadata line")
    return meta, samples, memory, failures


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--models", type=lambda s: csv_list(s, ALL_MODELS), default=list(ALL_MODELS))
    ap.add_argument("--batches", type=positive_ints, default=[1, 8])
    ap.add_argument("--threads", type=positive_ints, default=[1, 2])
    ap.add_argument("--peers", type=lambda s: csv_list(s, ALL_PEERS), default=list(ALL_PEERS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs-scale", type=float, default=1.0,
                    help="multiply the timed runs per process (default 1)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--teesplit", help="the teesplit CLI (default BUILD_DIR/teesplit; not built "
                    "when given)")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "build", "bench", "models"))
    ap.add_argument("--no-build", action="store_true", help="use the runners already built")
    ap.add_argument("--max-wait", type=float, default=20.0,
                    help="before each peer process, wait up to this many seconds for the "
                         "CPUs to be idle (other users' load); 0: do not wait")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--results", default=os.path.join(ROOT, "build", "bench", "results.jsonl"))
    ap.add_argument("--ort", choices=("node", "python"), default="node",
                    help="ONNX Runtime through onnxruntime-node (bench/ort_runner.js, default) "
                         "or python3's onnxruntime (bench/ort_runner.py)")
    ap.add_argument("--models-source", choices=("torchvision", "zoo"), default="torchvision",
                    help="export torchvision's models (default) or write `teesplit zoo`'s")
    ap.add_argument("--check", action="store_true",
                    help="only check that the peers compute the same outputs (batch 1)")
    ap.add_argument("--report-only", action="store_true",
                    help="rebuild --doc from --results without running anything")
    args = ap.parse_args(argv)
    if not 1 <= args.rounds <= 100 or not 0 < args.runs_scale <= 100:
        ap.error("--rounds must be in 1..100 and --runs-scale in (0, 100]")
    args.build_dir = os.path.abspath(args.build_dir)
    args.models_dir = os.path.abspath(args.models_dir)
    global TEESPLIT_BIN, ORT_RUNNER
    TEESPLIT_BIN = os.path.abspath(args.teesplit) if args.teesplit else None
    ORT_RUNNER = args.ort
    if args.check and args.models_source == "zoo":
        ap.error("--check compares with PyTorch's outputs: it needs --models-source torchvision")

    if args.report_only:
        try:
            meta, samples, memory, failures = read_results(args.results)
        except (OSError, ValueError, KeyError) as e:
            log(f"cannot read {args.results}: {e}")
            return 1
        write_report(args.doc, meta, samples, memory, failures)
        return 0

    peers = list(args.peers)
    if not args.no_build:
        built = build_targets(args.build_dir, [p for p in peers
                                               if not (p.startswith("teesplit") and TEESPLIT_BIN)])
        peers = [p for p in peers if p in built or (p.startswith("teesplit") and TEESPLIT_BIN)]
    if TEESPLIT_BIN and not os.access(TEESPLIT_BIN, os.X_OK):
        for p in ("teesplit", "teesplit-bf16"):
            if p in peers:
                log(f"{TEESPLIT_BIN} is not an executable; peer {p} left out")
                peers.remove(p)
    if "onnxruntime" in peers and not ensure_ort():
        log("onnxruntime-node is not installed; peer onnxruntime left out")
        peers.remove("onnxruntime")
    if not peers:
        log("no peer left to run")
        return 1
    os.makedirs(args.models_dir, exist_ok=True)
    models = ensure_models(args.models_dir, args.models, args.batches, "opencv" in peers,
                           args.models_source, TEESPLIT_BIN or os.path.join(args.build_dir, "teesplit"))
    if not models:
        log("no model could be exported")
        return 1
    blas_desc = "not used"
    if "libtorch" in peers or "opencv" in peers:
        blas_desc = blas_description()

    if args.check:
        bad = check_peers(args, peers, models)
        log(f"check: {bad} failure(s)")
        return 1 if bad else 0

    meta = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(), "cpus": cpu_count(),
        "kernel": f"Linux {platform.release()}",
        "load_start": loadavg(),
        "teesplit": git_revision() if any(p.startswith("teesplit") for p in peers) else None,
        "onnxruntime": ort_version(), "ort_runner": ORT_RUNNER,
        "models_source": args.models_source,
        "opencv": dpkg_version("libopencv-dev"),
        "libtorch": dpkg_version("libtorch-dev"),
        "blas": blas_desc,
        "peers": peers, "rounds": args.rounds, "max_wait": args.max_wait,
        "command": "/usr/bin/python3 bench/run_benchmarks.py " + " ".join(
            shlex.quote(a) for a in argv),
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as rf:
        rf.write(json.dumps({"meta": meta}) + "\n")
        samples, memory, failures, meta["busy_launches"] = run_all(args, peers, models, rf)
        meta["load_end"] = loadavg()
        for f in failures:
            rf.write(json.dumps({"failure": list(f)}) + "\n")
        rf.write(json.dumps({"meta": meta}) + "\n")   # the last meta line wins on re-read
    log(f"wrote {args.results}")
    write_report(args.doc, meta, samples, memory, failures)
    return 0 if samples else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
