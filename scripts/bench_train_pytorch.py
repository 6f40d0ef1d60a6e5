#!/usr/bin/env python3
"""Times one MUNIT training iteration in PyTorch, for comparison with `stylespace train`.

Uses the generator of bench_pytorch.py (our own definition of the official architecture) plus
our own multi-scale discriminator (n_layer stride-2 4x4 conv + lrelu blocks, no norm, a 1x1
output conv, num_scales scales via 3x3 average pooling) and the official iteration: a
discriminator step (LSGAN) then a generator step (image, style and content reconstruction, the
explicit cycle loss when its weight > 0, LSGAN), each with fresh prior styles, Adam(0.5, 0.999).

    python3 scripts/bench_train_pytorch.py --size 64 --dim 16 --dis-dim 16 --batch 1 --runs 20
Prints JSON: median seconds per iteration.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from bench_pytorch import Generator  # noqa: E402


class Dis(nn.Module):
    def __init__(self, dim, n_layer, num_scales):
        super().__init__()
        self.nets = nn.ModuleList()
        for _ in range(num_scales):
            layers, d = [], dim
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(3, d, 4, 2), nn.LeakyReLU(0.2)]
            for _ in range(n_layer - 1):
                layers += [nn.ReflectionPad2d(1), nn.Conv2d(d, d * 2, 4, 2), nn.LeakyReLU(0.2)]
                d *= 2
            layers.append(nn.Conv2d(d, 1, 1))
            self.nets.append(nn.Sequential(*layers))

    def forward(self, x):
        outs = []
        for net in self.nets:
            outs.append(net(x))
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        return outs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--dim", type=int, default=16)
    ap.add_argument("--mlp-dim", type=int, default=256)
    ap.add_argument("--dis-dim", type=int, default=16)
    ap.add_argument("--n-layer", type=int, default=3)
    ap.add_argument("--num-scales", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--cyc-w", type=float, default=10.0)
    ap.add_argument("--recon-s-w", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ga, gb = Generator(args.dim, 8, args.mlp_dim), Generator(args.dim, 8, args.mlp_dim)
    da = Dis(args.dis_dim, args.n_layer, args.num_scales)
    db = Dis(args.dis_dim, args.n_layer, args.num_scales)
    adam = lambda ps: torch.optim.Adam(ps, lr=1e-4, betas=(0.5, 0.999), weight_decay=1e-4)
    gen_opt = adam(list(ga.parameters()) + list(gb.parameters()))
    dis_opt = adam(list(da.parameters()) + list(db.parameters()))
    n, s = args.batch, args.size
    xa = torch.rand(n, 3, s, s) * 2 - 1
    xb = torch.rand(n, 3, s, s) * 2 - 1
    l1 = lambda a, b: (a - b).abs().mean()
    d_loss = lambda d, fake, real: sum(((f - 0) ** 2).mean() + ((r - 1) ** 2).mean()
                                       for f, r in zip(d(fake), d(real)))
    g_adv = lambda d, fake: sum(((f - 1) ** 2).mean() for f in d(fake))
    times = []
    for i in range(args.runs + 2):
        t = time.perf_counter()
        # Discriminator step.
        sa, sb = torch.randn(n, 8, 1, 1), torch.randn(n, 8, 1, 1)
        with torch.no_grad():
            ca, _ = ga.encode(xa)
            cb, _ = gb.encode(xb)
            xba, xab = ga.decode(cb, sa), gb.decode(ca, sb)
        dis_opt.zero_grad()
        (d_loss(da, xba, xa) + d_loss(db, xab, xb)).backward()
        dis_opt.step()
        # Generator step.
        sa, sb = torch.randn(n, 8, 1, 1), torch.randn(n, 8, 1, 1)
        gen_opt.zero_grad()
        ca, sa_prime = ga.encode(xa)
        cb, sb_prime = gb.encode(xb)
        xa_recon, xb_recon = ga.decode(ca, sa_prime), gb.decode(cb, sb_prime)
        xba, xab = ga.decode(cb, sa), gb.decode(ca, sb)
        cb_recon, sa_recon = ga.encode(xba)
        ca_recon, sb_recon = gb.encode(xab)
        loss = 10 * (l1(xa_recon, xa) + l1(xb_recon, xb))
        loss = loss + args.recon_s_w * (l1(sa_recon, sa) + l1(sb_recon, sb))
        loss = loss + l1(ca_recon, ca) + l1(cb_recon, cb)
        if args.cyc_w > 0:
            xaba, xbab = ga.decode(ca_recon, sa_prime), gb.decode(cb_recon, sb_prime)
            loss = loss + args.cyc_w * (l1(xaba, xa) + l1(xbab, xb))
        loss = loss + g_adv(da, xba) + g_adv(db, xab)
        loss.backward()
        gen_opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t)
    print(json.dumps({
        "torch": torch.__version__, "threads": args.threads, "size": s, "dim": args.dim,
        "dis_dim": args.dis_dim, "batch": n, "runs": args.runs,
        "iteration_median_s": statistics.median(times),
    }))


if __name__ == "__main__":
    main()
