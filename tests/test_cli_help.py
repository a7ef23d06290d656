"""`--help` is worth reading: choices listed, options tied to their methods, an example each."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from subsel.cli import METHODS, app

runner = CliRunner()


def help_text(*args) -> str:
    res = runner.invoke(app, [*args, "--help"])
    assert res.exit_code == 0, res.output
    return res.stdout


@pytest.mark.parametrize("command", [[], ["select"], ["diverse"], ["value"], ["demo"]])
def test_no_type_after_flags_and_no_boxes(command):
    text = help_text(*command)
    assert "<bool>" not in text and "╭" not in text


def test_select_lists_methods_and_what_each_needs():
    text = help_text("select")
    assert "<" + "|".join(METHODS) + ">" in text
    assert "--clusters and --losses" in text
    assert "margin, entropy," in text and "--budget and --probabilities" in text
    assert "Example:" in text and "subsel select emb.npy" in text


def test_top_level_lists_every_command():
    text = help_text()
    for command in ("demo", "select", "diverse", "value"):
        assert f"  {command} " in text


def test_bare_subsel_prints_help():
    res = runner.invoke(app, [])
    assert res.exit_code == 0 and "Commands:" in res.stdout
