#!/usr/bin/python3
"""Writes a seed corpus for fuzz_onnx_import: tiny ONNX models (a conv net with
the exporter's Shape/Gather/Concat/Reshape chain, BatchNorm, pooling, Pad and
ReduceMean with axes as inputs, squeeze-excitation) at opsets 11, 13, 17 and 18.
Opset 18 skips the ONNX library's checker in teesplit, so teesplit's own checks
see whatever the fuzzer makes of those.   usage: make_onnx_seeds.py OUTDIR
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


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    os.makedirs(out, exist_ok=True)
    for opset in (11, 13, 17, 18):
        for make in (conv_net, axes_net):
            m = helper.make_model(make(opset), opset_imports=[helper.make_opsetid("", opset)])
            m.ir_version = 8
            path = os.path.join(out, f"{make.__name__}_opset{opset}.onnx")
            with open(path, "wb") as fh:
                fh.write(m.SerializeToString())
            print(path)


if __name__ == "__main__":
    main()
