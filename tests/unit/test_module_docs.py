"""docs/modules.md is generated from the modules; this fails when it is out of date."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[2]


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "gen_module_docs", ROOT / "scripts" / "gen_module_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_module_docs", module)
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def test_docs_modules_md_is_up_to_date():
    current = (ROOT / "docs" / "modules.md").read_text(encoding="utf-8")
    assert current == gen.render(), (
        "docs/modules.md is out of date: run .venv/bin/python scripts/gen_module_docs.py"
    )


def test_every_builtin_module_has_a_section_with_its_arguments():
    text = gen.render()
    for name, module_cls in gen.builtin_modules().items():
        assert f"\n## {name}\n" in text, name
        section = text.split(f"\n## {name}\n", 1)[1].split("\n## ", 1)[0]
        for field_name, field in module_cls.Args.model_fields.items():
            assert f"| `{field.alias or field_name}` |" in section, (name, field_name)


def test_type_names_read_like_python():
    assert gen.type_name(str | None) == "str | None"
    assert gen.type_name(list[str | int]) == "list[str | int]"
    assert gen.type_name(Literal["a", "b"]) == "'a' | 'b'"
    assert gen.type_name(dict[str, str]) == "dict[str, str]"


def test_docstring_examples_become_yaml_fences():
    doc = "Do a thing.\n\nMore words.\n\n    - thing: {a: 1}\n      when: x\n\nAfter."
    lines = gen.docstring_markdown(doc)
    assert lines == [
        "Do a thing.", "", "More words.", "",
        "```yaml", "- thing: {a: 1}", "  when: x", "```", "", "After.",
    ]  # fmt: skip


def test_check_mode_exits_1_when_the_page_differs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gen, "DOCS", tmp_path / "modules.md")
    assert gen.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    monkeypatch.setattr(gen, "ROOT", tmp_path)
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
