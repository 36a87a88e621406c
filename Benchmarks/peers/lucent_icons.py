#!/usr/bin/env python3
"""Peer: Lucent feature-visualization throughput (icon-steps/s) on one of zoo.py's torch modules.

  python Benchmarks/peers/lucent_icons.py --model inceptionv1 --layer mixed4a --batch 8 --size 128 \
      --steps 16 --threads 2 [--upsample 224 | --no-upsample] [--repeats 3] [--plain-relu] [--json]

Each step optimizes `batch` icons (channel objectives 0..batch-1 summed, icon i reading channel i,
param.image(size, batch=batch), standard transforms, Adam lr 0.05, render_vis's preprocessing for the module).
render_vis resizes the transformed image before the network: to --upsample (224 is its default for icons under
224 px; compare with Atlas at `--upsample 224`), or with --no-upsample to the size Atlas's own pipeline hands the
network without upsampling (size + 2·12 − 8 − 4: pad 12, jitter 8, jitter 4), so both sides run the same network
work. --layer defaults to the model's mid block in zoo.py. Prints the best of --repeats timed runs after a 2-step
warm-up. --plain-relu builds Lucent's InceptionV1 with redirected_ReLU=False (its default redirects the gradient).
"""
import argparse, json, time
import torch
from lucent.optvis import objectives, param, render
from zoo import MODELS, build


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="inceptionv1", choices=sorted(MODELS))
    ap.add_argument("--layer", help="Lucent layer name (default: the model's mid block)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--upsample", type=int, default=224)
    ap.add_argument("--no-upsample", action="store_true")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--plain-relu", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    layer = a.layer or MODELS[a.model].lucent_layer
    model = build(a.model, redirected_relu=not a.plain_relu)
    network_size = a.size + 2 * 12 - 8 - 4 if a.no_upsample else a.upsample
    obj = sum(objectives.channel(layer, c, batch=c) for c in range(a.batch))
    param_f = lambda: param.image(a.size, batch=a.batch)

    def render_steps(steps):
        torch.manual_seed(0)
        t = time.perf_counter()
        render.render_vis(model, obj, param_f, thresholds=(steps,), show_image=False, progress=False,
                          fixed_image_size=network_size)
        return time.perf_counter() - t

    render_steps(2)  # warm-up
    best = min(render_steps(a.steps) for _ in range(a.repeats))
    rate = a.batch * a.steps / best
    r = {"peer": "lucent", "model": a.model, "layer": layer, "batch": a.batch, "size": a.size,
         "network_size": network_size, "threads": a.threads, "steps": a.steps, "repeats": a.repeats,
         "redirected_relu": a.model == "inceptionv1" and not a.plain_relu, "seconds": best,
         "icon_steps_per_second": rate}
    print(json.dumps(r) if a.json else f"lucent: {rate:.2f} icon-steps/s ({a.model} {layer}, batch {a.batch}, "
                                         f"{a.size} px → {network_size}, {a.threads} threads)")


if __name__ == "__main__":
    main()
