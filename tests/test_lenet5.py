# Imports follow the torch check, so that without torch the module skips.
# ruff: noqa: E402
import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs PyTorch: pip install 'chequereader[train]'")

from chequereader.errors import ConfigError
from chequereader.models.alphabet import DEFAULT, Alphabet
from chequereader.models.lenet5 import A_SQUASH, C3_TABLE, LeNet5, squash
from chequereader.models.rbf_bitmaps import prototypes


def test_parameter_counts_equal_the_paper():
    m = LeNet5()
    assert m.layer_parameter_counts() == {
        "c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164,
    }
    # RBF prototypes are fixed: not parameters.
    assert not any(p is m.prototypes for p in m.parameters())
    assert sum(p.numel() for p in m.parameters()) == 156 + 12 + 1516 + 32 + 48120 + 10164


def test_c3_table_is_the_papers():
    assert C3_TABLE[0] == (0, 1, 2) and C3_TABLE[5] == (5, 0, 1)
    assert C3_TABLE[6] == (0, 1, 2, 3) and C3_TABLE[11] == (5, 0, 1, 2)
    assert C3_TABLE[12] == (0, 1, 3, 4) and C3_TABLE[13] == (1, 2, 4, 5) and C3_TABLE[14] == (0, 2, 3, 5)
    assert C3_TABLE[15] == (0, 1, 2, 3, 4, 5)
    w = LeNet5().c3.dense_weight()
    for o in range(16):
        for i in range(6):
            nonzero = bool(w[o, i].abs().sum() > 0)
            assert nonzero == (i in C3_TABLE[o]), (o, i)


def test_c3_unconnected_maps_do_not_influence_output():
    m = LeNet5().c3
    x = torch.zeros(1, 6, 14, 14)
    x2 = x.clone()
    x2[0, 3] = torch.randn(14, 14)  # map 3 feeds C3 maps 1,2,3 (and others of size 4+), not 0
    d = (m(x2) - m(x)).abs().sum(dim=(2, 3))[0]
    assert float(d[0]) == 0.0 and float(d[4]) == 0.0 and float(d[3]) > 0


def test_squash_and_shapes():
    assert float(squash(torch.tensor(1e6))) == pytest.approx(A_SQUASH)
    m = LeNet5()
    y = m(torch.randn(3, 1, 32, 32))
    assert y.shape == (3, len(DEFAULT))
    assert (y >= 0).all()


def test_rbf_prototypes_are_plus_minus_one_bitmaps_and_distinct():
    P = prototypes(DEFAULT.chars)
    assert P.shape == (16, 84)
    assert set(np.unique(P)) == {-1.0, 1.0}
    d = (P[:, None] != P[None]).sum(-1)
    np.fill_diagonal(d, 99)
    assert d.min() >= 4
    # The RBF output is the squared distance to the prototype.
    m = LeNet5()
    x = torch.randn(2, 1, 32, 32)
    f = m.features(x)
    y = m(x)
    assert torch.allclose(y, ((f[:, None, :] - m.prototypes[None]) ** 2).sum(-1), atol=1e-3)


def test_unknown_symbol_has_no_bitmap():
    with pytest.raises(ConfigError, match="bitmap"):
        LeNet5(Alphabet(tuple("0123456789£")))


def test_locale_alphabet_extension():
    a = DEFAULT.extend("₹")
    assert len(a) == 17 and a.index("₹") == 16
    assert LeNet5(a)(torch.zeros(1, 1, 32, 32)).shape == (1, 17)


def test_map_loss_matches_formula_and_rubbish():
    m = LeNet5(rubbish_j=5.0)
    y = torch.tensor([[1.0, 3.0] + [50.0] * 14])
    expected = 1.0 + np.log(np.exp(-5.0) + np.exp(-1.0) + np.exp(-3.0) + 14 * np.exp(-50.0))
    assert float(m.loss(y, torch.tensor([0]))) == pytest.approx(expected, rel=1e-5)
    pen = m.penalties(y)
    assert float(pen[0, 0]) == pytest.approx(expected, rel=1e-5)
    # probabilities of classes + rubbish sum to one
    total = torch.exp(-pen).sum() + torch.exp(-m.rubbish_penalty(y))
    assert float(total) == pytest.approx(1.0, rel=1e-5)
    assert float(m.loss(y, torch.tensor([-1]))) == pytest.approx(expected - 1.0 + 5.0, rel=1e-5)


def test_predict_empty_and_batch():
    m = LeNet5()
    assert m.predict(np.zeros((0, 32, 32), np.float32)).shape == (0, 16)
    assert m.predict(np.zeros((5, 32, 32), np.float32)).shape == (5, 16)


def _reference_penalties(m: LeNet5, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return m.penalties(m(torch.from_numpy(x)[:, None])).numpy()


def test_predict_equals_penalties_of_forward_and_follows_weight_updates():
    torch.manual_seed(0)
    m = LeNet5()
    rng = np.random.default_rng(0)
    x = np.where(rng.random((40, 32, 32)) < 0.2, 1.175, -0.1).astype(np.float32)
    # the folded fast path computes the same numbers up to float rounding
    np.testing.assert_allclose(m.predict(x), _reference_penalties(m, x), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(m.predict(x, batch_size=7), m.predict(x), rtol=1e-6, atol=1e-5)
    before = m.predict(x)
    # an optimiser step changes the parameters in place: the cached weights must follow
    opt = torch.optim.SGD(m.parameters(), lr=0.05)
    m.train()
    m.loss(m(torch.from_numpy(x)[:, None]), torch.arange(40) % 16).backward()
    opt.step()
    after = m.predict(x)
    assert np.abs(after - before).max() > 1e-3
    np.testing.assert_allclose(after, _reference_penalties(m, x), rtol=1e-5, atol=1e-4)
    # and so must loading other weights
    other = LeNet5()
    m.load_state_dict(other.state_dict())
    np.testing.assert_allclose(m.predict(x), _reference_penalties(other, x), rtol=1e-5, atol=1e-4)
    # and a parameter replaced by another tensor (not an in-place change)
    loaded = m.predict(x)
    m.f6.weight = torch.nn.Parameter(torch.zeros_like(m.f6.weight))
    replaced = m.predict(x)
    assert np.abs(replaced - loaded).max() > 1e-3
    np.testing.assert_allclose(replaced, _reference_penalties(m, x), rtol=1e-5, atol=1e-4)


def test_multiply_accumulates_order_of_the_paper():
    assert 300_000 < LeNet5.multiply_accumulates() < 450_000
