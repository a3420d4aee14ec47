"""What the runner sees: workflow commands, outputs files and the job summary."""

from __future__ import annotations

import io
from itertools import count
from pathlib import Path

import pytest

from bot.action.workflow_commands import (
    MAX_SUMMARY_BYTES,
    WorkflowCommands,
    append_summary,
    format_outputs,
    parse_outputs,
    redact,
    write_outputs,
)


def tokens(*values: str):  # type: ignore[no-untyped-def]
    it = iter(values)
    return lambda: next(it)


def test_error_and_warning_escape_data_and_properties() -> None:
    out = io.StringIO()
    wc = WorkflowCommands(out)
    wc.error("50% done\nsecond line\r", title="Bad: input, really")
    wc.warning("careful")
    wc.notice("fyi")
    assert out.getvalue().splitlines() == [
        "::error title=Bad%3A input%2C really::50%25 done%0Asecond line%0D",
        "::warning::careful",
        "::notice::fyi",
    ]


def test_mask_registers_each_line_and_redacts_later_messages() -> None:
    out = io.StringIO()
    wc = WorkflowCommands(out)
    wc.mask("cog_abc")
    wc.mask("-----BEGIN KEY-----\nMIIEsecretline\n-----END KEY-----")
    wc.mask("")
    wc.error("the key cog_abc was rejected; MIIEsecretline")
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "::add-mask::cog_abc",
        "::add-mask::-----BEGIN KEY-----",
        "::add-mask::MIIEsecretline",
        "::add-mask::-----END KEY-----",
    ]
    assert lines[4] == "::error::the key *** was rejected; ***"


def test_secrets_given_up_front_are_redacted() -> None:
    out = io.StringIO()
    WorkflowCommands(out, secret_values=["tok123"]).info("using tok123")
    assert out.getvalue() == "using ***\n"


def test_echo_wraps_untrusted_text_in_stop_commands() -> None:
    out = io.StringIO()
    wc = WorkflowCommands(out, token_factory=tokens("t0k"))
    wc.echo("::set-output name=x::evil\n::error::fake")
    assert out.getvalue().splitlines() == [
        "::stop-commands::t0k",
        "::set-output name=x::evil",
        "::error::fake",
        "::t0k::",
    ]


def test_echo_picks_a_token_absent_from_the_text() -> None:
    out = io.StringIO()
    wc = WorkflowCommands(out, token_factory=tokens("abc", "xyz"))
    wc.echo("I know ::abc:: resumes commands")
    assert out.getvalue().splitlines()[0] == "::stop-commands::xyz"
    assert out.getvalue().splitlines()[-1] == "::xyz::"


def test_default_tokens_are_random() -> None:
    first, second = io.StringIO(), io.StringIO()
    WorkflowCommands(first).echo("a")
    WorkflowCommands(second).echo("a")
    assert first.getvalue() != second.getvalue()


def test_group_closes_even_on_error() -> None:
    out = io.StringIO()
    wc = WorkflowCommands(out)
    with pytest.raises(RuntimeError), wc.group("Polling"):
        wc.info("tick")
        raise RuntimeError
    assert out.getvalue().splitlines() == ["::group::Polling", "tick", "::endgroup::"]


def test_outputs_use_heredocs_with_random_delimiters(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_text("earlier=1\n")
    outputs = {"session-id": "devin-abc", "pull-request-urls": "https://x/1\nhttps://x/2"}
    assert write_outputs(path, outputs)
    text = path.read_text()
    assert "session-id<<ghadelimiter_" in text
    assert parse_outputs(text) == {"earlier": "1", **outputs}


def test_a_value_containing_the_delimiter_gets_another_one() -> None:
    counter = count()
    text = format_outputs(
        {"x": "line\nghadelimiter_0\nmore"}, token_factory=lambda: str(next(counter))
    )
    assert text.startswith("x<<ghadelimiter_1\n")
    assert parse_outputs(text) == {"x": "line\nghadelimiter_0\nmore"}


def test_empty_values_round_trip() -> None:
    assert parse_outputs(format_outputs({"a": "", "b": "x"})) == {"a": "", "b": "x"}


def test_bad_output_names_are_refused() -> None:
    with pytest.raises(ValueError):
        format_outputs({"a=b": "x"})


def test_no_output_file_writes_nothing() -> None:
    assert write_outputs(None, {"a": "b"}) is False
    assert write_outputs("", {"a": "b"}) is False


def test_summary_is_appended_and_capped(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    assert append_summary(path, "# One")
    assert append_summary(path, "two\n")
    assert path.read_text() == "# One\ntwo\n"
    assert append_summary(path, "x" * (MAX_SUMMARY_BYTES + 10))
    assert path.stat().st_size <= MAX_SUMMARY_BYTES + 200
    assert path.read_text().endswith("*(summary trimmed)*\n")
    assert append_summary(None, "x") is False


def test_redact_multi_line_secrets_line_by_line() -> None:
    assert redact("a\nSECRETLINE\nb", ["head\nSECRETLINE\ntail"]) == "a\n***\nb"
    assert redact("abc", [""]) == "abc"
