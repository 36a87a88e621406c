#!/usr/bin/env python3
"""Peer: Lucent feature-visualization throughput (icon-steps/s) on InceptionV1 with random weights.

  python Benchmarks/peers/lucent_icons.py --layer mixed4a --batch 8 --size 128 --steps 16 --threads 2 [--json]

Each step optimizes `batch` icons (channel objectives 0..batch-1 summed, param.image(size, batch=batch),
standard transforms, Adam lr 0.05). Note that Lucent's render_vis upsamples images smaller than 224 px to 224 before the
network (bilinear, align_corners=True); this script does the same, so compare with Atlas at `--upsample 224`.
"""
import argparse, json, time
import torch
from lucent.modelzoo import inceptionv1
from lucent.optvis import objectives, param, render, transform


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layer", default="mixed4a")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = inceptionv1(pretrained=False).eval()
    obj = sum(objectives.channel(a.layer, c, batch=c) for c in range(a.batch))
    param_f = lambda: param.image(a.size, batch=a.batch)
    # Warm-up (2 steps), then the timed run.
    render.render_vis(model, obj, param_f, thresholds=(2,), show_image=False, progress=False)
    t = time.perf_counter()
    render.render_vis(model, obj, param_f, thresholds=(a.steps,), show_image=False, progress=False)
    dt = time.perf_counter() - t
    rate = a.batch * a.steps / dt
    r = {"peer": "lucent", "layer": a.layer, "batch": a.batch, "size": a.size, "threads": a.threads,
         "steps": a.steps, "icon_steps_per_second": rate}
    print(json.dumps(r) if a.json else f"lucent: {rate:.2f} icon-steps/s (batch {a.batch}, {a.size} px, {a.threads} threads)")


if __name__ == "__main__":
    main()
