#!/usr/bin/env python3
"""Atlas vs onnxruntime vs PyTorch, forward images/s on the same architecture, from one run (not part of CI).

  /tmp/atlas-ref/bin/python Benchmarks/peers/compare.py --arch googlenet resnet50 --batch 16 --threads 2

For each architecture it exports torchvision's (or Lucent's, for inceptionv1) model with random weights to ONNX
(TorchScript exporter, opset 13, batch fixed), then times the same file with `atlas bench --model FILE --json` and
onnxruntime_forward.py, the same module with torch_forward.py, each in its own process with the same thread count,
batch and size, best of --repeats passes after a warm-up. Prints a table and the Atlas/peer ratios; --json prints
the raw figures. Build Atlas first: `swift build -c release --product atlas`.
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out[out.index("{"):])


def export(arch, path, batch, size):
    import torch
    sys.path.insert(0, HERE)
    from torch_forward import build
    torch.manual_seed(0)
    model = build(arch).eval()
    torch.onnx.export(model, (torch.randn(batch, 3, size, size),), path, dynamo=False, opset_version=13,
                      do_constant_folding=True, input_names=["input"], output_names=["output"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", nargs="+", default=["googlenet", "resnet50"],
                    choices=["googlenet", "resnet50", "inceptionv1", "vgg16"])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--atlas", default=os.path.join(ROOT, ".build", "release", "atlas"))
    ap.add_argument("--workdir", default="/tmp/atlas-peers", help="where the exported ONNX files go")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    common = ["--batch", str(a.batch), "--size", str(a.size), "--threads", str(a.threads)]
    rows = []
    for arch in a.arch:
        path = os.path.join(a.workdir, f"{arch}-b{a.batch}-{a.size}.onnx")
        if not os.path.exists(path):
            print(f"exporting {arch} → {path}", file=sys.stderr)
            export(arch, path, a.batch, a.size)
        print(f"timing {arch}…", file=sys.stderr)
        atlas = run_json([a.atlas, "bench", "--model", path, *common, "--iterations", str(a.repeats),
                          "--warmup", "1", "--json", "--quiet"])
        ort = run_json([sys.executable, os.path.join(HERE, "onnxruntime_forward.py"), path, *common,
                        "--repeats", str(a.repeats), "--json"])
        pt = run_json([sys.executable, os.path.join(HERE, "torch_forward.py"), "--arch", arch, *common,
                       "--repeats", str(a.repeats), "--json"])
        rows.append({"arch": arch, "batch": a.batch, "size": a.size, "threads": a.threads,
                     "atlas": atlas["images_per_second"], "atlas_median": atlas["threads"][-1]["images_per_second_median"],
                     "atlas_percent_of_peak": atlas["threads"][-1]["percent_of_peak"], "onnxruntime": ort["images_per_second"],
                     "pytorch": pt["images_per_second"], "onnxruntime_version": ort["version"],
                     "pytorch_version": pt["version"]})
    if a.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'arch':<12} {'batch':>5} {'threads':>7} {'atlas img/s':>11} {'ort img/s':>10} {'torch img/s':>11} "
          f"{'atlas/ort':>9} {'atlas/torch':>11} {'atlas %peak':>11}")
    for r in rows:
        print(f"{r['arch']:<12} {r['batch']:>5} {r['threads']:>7} {r['atlas']:>11.2f} {r['onnxruntime']:>10.2f} "
              f"{r['pytorch']:>11.2f} {r['atlas'] / r['onnxruntime']:>9.2f} {r['atlas'] / r['pytorch']:>11.2f} "
              f"{r['atlas_percent_of_peak']:>11.1f}")


if __name__ == "__main__":
    main()
