"""The options every command that talks to AWS shares: where (`--stage`, `--region`, `--profile`) and `--json`.

They may be given to a group and to its commands alike (`pipeline jobs --stage prod show ID` and
`pipeline jobs show ID --stage prod`); the command's own value wins. Commands read them with `target()`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from pipeline.tools.cli.target import Cloud, resolve

F = TypeVar("F", bound=Callable[..., Any])
_CHOSEN = "pipeline.target"  # in click's `Context.meta`, which a group's context shares with its commands'


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and param.name:
        ctx.meta.setdefault(_CHOSEN, {})[param.name] = value
    return value


def _option(name: str, help_text: str) -> Callable[[F], F]:
    return click.option(name, default=None, expose_value=False, callback=_remember, help=help_text)


_WHERE = (
    _option("--stage", "AWS stage to use; omit for the embedded local cloud."),
    _option("--region", "AWS region of the stage [default: AWS_DEFAULT_REGION, else the profile's]."),
    _option("--profile", "AWS profile to use [default: AWS_PROFILE]."),
)


def aws_options(command: F) -> F:
    """Add `--stage`, `--region` and `--profile` to ``command`` (read them with `target()`)."""
    for option in reversed(_WHERE):
        command = option(command)
    return command


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def chosen(name: str) -> str | None:
    """The value of `--stage`, `--region` or `--profile` given to this command or its group, else None."""
    values: dict[str, str] = click.get_current_context().meta.get(_CHOSEN, {})
    return values.get(name)


def target(local: bool = False) -> Cloud:
    """The cloud the options name: a stage on AWS, or the embedded local cloud (also with ``local``)."""
    return resolve(chosen("stage"), chosen("region"), chosen("profile"), local=local)
