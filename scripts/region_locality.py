#!/usr/bin/env python3
"""How local the region brush is: for test images and code pairs, decode with a half mask (left
half = the inside code) through `stylespace translate --mask`, and with each code alone, then
report per distance from the mask edge how far the mixed output is from the code of that side,
relative to how far the two codes' outputs are apart there (0 = exactly that side's code, 1 = as
different as the other code). Also writes a side-by-side figure: input | mask | code A | code B |
mixed in the decoder | the two images blended by the mask.

Needs: a built `stylespace` binary and Pillow.

  scripts/region_locality.py --bin target/release/stylespace \
      --images data/openmoji128/testA --count 20 --figure docs/screenshots/region-brush.png
"""

import argparse
import os
import random
import subprocess
import tempfile

from PIL import Image

BUCKETS = [(0, 2), (2, 4), (4, 8), (8, 16), (16, 33)]


def codes(seed, n, dim=8):
    rng = random.Random(seed)
    return [[round(rng.gauss(0, 1), 3) for _ in range(dim)] for _ in range(n)]


def code_arg(code):
    return ",".join(str(v) for v in code)


def run(binary, args):
    subprocess.run([binary, "translate", "--overwrite", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pixels(path):
    img = Image.open(path).convert("RGB")
    return img.size, [img.getpixel((x, y)) for y in range(img.height) for x in range(img.width)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default="target/release/stylespace")
    parser.add_argument("--model", default=None)
    parser.add_argument("--images", default="data/openmoji128/testA")
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--figure", default=None)
    parser.add_argument("--figure-rows", type=int, default=3)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    files = sorted(f for f in os.listdir(args.images) if f.endswith(".png"))[: args.count]
    # Per side ("outside" = right half, "inside" = left half) and bucket: sums of
    # |mixed - own side| and |inside - outside|.
    sums = {(side, b): [0.0, 0.0] for side in ("inside", "outside") for b in BUCKETS}
    figure_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, name in enumerate(files):
            path = os.path.join(args.images, name)
            width, height = Image.open(path).size
            mask = Image.new("L", (width, height), 0)
            mask.paste(255, (0, 0, width // 2, height))
            mask_path = os.path.join(tmp, "mask.png")
            mask.save(mask_path)
            pair_codes = codes(index, args.pairs + 1)
            outsides, inside = pair_codes[:-1], pair_codes[-1]
            mixed_dir, plain_dir = os.path.join(tmp, "mixed"), os.path.join(tmp, "plain")
            style_args = [f"--style-code={code_arg(c)}" for c in outsides]
            run(args.bin, [*model, "--input", path, "--output-dir", mixed_dir, *style_args,
                           "--mask", mask_path, f"--mask-style-code={code_arg(inside)}"])
            run(args.bin, [*model, "--input", path, "--output-dir", plain_dir, *style_args,
                           f"--style-code={code_arg(inside)}"])
            (w, h), x_inside = pixels(os.path.join(plain_dir, f"output_{len(outsides):03}.png"))
            edge = w / 2
            for k in range(len(outsides)):
                _, x_outside = pixels(os.path.join(plain_dir, f"output_{k:03}.png"))
                _, x_mixed = pixels(os.path.join(mixed_dir, f"output_{k:03}.png"))
                for i, (m, o, n) in enumerate(zip(x_mixed, x_outside, x_inside)):
                    x = i % w + 0.5
                    side = "inside" if x < edge else "outside"
                    own = n if side == "inside" else o
                    distance = abs(x - edge)
                    bucket = next(b for b in BUCKETS if b[0] <= distance < b[1])
                    sums[(side, bucket)][0] += sum(abs(a - b) for a, b in zip(m, own))
                    sums[(side, bucket)][1] += sum(abs(a - b) for a, b in zip(n, o))
                if k == 0 and args.figure and len(figure_rows) < args.figure_rows:
                    figure_rows.append((path, mask, x_outside, x_inside, x_mixed, (w, h)))
    print("| distance from the mask edge (px) | inside: to the inside code | outside: to the outside code |")
    print("|---|---|---|")
    for b in BUCKETS:
        cells = []
        for side in ("inside", "outside"):
            own, apart = sums[(side, b)]
            cells.append(f"{own / apart:.3f}" if apart else "-")
        print(f"| {b[0]}-{b[1] - 1} | {cells[0]} | {cells[1]} |")
    if figure_rows:
        figure(figure_rows, args.figure)
        print(f"figure: {args.figure}")


def figure(rows, out):
    """One row per example: input | mask | code A | code B | mixed in the decoder | the two
    outputs blended by the mask."""
    from PIL import ImageDraw

    scale, gap, header = 3, 6, 18
    names = ["input", "mask (white = B)", "code A", "code B", "mixed in the decoder",
             "images blended"]
    w, h = rows[0][5]
    cell_w, cell_h = w * scale, h * scale
    sheet = Image.new("RGB", (len(names) * (cell_w + gap) - gap,
                              header + len(rows) * (cell_h + gap) - gap), "white")
    draw = ImageDraw.Draw(sheet)
    for i, name in enumerate(names):
        draw.text((i * (cell_w + gap) + 2, 2), name, fill="black")
    for r, (path, mask, x_outside, x_inside, x_mixed, (w, h)) in enumerate(rows):
        tiles = [Image.open(path).convert("RGB").resize((w, h)), mask.convert("RGB").resize((w, h))]
        for data in (x_outside, x_inside, x_mixed):
            tile = Image.new("RGB", (w, h))
            tile.putdata(data)
            tiles.append(tile)
        weights = mask.resize((w, h))
        m = [weights.getpixel((x, y)) for y in range(h) for x in range(w)]
        blend = Image.new("RGB", (w, h))
        blend.putdata([tuple(round(o * (1 - a / 255) + n * a / 255) for o, n in zip(po, pn))
                       for po, pn, a in zip(x_outside, x_inside, m)])
        tiles.append(blend)
        y = header + r * (cell_h + gap)
        for i, tile in enumerate(tiles):
            x = i * (cell_w + gap)
            sheet.paste(tile.resize((cell_w, cell_h), Image.NEAREST), (x, y))
            draw.rectangle((x, y, x + cell_w - 1, y + cell_h - 1), outline=(200, 200, 200))
    sheet.save(out)


if __name__ == "__main__":
    main()
