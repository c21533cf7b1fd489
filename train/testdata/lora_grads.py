#!/usr/bin/python3
"""PyTorch reference for train's LoRA gradients (run by lora_oracle_test.go with Debian's
python3-torch).

Usage: lora_grads.py MODEL_DIR REQUEST.json

MODEL_DIR holds a Hugging Face config.json and model.safetensors (DeciLM with per-layer KV
heads, or Nemotron-NAS with block_configs). REQUEST.json names a raw little-endian float32
file and what lies in it: the LoRA A and B matrices (PEFT names), and optionally base
weights that replace the safetensors ones (a dequantized Q4_0 model). The script builds the
model in float64 from the config's semantics (written here from the Hugging Face modeling
code, not from the Go code), applies LoRA as PEFT does (y = x W^T + s (x A^T) B^T), sums the
cross-entropy of the counted positions of the batch, runs autograd and writes OUT (from the
request): float64 loss, then each LoRA tensor's gradient as float64, in request order.
"""
import json
import math
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        buf = bytearray(raw[base + lo : base + hi])
        dt = info["dtype"]
        if dt == "BF16":
            t = torch.frombuffer(buf, dtype=torch.int16).to(torch.int32) << 16
            t = t.view(torch.float32)
        elif dt == "F32":
            t = torch.frombuffer(buf, dtype=torch.float32)
        elif dt == "F16":
            t = torch.frombuffer(buf, dtype=torch.float16).to(torch.float32)
        else:
            raise SystemExit(f"{path}: {name}: dtype {dt} not handled")
        out[name] = t.reshape(info["shape"]).to(torch.float64)
    return out


def find_multiple(n, k):
    return n if n % k == 0 else n + k - n % k


def blocks_of(cfg):
    """Per layer: (attn, kv_heads, ffn, width) with attn in grouped/linear/none."""
    H, L, heads = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
    if "block_configs" in cfg:
        out = []
        for b in cfg["block_configs"]:
            a, f = b["attention"], b["ffn"]
            if a.get("no_op"):
                attn = ("none", 0)
            elif a.get("replace_with_linear"):
                attn = ("linear", 0)
            else:
                attn = ("grouped", heads // a["n_heads_in_group"])
            if f.get("no_op"):
                ffn = ("none", 0)
            elif f.get("replace_with_linear"):
                ffn = ("linear", 0)
            else:
                ffn = ("gated", find_multiple(int(2 * f["ffn_mult"] * H / 3), 256))
            out.append(attn + ffn)
        return out
    kv = cfg.get("num_key_value_heads_per_layer") or [cfg.get("num_key_value_heads", heads)] * L
    return [("grouped", kv[l], "gated", cfg["intermediate_size"]) for l in range(L)]


def inv_freq(cfg, dim):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
    rs = cfg.get("rope_scaling")
    if rs and (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wave, high_wave = old / low, old / high
        wave = 2 * math.pi / inv
        scaled = torch.where(wave > low_wave, inv / factor, inv)
        smooth = (old / wave - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        mid = ~(wave < high_wave) & ~(wave > low_wave)
        inv = torch.where(mid, smoothed, scaled)
    elif rs:
        raise SystemExit(f"rope_scaling {rs} not handled")
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def main():
    model_dir, req_path = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{model_dir}/config.json"))
    req = json.load(open(req_path))
    w = read_safetensors(f"{model_dir}/model.safetensors")
    data = open(req["data"], "rb").read()

    def tensor_at(ent):
        n = 1
        for d in ent["shape"]:
            n *= d
        t = torch.frombuffer(bytearray(data[4 * ent["offset"] : 4 * (ent["offset"] + n)]), dtype=torch.float32)
        return t.reshape(ent["shape"]).to(torch.float64)

    for ent in req.get("base") or []:
        if ent["name"] not in w or list(w[ent["name"]].shape) != ent["shape"]:
            raise SystemExit(f"base override {ent['name']} does not match the checkpoint")
        w[ent["name"]] = tensor_at(ent)
    lora = {}
    order = []
    for ent in req["lora"]:
        lora[ent["name"]] = tensor_at(ent).requires_grad_(True)
        order.append(ent["name"])
    s = req["scale"]

    H, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = cfg.get("head_dim") or H // heads
    eps = cfg["rms_norm_eps"]
    inv = inv_freq(cfg, hd)

    def norm(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    def lin(x, name):
        y = x @ w[name + ".weight"].T
        a = lora.get(f"base_model.model.{name}.lora_A.weight")
        if a is not None:
            b = lora[f"base_model.model.{name}.lora_B.weight"]
            y = y + s * ((x @ a.T) @ b.T)
        return y

    total = torch.zeros(())
    for ex in req["batch"]:
        ids = torch.tensor(ex["tokens"])
        T = len(ex["tokens"])
        x = w["model.embed_tokens.weight"][ids]
        pos = torch.arange(T, dtype=torch.float64)
        ang = torch.outer(pos, inv)
        emb = torch.cat((ang, ang), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        mask = torch.full((T, T), float("-inf")).triu(1)
        for l, (attn, kvh, ffn, width) in enumerate(blocks_of(cfg)):
            p = f"model.layers.{l}."
            if attn != "none":
                h = norm(x, w[p + "input_layernorm.weight"])
                if attn == "linear":
                    x = x + lin(h, p + "self_attn.linear_attn")
                else:
                    q = lin(h, p + "self_attn.q_proj").view(T, heads, hd).transpose(0, 1)
                    k = lin(h, p + "self_attn.k_proj").view(T, kvh, hd).transpose(0, 1)
                    v = lin(h, p + "self_attn.v_proj").view(T, kvh, hd).transpose(0, 1)
                    q = q * cos + rotate_half(q) * sin
                    k = k * cos + rotate_half(k) * sin
                    k = k.repeat_interleave(heads // kvh, dim=0)
                    v = v.repeat_interleave(heads // kvh, dim=0)
                    att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, dim=-1)
                    o = (att @ v).transpose(0, 1).reshape(T, heads * hd)
                    x = x + lin(o, p + "self_attn.o_proj")
            if ffn != "none":
                h = norm(x, w[p + "post_attention_layernorm.weight"])
                if ffn == "linear":
                    x = x + lin(h, p + "mlp.linear_mlp")
                else:
                    a = torch.nn.functional.silu(lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj")
                    x = x + lin(a, p + "mlp.down_proj")
        x = norm(x, w["model.norm.weight"])
        head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
        logits = x @ head.T
        counted = [i for i, c in enumerate(ex["loss"]) if c]
        if counted:
            rows = torch.tensor(counted)
            tg = ids[rows + 1]
            total = total + torch.nn.functional.cross_entropy(logits[rows], tg, reduction="sum")
    total.backward()
    with open(req["out"], "wb") as f:
        f.write(struct.pack("<d", total.item()))
        for name in order:
            g = lora[name].grad
            if g is None:
                g = torch.zeros_like(lora[name])
            f.write(g.contiguous().numpy().astype("<f8").tobytes())


if __name__ == "__main__":
    main()
