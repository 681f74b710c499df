"""Debouncing and flapping detection: the pure state machine, then its asyncio runner."""

from __future__ import annotations

import asyncio
import math

import pytest

from docbox_edge.hardware.debounce import Debouncer, Flapping, LoopDebouncer, Report, Settled

HOLD = 0.030


def debouncer(initial: bool = False, *, changes: int = 10, window: float = 5.0) -> Debouncer:
    return Debouncer(initial, hold_s=HOLD, flapping_changes=changes, flapping_window_s=window)


# -- pure state machine, explicit timestamps --------------------------------------------


def test_a_glitch_shorter_than_the_hold_time_is_not_reported() -> None:
    d = debouncer()
    assert d.edge(True, 100.000) is None
    assert d.deadline == pytest.approx(100.030)
    assert d.edge(False, 100.010) is None  # back before the hold time passed
    assert d.deadline is None  # nothing pending
    assert d.expire(100.030) is None
    assert d.expire(200.0) is None
    assert d.stable is False


def test_a_stable_change_is_reported_once_with_the_time_it_was_first_seen() -> None:
    d = debouncer()
    d.edge(True, 100.0)
    assert d.expire(100.029) is None  # not yet held long enough
    assert d.expire(100.030) == Settled(level=True, since=100.0)
    assert d.stable is True
    assert d.deadline is None
    assert d.expire(100.5) is None  # reported once only


def test_contact_bounce_restarts_the_hold_time() -> None:
    d = debouncer()
    for i, level in enumerate([True, False, True, False, True]):
        d.edge(level, 100.0 + i * 0.002)
    last = 100.008
    assert d.deadline == pytest.approx(last + HOLD)
    assert d.expire(last + HOLD - 0.001) is None
    assert d.expire(last + HOLD) == Settled(level=True, since=last)


def test_a_repeated_level_does_not_restart_the_hold_time() -> None:
    d = debouncer()
    d.edge(True, 100.0)
    d.edge(True, 100.020)  # duplicate callback, no real edge
    assert d.deadline == pytest.approx(100.030)
    assert d.expire(100.030) == Settled(level=True, since=100.0)


def test_opening_and_closing_are_both_reported() -> None:
    d = debouncer()
    d.edge(True, 1.0)
    assert d.expire(1.1) == Settled(True, 1.0)
    d.edge(False, 2.0)
    assert d.expire(2.1) == Settled(False, 2.0)
    assert d.stable is False


def test_more_edges_than_allowed_within_the_window_are_reported_as_flapping_once() -> None:
    d = debouncer(changes=10, window=5.0)
    reports = [d.edge(i % 2 == 0, 100.0 + i * 0.1) for i in range(30)]
    flapping = [r for r in reports if r is not None]
    assert flapping == [Flapping(changes=11, window_s=5.0)]
    assert d.flapping is True


def test_while_flapping_door_changes_are_held_back_until_the_input_calms_down() -> None:
    d = debouncer(changes=10, window=5.0)
    for i in range(11):
        d.edge(i % 2 == 0, 100.0 + i * 0.1)  # ends at True (i = 10), at t = 101.0
    assert d.flapping is True
    assert d.expire(101.0 + HOLD) is None  # would have settled, but the input is unreliable
    assert d.deadline == pytest.approx(106.0)  # quiet for one window
    assert d.expire(105.9) is None
    assert d.expire(106.0) == Settled(level=True, since=101.0)
    assert d.flapping is False
    # The episode is over: a new burst is reported again.
    reports = [d.edge(i % 2 == 1, 200.0 + i * 0.1) for i in range(11)]
    assert [r for r in reports if r is not None] == [Flapping(changes=11, window_s=5.0)]


def test_calming_down_at_the_old_level_reports_nothing() -> None:
    d = debouncer(changes=4, window=1.0)
    for i in range(6):
        d.edge(i % 2 == 0, 10.0 + i * 0.05)  # ends at False: where it started
    assert d.flapping is True
    assert d.expire(20.0) is None
    assert d.flapping is False
    assert d.deadline is None


def test_edges_spread_wider_than_the_window_are_not_flapping() -> None:
    d = debouncer(changes=10, window=5.0)
    reports = []
    for i in range(40):
        reports.append(d.edge(i % 2 == 0, 100.0 + i * 1.0))
        settled = d.expire(100.0 + i * 1.0 + HOLD)
        assert settled == Settled(i % 2 == 0, 100.0 + i * 1.0)
    assert reports == [None] * 40
    assert d.flapping is False


@pytest.mark.parametrize(
    ("hold_s", "changes", "window_s"),
    [(-0.1, 10, 5.0), (math.nan, 10, 5.0), (math.inf, 10, 5.0), (0.03, 0, 5.0), (0.03, 10, 0.0)],
)
def test_invalid_parameters_are_refused(hold_s: float, changes: int, window_s: float) -> None:
    with pytest.raises(ValueError):
        Debouncer(False, hold_s=hold_s, flapping_changes=changes, flapping_window_s=window_s)


# -- on an asyncio loop, with short real times -------------------------------------------


async def test_loop_debouncer_reports_a_held_change_after_the_hold_time() -> None:
    reports: asyncio.Queue[Report] = asyncio.Queue()
    runner = LoopDebouncer(
        Debouncer(False, hold_s=0.02, flapping_changes=10, flapping_window_s=5.0),
        reports.put_nowait,
    )
    loop = asyncio.get_running_loop()
    edge_at = loop.time()
    runner.edge(True, edge_at)
    report = await asyncio.wait_for(reports.get(), 2.0)
    assert report == Settled(level=True, since=edge_at)
    assert loop.time() - edge_at >= 0.02
    assert reports.empty()
    runner.close()


async def test_loop_debouncer_drops_a_glitch() -> None:
    reports: list[Report] = []
    debouncer = Debouncer(False, hold_s=0.02, flapping_changes=10, flapping_window_s=5.0)
    runner = LoopDebouncer(debouncer, reports.append)
    now = asyncio.get_running_loop().time()
    runner.edge(True, now)
    runner.edge(False, now + 0.005)
    assert debouncer.deadline is None  # its timer is gone
    await asyncio.sleep(0.05)  # time passes; the point is that nothing happens
    assert reports == []
    runner.close()


async def test_loop_debouncer_reports_flapping_at_once_then_the_calm_level() -> None:
    reports: asyncio.Queue[Report] = asyncio.Queue()
    debouncer = Debouncer(False, hold_s=0.01, flapping_changes=3, flapping_window_s=0.05)
    runner = LoopDebouncer(debouncer, reports.put_nowait)
    now = asyncio.get_running_loop().time()
    for i in range(5):
        runner.edge(i % 2 == 0, now + i * 0.001)  # ends at True
    assert await asyncio.wait_for(reports.get(), 2.0) == Flapping(changes=4, window_s=0.05)
    assert await asyncio.wait_for(reports.get(), 2.0) == Settled(level=True, since=now + 0.004)
    assert debouncer.flapping is False
    runner.close()


async def test_a_closed_loop_debouncer_ignores_edges() -> None:
    reports: list[Report] = []
    debouncer = Debouncer(False, hold_s=0.0, flapping_changes=10, flapping_window_s=5.0)
    runner = LoopDebouncer(debouncer, reports.append)
    runner.close()
    runner.edge(True, asyncio.get_running_loop().time())
    assert debouncer.raw is False
    assert reports == []
