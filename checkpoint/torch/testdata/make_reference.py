"""Write reference checkpoints with the real torch.save, and what torch says they hold.

Usage: python3 make_reference.py OUTDIR [CHECKPOINT]
Writes OUTDIR/reference.bin (a state dict of float32, float16, bfloat16 tensors, views that
share one storage at offsets, a Parameter, an int64 buffer, a nested module's state dict with
its _metadata), the same as OUTDIR/protocol4.bin with pickle protocol 4, and
OUTDIR/reference.json ({name: {"dtype", "shape", "values"}}, values
flattened in row-major order as Python floats), plus OUTDIR/noncontiguous.bin (a transposed
view, which readers of contiguous tensors must reject). With CHECKPOINT, it also loads that
file with torch.load(weights_only=True) and writes what it holds to OUTDIR/loaded.json.
"""
import json
import os
import sys

import torch

out = sys.argv[1]
torch.manual_seed(0)  # for the Linear and LayerNorm initialisation
g = torch.Generator().manual_seed(1234)

model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)).to(torch.bfloat16)
sd = model.state_dict()  # an OrderedDict with a _metadata attribute
base = torch.arange(12, dtype=torch.float32) * 0.5 - 1.0
sd["f32"] = torch.randn(3, 4, generator=g)
sd["f16"] = torch.randn(2, 5, generator=g).half()
sd["bf16"] = torch.randn(7, generator=g).to(torch.bfloat16)
sd["shared.full"] = base.view(3, 4)
sd["shared.row1"] = base.view(3, 4)[1]         # storage offset 4
sd["shared.tail"] = base[6:]                   # storage offset 6
sd["shared.col"] = base.view(3, 4)[:, 1:2][2]  # a [1] view at offset 9, stride 4: size-1 dims may have any stride
sd["scalar"] = torch.tensor(2.5)
sd["empty"] = torch.zeros(0, 3)
sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
sd["f16.big"] = (torch.randn(40, 33, generator=g) * 1000).half()
sd["int64"] = torch.arange(3)

torch.save(sd, os.path.join(out, "reference.bin"))


def dump(state, path):
    ref = {}
    for k, v in state.items():
        ref[k] = {
            "dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "values": [float(x) for x in v.detach().double().flatten().tolist()],
        }
    with open(path, "w") as f:
        json.dump(ref, f, indent=0)


dump(sd, os.path.join(out, "reference.json"))
# The same state dict with pickle protocol 4 (STACK_GLOBAL, SHORT_BINUNICODE, FRAME, MEMOIZE).
torch.save(sd, os.path.join(out, "protocol4.bin"), pickle_protocol=4)

torch.save({"t": torch.randn(3, 4, generator=g).t()}, os.path.join(out, "noncontiguous.bin"))

if len(sys.argv) > 2:
    dump(torch.load(sys.argv[2], weights_only=True), os.path.join(out, "loaded.json"))
