#!/usr/bin/env python3
"""Regenerates expected.json: the chat templates in this folder rendered by
Python's jinja2 in the environment that transformers' apply_chat_template
uses (ImmutableSandboxedEnvironment, trim_blocks=True, lstrip_blocks=True,
the loopcontrols extension, and a raise_exception global), with Llama-2's
special tokens. It is the independent reference for chat's tests.

    python3 chat/testdata/reference.py > chat/testdata/expected.json

Needs only jinja2 (3.x), not transformers.
"""
import json
import os
import sys

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.globals["raise_exception"] = raise_exception

here = os.path.dirname(os.path.abspath(__file__))

S = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "  Paris.  "}
U2 = {"role": "user", "content": "And of Italy?\n"}

CASES = {
    "user": [U1],
    "system+user": [S, U1],
    "multi-turn": [S, U1, A1, U2],
    "multi-turn, no system": [U1, A1, U2],
    "ends with assistant": [S, U1, A1],
    "empty system": [{"role": "system", "content": ""}, U1],
    "tgi": [
        {"role": "system", "content": "You are a helpful assistant"},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there"},
        {"role": "user", "content": "Who are you"},
        {"role": "assistant", "content": "   I am an assistant   "},
        {"role": "user", "content": "Another question"},
    ],
    "not alternating": [U1, U2],
    "assistant first": [A1, U1],
    "no messages": [],
    "unicode": [{"role": "user", "content": "héllo → 世界 \u00a0"}],
}

out = []
for name in ["llama-2-chat.jinja", "decilm-7b-instruct.jinja"]:
    with open(os.path.join(here, name), encoding="utf-8") as f:
        tmpl = env.from_string(f.read())
    for case, messages in CASES.items():
        for gen in (False, True):
            entry = {"template": name, "case": case, "messages": messages, "add_generation_prompt": gen}
            try:
                entry["want"] = tmpl.render(
                    messages=messages, add_generation_prompt=gen,
                    bos_token="<s>", eos_token="</s>", unk_token="<unk>")
            except TemplateError as e:
                entry["error"] = str(e)
            out.append(entry)

json.dump(out, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
