"""Forward and backward fixtures for candor-core's ops and layers, made with PyTorch (CPU,
float64).

Run from the repository root: python3 tools/make_ops_fixtures.py
Writes crates/core/tests/fixtures/ops.json. For each case: the inputs, the output, and the
gradients of sum(output * r) for a fixed random r (also stored).
"""
import json

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
cases = []


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def add(kind, params, inputs, fn):
    ts = [t.clone().requires_grad_(True) for t in inputs]
    y = fn(*ts)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    cases.append(
        {
            "kind": kind,
            "params": params,
            "inputs": [{"shape": list(t.shape), "data": flat(t)} for t in ts],
            "r": flat(r),
            "output": {"shape": list(y.shape), "data": flat(y)},
            "grads": [flat(t.grad) for t in ts],
        }
    )


for (x, w, s, p, d, g) in [
    ((2, 3, 7, 9), (4, 3, 3, 3), 1, 1, 1, 1),
    ((2, 4, 9, 8), (6, 2, 3, 3), 2, 1, 1, 2),
    ((2, 4, 8, 8), (4, 1, 3, 3), 1, 1, 1, 4),
    ((1, 3, 9, 9), (6, 1, 3, 3), 2, 1, 1, 3),
    ((1, 2, 11, 10), (3, 2, 3, 3), 1, 2, 2, 1),
    ((2, 5, 5, 6), (3, 5, 1, 1), 1, 0, 1, 1),
]:
    add(
        "conv2d",
        {"stride": s, "padding": p, "dilation": d, "groups": g},
        [torch.randn(x), torch.randn(w)],
        lambda a, b, s=s, p=p, d=d, g=g: F.conv2d(a, b, None, s, p, d, g),
    )

for (k, s, p) in [(3, 2, 1), (2, 2, 0), (3, 1, 1)]:
    x = torch.randn(2, 3, 7, 9)
    # A few exact ties, to pin down which maximum gets the gradient.
    x[0, 0, 0, :3] = 1.5
    add("max_pool2d", {"kernel": k, "stride": s, "padding": p}, [x],
        lambda a, k=k, s=s, p=p: F.max_pool2d(a, k, s, p))
    for inc in (True, False):
        add("avg_pool2d", {"kernel": k, "stride": s, "padding": p, "count_include_pad": inc},
            [torch.randn(2, 3, 7, 9)],
            lambda a, k=k, s=s, p=p, inc=inc: F.avg_pool2d(a, k, s, p, count_include_pad=inc))

for (oh, ow) in [(1, 1), (3, 4), (5, 2)]:
    add("adaptive_avg_pool2d", {"oh": oh, "ow": ow}, [torch.randn(2, 2, 7, 9)],
        lambda a, oh=oh, ow=ow: F.adaptive_avg_pool2d(a, (oh, ow)))

for align in (True, False):
    for (oh, ow) in [(10, 14), (7, 5), (3, 3)]:
        add("upsample_bilinear2d", {"oh": oh, "ow": ow, "align_corners": align},
            [torch.randn(2, 2, 5, 7)],
            lambda a, oh=oh, ow=ow, align=align: F.interpolate(
                a, size=(oh, ow), mode="bilinear", align_corners=align))

add("layer_norm", {"eps": 1e-5}, [torch.randn(3, 4, 5), torch.randn(5), torch.randn(5)],
    lambda a, w, b: F.layer_norm(a, (5,), w, b, 1e-5))
add("group_norm", {"groups": 2, "eps": 1e-5},
    [torch.randn(3, 4, 3, 5), torch.randn(4), torch.randn(4)],
    lambda a, w, b: F.group_norm(a, 2, w, b, 1e-5))
add("batch_norm_train", {"eps": 1e-5},
    [torch.randn(3, 4, 3, 5), torch.randn(4), torch.randn(4)],
    lambda a, w, b: F.batch_norm(a, None, None, w, b, True, 0.1, 1e-5))

# Appended after the cases above, so that their random inputs stay the same.

for (x, w, s, p, op, d, g) in [
    ((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 4, 3, 3), 2, 1, 1, 1, 1),
    ((1, 4, 5, 4), (4, 3, 4, 4), 2, 1, 0, 1, 2),
    ((2, 4, 3, 4), (4, 1, 3, 3), 2, 1, 1, 1, 4),
    ((1, 3, 4, 3), (3, 2, 3, 3), 3, 2, 2, 1, 3),
    ((1, 2, 4, 4), (2, 3, 3, 3), 1, 1, 1, 2, 1),
    ((2, 2, 3, 3), (2, 2, 2, 2), 2, 0, 1, 2, 2),
]:
    add(
        "conv_transpose2d",
        {"stride": s, "padding": p, "output_padding": op, "dilation": d, "groups": g},
        [torch.randn(x), torch.randn(w), torch.randn(w[1] * g)],
        lambda a, b, c, s=s, p=p, op=op, d=d, g=g: F.conv_transpose2d(a, b, c, s, p, op, g, d),
    )

for act in ["identity", "relu", "tanh", "sigmoid"]:
    fn = {"identity": lambda t: t, "relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[act]
    add("linear", {"activation": act}, [torch.randn(2, 3, 5), torch.randn(4, 5), torch.randn(4)],
        lambda a, w, b, fn=fn: fn(F.linear(a, w, b)))

add("instance_norm", {"eps": 1e-5, "affine": True},
    [torch.randn(2, 3, 4, 5), torch.randn(3), torch.randn(3)],
    lambda a, w, b: F.instance_norm(a, weight=w, bias=b, eps=1e-5))
add("instance_norm", {"eps": 1e-5, "affine": False}, [torch.randn(2, 3, 4, 5)],
    lambda a: F.instance_norm(a, eps=1e-5))


def act_input():
    # Spread over [-6, 6], with a few values in softplus's linear region (> 20).
    x = torch.randn(3, 7) * 3.0
    x[0, :2] = torch.tensor([21.0, 30.0])
    return x


for name, fn, params in [
    ("leaky_relu", lambda t: F.leaky_relu(t, 0.2), {"negative_slope": 0.2}),
    ("elu", lambda t: F.elu(t, 1.3), {"alpha": 1.3}),
    ("sigmoid", torch.sigmoid, {}),
    ("tanh", torch.tanh, {}),
    ("softplus", F.softplus, {}),
]:
    add(name, params, [act_input()], fn)

# An ERL-style actor: Linear → LayerNorm → tanh → Linear → tanh.
add("mlp_layer_norm_tanh", {"eps": 1e-5},
    [torch.randn(4, 3), torch.randn(5, 3), torch.randn(5), torch.randn(5), torch.randn(5),
     torch.randn(2, 5), torch.randn(2)],
    lambda x, w0, b0, g0, be0, w1, b1: torch.tanh(F.linear(
        torch.tanh(F.layer_norm(F.linear(x, w0, b0), (5,), g0, be0, 1e-5)), w1, b1)))

with open("crates/core/tests/fixtures/ops.json", "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f)
print(len(cases), "cases")
