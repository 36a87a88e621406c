#!/usr/bin/env python3
"""Thread scaling on the exported files: exported.py once per thread count, then one table (development only).

  /tmp/atlas-ref/bin/python Benchmarks/peers/scaling.py --threads 1 2 4 8 16 [--models resnet50 googlenet …]
      [--measure forward vis] [--repeats 1] [--steps 8] [--json FILE]
  /tmp/atlas-ref/bin/python Benchmarks/peers/scaling.py --show FILE      # the table of a saved --json run

For a multicore server: each thread count runs exported.py (same files, same settings, back to back) and the
table gives, per model and thread count, Atlas's and the peer's rate, their ratio, and each side's speed-up over
its own rate at the fewest threads. Forward is images/s at batch 16 against onnxruntime; vis is icon-steps/s of
`atlas bench --vis` at batch 8, 128 px (the network input and 224 upsampled) against Lucent where Lucent runs.
"""
import argparse, json, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from measure import print_table, ratio  # noqa: E402


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--models", nargs="+", default=["resnet50", "googlenet", "inceptionv1"])
    ap.add_argument("--measure", nargs="+", default=["forward"], choices=["forward", "vis"])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--steps", type=int, default=8, help="vis steps")
    ap.add_argument("--json", metavar="FILE", help="also save the runs to FILE")
    ap.add_argument("--show", metavar="FILE", help="print the table of a saved --json run, measure nothing")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="after --: more exported.py options (--atlas, --out …)")
    return ap.parse_args()


def rows(runs):
    """One row per (measure, model, label) and thread count, with speed-ups over the fewest threads."""
    out, base = [], {}
    for threads, run in sorted(runs.items(), key=lambda kv: int(kv[0])):
        for measure, peer in [("forward", "onnxruntime"), ("vis", "lucent")]:
            for r in run.get(measure) or []:
                key = (measure, r["model"], r.get("label", ""))
                base.setdefault(key, (r.get("atlas"), r.get(peer)))
                b = base[key]
                out.append({"what": f"{measure} {r['model']} {r.get('label', '')}".strip(), "threads": int(threads),
                            "atlas": r.get("atlas"), "peer": r.get(peer), "ratio": ratio(r.get("atlas"), r.get(peer)),
                            "atlas_speedup": ratio(r.get("atlas"), b[0]), "peer_speedup": ratio(r.get(peer), b[1])})
    return sorted(out, key=lambda r: (r["what"], r["threads"]))


def show(runs):
    print_table("Thread scaling: Atlas vs the peer on the same files (forward: onnxruntime, img/s; vis: Lucent, "
                "icon-steps/s)", [
        ("workload", "what", ""), ("threads", "threads", "d"), ("atlas", "atlas", ".1f"), ("peer", "peer", ".1f"),
        ("atlas/peer", "ratio", ".2f"), ("atlas ×", "atlas_speedup", ".2f"), ("peer ×", "peer_speedup", ".2f")],
        rows(runs))


def main():
    a = parse()
    if a.show:
        show(json.load(open(a.show)))
        return
    runs = {}
    extra = [x for x in a.rest if x != "--"]
    for t in a.threads:
        cmd = [sys.executable, os.path.join(HERE, "exported.py"), "--threads", str(t), "--measure", *a.measure,
               "--repeats", str(a.repeats), "--steps", str(a.steps), "--batch", "8", "--models", *a.models,
               "--json", *extra]
        print(f"{t} threads…", file=sys.stderr)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        runs[str(t)] = json.loads(out[out.index("{"):])
    if a.json:
        json.dump(runs, open(a.json, "w"), indent=1)
    show(runs)


if __name__ == "__main__":
    main()
