#!/usr/bin/env python3
"""Tests of the benchmark tools that run where Node.js or torchvision are missing
(bench/ort_runner.py, run_benchmarks.py --ort python --models-source zoo,
bench/onednn_profile.py), registered with CTest.

  test_bench_scripts.py TEESPLIT

TEESPLIT is the built teesplit CLI. python3's onnxruntime is not a Debian package,
so ONNX Runtime itself is replaced by a stand-in module written to a temporary
directory: it checks the session settings the runner asks for, records them, and
answers with a fixed output. What is tested is the runner and the driver around
ONNX Runtime (arguments, seeded input, JSON line, --output, errors, the peer
command, the report), not ONNX Runtime's numbers; the real library ran on the GPU
machine (docs/benchmarks.md, "bf16 on AMX").
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
import ort_runner  # noqa: E402

TEESPLIT = None

STUB = '''
import json, os, numpy as np
__version__ = "0.0-stub"
class SessionOptions: pass
class ExecutionMode: ORT_SEQUENTIAL = "sequential"
class GraphOptimizationLevel: ORT_ENABLE_ALL = "all"
class _Input:
    name = "x"
    shape = ["batch", 3, 10, 12]
class InferenceSession:
    def __init__(self, path, so, providers):
        open(path, "rb").close()
        self.settings = dict(intra=so.intra_op_num_threads, inter=so.inter_op_num_threads,
                             mode=so.execution_mode, level=so.graph_optimization_level,
                             providers=providers)
    def get_inputs(self):
        return [_Input()]
    def run(self, outputs, feed):
        (x,) = feed.values()
        log = os.environ.get("STUB_ORT_LOG")
        if log:
            with open(log, "w") as f:
                json.dump(dict(self.settings, shape=list(x.shape), dtype=str(x.dtype),
                               first=[float(v) for v in x.reshape(-1)[:3]]), f)
        return [np.full((x.shape[0], 5), 2.5, np.float32)]
'''


def lcg_loop(count, seed):
    s = (seed & 0xFFFFFFFF) or 1
    out = np.empty(count, np.float32)
    for i in range(count):
        s = (s * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = (s >> 8) / 8388608.0 - 1.0
    return out


class OrtRunner(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        stub_dir = os.path.join(cls.tmp.name, "stub", "onnxruntime")
        os.makedirs(stub_dir)
        with open(os.path.join(stub_dir, "__init__.py"), "w") as f:
            f.write(STUB)
        cls.env = dict(os.environ, PYTHONPATH=os.path.join(cls.tmp.name, "stub"),
                       STUB_ORT_LOG=os.path.join(cls.tmp.name, "session.json"))
        cls.model = os.path.join(cls.tmp.name, "tiny.onnx")
        with open(cls.model, "wb") as f:
            f.write(b"not parsed by the stub")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def runner(self, *args):
        return subprocess.run([sys.executable, os.path.join(BENCH, "ort_runner.py")] + list(args),
                              env=self.env, capture_output=True, text=True, timeout=120)

    def test_seeded_input_is_the_cpp_runners_lcg_across_block_boundaries(self):
        for n in (1, 2, 4095, 4096, 4097, 9000):
            for seed in (0, 1, 7, 2**32 + 5):
                np.testing.assert_array_equal(ort_runner.lcg_input(n, seed), lcg_loop(n, seed),
                                              err_msg=f"n={n} seed={seed}")
        # The first value for seed 1, as bench/runner_common.h's fill_random computes it.
        self.assertEqual(float(ort_runner.lcg_input(1, 1)[0]), -0.52708899974823)

    def test_prints_one_json_line_with_the_settings_of_ort_runner_js(self):
        out = os.path.join(self.tmp.name, "y.npy")
        p = self.runner(self.model, "--batch", "2", "--threads", "3", "--warmup", "1",
                        "--runs", "4", "--seed", "7", "--output", out, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), 1)
        r = json.loads(lines[0])
        self.assertEqual((r["peer"], r["model"], r["batch"], r["threads"], r["runtime"]),
                         ("onnxruntime", "tiny", 2, 3, "python"))
        self.assertEqual(len(r["times_ms"]), 4)
        self.assertTrue(all(t > 0 for t in r["times_ms"]))
        with open(self.env["STUB_ORT_LOG"]) as f:
            s = json.load(f)
        self.assertEqual((s["intra"], s["inter"], s["mode"], s["level"], s["providers"]),
                         (3, 1, "sequential", "all", ["CPUExecutionProvider"]))
        # The batch from --batch, C/H/W from the model's input; float32, seeded.
        self.assertEqual((s["shape"], s["dtype"]), ([2, 3, 10, 12], "float32"))
        self.assertEqual(s["first"], [float(v) for v in lcg_loop(3, 7)])
        y = np.load(out)
        self.assertEqual((y.shape, y.dtype, float(y[0, 0])), ((2, 5), np.float32, 2.5))

    def test_reads_its_input_from_npy_and_checks_it(self):
        x = os.path.join(self.tmp.name, "x.npy")
        np.save(x, np.full((1, 3, 4, 4), 0.25, np.float32))
        p = self.runner(self.model, "--input", x, "--runs", "1", "--warmup", "0")
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(self.env["STUB_ORT_LOG"]) as f:
            self.assertEqual(json.load(f)["first"], [0.25, 0.25, 0.25])
        p = self.runner(self.model, "--input", x, "--batch", "2")
        self.assertEqual(p.returncode, 1)
        self.assertIn("expected float32 [batch,C,H,W] with batch 2", p.stderr)

    def test_bad_arguments_and_missing_files_are_clear_errors(self):
        p = self.runner(self.model, "--runs", "0")
        self.assertEqual(p.returncode, 2)
        self.assertIn("must be >= 1", p.stderr)
        p = self.runner(self.model, "--threads", "x")
        self.assertEqual(p.returncode, 2)
        p = self.runner(os.path.join(self.tmp.name, "missing.onnx"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("missing.onnx", p.stderr)
        p = subprocess.run([sys.executable, os.path.join(BENCH, "ort_runner.py"), self.model],
                           env=dict(os.environ, PYTHONPATH=""), capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:  # no real onnxruntime here: say what is missing
            self.assertIn("onnxruntime", p.stderr)

    def test_run_benchmarks_drives_it_with_zoo_models(self):
        work = os.path.join(self.tmp.name, "rb")
        doc, res = os.path.join(work, "doc.md"), os.path.join(work, "res.jsonl")
        cmd = [sys.executable, os.path.join(BENCH, "run_benchmarks.py"), "--peers",
               "teesplit,onnxruntime", "--ort", "python", "--models-source", "zoo", "--teesplit",
               TEESPLIT, "--no-build", "--models", "efficientnet_b0", "--batches", "1",
               "--threads", "1", "--rounds", "2", "--runs-scale", "0.1", "--max-wait", "0",
               "--models-dir", os.path.join(work, "models"), "--doc", doc, "--results", res]
        p = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=600)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        self.assertTrue(os.path.exists(os.path.join(work, "models", "efficientnet_b0.onnx")))
        with open(res) as f:
            records = [json.loads(line) for line in f]
        meta = records[-1]["meta"]
        self.assertEqual((meta["ort_runner"], meta["models_source"], meta["onnxruntime"]),
                         ("python", "zoo", "0.0-stub"))
        runs = [r for r in records if "peer" in r]
        self.assertEqual(sorted((r["peer"], r["round"]) for r in runs),
                         [("onnxruntime", 1), ("onnxruntime", 2), ("teesplit", 1), ("teesplit", 2)])
        for r in runs:
            if r["peer"] == "teesplit":  # on the CPU even where a GPU is present
                self.assertEqual(r["backend"], "onednn")
            else:
                self.assertEqual(r["runtime"], "python")
        with open(doc) as f:
            text = f.read()
        self.assertIn("python3 onnxruntime 0.0-stub", text)
        self.assertIn("`bench/ort_runner.py`", text)
        self.assertIn("`teesplit zoo`'s VGG-16, ResNet-50 and EfficientNet-B0", text)
        self.assertIn("| EfficientNet-B0 | 1 |", text)
        # --check compares with PyTorch's outputs, which zoo models do not have.
        p = subprocess.run(cmd[:-4] + ["--check"], env=self.env, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--check compares with PyTorch's outputs", p.stderr)


class OnednnProfile(unittest.TestCase):
    def profile(self, text, *args):
        return subprocess.run([sys.executable, os.path.join(BENCH, "onednn_profile.py")] + list(args),
                              input=text, capture_output=True, text=True, timeout=60)

    def test_groups_exec_lines_per_run(self):
        log = "\n".join([
            "onednn_verbose,info,cpu,runtime:OpenMP",
            "onednn_verbose,create:cache_miss,cpu,convolution,jit:avx512_core,forward,src_f32::blocked:abcd:f0 wei,,,0.5",
            "onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_amx_bf16,forward_inference,"
            "src_bf16::blocked:acdb:f0 wei_bf16::blocked:AcdB:f0,,alg,mb1,3.0",
            "onednn_verbose,exec,cpu,convolution,brgconv:avx512_core_amx_bf16,forward_inference,"
            "src_bf16::blocked:acdb:f0 wei_bf16::blocked:AcdB:f0,,alg,mb1,1.0",
            "onednn_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcd:f0 dst_bf16,,,mb1,2.0",
        ]) + "\n"
        p = self.profile(log, "--runs", "2")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertIn("oneDNN time per run: 3.00 ms in 2 primitive calls (2 groups)", lines[0])
        first = lines[2].split()
        self.assertEqual(first[:3], ["2.000", "66.7%", "1.0"])
        self.assertIn("convolution brgconv:avx512_core_amx_bf16 src_bf16::blocked:acdb:f0",
                      lines[2])
        self.assertIn("reorder jit:uni src_f32::blocked:abcd:f0", lines[3])

    def test_no_exec_line_is_an_error(self):
        p = self.profile("nothing here\n")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no exec lines", p.stderr)
        self.assertEqual(self.profile("", "--runs", "0").returncode, 2)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: test_bench_scripts.py TEESPLIT")
    TEESPLIT = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
