#!/usr/bin/env python3
"""Atlas against its peers on the same exported ONNX files, from one run (development only, not part of CI).

  /tmp/atlas-ref/bin/python Benchmarks/peers/exported.py --threads 2 [--models inceptionv1 lite0 …] [--quick]
      [--steps 16] [--batch 1 8] [--repeats 3] [--measure forward vis gallery gradient] [--torch] [--json] [--out DIR]
  /tmp/atlas-ref/bin/python Benchmarks/peers/exported.py --show run.json     # the tables of a saved --json run

Exports zoo.py's modules (Lucent InceptionV1, torchvision GoogLeNet, ResNet-50, EfficientNet-B0, MobileNetV3-Large,
pretrained EfficientNet-Lite0) once into --out (default /tmp/atlas-peers; reused while the settings match), then
times, each side in its own process with the same thread count, back to back, best of --repeats after a warm-up:
  forward   `atlas bench --model FILE` vs onnxruntime_forward.py on the same file (batch 16, 224², images/s);
            --torch adds torch_forward.py on the same module
  vis       `atlas bench --model FILE --vis` vs lucent_icons.py on the same module: channel objectives 0…batch−1 of
            the model's mid block (zoo.py), 128 px FFT images, Lucid's standard transforms, --steps steps, at the
            network input Atlas uses without upsampling and at 224 (`--vis-upsample 224`), icon-steps/s
  gallery   the whole `atlas gallery FILE` command (load → icons, tiles, index written) for --gallery-icons
            channels at the vis settings, as icon-steps/s, against Lucent and against `atlas bench --vis`
  gradient  `atlas bench --model FILE --gradient-of VALUE` vs torch_gradient.py on the same module (ViT-B/16 only):
            the input gradient of the last encoder block's mean, batch 8, seconds of the best forward + backward
With inceptionv1, the exported file is also compared with the built-in `atlas bench --arch inceptionv1`.
A file or layer that Atlas cannot load or run is reported on its row; the run goes on. Each finished row is
printed on stderr and kept in OUT/last-run.json (print its tables with --show). Build Atlas first:
`swift build -c release --product atlas`. The reference Python is made by scripts/reference-python.sh.
"""
import argparse, datetime, json, os, platform, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from measure import best_rate, command_line, print_table, ratio, run_json, run_timed, side  # noqa: E402
from zoo import DEFAULT, MODELS, export_all  # noqa: E402

FORWARD_TARGET = {"googlenet": 1.0, "resnet50": 1.0, "inceptionv1": 1.0}
# The value whose mean `--measure gradient` differentiates, for the models torch_gradient.py knows.
GRADIENT_VALUE = {"vit_b_16": "/encoder/layers/encoder_layer_11/Add_1_output_0"}


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=DEFAULT, choices=sorted(MODELS))
    ap.add_argument("--measure", nargs="+", default=["forward", "vis", "gallery"], choices=["forward", "vis", "gallery", "gradient"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--forward-batch", type=int, default=16)
    ap.add_argument("--batch", type=int, nargs="+", help="vis batches (default 1 8; --quick: 8)")
    ap.add_argument("--size", type=int, default=128, help="icon size")
    ap.add_argument("--upsample", type=int, default=224, help="network input of the upsampled vis rows")
    ap.add_argument("--steps", type=int, help="vis steps (default 16; --quick: 8)")
    ap.add_argument("--repeats", type=int, help="best of (default 3; --quick: 1)")
    ap.add_argument("--gallery-icons", type=int, help="channels of each gallery (default 16; --quick: 8)")
    ap.add_argument("--quick", action="store_true", help="smaller defaults: 1 repeat, 8 steps, batch 8, 8 icons")
    ap.add_argument("--torch", action="store_true", help="add PyTorch's forward on the same module")
    ap.add_argument("--plain-relu", action="store_true", help="Lucent InceptionV1 with redirected_ReLU=False")
    ap.add_argument("--atlas", default=os.path.join(ROOT, ".build", "release", "atlas"))
    ap.add_argument("--out", default="/tmp/atlas-peers", help="exported files, gallery scratch folders")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", metavar="FILE", help="print the tables of a saved --json run, measure nothing")
    a = ap.parse_args()
    for key, full, quick in [("repeats", 3, 1), ("steps", 16, 8), ("batch", [1, 8], [8]), ("gallery_icons", 16, 8)]:
        if getattr(a, key) is None:
            setattr(a, key, quick if a.quick else full)
    return a


class Sides:
    """The command lines of each side for one run's settings."""

    def __init__(self, a):
        self.a = a
        self.py = [sys.executable]

    def atlas_forward(self, model):
        a = self.a
        return [a.atlas, "bench", *model, "--batch", str(a.forward_batch), "--size", "224", "--threads", str(a.threads),
                "--iterations", str(a.repeats), "--warmup", "1", "--json", "--quiet"]

    def ort_forward(self, path):
        a = self.a
        return [*self.py, os.path.join(HERE, "onnxruntime_forward.py"), path, "--batch", str(a.forward_batch),
                "--size", "224", "--threads", str(a.threads), "--repeats", str(a.repeats), "--json"]

    def torch_forward(self, name):
        a = self.a
        return [*self.py, os.path.join(HERE, "torch_forward.py"), "--arch", name, "--batch", str(a.forward_batch),
                "--size", "224", "--threads", str(a.threads), "--repeats", str(a.repeats), "--json"]

    def atlas_vis(self, model, layer, batch, upsample):
        a = self.a
        cmd = [a.atlas, "bench", *model, "--batch", "1", "--iterations", "1", "--warmup", "0", "--threads", str(a.threads),
               "--vis", "--vis-layer", layer, "--vis-batch", str(batch), "--vis-size", str(a.size),
               "--vis-steps", str(a.steps), "--json", "--quiet"]
        return cmd + (["--vis-upsample", str(upsample)] if upsample else [])

    def lucent(self, name, batch, upsample):
        a = self.a
        cmd = [*self.py, os.path.join(HERE, "lucent_icons.py"), "--model", name, "--batch", str(batch), "--size",
               str(a.size), "--steps", str(a.steps), "--threads", str(a.threads), "--repeats", str(a.repeats), "--json"]
        cmd += ["--upsample", str(upsample)] if upsample else ["--no-upsample"]
        return cmd + (["--plain-relu"] if a.plain_relu else [])

    def gallery(self, path, layer, batch, upsample, preprocess, out):
        a = self.a
        cmd = [a.atlas, "gallery", path, "--layer", layer, "--channels", f"0..{a.gallery_icons - 1}", "--size",
               str(a.size), "--steps", str(a.steps), "--batch", str(batch), "--preprocess", preprocess,
               "--threads", str(a.threads), "--out", out, "--quiet"]
        return cmd + (["--upsample", str(upsample)] if upsample else [])


def forward_rows(a, s, files, rows, done):
    for name, f in files.items():
        print(f"forward {name}…", file=sys.stderr)
        r = {"model": name, "file": f["path"], "batch": a.forward_batch, "commands": {}}
        cmds = {"atlas": s.atlas_forward(["--model", f["path"]]), "onnxruntime": s.ort_forward(f["path"])}
        if a.torch:
            cmds["pytorch"] = s.torch_forward(name)
        if name == "inceptionv1":
            cmds["atlas_arch"] = s.atlas_forward(["--arch", "inceptionv1"])
        for key, cmd in cmds.items():
            r["commands"][key] = command_line(cmd)
            side(r, key, lambda: run_json(cmd)["images_per_second"])
        r["atlas/onnxruntime"] = ratio(r["atlas"], r["onnxruntime"])
        r["atlas/pytorch"] = ratio(r["atlas"], r.get("pytorch"))
        r["file/arch"] = ratio(r["atlas"], r.get("atlas_arch"))
        done(rows, r)


def gradient_rows(a, files, rows, done):
    """Input gradient at batch 8: `atlas bench --gradient-of VALUE` vs torch_gradient.py, best of --repeats each."""
    for name, f in files.items():
        if name not in GRADIENT_VALUE:
            continue
        print(f"gradient {name}…", file=sys.stderr)
        r = {"model": name, "batch": 8, "value": GRADIENT_VALUE[name], "commands": {}}
        cmds = {"atlas": [a.atlas, "bench", "--model", f["path"], "--batch", "8", "--size", "224", "--threads",
                          str(a.threads), "--iterations", str(a.repeats), "--warmup", "0", "--gradient-of",
                          GRADIENT_VALUE[name], "--json", "--quiet"],
                "pytorch": [sys.executable, os.path.join(HERE, "torch_gradient.py"), "--batch", "8", "--threads",
                            str(a.threads), "--repeats", str(a.repeats), "--json"]}
        for key, cmd in cmds.items():
            r["commands"][key] = command_line(cmd)
            side(r, key, lambda: run_json(cmd)["input_gradient"]["seconds"] if key == "atlas" else run_json(cmd)["seconds"])
        r["pytorch/atlas"] = ratio(r.get("pytorch"), r.get("atlas"))
        done(rows, r)


def vis_rate(a, key, cmd):
    """Best icon-steps/s: lucent_icons.py repeats inside its one process, atlas bench once per process."""
    if key == "lucent":
        return run_json(cmd)["icon_steps_per_second"]
    return best_rate(a.repeats, lambda: run_json(cmd)["visualization"]["icon_steps_per_second"])


def vis_rows(a, s, files, rows, done):
    for name, f in files.items():
        m = MODELS[name]
        for upsample in [None, a.upsample]:
            for b in a.batch:
                label = f"{a.size}{'→' + str(upsample) if upsample else ''} b{b}"
                print(f"vis {name} {label}…", file=sys.stderr)
                r = {"model": name, "label": label, "layer": f["value"], "lucent_layer": m.lucent_layer, "batch": b,
                     "size": a.size, "upsample": upsample, "steps": a.steps, "commands": {}}
                cmds = {"lucent": s.lucent(name, b, upsample), "atlas": s.atlas_vis(["--model", f["path"]], f["value"], b, upsample)}
                if name == "inceptionv1":
                    cmds["atlas_arch"] = s.atlas_vis(["--arch", "inceptionv1"], m.module_path, b, upsample)
                for key, cmd in cmds.items():
                    r["commands"][key] = command_line(cmd)
                    side(r, key, lambda: vis_rate(a, key, cmd))
                if "gallery" in a.measure:
                    out = os.path.join(a.out, "gallery", name)
                    cmd = s.gallery(f["path"], f["value"], b, upsample, m.preprocess, out)
                    r["commands"]["gallery"] = command_line(cmd)
                    r["gallery_icons"] = a.gallery_icons
                    side(r, "gallery", lambda: best_rate(a.repeats, lambda: a.gallery_icons * a.steps / run_timed(cmd, out)))
                r["atlas/lucent"] = ratio(r["atlas"], r["lucent"])
                r["gallery/lucent"] = ratio(r.get("gallery"), r["lucent"])
                r["gallery/bench"] = ratio(r.get("gallery"), r["atlas"])
                r["file/arch"] = ratio(r["atlas"], r.get("atlas_arch"))
                done(rows, r)


def mark(value, target):
    return None if value is None or target is None else f"≥{target:g} {'ok' if value >= target else 'LOW'}"


def commands_note(rows, keys):
    if not rows:
        return None
    lines = [f"  {k}: {rows[0]['commands'][k]}" for k in keys if k in rows[0]["commands"]]
    return "commands (first row; the others change file, layer, batch, upsample):\n" + "\n".join(lines)


def report(result):
    a = argparse.Namespace(**result["settings"])
    fw, vis = result["forward"], result["vis"]
    if fw:
        cols = [("model", "model", ""), ("atlas img/s", "atlas", ".2f"), ("ort img/s", "onnxruntime", ".2f"),
                ("atlas/ort", "atlas/onnxruntime", ".2f"), ("target", lambda r: mark(r["atlas/onnxruntime"], FORWARD_TARGET.get(r["model"])), "")]
        if a.torch:
            cols += [("torch img/s", "pytorch", ".2f"), ("atlas/torch", "atlas/pytorch", ".2f")]
        print_table(f"Forward, batch {a.forward_batch}, 224², {a.threads} threads (images/s, best of {a.repeats})", cols, fw,
                    commands_note(fw, ["atlas", "onnxruntime", "pytorch"]))
    if vis and "vis" in a.measure:
        print_table(f"Feature vis: `atlas bench --model FILE --vis` vs Lucent, {a.steps} steps (icon-steps/s)", [
            ("model", "model", ""), ("px→net b", "label", ""), ("layer", "lucent_layer", ""), ("lucent", "lucent", ".2f"),
            ("atlas", "atlas", ".2f"), ("atlas/lucent", "atlas/lucent", ".2f"),
            ("target", lambda r: mark(r["atlas/lucent"], 5 if r["batch"] >= 8 else 3), "")], vis,
            commands_note(vis, ["lucent", "atlas"]))
    if vis and "gallery" in a.measure:
        print_table(f"`atlas gallery` end to end, {a.gallery_icons} icons × {a.steps} steps (icon-steps/s)", [
            ("model", "model", ""), ("px→net b", "label", ""), ("gallery", "gallery", ".2f"), ("lucent", "lucent", ".2f"),
            ("gallery/lucent", "gallery/lucent", ".2f"), ("target", lambda r: mark(r["gallery/lucent"], 4), ""),
            ("bench", "atlas", ".2f"), ("gallery/bench", "gallery/bench", ".2f"),
            ("target ", lambda r: mark(r["gallery/bench"], 0.9), "")], vis, commands_note(vis, ["gallery"]))
    if result.get("gradient"):
        print_table(f"Input gradient of a value's mean, batch 8, {a.threads} threads (seconds, best of {a.repeats}; "
                    "forward kept for backward + backward)", [
            ("model", "model", ""), ("atlas s", "atlas", ".3f"), ("torch s", "pytorch", ".3f"),
            ("torch/atlas", "pytorch/atlas", ".2f"), ("target", lambda r: mark(r["pytorch/atlas"], 2), "")],
            result["gradient"], commands_note(result["gradient"], ["atlas", "pytorch"]))
    arch = [dict(r, label=f"forward b{r['batch']}") for r in fw if "atlas_arch" in r]
    arch += [dict(r, label=f"vis {r['label']}") for r in vis if "atlas_arch" in r]
    if arch:
        print_table("Exported Lucent InceptionV1 vs `atlas bench --arch inceptionv1` (same settings)", [
            ("measurement", "label", ""), ("file", "atlas", ".2f"), ("arch", "atlas_arch", ".2f"),
            ("file/arch", "file/arch", ".2f"), ("target", lambda r: mark(r["file/arch"], 0.9), "")], arch,
            commands_note(arch, ["atlas", "atlas_arch"]))
    print(f"\n{result['machine']}, {result['date']}; Lucent InceptionV1 redirected ReLU: {not a.plain_relu}")


def machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main():
    a = parse()
    if a.show:
        return report(json.load(open(a.show)))
    if not os.path.exists(a.atlas):
        sys.exit(f"no Atlas binary at {a.atlas}: swift build -c release --product atlas, or give --atlas")
    files = export_all(a.models, a.out, redirected_relu=not a.plain_relu, log=lambda m: print(m, file=sys.stderr))
    s = Sides(a)
    result = {"schema": "atlas-peers-exported/1", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "machine": machine(), "settings": {k: v for k, v in vars(a).items() if k not in ("json", "show")},
              "exports": files, "forward": [], "vis": [], "gradient": []}
    partial = os.path.join(a.out, "last-run.json")

    def done(rows, row):
        """Keeps each finished row: on stderr at once, and in OUT/last-run.json (--show prints it)."""
        rows.append(row)
        figures = {k: round(v, 2) for k, v in row.items() if isinstance(v, float)}
        print(f"  {row['model']} {row.get('label', '')}: {figures}", file=sys.stderr)
        with open(partial + ".tmp", "w") as f:
            json.dump(result, f, indent=2)
        os.replace(partial + ".tmp", partial)

    if "forward" in a.measure:
        forward_rows(a, s, files, result["forward"], done)
    if {"vis", "gallery"} & set(a.measure):
        vis_rows(a, s, files, result["vis"], done)
    if "gradient" in a.measure:
        gradient_rows(a, files, result["gradient"], done)
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
