"""The flwr CLI connection's typed view of a run's status, and its refusal of a malformed address."""

from __future__ import annotations

import pytest

from fedot.flower.connection import Connection, RunOutcome, RunState, RunStatus


def test_flwr_ls_statuses_parse_into_state_and_outcome() -> None:
    done = RunStatus.parse(7, "finished:completed")
    assert (done.state, done.outcome) == (RunState.FINISHED, RunOutcome.COMPLETED)
    assert done.finished and done.succeeded
    failed = RunStatus.parse(7, "finished:failed", "ServerApp exited with 1")
    assert failed.finished and not failed.succeeded and str(failed) == "finished:failed (ServerApp exited with 1)"
    running = RunStatus.parse(7, "running")
    assert (running.state, running.outcome, running.finished) == (RunState.RUNNING, None, False)
    assert str(running.noted("gave up after 5 s")) == "running (gave up after 5 s)"
    assert str(failed.noted("gave up")) == "finished:failed (gave up; ServerApp exited with 1)"


@pytest.mark.parametrize("status", ["", "finished:exploded", "done"])
def test_a_status_flower_does_not_define_is_an_error(status: str) -> None:
    with pytest.raises(ValueError, match="a status Flower 1.42 does not define"):
        RunStatus.parse(3, status)


def test_an_address_without_a_port_is_refused() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Connection("superlink")
