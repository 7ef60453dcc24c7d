import numpy as np
import pytest
import torch

from tagf.metrics import ccc, ccc_loss


def numpy_ccc(x, y):
    """Lin's CCC with population moments, written independently of tagf.metrics."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    sxy = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * sxy / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


def test_matches_numpy_formula_on_random_series():
    rng = np.random.default_rng(0)
    for n in (2, 7, 300):
        x, y = rng.normal(size=n), rng.normal(size=n) * 0.5 + 0.3
        assert ccc(x, y) == pytest.approx(numpy_ccc(x, y), rel=1e-12)
        tx, ty = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        assert float(ccc(tx, ty)) == pytest.approx(numpy_ccc(x, y), rel=1e-5)


def test_mask_excludes_frames_exactly():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=50), rng.normal(size=50)
    mask = rng.random(50) > 0.3
    y_corrupted = np.where(mask, y, 1e6)  # masked frames must not matter at all
    assert ccc(x, y_corrupted, mask) == pytest.approx(numpy_ccc(x[mask], y[mask]), rel=1e-12)


def test_perfect_and_anti_agreement():
    x = np.linspace(-1, 1, 20)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, -x) == pytest.approx(-1.0)
    # CCC, unlike Pearson, penalises a bias.
    assert ccc(x, x + 0.5) < 0.9


def test_constant_series_and_length_one_are_zero_not_nan():
    assert ccc([0.3] * 5, [0.3] * 5) == 0.0
    assert ccc([0.1] * 5, np.linspace(0, 1, 5)) == 0.0
    assert ccc([0.2], [0.7]) == 0.0
    assert ccc([1.0, 2.0], [3.0, 4.0], mask=[False, False]) == 0.0
    t = torch.zeros(4, requires_grad=True)
    value = ccc(t, torch.zeros(4))
    value.backward()
    assert torch.isfinite(t.grad).all()


def test_batched_axis_matches_per_row():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 40)), rng.normal(size=(3, 40))
    np.testing.assert_allclose(ccc(x, y), [numpy_ccc(a, b) for a, b in zip(x, y)], rtol=1e-12)


def test_loss_averages_windows_and_targets_and_skips_empty_windows():
    torch.manual_seed(0)
    prediction, target = torch.randn(3, 30, 2), torch.randn(3, 30, 2)
    mask = torch.ones(3, 30, dtype=torch.bool)
    mask[2] = False
    expected = 1 - np.mean(
        [numpy_ccc(prediction[b, :, t].numpy(), target[b, :, t].numpy()) for b in range(2) for t in range(2)]
    )
    assert float(ccc_loss(prediction, target, mask)) == pytest.approx(expected, rel=1e-5)
    assert float(ccc_loss(prediction, target, torch.zeros(3, 30, dtype=torch.bool))) == 0.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="shape"):
        ccc(np.zeros(3), np.zeros(4))


def test_nan_at_a_masked_element_changes_nothing_and_keeps_the_gradient_finite():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=20), rng.normal(size=20)
    mask = np.ones(20, bool)
    mask[[4, 11]] = False
    expected = numpy_ccc(x[mask], y[mask])
    x_nan, y_inf = x.copy(), y.copy()
    x_nan[4], y_inf[11] = np.nan, np.inf
    assert ccc(x_nan, y_inf, mask) == pytest.approx(expected, rel=1e-12)
    prediction = torch.tensor(x_nan, requires_grad=True)
    value = ccc(prediction, torch.tensor(y_inf), torch.tensor(mask))
    assert value.item() == pytest.approx(expected, rel=1e-12)
    value.backward()
    assert torch.isfinite(prediction.grad).all() and prediction.grad[4] == 0
    loss = ccc_loss(
        prediction.detach().float()[None, :, None],
        torch.tensor(y_inf).float()[None, :, None],
        torch.tensor(mask)[None],
    )
    assert float(loss) == pytest.approx(1 - expected, rel=1e-5)


def test_loss_weighs_windows_by_their_labelled_frames():
    # Window 0: 2 labelled frames in perfect agreement (1 − CCC = 0); its third frame is unlabelled.
    # Window 1: 4 labelled frames in perfect disagreement (1 − CCC = 2).
    prediction = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])[..., None]  # (B=2, L=4, T=1)
    target = torch.tensor([[0.0, 1.0, 7.0, 0.0], [1.0, 0.0, 1.0, 0.0]])[..., None]
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    # (2·0 + 4·2) / (2 + 4); an unweighted mean of windows would give (0 + 2) / 2 = 1.
    assert float(ccc_loss(prediction, target, mask)) == pytest.approx(4 / 3)
