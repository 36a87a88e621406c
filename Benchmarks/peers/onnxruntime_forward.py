#!/usr/bin/env python3
"""Peer: onnxruntime forward throughput on an ONNX file, the same work `atlas bench --model FILE` times.

  python Benchmarks/peers/onnxruntime_forward.py MODEL.onnx --batch 16 --size 224 --threads 2 [--json]
Prints images/s (best of --repeats timed runs after --warmup runs), like atlas bench's `images_per_second`.
"""
import argparse, json, time
import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--channels", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.random.default_rng(0).standard_normal((a.batch, a.channels, a.size, a.size)).astype(np.float32)
    for _ in range(a.warmup):
        sess.run(None, {name: x})
    best = float("inf")
    for _ in range(a.repeats):
        t = time.perf_counter()
        sess.run(None, {name: x})
        best = min(best, time.perf_counter() - t)
    ips = a.batch / best
    result = {"peer": "onnxruntime", "version": ort.__version__, "model": a.model, "batch": a.batch, "size": a.size,
              "threads": a.threads, "images_per_second": ips}
    print(json.dumps(result) if a.json else f"onnxruntime {ort.__version__}: {ips:.2f} img/s (batch {a.batch}, {a.size}², {a.threads} threads)")


if __name__ == "__main__":
    main()
