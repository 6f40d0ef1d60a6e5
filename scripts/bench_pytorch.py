#!/usr/bin/env python3
"""Times PyTorch on the MUNIT generator architecture, for comparison with `cargo bench`.

Our own compact PyTorch definition of the default MUNIT generator (dim 64, mlp_dim 256,
style_dim 8, n_downsample 2, n_res 4, reflect padding), with the same layer order and shapes as
the official implementation. Random weights: only the time is measured.

    python3 scripts/bench_pytorch.py [--size 256] [--runs 10] [--threads 2] [--device cpu|cuda]
        [--per-sync 1] [--tf32 off|on]
Prints JSON: median encode (content + style) and decode (MLP + decoder) seconds, each the time of
--per-sync calls between two device syncs divided by --per-sync. On CUDA, cuDNN's autotuner is on
(torch.backends.cudnn.benchmark) and TF32 is as --tf32 says (off: true float32 convolutions).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def block(cin, cout, k, s, p, norm=None, act="relu"):
    layers = [nn.ReflectionPad2d(p), nn.Conv2d(cin, cout, k, s)]
    if norm == "in":
        layers.append(nn.InstanceNorm2d(cout))
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "tanh":
        layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Res(nn.Module):
    def __init__(self, dim, norm):
        super().__init__()
        self.c1 = block(dim, dim, 3, 1, 1, norm)
        self.c2 = block(dim, dim, 3, 1, 1, norm, act=None)

    def forward(self, x, adain=None):
        if adain is None:
            return x + self.c2(self.c1(x))
        (b1, g1), (b2, g2) = adain
        y = F.relu(adain_norm(self.c1[1](self.c1[0](x)), b1, g1))
        return x + adain_norm(self.c2[1](self.c2[0](y)), b2, g2)


def adain_norm(x, beta, gamma):
    y = F.instance_norm(x, eps=1e-5)
    return y * gamma[:, :, None, None] + beta[:, :, None, None]


def munit_layer_norm(x, gamma, beta, eps=1e-5):
    flat = x.view(x.size(0), -1)
    mean = flat.mean(1).view(-1, 1, 1, 1)
    std = flat.std(1).view(-1, 1, 1, 1)
    return (x - mean) / (std + eps) * gamma.view(1, -1, 1, 1) + beta.view(1, -1, 1, 1)


class Generator(nn.Module):
    def __init__(self, dim=64, style_dim=8, mlp_dim=256, n_down=2, n_res=4):
        super().__init__()
        s = [block(3, dim, 7, 1, 3)]
        d = dim
        for i in range(4):
            out = d * 2 if i < 2 else d
            s.append(block(d, out, 4, 2, 1))
            d = out
        self.style = nn.Sequential(*s, nn.AdaptiveAvgPool2d(1), nn.Conv2d(d, style_dim, 1))
        c = [block(3, dim, 7, 1, 3, "in")]
        d = dim
        for _ in range(n_down):
            c.append(block(d, d * 2, 4, 2, 1, "in"))
            d *= 2
        self.content = nn.Sequential(*c)
        self.content_res = nn.ModuleList([Res(d, "in") for _ in range(n_res)])
        self.dec_res = nn.ModuleList([Res(d, None) for _ in range(n_res)])
        self.up = nn.ModuleList()
        self.ln = nn.ParameterList()
        for _ in range(n_down):
            self.up.append(nn.Conv2d(d, d // 2, 5))
            self.ln.append(nn.Parameter(torch.rand(d // 2)))
            self.ln.append(nn.Parameter(torch.zeros(d // 2)))
            d //= 2
        self.out = block(d, 3, 7, 1, 3, act="tanh")
        self.content_dim = dim << n_down
        self.mlp = nn.Sequential(
            nn.Linear(style_dim, mlp_dim), nn.ReLU(), nn.Linear(mlp_dim, mlp_dim), nn.ReLU(),
            nn.Linear(mlp_dim, n_res * 4 * self.content_dim))

    def encode(self, x):
        c = self.content(x)
        for r in self.content_res:
            c = r(c)
        return c, self.style(x)

    def decode(self, c, style):
        p = self.mlp(style.view(style.size(0), -1))
        C = self.content_dim
        k = 0
        for r in self.dec_res:
            pairs = []
            for _ in range(2):
                pairs.append((p[:, 2 * k * C:(2 * k + 1) * C], p[:, (2 * k + 1) * C:(2 * k + 2) * C]))
                k += 1
            c = r(c, pairs)
        for i, conv in enumerate(self.up):
            c = F.interpolate(c, scale_factor=2, mode="nearest")
            c = conv(F.pad(c, (2, 2, 2, 2), mode="reflect"))
            c = F.relu(munit_layer_norm(c, self.ln[2 * i], self.ln[2 * i + 1]))
        return self.out(c)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--per-sync", type=int, default=1)
    ap.add_argument("--tf32", choices=["off", "on"], default="off")
    args = ap.parse_args()
    per = max(1, args.per_sync)
    tf32 = args.tf32 == "on"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    g = Generator().eval().to(dev)
    x = torch.rand(1, 3, args.size, args.size, device=dev) * 2 - 1
    s = torch.randn(1, 8, 1, 1, device=dev)
    enc, dec = [], []
    with torch.inference_mode():
        for i in range(args.runs + 1):
            t = time.perf_counter()
            for _ in range(per):
                c, _ = g.encode(x)
            sync()
            t1 = time.perf_counter()
            for _ in range(per):
                g.decode(c, s)
            sync()
            t2 = time.perf_counter()
            if i:
                enc.append((t1 - t) / per)
                dec.append((t2 - t1) / per)
    print(json.dumps({
        "torch": torch.__version__, "device": str(dev), "threads": args.threads, "size": args.size, "runs": args.runs,
        "per_sync": per, "tf32": tf32 if dev.type == "cuda" else None,
        "encode_median_s": statistics.median(enc), "decode_median_s": statistics.median(dec),
    }))


if __name__ == "__main__":
    main()
