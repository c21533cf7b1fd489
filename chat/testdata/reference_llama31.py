#!/usr/bin/env python3
"""Regenerates llama-3.1-expected.json: llama-3.1-instruct.jinja rendered for the
conversations of llama-3.1-cases.json (or, given as arguments, another template and
cases file) by Python's jinja2 in the environment of
transformers' apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, loopcontrols, raise_exception, and transformers' tojson:
json.dumps with ensure_ascii=False), with Llama-3's bos_token. Each case's
variables (vars) are passed as apply_chat_template passes extra kwargs.

    python3 chat/testdata/reference_llama31.py > chat/testdata/llama-3.1-expected.json
    python3 chat/testdata/reference_llama31.py qwen2.5-instruct.jinja hermes-cases.json > chat/testdata/hermes-expected.json

Needs only jinja2 (3.x).
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' chat-template tojson
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception

here = os.path.dirname(os.path.abspath(__file__))
template_file, cases_file = (sys.argv[1:3] if len(sys.argv) > 2 else ("llama-3.1-instruct.jinja", "llama-3.1-cases.json"))
with open(os.path.join(here, template_file)) as f:
    template = env.from_string(f.read())
with open(os.path.join(here, cases_file)) as f:
    cases = json.load(f)

out = []
for c in cases:
    kw = dict(c.get("vars", {}))
    if "tools" in c:
        kw["tools"] = c["tools"]
    try:
        text = template.render(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"],
                               bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", **kw)
        out.append({"name": c["name"], "output": text})
    except TemplateError as e:
        out.append({"name": c["name"], "error": str(e)})
print(json.dumps(out, indent=1, ensure_ascii=False))
