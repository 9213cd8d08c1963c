#!/usr/bin/python3
"""Rewrite ONNX models so that OpenCV 4.6's importer accepts them.

  /usr/bin/python3 bench/prepare_models.py [--batch B ...] IN.onnx [IN2.onnx ...]

For each IN.onnx writes IN.opencv.onnx (next to it) where every Identity node
whose input is an initializer is replaced by a separate initializer (a copy of
the tensor under the Identity's output name). PyTorch 1.13's exporter emits
such nodes for weights it deduplicated; OpenCV 4.6 rejects them. Any other
Identity node is removed by wiring its consumers to its input (unless its
output is a graph output, which is kept as is). The computation is unchanged.
For each --batch B it also writes IN.bB.opencv.onnx, the same model with the
batch dimension of its inputs and outputs fixed to B: OpenCV 4.6 sizes its
blobs from the declared input shape and fails at batch > 1 on a dynamic batch
(EfficientNet-B0's squeeze-excitation Mul).
Skips a model whose .opencv.onnx is newer than both the input and this script.
Needs the `onnx` module (Debian's python3-onnx).
"""

import os
import sys


def rewrite(model):
    """Returns (number of Identity nodes rewritten, number kept) for model, in place."""
    import onnx

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    rename = {}
    keep = []
    rewritten = 0
    for node in graph.node:
        if node.op_type != "Identity" or len(node.input) != 1 or len(node.output) != 1:
            keep.append(node)
            continue
        src, dst = node.input[0], node.output[0]
        src = rename.get(src, src)
        if src in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[src])
            copy.name = dst
            graph.initializer.append(copy)
            inits[dst] = graph.initializer[-1]
            rewritten += 1
        elif dst not in graph_outputs:
            rename[dst] = src
            rewritten += 1
        else:
            keep.append(node)
    for node in keep:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    del graph.node[:]
    graph.node.extend(keep)
    return rewritten, sum(1 for n in keep if n.op_type == "Identity")


def fix_batch(model, batch):
    """Sets dimension 0 of every graph input and output to batch, in place."""
    for v in list(model.graph.input) + list(model.graph.output):
        dims = v.type.tensor_type.shape.dim
        if len(dims) > 0:
            dims[0].Clear()
            dims[0].dim_value = batch


def out_path(path, batch=None):
    base = path[:-5] if path.endswith(".onnx") else path
    return base + (f".b{batch}" if batch else "") + ".opencv.onnx"


def up_to_date(src, dst):
    if not os.path.exists(dst):
        return False
    t = os.path.getmtime(dst)
    return t > os.path.getmtime(src) and t > os.path.getmtime(os.path.abspath(__file__))


def save(model, dst):
    import onnx

    onnx.checker.check_model(model)
    tmp = dst + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, dst)


def main(argv):
    batches, srcs = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--batch" and i + 1 < len(argv) and argv[i + 1].isdigit() \
                and 1 <= int(argv[i + 1]) <= 1024:
            batches.append(int(argv[i + 1]))
            i += 2
        elif argv[i].startswith("-"):
            print(__doc__.strip(), file=sys.stderr)
            return 2
        else:
            srcs.append(argv[i])
            i += 1
    if not srcs:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    import onnx

    for src in srcs:
        if src.endswith(".opencv.onnx"):
            continue
        dsts = [out_path(src)] + [out_path(src, b) for b in batches]
        if all(up_to_date(src, d) for d in dsts):
            print(f"{src}: OpenCV versions up to date")
            continue
        model = onnx.load(src)
        rewritten, kept = rewrite(model)
        save(model, dsts[0])
        print(f"{dsts[0]}: {rewritten} Identity nodes rewritten, {kept} kept")
        for b, dst in zip(batches, dsts[1:]):
            fix_batch(model, b)
            save(model, dst)
            print(f"{dst}: batch fixed to {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
