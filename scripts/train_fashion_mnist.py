#!/usr/bin/env python3
"""Train Atlas's embedded default model on Fashion-MNIST and export it to ONNX.

Data: Debian's `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist). Python env: scripts/reference-python.sh
(PyTorch CPU). Run:   /tmp/atlas-ref/bin/python scripts/train_fashion_mnist.py
Writes Assets/fashion-mnist/{fashion_cnn.onnx, labels.txt, model.json, t10k-2000-*.idx*-ubyte.gz} and prints test accuracy.

The network is fully convolutional up to a global average pool, so it accepts inputs larger than 28x28 (feature
visualizations render at 56-64 px). Module names become layer aliases in Atlas (features.conv1 ... classifier).
"""
import gzip, json, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Assets", "fashion-mnist")
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.2860, 0.3530   # Fashion-MNIST train statistics, applied as (x - MEAN) / STD on [0,1] pixels


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path, array):
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + array.astype(np.uint8).tobytes())


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv1", block(1, 32))
        self.features.add_module("conv2", block(32, 32))
        self.features.add_module("pool1", nn.MaxPool2d(2))
        self.features.add_module("conv3", block(32, 64))
        self.features.add_module("conv4", block(64, 64))
        self.features.add_module("pool2", nn.MaxPool2d(2))
        self.features.add_module("conv5", block(64, 128))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(x)


def main():
    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    xtr = read_idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255
    ytr = read_idx(f"{DATA}/train-labels-idx1-ubyte.gz").astype(np.int64)
    xte_u8 = read_idx(f"{DATA}/t10k-images-idx3-ubyte.gz")
    yte = read_idx(f"{DATA}/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    xte = xte_u8.astype(np.float32) / 255
    norm = lambda a: torch.from_numpy((a - MEAN) / STD).unsqueeze(1)
    Xtr, Ytr, Xte, Yte = norm(xtr), torch.from_numpy(ytr), norm(xte), torch.from_numpy(yte)

    model = FashionCNN()
    epochs = int(os.environ.get("EPOCHS", "6"))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * (len(Xtr) // 128)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(Xtr))
        t0 = time.time()
        for i in range(0, len(Xtr) - 127, 128):
            idx = perm[i:i + 128]
            x = Xtr[idx]
            flip = torch.rand(len(x)) < 0.5                      # horizontal flips: clothes are symmetric enough
            x[flip] = x[flip].flip(-1)
            loss = F.cross_entropy(model(x), Ytr[idx], label_smoothing=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, Xte, Yte)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {acc:.4f} ({time.time() - t0:.0f} s)", flush=True)

    acc = evaluate(model, Xte, Yte)
    os.makedirs(OUT, exist_ok=True)
    model.eval()
    path = os.path.join(OUT, "fashion_cnn.onnx")
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}},
                      opset_version=13, dynamo=False, do_constant_folding=True)
    with open(os.path.join(OUT, "labels.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    n = 2000
    write_idx(os.path.join(OUT, f"t10k-{n}-images-idx3-ubyte.gz"), xte_u8[:n])
    write_idx(os.path.join(OUT, f"t10k-{n}-labels-idx1-ubyte.gz"), yte[:n])
    sample_acc = evaluate(model, Xte[:n], Yte[:n])
    with open(os.path.join(OUT, "model.json"), "w") as f:
        json.dump({"name": "fashion_cnn", "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist)",
                   "input": [1, 28, 28], "preprocess": {"mean": [MEAN], "std": [STD]},
                   "test_accuracy": round(acc, 4), "sample_accuracy": round(sample_acc, 4), "sample_count": n,
                   "epochs": epochs, "seed": 0, "script": "scripts/train_fashion_mnist.py"}, f, indent=2)
    print(f"test accuracy {acc:.4f} (10000 images); sample accuracy {sample_acc:.4f} ({n} images); wrote {path}")


def evaluate(model, X, Y):
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(X[i:i + 1000]).argmax(1) for i in range(0, len(X), 1000)])
    return (pred == Y).float().mean().item()


if __name__ == "__main__":
    sys.exit(main())
