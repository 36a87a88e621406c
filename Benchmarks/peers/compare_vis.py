#!/usr/bin/env python3
"""Atlas vs Lucent feature-visualization throughput (icon-steps/s), same settings, from one run (not part of CI).

  /tmp/atlas-ref/bin/python Benchmarks/peers/compare_vis.py --batch 1 8 32 --threads 2

Both sides optimize `batch` channel objectives (channels 0…batch−1) at InceptionV1 `--layer` (Lucent's
architecture, random weights) with 128 px FFT images, standard transforms and Adam, and feed the network 224 px as
Lucent's render_vis does (Atlas: --vis-upsample 224). Lucent runs lucent_icons.py; Atlas runs
`atlas bench --arch inceptionv1 --vis … --json` (its forward part is cut to one batch-1 pass). Each in its own
process with the same thread count. The "atlas 128" column is Atlas feeding the 128 px icons directly (Lucid).
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


def atlas_vis(a, batch, upsample):
    cmd = [a.atlas, "bench", "--arch", "inceptionv1", "--batch", "1", "--iterations", "1", "--warmup", "0",
           "--threads", str(a.threads), "--vis", "--vis-layer", a.layer, "--vis-batch", str(batch),
           "--vis-size", str(a.size), "--vis-steps", str(a.steps), "--json", "--quiet"]
    if upsample:
        cmd += ["--vis-upsample", str(upsample)]
    return run_json(cmd)["visualization"]["icon_steps_per_second"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--layer", default="mixed4a")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--atlas", default=os.path.join(ROOT, ".build", "release", "atlas"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    for b in a.batch:
        print(f"batch {b}…", file=sys.stderr)
        lucent = run_json([sys.executable, os.path.join(HERE, "lucent_icons.py"), "--layer", a.layer, "--batch", str(b),
                           "--size", str(a.size), "--steps", str(a.steps), "--threads", str(a.threads), "--json"])
        rows.append({"batch": b, "layer": a.layer, "size": a.size, "threads": a.threads, "steps": a.steps,
                     "lucent": lucent["icon_steps_per_second"], "atlas_224": atlas_vis(a, b, 224),
                     "atlas_128": atlas_vis(a, b, None)})
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'batch':>5} {'threads':>7} {'lucent':>8} {'atlas →224':>10} {'atlas 128':>9} {'atlas/lucent':>12}")
    for r in rows:
        print(f"{r['batch']:>5} {r['threads']:>7} {r['lucent']:>8.2f} {r['atlas_224']:>10.2f} {r['atlas_128']:>9.2f} "
              f"{r['atlas_224'] / r['lucent']:>12.2f}")
    print(f"icon-steps/s; {a.layer}, {a.size} px, {a.steps} steps; ratio uses the same 224 px network input")


if __name__ == "__main__":
    main()
