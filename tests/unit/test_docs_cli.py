"""docs/cli.md documents every command of `pipeline` and, in that command's section, every one of its options.

The command tree is click's own (`pipeline.tools.cli.main.cli`), so a new command or option without its documentation
fails here, naming it.
"""

from __future__ import annotations

import re
from pathlib import Path

import click

from pipeline.tools.cli.main import cli

CLI_MD = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*path, name), command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*path, name)))
    return found


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every `###` section."""
    parts = re.split(r"^### (.+)$", text, flags=re.M)
    return [(parts[i], parts[i + 1].split("\n## ", 1)[0]) for i in range(1, len(parts), 2)]


def _section_of(path: tuple[str, ...], sections: list[tuple[str, str]]) -> str | None:
    """The heading and body of the section whose heading names `pipeline <path>`, its words in order."""
    pattern = re.compile(r"pipeline\b.*?" + r".*?".join(rf"(?<![-\w]){re.escape(word)}\b" for word in path))
    for heading, body in sections:
        if pattern.search(heading):
            return heading + body
    return None


def _options(command: click.Command) -> list[str]:
    return [
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
    ]


def test_every_command_and_option_is_in_its_section() -> None:
    text = CLI_MD.read_text(encoding="utf-8")
    sections = _sections(text)
    missing = [f"pipeline option {name}" for name in _options(cli) if name not in text]
    for path, command in _commands(cli):
        section = _section_of(path, sections)
        if section is None:
            missing.append(f"pipeline {' '.join(path)}: no section")
            continue
        missing += [f"pipeline {' '.join(path)} {name}" for name in _options(command) if name not in section]
    assert missing == [], "not documented in docs/cli.md"


def test_the_check_would_miss_an_undocumented_command_and_option() -> None:
    sections = _sections("## Jobs\n\n### `pipeline jobs [--json]`\n\nLists jobs.\n\n## Other\n\n### `pipeline x`\n")
    assert _section_of(("jobs",), sections) is not None
    assert _section_of(("jobs", "show"), sections) is None
    assert "--stage" not in (_section_of(("jobs",), sections) or "")
