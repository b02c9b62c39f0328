"""Character training data made from digit sets (``train.data``; no ../shared data needed)."""

from __future__ import annotations

import numpy as np

from chequereader.train.data import DigitSet, continental_variants


def _ones_and_sevens() -> DigitSet:
    """MNIST-like ink-bright 28x28 digits: four upright 1s, four 7s (all alike), two 3s."""
    ims, labs = [], []
    for _ in range(4):
        one = np.zeros((28, 28), np.uint8)
        one[4:24, 13:15] = 255
        ims.append(one)
        labs.append(1)
        seven = np.zeros((28, 28), np.uint8)
        seven[4:6, 8:20] = 255       # its bar
        seven[4:24, 18:20] = 255     # its stem, straight down the right
        ims.append(seven)
        labs.append(7)
    for _ in range(2):
        three = np.zeros((28, 28), np.uint8)
        three[4:24, 10:18] = 255
        ims.append(three)
        labs.append(3)
    return DigitSet(np.stack(ims), np.asarray(labs), None)


def test_continental_ones_get_a_flag_and_sevens_a_crossbar() -> None:
    ds = _ones_and_sevens()
    out = continental_variants(ds, 1.0, seed=0)
    assert sorted(out.labels.tolist()) == [1] * 4 + [7] * 4  # only 1s and 7s, each once
    assert out.images.shape[1:] == (28, 28) and out.images.dtype == np.uint8
    for im, d in zip(out.images, out.labels):
        orig = ds.images[ds.labels == d][0]
        added = (im > 100) & ~(orig > 100)
        ys, xs = np.nonzero(added)
        assert len(ys) > 3, "no stroke drawn"
        if d == 1:
            # a lead-in flag: from the top of the stem down to its left
            assert xs.mean() < 13 and ys.mean() < 14
        else:
            # a crossbar through the stem, about half-way down
            assert 10 <= ys.mean() <= 18 and xs.min() < 18 and xs.max() > 19


def test_continental_share_and_seed() -> None:
    ds = _ones_and_sevens()
    assert len(continental_variants(ds, 0.0, seed=0).labels) == 0
    half = continental_variants(ds, 0.5, seed=1)
    assert sorted(half.labels.tolist()) == [1, 1, 7, 7]
    again = continental_variants(ds, 0.5, seed=1)
    assert np.array_equal(half.images, again.images)
