#!/usr/bin/python3
"""Serving throughput: teesplit serve under a bounded load on loopback (docs/benchmarks.md).

  /usr/bin/python3 bench/run_serve_load.py [--model resnet50] [--size 224] [--cut middle]
      [--precision fp32|bf16]
      [--workers 4] [--threads 1] [--enclave-threads 1]
      [--config 'NAME=SERVE ARGS' ...] [--serve-arg ARG ...]
      [--sat-clients 8] [--sat-duration 40] [--levels 25,50,90,100]
      [--level-requests 400] [--level-duration 45] [--open-clients 32]
      [--compute-runs 20] [--time-limit 1500] [--build-dir build] [--no-build]
      [--work-dir build/bench/serve-load] [--results FILE] [--metrics] [--insecure]

Steps: build teesplit, teesplit-enclave and bench/serve_load (unless
--no-build); `serve_load prepare`: the zoo model, its split at the cut (the
middle one of the cuts before the classifier by default) and a reference
input and output; `serve_load compute`: the CPU time per request of the
front (on --enclave-threads, as a worker runs it) and the back (on --threads,
as the host runs it) alone in one process. Then, for every --config (a name
and extra `teesplit serve` arguments, e.g. --config 'no batching=' --config
'batch 4=--max-batch 4 --max-delay-ms 5'; default one config, 'as is', with
none), start `teesplit
serve SPLIT --workers N --threads T --enclave-threads E` plus the config's
and every --serve-arg's arguments, and with `serve_load run`:

  1. saturation: a closed loop of C clients (each of --sat-clients, in turn)
     for --sat-duration seconds each; the median of their throughputs is the
     saturation throughput X; over each run, the CPU time (user + system) of
     the server and of its worker processes per completed request, beside the
     in-process compute (measured before and after each config: the mean);
  2. open loop at each --levels percentage of X (Poisson arrivals, at most
     --open-clients requests in flight, more are dropped), at most
     --level-requests requests or --level-duration seconds: p50 and p99.

Every request carries a random input, and every 10th of a client the
reference input, whose result must match the whole model's (a wrong result
fails the run). The server is stopped (SIGTERM) after each config. Progress
goes to stderr, JSON lines to --results, and the markdown tables for
docs/benchmarks.md to stdout. --time-limit bounds the whole run: once past it,
the remaining levels and configs are skipped (and said so).

--metrics starts the server with --metrics-listen and reads its /metrics
before and after each closed loop: the mean back-partition batch and the mean
time of each stage over that loop go into the results and a third table.
--precision bf16 splits with a bf16 front (split --precision bf16): the
enclave workers run it in bf16 (on AMX where the CPU has it), and the
reference check allows bf16's rounding (--tolerance, default 1e-4 for fp32 and
0.05 for bf16, relative to the largest logit).
--insecure runs workers whose lockdown fails (serve --insecure, and the
client accepts them): for machines without memfd_secret or Landlock, such as
some GPU machines; the tables then say so.
"""

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = time.monotonic()


def log(msg):
    print(f"[serve-load {time.strftime('%H:%M:%S')} +{time.monotonic() - T0:.0f}s] {msg}",
          file=sys.stderr, flush=True)


def run_json(cmd, timeout):
    """Runs cmd; returns the JSON object of its last stdout line that starts with '{'."""
    log("$ " + " ".join(shlex.quote(c) for c in cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines or p.returncode not in (0, 1):
        sys.exit(f"failed (exit {p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    j = json.loads(lines[-1])
    if p.returncode == 1:
        sys.exit(f"wrong results or nothing completed: {json.dumps(j)}\n{p.stderr}")
    return j


class Server:
    """teesplit serve in a child process, until it prints 'listening on ADDR'."""

    def __init__(self, cmd, log_path, append=False):
        log("$ " + " ".join(shlex.quote(c) for c in cmd))
        self.out = open(log_path, "a" if append else "w")
        self.out.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        self.out.flush()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.out, text=True)
        self.address = None
        self.metrics_url = None
        want_metrics = "--metrics-listen" in cmd
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            if line.startswith("listening on "):
                self.address = line.split()[2]
            elif line.startswith("metrics on "):
                self.metrics_url = line.split()[2]
            if self.address and (self.metrics_url or not want_metrics):
                break
        if not self.address or (want_metrics and not self.metrics_url):
            self.stop()
            sys.exit(f"teesplit serve did not come up; see {log_path}")

    def metrics(self):
        """The server's counters and histogram sums: {name{labels}: value}."""
        if not self.metrics_url:
            return None
        with urllib.request.urlopen(self.metrics_url, timeout=30) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "_bucket{" not in line:
                key, _, value = line.rpartition(" ")
                out[key] = float(value)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def metrics_delta(before, after):
    """Mean back batch and mean time per stage between two reads of /metrics."""
    d = lambda k: after.get(k, 0.0) - before.get(k, 0.0)
    batches = d("teesplit_back_batch_size_count")
    stages = {}
    for key in after:
        if key.startswith("teesplit_stage_seconds_count{"):
            label = key[key.index("{"):]
            n = d(key)
            if n > 0:
                stage = label.split('"')[1]
                stages[stage] = d("teesplit_stage_seconds_sum" + label) / n * 1e3
    return {"batches": batches,
            "mean_batch": d("teesplit_back_batch_size_sum") / batches if batches else 0.0,
            "stage_mean_ms": stages,
            # every RPC: attestations and inferences, the warm-up's too
            "requests": sum(d(k) for k in after if k.startswith("teesplit_requests_total")),
            "errors": sum(d(k) for k in after if k.startswith("teesplit_errors_total"))}


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "loadavg": list(os.getloadavg())}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--cut", default="middle")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="the front's precision (split --precision)")
    ap.add_argument("--tolerance", type=float, default=None,
                    help="the reference check's max relative error (default 1e-4; bf16: 0.05)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1, help="the back partition's (serve --threads)")
    ap.add_argument("--enclave-threads", type=int, default=1)
    ap.add_argument("--config", action="append", default=[],
                    help="NAME=EXTRA SERVE ARGS (repeatable); default one config with none")
    ap.add_argument("--serve-arg", action="append", default=[],
                    help="an argument added to every teesplit serve command (repeatable)")
    ap.add_argument("--sat-clients", default="8", help="closed-loop client counts, comma-separated")
    ap.add_argument("--sat-duration", type=float, default=40)
    ap.add_argument("--levels", default="25,50,90,100",
                    help="percentages of saturation (\"\": none)")
    ap.add_argument("--level-requests", type=int, default=400)
    ap.add_argument("--level-duration", type=float, default=45)
    ap.add_argument("--open-clients", type=int, default=32,
                    help="open loop: sessions, so the most requests in flight")
    ap.add_argument("--compute-runs", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=1500, help="seconds for the whole run")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--work-dir", default=None, help="default BUILD_DIR/bench/serve-load")
    ap.add_argument("--results", default=None, help="default WORK_DIR/results.jsonl")
    ap.add_argument("--metrics", action="store_true",
                    help="read the server's /metrics around each closed loop: mean batch, stage times")
    ap.add_argument("--insecure", action="store_true",
                    help="serve --insecure, and the client accepts workers without their lockdown")
    a = ap.parse_args()
    work = a.work_dir or os.path.join(a.build_dir, "bench", "serve-load")
    os.makedirs(work, exist_ok=True)
    results_path = a.results or os.path.join(work, "results.jsonl")
    configs = []
    for c in a.config or ["as is="]:
        name, _, args = c.partition("=")
        configs.append((name, shlex.split(args)))
    teesplit = os.path.join(a.build_dir, "teesplit")
    load = os.path.join(a.build_dir, "bench", "serve_load")
    at_start = machine()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    log(f"{at_start['cpus']} CPUs ({at_start['cpu']}), load average {at_start['loadavg']}")

    if not a.no_build:
        subprocess.run(["cmake", "--build", a.build_dir, "-j2", "--target", "teesplit",
                        "teesplit-enclave", "serve_load"], check=True)
    prep = run_json([load, "prepare", "--model", a.model, "--size", str(a.size), "--cut", a.cut,
                     "--precision", a.precision, "--work-dir", work], 1800)
    log(f"split {a.model} {a.size}x{a.size} at {prep['cut']} (cut {prep['cut_index']}), "
        f"feature {prep['feature_shape']}")
    compute_cmd = [load, "compute", prep["split"], "--threads", str(a.threads),
                   "--enclave-threads", str(a.enclave_threads), "--runs", str(a.compute_runs)]

    def measure_compute():
        c = run_json(compute_cmd, 1800)
        log(f"in-process compute: {c['compute_cpu_ms']:.2f} ms CPU per request "
            f"(front {c['front_cpu_ms']:.2f}, back {c['back_cpu_ms']:.2f})")
        return c

    computes = [measure_compute()]
    results = open(results_path, "w")
    meta = {"kind": "meta", "commit": commit, "machine": at_start, "prepare": prep,
            "compute": computes[0], "argv": sys.argv[1:]}
    results.write(json.dumps(meta) + "\n")

    client = [load, "run", None, "--expect-manifest", os.path.join(prep["split"], "manifest.json"),
              "--sim-root", os.path.join(work, "sim-root.pem"), "--allow-simulated",
              "--reference-input", prep["reference_input"],
              "--reference-output", prep["reference_output"]]
    tolerance = a.tolerance if a.tolerance is not None else (0.05 if a.precision == "bf16" else 1e-4)
    client += ["--tolerance", f"{tolerance:g}"]
    if a.insecure:
        client.append("--allow-insecure")
    rows = []
    skipped = []
    for i, (name, extra) in enumerate(configs):
        if time.monotonic() - T0 > a.time_limit:
            skipped.append(f"config '{name}'")
            continue
        cmd = [teesplit, "serve", prep["split"], "--listen", "127.0.0.1:0", "--workers",
               str(a.workers), "--threads", str(a.threads), "--enclave-threads",
               str(a.enclave_threads), "--sim-root", os.path.join(work, "sim-root.pem"),
               "--state-dir", os.path.join(work, "state")] + extra + a.serve_arg
        if a.metrics:
            cmd += ["--metrics-listen", "127.0.0.1:0"]
        if a.insecure:
            cmd.append("--insecure")
        # One log for all configs, each after its command line.
        server = Server(cmd, os.path.join(work, "serve.log"), append=i > 0)
        try:
            client[2] = server.address
            base = client + ["--server-pid", str(server.proc.pid)]
            closed = []
            for c in [int(x) for x in a.sat_clients.split(",")]:
                # The warm-up requests are in the counters too: read them after it
                # would be better, but serve_load's warm-up and timed requests are
                # one run; with --warmup 2 they are a small share of a loop.
                before = server.metrics()
                r = run_json(base + ["--clients", str(c), "--warmup", "2", "--requests", "1000000",
                                     "--duration", str(a.sat_duration)],
                             a.sat_duration + 600)
                r.update(kind="saturation", config=name, serve_args=extra + a.serve_arg)
                if before is not None:
                    r["server_metrics"] = metrics_delta(before, server.metrics())
                results.write(json.dumps(r) + "\n")
                results.flush()
                if "server_metrics" in r:
                    m = r["server_metrics"]
                    log(f"[{name}] server: mean batch {m['mean_batch']:.2f} over "
                        f"{m['batches']:.0f} batches; mean ms per stage: " +
                        ", ".join(f"{k} {v:.2f}" for k, v in m["stage_mean_ms"].items()))
                log(f"[{name}] closed loop, {c} clients: {r['throughput_rps']:.2f} req/s, "
                    f"p50 {r['latency_ms']['p50']:.1f} ms, p99 {r['latency_ms']['p99']:.1f} ms, "
                    f"server CPU {r['server_cpu_ms_per_request']:.2f} ms/request (host "
                    f"{r['server_host_cpu_ms_per_request']:.2f}, workers "
                    f"{r['server_workers_cpu_ms_per_request']:.2f})")
                closed.append(r)
            # The saturation throughput: the median of the closed-loop runs (the
            # machine is shared; one lucky or unlucky run should not set the levels).
            sat = statistics.median(r["throughput_rps"] for r in closed)
            log(f"[{name}] saturation throughput {sat:.2f} req/s")
            levels = []
            for pct in [float(x) for x in a.levels.split(",") if x.strip()]:
                if time.monotonic() - T0 > a.time_limit:
                    skipped.append(f"config '{name}' at {pct:g}%")
                    continue
                rate = sat * pct / 100.0
                n = max(20, min(a.level_requests, int(rate * a.level_duration)))
                r = run_json(base + ["--clients", str(a.open_clients), "--warmup", "1", "--rate",
                                     f"{rate:.4f}", "--requests", str(n), "--duration",
                                     str(a.level_duration)], a.level_duration + 600)
                r.update(kind="level", config=name, percent=pct,
                         serve_args=extra + a.serve_arg)
                results.write(json.dumps(r) + "\n")
                results.flush()
                log(f"[{name}] open loop at {pct:g}% ({rate:.2f} req/s): {r['completed']} done, "
                    f"{r['dropped']} dropped, {r['failed_total']} failed, p50 "
                    f"{r['latency_ms']['p50']:.1f} ms, p99 {r['latency_ms']['p99']:.1f} ms")
                levels.append(r)
            rows.append((name, extra + a.serve_arg, sat, closed, levels))
        finally:
            server.stop()
        computes.append(measure_compute())
    at_end = machine()
    results.write(json.dumps({"kind": "end", "machine": at_end}) + "\n")
    results.close()

    # The tables for docs/benchmarks.md.
    la = lambda m: ", ".join(f"{x:.2f}" for x in m["loadavg"])
    print(f"Serving throughput: {a.model} {a.size}x{a.size}, cut {prep['cut']} "
          f"(feature {'x'.join(str(d) for d in prep['feature_shape'])}), {a.workers} workers "
          f"({a.enclave_threads} thread each, {prep.get('precision', 'fp32')} front), back partition "
          f"on {a.threads} thread(s); "
          f"commit {commit}; {at_start['cpus']} CPUs ({at_start['cpu']}); load average "
          f"{la(at_start)} at the start, {la(at_end)} at the end.\n")
    # The in-process compute: the mean of the measurements before and after each config.
    comp = {k: statistics.mean(c[k] for c in computes)
            for k in computes[0] if k.endswith("_cpu_ms")}
    print(f"In-process compute per request (CPU time; mean of {len(computes)} measurements of "
          f"{a.compute_runs} requests, before and after each config: "
          + ", ".join(f"{c['compute_cpu_ms']:.2f}" for c in computes) + " ms): front "
          f"{comp['front_cpu_ms']:.2f} ms + back {comp['back_cpu_ms']:.2f} ms"
          + (f" + tail {comp['tail_cpu_ms']:.2f} ms" if "tail_cpu_ms" in comp else "")
          + f" = {comp['compute_cpu_ms']:.2f} ms.\n")
    print("| config | serve arguments | closed-loop clients | req/s | p50 ms | p99 ms | server CPU "
          "ms/request (host + workers) | / in-process compute | client CPU ms/request |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, args, sat, closed, _ in rows:
        for s in closed:
            print(f"| {name} | `{' '.join(args) or '-'}` | {s['clients']} | "
                  f"{s['throughput_rps']:.2f} | {s['latency_ms']['p50']:.1f} | "
                  f"{s['latency_ms']['p99']:.1f} | {s['server_cpu_ms_per_request']:.2f} "
                  f"({s['server_host_cpu_ms_per_request']:.2f} + "
                  f"{s['server_workers_cpu_ms_per_request']:.2f}) | "
                  f"{s['server_cpu_ms_per_request'] / comp['compute_cpu_ms']:.3f} | "
                  f"{s['client_cpu_ms_per_request']:.2f} |")
    print()
    print("| config | load | offered req/s | completed | dropped | failed | achieved req/s | "
          "p50 ms | p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, _, sat, _, levels in rows:
        for r in levels:
            print(f"| {name} | {r['percent']:g}% of {sat:.2f} | {r['target_rate_rps']:.2f} | "
                  f"{r['completed']} | {r['dropped']} | {r['failed_total']} | "
                  f"{r['throughput_rps']:.2f} | {r['latency_ms']['p50']:.1f} | "
                  f"{r['latency_ms']['p99']:.1f} |")
    measured = [(name, s) for name, _, _, closed, _ in rows for s in closed
                if "server_metrics" in s]
    if measured:
        stages = list(measured[0][1]["server_metrics"]["stage_mean_ms"])
        print()
        print("| config | closed-loop clients | mean back batch | batches | "
              + " | ".join(f"{st} ms (mean)" for st in stages) + " |")
        print("|---|---:|---:|---:|" + "---:|" * len(stages))
        for name, s in measured:
            m = s["server_metrics"]
            print(f"| {name} | {s['clients']} | {m['mean_batch']:.2f} | {m['batches']:.0f} | "
                  + " | ".join(f"{m['stage_mean_ms'].get(st, float('nan')):.2f}" for st in stages)
                  + " |")
    if a.insecure:
        print("\nWorkers ran with --insecure (their lockdown was not required).")
    if skipped:
        print(f"\nSkipped (--time-limit {a.time_limit:g} s): {', '.join(skipped)}")
    log(f"done; results in {results_path}")


if __name__ == "__main__":
    main()
