#!/usr/bin/env python3
"""Peer: PyTorch (CPU) forward throughput of one of zoo.py's torch modules (the module exported.py exports).

  python Benchmarks/peers/torch_forward.py --arch googlenet --batch 16 --size 224 --threads 2 [--json]
"""
import argparse, json, time
import torch
from zoo import MODELS, build


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="googlenet", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = build(a.arch)
    x = torch.randn(a.batch, 3, a.size, a.size)
    best = float("inf")
    with torch.inference_mode():
        model(x)
        for _ in range(a.repeats):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    ips = a.batch / best
    r = {"peer": "pytorch", "version": torch.__version__, "arch": a.arch, "batch": a.batch, "size": a.size,
         "threads": a.threads, "images_per_second": ips}
    print(json.dumps(r) if a.json else f"pytorch {torch.__version__} {a.arch}: {ips:.2f} img/s")


if __name__ == "__main__":
    main()
