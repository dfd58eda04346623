"""`pipeline sweep` decides which object versions to hand over again: without a job, or with a stuck job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline.runtime.arrival.events import ObjectRef
from pipeline.runtime.errors import PipelineError
from pipeline.tools.operate import sweep
from pipeline.tools.operate.sweep import HANDOVER_GRACE_S, Reason, parse_since

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DEADLINE = NOW - timedelta(seconds=1800)


def _at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ref(uploaded_ago: float = 3600) -> ObjectRef:
    return ObjectRef("b", "orders/a.csv", 10, "e", "v1", None, _at(uploaded_ago))


@pytest.mark.parametrize(
    ("job", "uploaded_ago", "reason"),
    [
        (None, 3600, Reason.NO_JOB),
        (None, 60, None),  # its notification may still be on the way
        ({"status": "RECEIVED", "received_at": _at(3600)}, 3600, Reason.NEVER_PROCESSED),
        ({"status": "RECEIVED", "received_at": _at(60)}, 3600, None),
        ({"status": "PROCESSING", "started_at": _at(3600), "received_at": _at(3700)}, 3700, Reason.PROCESSING_STOPPED),
        ({"status": "PROCESSING", "started_at": _at(600), "received_at": _at(3700)}, 3700, None),  # may be running
        ({"status": "COMPLETE", "received_at": _at(9999)}, 9999, None),
        ({"status": "FAILED", "received_at": _at(9999), "cause": "x"}, 9999, None),  # has its reason
        ({"status": "RECEIVED", "received_at": _at(9999), "superseded_by": "j2"}, 9999, None),
        # a sweep handed it over a minute ago: not again, whatever the deadline
        ({"status": "RECEIVED", "received_at": _at(9999), "swept_at": _at(60)}, 9999, None),
        ({"status": "RECEIVED", "received_at": _at(9999), "swept_at": _at(HANDOVER_GRACE_S + 1)}, 9999, None),
        ({"status": "RECEIVED", "received_at": _at(9999), "swept_at": _at(3600)}, 9999, Reason.NEVER_PROCESSED),
    ],
)
def test_what_a_sweep_hands_over(job, uploaded_ago, reason) -> None:
    assert sweep._reason(job, _ref(uploaded_ago), DEADLINE, NOW) == reason


def test_a_job_swept_just_now_is_left_alone_even_with_no_deadline() -> None:
    job = {"status": "RECEIVED", "received_at": _at(9999), "swept_at": _at(5)}
    assert sweep._reason(job, _ref(9999), NOW, NOW) is None
    assert sweep._reason({"status": "RECEIVED", "received_at": _at(5)}, _ref(9999), NOW, NOW) == Reason.NEVER_PROCESSED


def test_a_paging_job_is_swept_only_when_its_execution_ended(monkeypatch) -> None:
    job = {"status": "PAGING", "mode": "paged", "received_at": _at(9999), "execution_arn": "arn"}
    monkeypatch.setattr(sweep, "is_interrupted", lambda j: False)
    assert sweep._reason(job, _ref(9999), DEADLINE, NOW) is None
    monkeypatch.setattr(sweep, "is_interrupted", lambda j: True)
    assert sweep._reason(job, _ref(9999), DEADLINE, NOW) == Reason.EXECUTION_ENDED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", NOW - timedelta(minutes=90)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("30s", NOW - timedelta(seconds=30)),
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T08:30:00Z", datetime(2026, 11, 20, 8, 30, tzinfo=UTC)),
        ("2026-11-20T08:30:00+01:00", datetime(2026, 11, 20, 7, 30, tzinfo=UTC)),
    ],
)
def test_since_takes_a_time_or_an_age(text, expected) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2h ago", "-5m", "2026-13-01"])
def test_since_rejects_anything_else_with_one_line(text) -> None:
    with pytest.raises(PipelineError, match="--since"):
        parse_since(text, NOW)


def test_the_cli_default_deadline_is_the_sweeps() -> None:
    from pipeline.tools.cli.operate_cmd import sweep as sweep_command

    option = next(p for p in sweep_command.params if p.name == "older_than")
    assert option.default == sweep.DEFAULT_DEADLINE_S


@pytest.mark.parametrize(
    ("job", "stuck"),
    [
        ({"status": "PROCESSING", "started_at": _at(3600)}, True),
        ({"status": "PROCESSING", "started_at": _at(600)}, False),  # within the processor's timeout
        ({"status": "PROCESSING", "started_at": _at(3600), "swept_at": _at(60)}, False),  # handed over again
        ({"status": "PROCESSING", "mode": "paged", "started_at": _at(3600)}, False),  # paged: its execution decides
        ({"status": "RECEIVED", "received_at": _at(3600)}, False),
    ],
)
def test_redrive_interrupted_finds_inline_jobs_whose_processor_was_killed(job, stuck) -> None:
    from pipeline.tools.operate.redrive import is_stuck_inline

    assert is_stuck_inline(job, NOW) is stuck
