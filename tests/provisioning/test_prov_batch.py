"""Box id ranges and progress reporting of batch operations."""

from __future__ import annotations

import pytest

from docbox_provisioning.boxids import MAX_BATCH, expand_box_ids
from docbox_provisioning.errors import ProvisioningError
from docbox_provisioning.progress import Progress


def test_ranges_expand_like_the_shell_and_keep_zero_padding() -> None:
    assert expand_box_ids(["office-{1..3}", "lobby"]) == ["office-1", "office-2", "office-3", "lobby"]
    assert expand_box_ids(["b{008..011}-x"]) == [
        "b008-x",
        "b009-x",
        "b010-x",
        "b011-x",
    ]
    assert expand_box_ids(["box-{0..0}"]) == ["box-0"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["a-{1..2}-{1..2}"], "only one"),
        (["a-{5..1}"], "backwards"),
        ([f"a-{{1..{MAX_BATCH + 1}}}"], f"more than {MAX_BATCH}"),
        (["a-1", "a-{1..2}"], "'a-1' given twice"),
        (["a_1"], "invalid box id 'a_1'"),
        (["-a"], "invalid box id"),
    ],
)
def test_bad_ranges_and_ids_are_refused(arguments: list[str], message: str) -> None:
    with pytest.raises(ProvisioningError, match=message):
        expand_box_ids(arguments)


def test_progress_reports_first_then_at_most_once_per_interval_and_the_end() -> None:
    lines: list[str] = []
    clock = iter([0.0, 0.3, 0.9, 1.1, 1.5, 1.6])
    progress = Progress(6, "issuing", lines.append, interval_s=1.0, clock=lambda: next(clock))
    for n in range(1, 7):
        progress.advance(f"box-{n}")
    assert lines == ["issuing: 1/6 (box-1)", "issuing: 4/6 (box-4)", "issuing: 6/6 (box-6)"]
