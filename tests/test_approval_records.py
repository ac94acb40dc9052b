"""The at-most-once rules of approved calls, as the model is told them on a retry
(`chatgate.approvals.records`, `chatgate.approvals.resume`); end to end in
`tests/database/test_approvals_recovery.py`."""

from __future__ import annotations

import datetime

import pytest

from chatgate.approvals.records import APPROVED, DENIED, EXPIRED, RAN, Approval
from chatgate.approvals.resume import DENIED_TEXT, NOT_RUN_TEXT, UNKNOWN_TEXT, denial_text

NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def approval(decision: str | None, output: str | None = None, reason: str | None = None) -> Approval:
    return Approval("apr_x", "call_1", "records_delete", "{}", NOW, NOW, decision, reason, output)


def test_a_call_that_ran_is_never_run_again() -> None:
    assert approval(APPROVED).runs
    assert not approval(RAN).runs and not approval(RAN, output="{}").runs
    # What the model reads instead: the stored output, or that the outcome is unknown.
    assert denial_text(approval(RAN, output='{"deleted": "r1"}')) == '{"deleted": "r1"}'
    assert denial_text(approval(RAN)) == UNKNOWN_TEXT


def test_a_new_message_after_a_failed_resume_says_what_became_of_each_call() -> None:
    assert denial_text(approval(APPROVED)) == NOT_RUN_TEXT
    assert denial_text(approval(DENIED, reason="  keep\nit ")) == f"{DENIED_TEXT} Their reason: keep it"


@pytest.mark.parametrize(
    ("decision", "approved", "agrees"),
    [
        (APPROVED, True, True),
        (RAN, True, True),
        (DENIED, False, True),
        (APPROVED, False, False),
        (RAN, False, False),
        (DENIED, True, False),
        (EXPIRED, True, True),  # it stays denied whatever is answered
    ],
)
def test_only_the_same_answer_is_a_retry(decision: str, approved: bool, agrees: bool) -> None:
    assert approval(decision).agrees(approved) is agrees
