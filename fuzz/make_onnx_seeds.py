#!/usr/bin/python3
"""Writes a seed corpus for fuzz_onnx_import: tiny ONNX models (a conv net with
the exporter's Shape/Gather/Concat/Reshape chain, BatchNorm, pooling, Pad and
ReduceMean with axes as inputs, squeeze-excitation) at opsets 11, 13, 17 and 18.
Opset 18 skips the ONNX library's checker in teesplit, so teesplit's own checks
see whatever the fuzzer makes of those.
Also writes the inputs of the fuzzer's early findings, rebuilt (regress_*: they
were not kept at the time), and probes of core/limits.h's bounds (limit_*), each a
model of a few hundred bytes that asks for more memory or work than the limits
allow and must be refused quickly. The committed corpus, fuzz/corpus/
fuzz_onnx_import/, holds these plus the fuzzer's later findings as saved.
usage: make_onnx_seeds.py OUTDIR
With --bounds, writes instead the models docs/testing.md measures `teesplit info`
on (bound_*): the largest a 1 MB file or the limits allow, which must load.
usage: make_onnx_seeds.py --bounds OUTDIR
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def conv_net(opset):
    rng = np.random.default_rng(opset)
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "mu", "var"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Shape", ["p"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"]) if opset >= 13 else
        helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape2"], axis=0),
        helper.make_node("Reshape", ["p", "shape2"], ["flat"]),
        helper.make_node("Gemm", ["flat", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [init("w", f(4, 3, 3, 3)), init("b", f(4)), init("g", f(4)), init("beta", f(4)),
             init("mu", f(4)), init("var", np.abs(f(4)) + 0.5), init("zero", np.int64(0)),
             init("axes0", np.array([0], np.int64)), init("minus1", np.array([-1], np.int64)),
             init("fw", f(5, 64)), init("fb", f(5))]
    g = helper.make_graph(nodes, "conv_net",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    return g


def axes_net(opset):
    """Pad and ReduceMean; axes as inputs from opset 18, as attributes before."""
    nodes, inits = [], [init("pads", np.array([1, 2, 1, 2], np.int64))]
    if opset >= 18:
        inits += [init("pad_axes", np.array([-2, -1], np.int64)),
                  init("mean_axes", np.array([2, 3], np.int64))]
        nodes.append(helper.make_node("Pad", ["x", "pads", "", "pad_axes"], ["p"], mode="reflect"))
        nodes.append(helper.make_node("ReduceMean", ["p", "mean_axes"], ["m"], keepdims=1))
    else:
        inits[0] = init("pads", np.array([0, 0, 1, 2, 0, 0, 1, 2], np.int64))
        nodes.append(helper.make_node("Pad", ["x", "pads"], ["p"], mode="reflect"))
        nodes.append(helper.make_node("ReduceMean", ["p"], ["m"], axes=[2, 3], keepdims=1))
    nodes += [helper.make_node("Sigmoid", ["m"], ["sg"]),
              helper.make_node("Mul", ["x", "sg"], ["se"]),
              helper.make_node("GlobalAveragePool", ["se"], ["gp"]),
              helper.make_node("Flatten", ["gp"], ["fl"], axis=1),
              helper.make_node("Softmax", ["fl"], ["y"], axis=-1)]
    return helper.make_graph(nodes, "axes_net",
                             [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits)


def tiny_graph(name, nodes, inits, x_shape=(1, 4), y_shape=None):
    """x -> Relu -> y beside `nodes`, which are folded (or refused) whether used or not."""
    nodes = list(nodes) + [helper.make_node("Relu", ["x"], ["y"])]
    return helper.make_graph(
        nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x_shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(y_shape or x_shape))], inits)


def regressions():
    """(file name, opset, graph) of the early findings of fuzz_onnx_import."""
    # 2026-11-26: a BatchNormalization whose variance initializer is a scalar holding
    # four floats crashed libonnx 1.12's shape inference.
    bn_inits = [init(n, np.ones(4, np.float32)) for n in ("scale", "bias", "mean", "var")]
    bn_inits[3].ClearField("dims")
    bn = helper.make_graph([helper.make_node("BatchNormalization",
                                             ["x", "scale", "bias", "mean", "var"], ["y"])], "bn",
                           [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 2, 2])],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 2, 2])],
                           bn_inits)
    yield "regress_bn_scalar_var.onnx", 17, bn
    # 2026-11-26: a 432-byte initializer claiming shape [1073741823, 3] (12 GB).
    g = conv_net(13)
    g.initializer[0].ClearField("dims")
    g.initializer[0].dims.extend([1073741823, 3])
    yield "regress_huge_initializer_shape.onnx", 13, g
    # 2026-12-02: Pad of two constants to 2^28 int64 values (2 GiB), then a ReduceMean:
    # 4.2 GB and 20 s in `teesplit info` before the folding bounds.
    yield "regress_pad_fold_2gib.onnx", 13, tiny_graph(
        "padmean", [helper.make_node("Pad", ["pads", "big"], ["p"]),
                    helper.make_node("ReduceMean", ["p"], ["m"], keepdims=1)],
        [init("pads", np.array([1, 2, 1, 2], np.int64)),
         init("big", np.array([0, (1 << 28) - 4], np.int64))])


def limit_probes():
    """(file name, opset, graph): each crosses one bound of core/limits.h."""
    def pad_to(n):  # a constant p of n floats, folded from one
        return [helper.make_node("Pad", ["one", "pads"], ["p"])], \
            [init("one", np.ones(1, np.float32)), init("pads", np.array([0, n - 1], np.int64))]

    # Rank 64, padded to 2^25 elements: within the byte budget, over the work budget.
    rank64 = helper.make_tensor("one64", TensorProto.FLOAT, [1] * 64, [1.0])
    yield "limit_pad_rank64.onnx", 13, tiny_graph(
        "pad_rank64", [helper.make_node("Pad", ["one64", "pads"], ["p"])],
        [rank64, init("pads", np.array([0] * 127 + [(1 << 25) - 1], np.int64))])
    # 2^20 floats read by 70 ReduceMeans: the 63rd crosses the work budget.
    nodes, inits = pad_to(1 << 20)
    nodes += [helper.make_node("ReduceMean", ["p"], [f"m{i}"]) for i in range(70)]
    yield "limit_reducemean_reads.onnx", 13, tiny_graph("reads", nodes, inits)
    # 2^20 constant indices checked by 70 Gathers of the (run-time) input.
    nodes = [helper.make_node("Pad", ["zero", "pads"], ["idx"])]
    nodes += [helper.make_node("Gather", ["x", "idx"], [f"g{i}"], axis=1) for i in range(70)]
    yield "limit_gather_checks.onnx", 13, tiny_graph(
        "gathers", nodes, [init("zero", np.zeros(1, np.int64)),
                           init("pads", np.array([0, (1 << 20) - 1], np.int64))])
    # A constant MatMul of 1024^3 multiply-adds.
    nodes, inits = pad_to(1 << 20)
    nodes += [helper.make_node("Reshape", ["p", "shape"], ["a"]),
              helper.make_node("MatMul", ["a", "a"], ["mm"])]
    yield "limit_matmul_macs.onnx", 13, tiny_graph(
        "matmul", nodes, inits + [init("shape", np.array([1024, 1024], np.int64))])
    # A pooling window of 2^26 elements over one constant value.
    px = helper.make_tensor("px", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    yield "limit_pool_window.onnx", 13, tiny_graph(
        "pool", [helper.make_node("AveragePool", ["px"], ["ap"], kernel_shape=[1 << 13, 1 << 13],
                                  pads=[1 << 12] * 4, count_include_pad=1)], [px])
    # An inferred (run-time) tensor of 2^40 elements, and one of rank 65.
    yield "limit_inferred_extent.onnx", 13, tiny_graph(
        "extent", [helper.make_node("Pad", ["x", "pads"], ["p"])],
        [init("pads", np.array([0, 0, (1 << 20) - 1, (1 << 20) - 4], np.int64))])
    yield "limit_rank65.onnx", 13, tiny_graph(
        "rank65", [helper.make_node("Reshape", ["x", "shape"], ["r"])],
        [init("shape", np.array([1] * 61 + [2, 2, 1, 1], np.int64))])


def bounds():
    """(file name, opset, graph): models at the bounds, accepted, to measure."""
    # Folded constants at the byte and work budgets: 2^25 - 8 bools (256 MiB at 8
    # bytes each; the Pad kernel's tables take 8 bytes per element too; 2 x 2^25
    # element operations).
    yield "bound_pad_bool_256mib.onnx", 13, tiny_graph(
        "pad_bool", [helper.make_node("Pad", ["b", "pads"], ["p"])],
        [helper.make_tensor("b", TensorProto.BOOL, [1], [1]),
         init("pads", np.array([0, (1 << 25) - 9], np.int64))])
    # The work budget spent on reads: 2^20 floats padded, then read by 61 ReduceMeans.
    nodes, inits = [helper.make_node("Pad", ["one", "pads"], ["p"])], \
        [init("one", np.ones(1, np.float32)), init("pads", np.array([0, (1 << 20) - 1], np.int64))]
    nodes += [helper.make_node("ReduceMean", ["p"], [f"m{i}"]) for i in range(61)]
    yield "bound_reducemean_reads.onnx", 13, tiny_graph("reads", nodes, inits)
    # As many nodes as fit in 1 MB: Relus chained on a constant (all folded) and on x.
    for name, first in (("const", "c"), ("input", "x")):
        nodes = [helper.make_node("Relu", [first if i == 0 else f"r{i - 1}"], [f"r{i}"])
                 for i in range(42000)]
        yield f"bound_relu_chain_{name}_1mb.onnx", 13, tiny_graph(
            f"chain_{name}", nodes, [init("c", np.ones([1, 4], np.float32))])


def main():
    args = sys.argv[1:]
    want_bounds = bool(args) and args[0] == "--bounds"
    args = args[1:] if want_bounds else args
    out = args[0] if args else sys.exit(__doc__)
    os.makedirs(out, exist_ok=True)
    models = [(f"{make.__name__}_opset{opset}.onnx", opset, make(opset))
              for opset in (11, 13, 17, 18) for make in (conv_net, axes_net)]
    models += list(regressions()) + list(limit_probes())
    for name, opset, graph in list(bounds()) if want_bounds else models:
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        path = os.path.join(out, name)
        with open(path, "wb") as fh:
            fh.write(m.SerializeToString())
        print(path)


if __name__ == "__main__":
    main()
