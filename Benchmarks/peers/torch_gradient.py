"""PyTorch's input gradient of ViT-B/16 (zoo.py's module, weights seeded 0) for comparison with
`atlas run vit_b_16.onnx --input-npy X.npy --gradient-of /encoder/layers/encoder_layer_11/Add_1_output_0 --stats`:
the mean of the last encoder block's output (before the final LayerNorm, whose mean has a zero gradient, and the
head, which torchvision initializes to zeros), forward and backward timed separately, best of 3 printed in order.

  /tmp/atlas-ref/bin/python Benchmarks/peers/torch_gradient.py --batch 8 --threads 2
"""
import argparse, os, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print the best run as JSON (seconds, forward, backward)")
    a = p.parse_args()
    import torch
    torch.set_num_threads(a.threads)
    m = zoo.build("vit_b_16")
    torch.manual_seed(1)
    x = torch.randn(a.batch, 3, zoo.SIZE, zoo.SIZE)

    def blocks(xi):
        t = m._process_input(xi)
        t = torch.cat([m.class_token.expand(t.shape[0], -1, -1), t], 1)
        return m.encoder.layers(m.encoder.dropout(t + m.encoder.pos_embedding))

    best = None
    for _ in range(a.repeats):
        xi = x.clone().requires_grad_(True)
        t0 = time.time()
        y = blocks(xi).mean()
        t1 = time.time()
        y.backward()
        t2 = time.time()
        if best is None or t2 - t0 < best[0]:
            best = (t2 - t0, t1 - t0, t2 - t1)
        if not a.json:
            print(f"torch batch {a.batch}: forward {t1 - t0:.2f} s, backward {t2 - t1:.2f} s, total {t2 - t0:.2f} s", flush=True)
    if a.json:
        import json
        print(json.dumps({"peer": "pytorch", "batch": a.batch, "threads": a.threads, "seconds": best[0],
                          "forward": best[1], "backward": best[2]}))


if __name__ == "__main__":
    main()
