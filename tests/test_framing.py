import numpy as np
import pytest

from chequereader.errors import InvalidImageError
from chequereader.framing import BACKGROUND, INK, frame, frame_digit_images


def ink_box(f, thr=0.3):
    ys, xs = np.nonzero(f > thr)
    return ys.min(), ys.max(), xs.min(), xs.max()


def test_digit_fills_20_pixels_high_and_is_centred():
    m = np.zeros((60, 40), bool)
    m[10:50, 15:30] = True
    f = frame(m)
    y0, y1, x0, x1 = ink_box(f)
    assert y1 - y0 + 1 == 20
    assert abs((y0 + y1) / 2 - 15.5) <= 1 and abs((x0 + x1) / 2 - 15.5) <= 1
    assert f.dtype == np.float32 and f.shape == (32, 32)
    assert f.min() == pytest.approx(BACKGROUND) and f.max() == pytest.approx(INK)


def test_scale_invariance():
    small = np.zeros((30, 30), bool)
    small[5:25, 10:20] = True
    big = np.kron(small, np.ones((3, 3), bool))
    assert np.abs(frame(small) - frame(big)).max() < 0.05


def test_dot_stays_small_and_low_comma_low_dash_mid():
    body, base = 30.0, 40.0
    dot = np.zeros((50, 20), bool)
    dot[36:40, 8:12] = True
    f = frame(dot, body, base)
    y0, y1, _, _ = ink_box(f)
    assert (f > 0.3).sum() < 25  # a 4x4 dot at scale 20/22.5 stays about 4x4
    assert y0 > 20  # low in the frame
    dash = np.zeros((50, 30), bool)
    dash[24:27, 5:20] = True  # mid height of the body (10..40)
    g = frame(dash, body, base)
    y0, y1, _, _ = ink_box(g)
    assert 11 <= y0 <= y1 <= 20
    assert (g > 0.3).sum() < 50


def test_tall_candidate_is_fitted_wide_candidate_capped():
    tall = np.zeros((100, 20), bool)
    tall[0:100, 5:10] = True
    y0, y1, _, _ = ink_box(frame(tall, body_height=30, baseline=70))
    assert y1 - y0 + 1 == 20
    wide = np.zeros((20, 100), bool)
    wide[5:15, 0:100] = True
    _, _, x0, x1 = ink_box(frame(wide))
    assert x1 - x0 + 1 == 24


def test_empty_and_invalid():
    f = frame(np.zeros((10, 10), bool))
    assert np.all(f == np.float32(BACKGROUND))
    with pytest.raises(InvalidImageError):
        frame(np.zeros((0, 5), bool))
    with pytest.raises(InvalidImageError):
        frame(np.zeros((3, 3, 3, 3), bool))


def test_frame_digit_images_binarises_bright_ink():
    ims = np.zeros((2, 28, 28), np.uint8)
    ims[0, 4:24, 12:16] = 255
    ims[1, 4:24, 12:16] = 50  # below threshold: no ink
    out = frame_digit_images(ims)
    assert out.shape == (2, 32, 32)
    assert out[0].max() > 1 and out[1].max() == pytest.approx(BACKGROUND)


def test_frame_tight_equals_frame_on_random_tight_masks():
    from chequereader.framing import frame_tight

    rng = np.random.default_rng(7)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(1, 90, 2))
        m = rng.random((h, w)) < rng.uniform(0.05, 0.9)
        m[0, rng.integers(w)] = m[-1, rng.integers(w)] = True  # tight: ink on every edge
        m[rng.integers(h), 0] = m[rng.integers(h), -1] = True
        body = float(rng.uniform(3.0, 80.0))
        base = float(rng.uniform(-20.0, 100.0))
        expected = frame(m, body, base)
        assert np.array_equal(frame_tight(m, body, base), expected)
        out = np.full((32, 32), BACKGROUND, np.float32)
        assert frame_tight(m, body, base, out=out) is out and np.array_equal(out, expected)


def test_frame_tight_many_equals_frame_of_each():
    from chequereader.framing import frame_tight_many

    rng = np.random.default_rng(8)
    masks, bases = [], []
    for _ in range(200):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        m = rng.random((h, w)) < rng.uniform(0.05, 0.9)
        m[0, rng.integers(w)] = m[-1, rng.integers(w)] = True
        m[rng.integers(h), 0] = m[rng.integers(h), -1] = True
        masks.append(m)
        bases.append(float(rng.uniform(-30.0, 130.0)))
    for body in (3.0, 17.5, 40.0, 95.0):
        # Whatever `out` holds is overwritten (the background is set, not assumed).
        out = np.full((len(masks), 32, 32), 7.0, np.float32)
        assert frame_tight_many(masks, body, bases, out) is out
        assert np.array_equal(out, np.stack([frame(m, body, b) for m, b in zip(masks, bases)]))
