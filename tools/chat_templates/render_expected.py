#!/usr/bin/env python3
"""Renders every chat template under tests/Gateway.Tests/ChatTemplates/templates for every conversation in cases.json
with Python's jinja2, set up as Hugging Face's apply_chat_template sets it up (sandboxed, trim_blocks, lstrip_blocks,
json.dumps as tojson, raise_exception), and writes expected.json beside them. The gateway's Jinja subset must render
the same text (tests/Gateway.Tests/ChatTemplates/ChatTemplateRenderingTests.cs). Run from the repository root:
    python3 tools/chat_templates/render_expected.py
Needs jinja2 (Debian: python3-jinja2)."""
import argparse
import json
import pathlib

import jinja2
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2] / "tests" / "Gateway.Tests" / "ChatTemplates"
BOS, EOS = "<s>", "</s>"


def raise_exception(message):
    raise TemplateError(message)


def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    cases = json.loads((ROOT / "cases.json").read_text(encoding="utf-8"))
    expected = {"jinja2_version": jinja2.__version__, "bos_token": BOS, "eos_token": EOS, "templates": {}}
    for path in sorted((ROOT / "templates").glob("*.jinja")):
        template = env.from_string(path.read_text(encoding="utf-8"))
        rendered = {}
        for case in cases:
            try:
                text = template.render(messages=case["messages"], add_generation_prompt=case["add_generation_prompt"],
                                       bos_token=BOS, eos_token=EOS, tools=None, documents=None)
                rendered[case["name"]] = {"output": text}
            except TemplateError as error:
                rendered[case["name"]] = {"error": str(error)}
        expected["templates"][path.stem] = rendered
    (ROOT / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
