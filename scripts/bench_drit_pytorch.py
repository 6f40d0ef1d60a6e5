#!/usr/bin/env python3
"""Times PyTorch on DRIT++'s networks at the official size, for comparison with `cargo bench`.

Our own compact PyTorch definition of DRIT++'s content encoder, attribute encoder and both
generator variants (`--concat 1`: attribute tiled and concatenated; `--concat 0`: MLP into four
MisINSResBlocks), with the official widths (64 / 256, nz 8) and layer order. Random weights: only
the time is measured. Input 216 x 216 (the official crop), content 256 x 54 x 54.

    python3 scripts/bench_drit_pytorch.py [--concat 1] [--runs 10] [--threads 2] [--device cpu]
Prints JSON: median encode (content + attribute) and decode seconds.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv(cin, cout, k, s=1, pad=0):
    return nn.Sequential(nn.ReflectionPad2d(pad), nn.Conv2d(cin, cout, k, s))


class ResIN(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.c1, self.c2 = conv(dim, dim, 3, 1, 1), conv(dim, dim, 3, 1, 1)

    def forward(self, x):
        y = F.relu(F.instance_norm(self.c1(x)))
        return x + F.instance_norm(self.c2(y))


class Content(nn.Module):
    def __init__(self, base=64):
        super().__init__()
        self.first = conv(3, base, 7, 1, 3)
        self.down = nn.ModuleList([conv(base, base * 2, 3, 2, 1), conv(base * 2, base * 4, 3, 2, 1)])
        self.res = nn.ModuleList([ResIN(base * 4) for _ in range(4)])  # 3 own + the shared one

    def forward(self, x):
        x = F.leaky_relu(self.first(x), 0.01)
        for d in self.down:
            x = F.relu(F.instance_norm(d(x)))
        for r in self.res:
            x = r(x)
        return x


class Basic(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.c1, self.c2, self.short = conv(cin, cin, 3, 1, 1), conv(cin, cout, 3, 1, 1), nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        y = self.c2(F.leaky_relu(self.c1(F.leaky_relu(x, 0.2)), 0.2))
        return F.avg_pool2d(y, 2) + self.short(F.avg_pool2d(x, 2))


class AttrConcat(nn.Module):
    def __init__(self, ndf=64, nz=8):
        super().__init__()
        self.first = conv(3, ndf, 4, 2, 1)
        self.blocks = nn.Sequential(Basic(ndf, ndf * 2), Basic(ndf * 2, ndf * 3), Basic(ndf * 3, ndf * 4))
        self.fc, self.fc_var = nn.Linear(ndf * 4, nz), nn.Linear(ndf * 4, nz)

    def forward(self, x):
        h = F.leaky_relu(self.blocks(self.first(x)), 0.2).mean((2, 3))
        return self.fc(h), self.fc_var(h)


class Attr(nn.Module):
    def __init__(self, dim=64, nz=8):
        super().__init__()
        layers, cin = [], 3
        for cout, k, s, p in [(dim, 7, 1, 3), (dim * 2, 4, 2, 1), (dim * 4, 4, 2, 1), (dim * 4, 4, 2, 1), (dim * 4, 4, 2, 1)]:
            layers += [conv(cin, cout, k, s, p), nn.ReLU()]
            cin = cout
        self.body, self.out = nn.Sequential(*layers), nn.Conv2d(cin, nz, 1)

    def forward(self, x):
        return self.out(self.body(x).mean((2, 3), keepdim=True)).flatten(1), None


def layer_norm(x, w, b):
    return F.layer_norm(x, x.shape[1:], w.expand(x.shape[1:]), b.expand(x.shape[1:]))


class Up(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 3, 2, 1, 1)
        self.w, self.b = nn.Parameter(torch.ones(cout, 1, 1)), nn.Parameter(torch.zeros(cout, 1, 1))

    def forward(self, x):
        return F.relu(layer_norm(self.conv(x), self.w, self.b))


def tile(x, z):
    return torch.cat([x, z.view(*z.shape, 1, 1).expand(-1, -1, x.size(2), x.size(3))], 1)


class GConcat(nn.Module):
    def __init__(self, tch=256, nz=8):
        super().__init__()
        self.share = ResIN(tch)
        self.res = nn.ModuleList([ResIN(tch + nz) for _ in range(3)])
        t = tch + 2 * nz
        self.up1 = Up(t, t // 2)
        t = t // 2 + nz
        self.up2 = Up(t, t // 2)
        t = t // 2 + nz
        self.out = nn.ConvTranspose2d(t, 3, 1)

    def forward(self, c, z):
        x = tile(self.share(c), z)
        for r in self.res:
            x = r(x)
        x = self.up2(tile(self.up1(tile(x, z)), z))
        return torch.tanh(self.out(tile(x, z)))


class Mis(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.c1, self.c2 = conv(dim, dim, 3, 1, 1), conv(dim, dim, 3, 1, 1)
        self.b1 = nn.Sequential(nn.Conv2d(2 * dim, 2 * dim, 1), nn.ReLU(), nn.Conv2d(2 * dim, dim, 1), nn.ReLU())
        self.b2 = nn.Sequential(nn.Conv2d(2 * dim, 2 * dim, 1), nn.ReLU(), nn.Conv2d(2 * dim, dim, 1), nn.ReLU())

    def forward(self, x, z):
        o = self.b1(tile(F.instance_norm(self.c1(x)), z))
        return self.b2(tile(F.instance_norm(self.c2(o)), z)) + x


class G(nn.Module):
    def __init__(self, tch=256, nz=8):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(nz, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, tch * 4))
        self.blocks = nn.ModuleList([Mis(tch) for _ in range(4)])
        self.up1, self.up2 = Up(tch, tch // 2), Up(tch // 2, tch // 4)
        self.out = nn.ConvTranspose2d(tch // 4, 3, 1)
        self.tch = tch

    def forward(self, c, z):
        chunks = torch.split(self.mlp(z), self.tch, 1)
        for block, chunk in zip(self.blocks, chunks):
            c = block(c, chunk)
        return torch.tanh(self.out(self.up2(self.up1(c))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--concat", type=int, default=1)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    enc_c = Content().eval().to(dev)
    enc_a = (AttrConcat() if args.concat else Attr()).eval().to(dev)
    gen = (GConcat() if args.concat else G()).eval().to(dev)
    x = torch.rand(1, 3, 216, 216, device=dev) * 2 - 1
    z = torch.randn(1, 8, device=dev)
    enc, dec = [], []
    with torch.inference_mode():
        for i in range(args.runs + 1):
            t = time.perf_counter()
            c = enc_c(x)
            enc_a(x)
            sync()
            t1 = time.perf_counter()
            gen(c, z)
            sync()
            t2 = time.perf_counter()
            if i:
                enc.append(t1 - t)
                dec.append(t2 - t1)
    print(json.dumps({
        "torch": torch.__version__, "device": str(dev), "threads": args.threads, "concat": args.concat,
        "content_shape": list(c.shape), "runs": args.runs,
        "encode_median_s": statistics.median(enc), "decode_median_s": statistics.median(dec),
    }))


if __name__ == "__main__":
    main()
