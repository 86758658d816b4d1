"""bench.quality's untuned column: the "nothing at all" row, or the baseline where that already is the plain LSTM."""

from __future__ import annotations

from typing import Any

import pytest

from bench.quality import _fmt, kind_of, untuned

ROW = {"mean": 0.8587, "std": 0.0217, "epochs": 41}
OTHER = {"mean": 0.866, "std": 0.023, "epochs": 45}
PAIRED = {"mean": 0.0, "p": 1.0}
PAIRED_NOTHING = {"mean": -0.034, "p": 0.11}


@pytest.mark.parametrize(
    ("res", "mean", "is_baseline", "paired"),
    [
        # clipping fixed: the verdict has a "nothing at all" row, which is the untuned LSTM
        ({"baseline": ROW, "nothing": OTHER, "paired": PAIRED, "paired_nothing": PAIRED_NOTHING}, 86.6, False,
         PAIRED_NOTHING),
        # no fixed regularizer: no "nothing at all" row, and the baseline is the untuned LSTM (not a missing column)
        ({"baseline": ROW, "nothing": None, "paired": PAIRED}, 85.87, True, PAIRED),
        # no verdict rows at all: nothing to show
        ({}, None, False, None),
    ],
)  # fmt: skip
def test_untuned_column(res: dict[str, Any], mean: float | None, is_baseline: bool, paired: Any) -> None:
    row, diff = untuned(res)
    assert (row or {}).get("mean") == mean
    assert bool((row or {}).get("is_baseline")) is is_baseline
    assert diff == paired
    assert _fmt(row).endswith("(the baseline)") is is_baseline


@pytest.mark.parametrize(
    ("dataset", "length", "channels", "kind"),
    [
        ("JapaneseVowels", 15, 12, "short multivariate"),
        ("BasicMotions", 100, 6, "short multivariate"),
        ("ItalyPowerDemand", 24, 1, "short univariate"),
        ("GunPoint", 150, 1, "univariate"),
        ("ArrowHead", 251, 1, "univariate"),
        ("OSULeaf", 427, 1, "long univariate"),
        ("PLAID (unequal lengths: the median)", 300.5, 1, "univariate"),
        ("a file of long multivariate sequences", 2000, 3, "long multivariate"),
    ],
)  # fmt: skip
def test_kind_comes_from_the_data_not_a_list_of_names(dataset: str, length: float, channels: int, kind: str) -> None:
    """A dataset the table never listed (UnitTest, a user's .ts file) gets its kind too, as the issue's groups."""
    assert kind_of(length, channels) == kind, dataset


def test_a_dataset_the_wheel_does_not_ship_is_refused_up_front(capsys: pytest.CaptureFixture[str]) -> None:
    """A file path given to --datasets became an invalid study name; the bench then exited 0 with empty rows (the
    unseen probe). The published references are for the wheel's datasets: anything else is refused by name."""
    from bench.quality import main

    with pytest.raises(SystemExit) as exc:
        main(["--datasets", "JapaneseVowels", "data/cbf.npz", "--no-dtw"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--datasets: data/cbf.npz: not a UEA/UCR dataset of the installed sktime wheel" in err, err
    assert "allowed: " in err and "JapaneseVowels" in err.split("allowed: ")[1], err
