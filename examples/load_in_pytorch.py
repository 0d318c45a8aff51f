"""Load an abprop checkpoint into PyTorch and render samples.

    pip install torch safetensors
    python examples/load_in_pytorch.py runs/texture-quick/checkpoint.safetensors

The network is rebuilt from the model spec stored in the checkpoint's metadata; layer i of
the spec is module i of an nn.Sequential, so the tensor names ("{i}.weight", "{i}.bias")
load directly. Batch norms load the population statistics abprop stores
({i}.running_mean, {i}.running_var) and the network runs in eval mode, as
`abprop synthesize` renders (its default `--bn population`).

A model trained with `--init encoder` (IABP) also holds its encoder: the spec's "encoder"
layers, from the generator's output shape to 2 d values (the means, then the log-variances of
q(z|x)), with tensors "encoder.{i}.weight" / "encoder.{i}.bias" (conv2d as nn.Conv2d
[out, in, k, k], dense as nn.Linear).
"""
import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file


def build(spec, layer_list=None, shape=None):
    layers, shape = [], shape or spec["latent"]  # [c, h, w] per example
    for l in layer_list or spec["layers"]:
        t = l["type"]
        if t == "dense":
            layers += [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(l["out"]))]
            shape = [l["out"], 1, 1]
        elif t == "reshape":
            layers += [torch.nn.Unflatten(1, tuple(l["shape"]))]
            shape = l["shape"]
        elif t == "conv_transpose2d":
            layers += [torch.nn.ConvTranspose2d(shape[0], l["channels"], l["kernel"], l["stride"], l["padding"], l["output_padding"])]
            shape = [l["channels"], None, None]
        elif t == "conv_transpose1d":
            layers += [torch.nn.ConvTranspose1d(shape[0], l["channels"], l["kernel"], l["stride"], l["padding"], l["output_padding"])]
            shape = [l["channels"], 1, None]
        elif t == "conv2d":
            layers += [torch.nn.Conv2d(shape[0], l["channels"], l["kernel"], l["stride"], l["padding"])]
            shape = [l["channels"], None, None]
        elif t == "conv1d":
            layers += [torch.nn.Conv1d(shape[0], l["channels"], l["kernel"], l["stride"], l["padding"])]
            shape = [l["channels"], 1, None]
        elif t == "flatten":
            layers += [torch.nn.Flatten()]
            shape = [None, 1, 1]
        elif t == "batch_norm":
            bn = torch.nn.BatchNorm2d if spec_is_2d(spec) else torch.nn.BatchNorm1d
            layers += [bn(shape[0], eps=l.get("eps", 1e-4), track_running_stats=True)]
        elif t == "relu":
            layers += [torch.nn.ReLU()]
        elif t == "leaky_relu":
            layers += [torch.nn.LeakyReLU(l.get("slope", 0.2))]
        elif t == "tanh":
            layers += [torch.nn.Tanh()]
        elif t == "sigmoid":
            layers += [torch.nn.Sigmoid()]
    return torch.nn.Sequential(*layers)


def spec_is_2d(spec):
    return not any(l["type"] == "conv_transpose1d" for l in spec["layers"])


path = sys.argv[1]
with safe_open(path, "pt") as f:
    spec = json.loads(f.metadata()["spec"])
tensors = load_file(path)
net = build(spec)
# A dense layer sits inside a Sequential(Flatten, Linear): its tensors are "{i}.1.weight".
state = {}
for name, t in tensors.items():
    i, _, rest = name.partition(".")
    if i.isdigit() and spec["layers"][int(i)]["type"] == "dense":
        name = f"{i}.1.{rest}"
    state[name] = t
# num_batches_tracked is PyTorch's own counter, not used in eval mode.
net.load_state_dict({k: v for k, v in state.items() if k[0].isdigit()}, strict=False)
net.eval()
z = torch.randn(16, *spec["latent"])
if not spec_is_2d(spec):
    z = z.squeeze(2)  # [n, c, 1, t] -> [n, c, t]
print(net(z).shape)

if "encoder" in spec:
    x = net(z)
    enc = build(spec, spec["encoder"], list(x.shape[1:]))
    enc(x)  # materializes the lazy layers' shapes
    est = {}
    for name, t in tensors.items():
        if name.startswith("encoder."):
            i, _, rest = name[len("encoder."):].partition(".")
            if spec["encoder"][int(i)]["type"] == "dense":
                rest = f"1.{rest}"
            est[f"{i}.{rest}"] = t
    enc.load_state_dict(est)
    d = spec["latent"][0] * spec["latent"][1] * spec["latent"][2]
    mu, logvar = enc(x).split(d, dim=1)
    print("encoder:", mu.shape, logvar.shape)
