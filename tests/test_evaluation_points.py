"""Detection scores at nucleus centre points."""

from __future__ import annotations

import math

import numpy as np
import pytest

from restainaug.evaluation import PointScores, point_detection


def _two_nuclei() -> np.ndarray:
    found = np.zeros((30, 30), np.int32)
    found[2:10, 2:10] = 1
    found[15:25, 15:25] = 2
    return found


def test_hits_misses_and_false_positives() -> None:
    found = _two_nuclei()
    found[26:29, 2:5] = 3  # no point: a false positive
    xy = np.array([[5, 5], [20, 20], [12, 2]])  # the last lies on no nucleus
    s = point_detection(found, xy, np.array([True, False, True]))
    assert (s.tp, s.fp, s.fn) == (2, 1, 1)
    assert (s.hits_positive, s.positives, s.hits_negative, s.negatives) == (1, 2, 1, 1)
    assert s.precision == pytest.approx(2 / 3)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(4 / 6)
    assert s.recall_positive == pytest.approx(0.5)
    assert s.recall_negative == 1.0


def test_merged_nuclei_credit_one_point_the_one_nearest_the_centre() -> None:
    found = _two_nuclei()
    # Two points in nucleus 2: the one at its centre gets it, the other is missed.
    xy = np.array([[16, 16], [20, 20]])
    s = point_detection(found, xy, np.array([True, False]))
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert (s.hits_positive, s.hits_negative) == (0, 1)


def test_points_just_off_a_nucleus_hit_it_within_the_radius() -> None:
    found = _two_nuclei()
    xy = np.array([[12, 5]])  # 3 pixels right of nucleus 1
    assert point_detection(found, xy, radius=4).tp == 1
    assert point_detection(found, xy, radius=2).tp == 0
    assert point_detection(found, xy, radius=0).tp == 0


def test_points_outside_the_image_are_missed_and_empty_inputs_give_nan() -> None:
    found = _two_nuclei()
    s = point_detection(found, np.array([[-3, 5], [5, 99]]))
    assert (s.tp, s.fp, s.fn) == (0, 2, 2)
    empty = point_detection(np.zeros((5, 5), np.int32), np.zeros((0, 2), int))
    assert empty == PointScores()
    assert math.isnan(empty.f1) and math.isnan(empty.recall_positive)


def test_scores_add_up_over_images() -> None:
    found = _two_nuclei()
    a = point_detection(found, np.array([[5, 5]]), np.array([True]))
    b = point_detection(found, np.array([[20, 20], [0, 29]]), np.array([False, False]))
    total = a + b
    assert (total.tp, total.fp, total.fn) == (a.tp + b.tp, a.fp + b.fp, a.fn + b.fn)
    assert (total.positives, total.negatives) == (1, 2)


def test_the_inputs_are_not_modified() -> None:
    found, xy = _two_nuclei(), np.array([[12, 5], [20, 20]])
    before = found.copy(), xy.copy()
    point_detection(found, xy)
    assert np.array_equal(found, before[0]) and np.array_equal(xy, before[1])


@pytest.mark.parametrize(
    ("found", "xy", "positive", "radius", "match"),
    [
        (np.zeros((5, 5), float), np.zeros((1, 2), int), None, 4, "found"),
        (np.zeros((2, 5, 5), int), np.zeros((1, 2), int), None, 4, "found"),
        (np.zeros((5, 5), int), np.zeros((3,), int), None, 4, "xy"),
        (np.zeros((5, 5), int), np.zeros((2, 2), int), np.zeros(3, bool), 4, "positive"),
        (np.zeros((5, 5), int), np.zeros((2, 2), int), None, -1, "radius"),
    ],
)
def test_bad_inputs_are_refused(
    found: np.ndarray, xy: np.ndarray, positive: np.ndarray | None, radius: int, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        point_detection(found, xy, positive, radius)
