"""The ```python examples of docs/client.md run, in order, against a real server loaded with
the demo organisation (its URL put in place of the documented http://127.0.0.1:8000)."""

from __future__ import annotations

import re
from pathlib import Path

from planfeed.demo import load_demo
from support import TEST_SECRET

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def test_client_doc_examples_run(db, server, tmp_path, monkeypatch, capsys):
    load_demo(db.engine, TEST_SECRET, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(DOC.read_text("utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for block in blocks:
        code = block.replace("http://127.0.0.1:8000", server)
        exec(compile(code, str(DOC), "exec"), namespace)  # our own documentation
    printed = capsys.readouterr().out
    assert "organisation='demo'" in printed
    assert "applied 5 of 5" in printed
    assert 'Did you mean "On Track"?' in printed
    assert "\n65\n" in printed
    assert "True ()" in printed
    # feeds
    assert "O'Neil & Sons\nTrue\n0113 496 0000\n" in printed
    assert "upsert: False True\nupsert: True training@two.example\nNone\n" in printed
    assert "\"$filter (position 0): unknown field 'StartDat'; did you mean StartDate?\"" in printed
    assert "404 not_found" in printed
    assert "admin 4\nsandbox 3\n" in printed
