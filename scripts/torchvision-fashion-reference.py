#!/usr/bin/python3
"""Trains torchvision's own EfficientNet-B0 on Fashion-MNIST in Python PyTorch with
the recipe of `teesplit train`, as an independent reference for its learning curve
(docs/training.md). Run with Debian's /usr/bin/python3 (torch, torchvision, numpy).

  torchvision-fashion-reference.py [--width 0.25] [--input-size 32] [--epochs 12]
      [--stop-after N] [--lr 0.05] [--weight-decay 5e-4] [--dropout 0.2]
      [--no-augment] [--init ZOO.onnx] [--seed 0] [--data DIR]

Recipe, as src/train/train.cpp: SGD with Nesterov momentum 0.9 and weight decay on
every parameter, batch 128 (last partial batch dropped), linear warm-up for half an
epoch then per-step cosine decay to 0 over --epochs, random crop with zero padding
input_size/16 and horizontal flip, images resized bilinearly (antialiased) from
28x28 to --input-size and scaled to [0, 1]. The stem takes one channel; stochastic
depth is off (the ONNX graph has none). --init loads the initial weights by name
from a zoo model (`teesplit zoo efficientnet_b0 --channels 1 ...`), so both trainers
can start from the same point. --stop-after ends the run early while keeping the
schedule of --epochs. Prints one line per epoch, like `teesplit train`.
"""

import argparse
import gzip
import math
import os
import time


def read_idx(path, offset):
    import numpy as np
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_split(data, prefix, size):
    import numpy as np
    import torch
    import torch.nn.functional as F
    x = read_idx(os.path.join(data, prefix + "-images-idx3-ubyte.gz"), 16)
    x = torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32) / 255)
    if size != 28:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                          antialias=True)
    y = read_idx(os.path.join(data, prefix + "-labels-idx1-ubyte.gz"), 8)
    return x, torch.from_numpy(y.astype(np.int64))


def build_model(width, dropout, init):
    import torch
    from torchvision.models import efficientnet as E
    setting, last = E._efficientnet_conf("efficientnet_b0", width_mult=width, depth_mult=1.0)
    model = E.EfficientNet(setting, dropout, stochastic_depth_prob=0.0, last_channel=last,
                           num_classes=10)
    stem = model.features[0][0]
    model.features[0][0] = torch.nn.Conv2d(1, stem.out_channels, 3, 2, 1, bias=False)
    torch.nn.init.kaiming_normal_(model.features[0][0].weight, mode="fan_out")
    if init:
        import onnx
        import onnx.numpy_helper
        state = {t.name: torch.from_numpy(onnx.numpy_helper.to_array(t).copy())
                 for t in onnx.load(init).graph.initializer}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise SystemExit(f"{init}: missing {missing[:5]} unexpected {unexpected[:5]}")
    return model


def augment(x, pad):
    import torch
    import torch.nn.functional as F
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,))
    ox = torch.randint(0, 2 * pad + 1, (n,))
    out = torch.stack([padded[i, :, oy[i]:oy[i] + h, ox[i]:ox[i] + w] for i in range(n)])
    flip = torch.rand(n) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--input-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--stop-after", type=int, default=0)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--init", metavar="ZOO.onnx")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    if args.input_size < 32 or args.epochs < 1 or args.batch < 1 or args.width <= 0:
        ap.error("need --input-size >= 32, --epochs >= 1, --batch >= 1, --width > 0")

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    xtr, ytr = load_split(args.data, "train", args.input_size)
    xte, yte = load_split(args.data, "t10k", args.input_size)
    model = build_model(args.width, args.dropout, args.init)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True,
                          weight_decay=args.weight_decay)
    steps = len(xtr) // args.batch
    total, warm = steps * args.epochs, max(1, steps // 2)
    pad = max(1, args.input_size // 16)

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    print(f"torchvision efficientnet_b0 width={args.width} input_size={args.input_size} "
          f"params={sum(p.numel() for p in model.parameters())} lr={args.lr} "
          f"weight_decay={args.weight_decay} dropout={args.dropout} seed={args.seed} "
          f"init={args.init or 'torchvision'}", flush=True)
    step = 0
    for epoch in range(1, (args.stop_after or args.epochs) + 1):
        model.train()
        order = torch.randperm(len(xtr))
        t0, loss_sum, correct = time.time(), 0.0, 0
        for i in range(steps):
            idx = order[i * args.batch:(i + 1) * args.batch]
            x, y = xtr[idx], ytr[idx]
            if not args.no_augment:
                x = augment(x, pad)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        model.eval()
        test_loss, test_correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(xte), 500):
                out = model(xte[i:i + 500])
                test_loss += F.cross_entropy(out, yte[i:i + 500], reduction="sum").item()
                test_correct += (out.argmax(1) == yte[i:i + 500]).sum().item()
        n = steps * args.batch
        print(f"epoch {epoch}/{args.epochs}  loss {loss_sum / n:.4f}  train acc "
              f"{100 * correct / n:.2f}%  test loss {test_loss / len(xte):.4f}  test acc "
              f"{100 * test_correct / len(xte):.2f}%  {time.time() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
