"""Write a PEFT LoRA adapter for a Hugging Face checkpoint and the checkpoint with the
adapter merged, both with PyTorch alone (no peft, no safetensors package): the oracle that
decilm's run-time adapters and `decilm merge-lora` are checked against.

usage: make_adapter.py BASE_DIR ADAPTER_DIR MERGED_DIR [BIN_DIR]

The adapter targets q/k/v/o and gate/up/down of every layer with random A [r, in] and
B [out, r] (torch.manual_seed(0)); rank 4 and alpha 8, except layers.1.self_attn.q_proj
(rank_pattern 2, alpha_pattern 3); rsLoRA (scale alpha/sqrt(r)). The merged checkpoint
holds every tensor as float32, the targeted ones W + s * (B @ A) computed in float64.
BIN_DIR, when given, receives the same adapter as adapter_model.bin (torch.save), as older
PEFT versions wrote it.
"""
import json, math, os, shutil, struct, sys
import torch

base, adir, mdir = sys.argv[1:4]
bdir = sys.argv[4] if len(sys.argv) > 4 else None
R, ALPHA = 4, 8.0
SPECIAL = "layers.1.self_attn.q_proj"
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
DT = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        buf = bytearray(raw[8 + n + a:8 + n + b])
        out[name] = torch.frombuffer(buf, dtype=DT[e["dtype"]]).reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, t in tensors.items():
        t = t.contiguous().to(torch.float32)
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


weights = read_safetensors(os.path.join(base, "model.safetensors"))
torch.manual_seed(0)
adapter, merged = {}, {}
for name, w in weights.items():
    merged[name] = w.to(torch.float64)
for name in list(weights):
    module = name[:-len(".weight")] if name.endswith(".weight") else None
    if module is None or module.rsplit(".", 1)[-1] not in TARGETS:
        continue
    r, alpha = (2, 3.0) if module.endswith(SPECIAL) else (R, ALPHA)
    out_f, in_f = weights[name].shape
    A = torch.randn(r, in_f, dtype=torch.float32) / math.sqrt(in_f)
    B = torch.randn(out_f, r, dtype=torch.float32) * 0.5
    adapter["base_model.model." + module + ".lora_A.weight"] = A
    adapter["base_model.model." + module + ".lora_B.weight"] = B
    s = alpha / math.sqrt(r)  # rsLoRA
    merged[name] = merged[name] + s * (B.to(torch.float64) @ A.to(torch.float64))

os.makedirs(adir, exist_ok=True)
write_safetensors(os.path.join(adir, "adapter_model.safetensors"), adapter)
json.dump({"peft_type": "LORA", "r": R, "lora_alpha": ALPHA, "use_rslora": True,
           "target_modules": TARGETS, "rank_pattern": {SPECIAL: 2}, "alpha_pattern": {SPECIAL: 3.0},
           "bias": "none", "modules_to_save": None, "use_dora": False, "lora_dropout": 0.0,
           "fan_in_fan_out": False, "task_type": "CAUSAL_LM"},
          open(os.path.join(adir, "adapter_config.json"), "w"), indent=1)
os.makedirs(mdir, exist_ok=True)
write_safetensors(os.path.join(mdir, "model.safetensors"), {k: v.to(torch.float32) for k, v in merged.items()})
shutil.copy(os.path.join(base, "config.json"), os.path.join(mdir, "config.json"))
if bdir:
    os.makedirs(bdir, exist_ok=True)
    torch.save(adapter, os.path.join(bdir, "adapter_model.bin"))
    shutil.copy(os.path.join(adir, "adapter_config.json"), os.path.join(bdir, "adapter_config.json"))
