"""course_lib.scratch.losses against torch.nn.functional and TensorFlow/Keras."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.scratch import losses as L
from course_lib.tensorflow_setup import load_tensorflow

DTYPES = [torch.float32, torch.float64]
SEEDS = [0, 1, 2]
REDUCTIONS = ["mean", "sum", "none"]
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def randn(seed, shape, dtype, scale=1.0):
    return (torch.randn(shape, generator=gen(seed), dtype=torch.float64) * scale).to(dtype)


# ----------------------------------------------------------------------------- regression
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_torch(dtype, seed, reduction):
    pred, target = randn(seed, (8, 5), dtype, 3.0), randn(seed + 10, (8, 5), dtype, 3.0)
    cases = [
        (L.mse(pred, target, reduction=reduction), F.mse_loss(pred, target, reduction=reduction)),
        (L.mae(pred, target, reduction=reduction), F.l1_loss(pred, target, reduction=reduction)),
        (L.huber(pred, target, reduction=reduction), F.huber_loss(pred, target, reduction=reduction)),
        (
            L.huber(pred, target, delta=2.5, reduction=reduction),
            F.huber_loss(pred, target, delta=2.5, reduction=reduction),
        ),
        (
            L.huber(pred, target, delta=0.1, reduction=reduction),
            F.huber_loss(pred, target, delta=0.1, reduction=reduction),
        ),
    ]
    for ours, theirs in cases:
        assert ours.dtype == dtype and ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_gradients_match_torch(dtype):
    pred, target = randn(3, (40,), dtype, 2.0), randn(4, (40,), dtype, 2.0)
    for ours, theirs in [(L.mse, F.mse_loss), (L.mae, F.l1_loss), (L.huber, F.huber_loss)]:
        a, b = pred.clone().requires_grad_(), pred.clone().requires_grad_()
        ours(a, target).backward()
        theirs(b, target).backward()
        torch.testing.assert_close(a.grad, b.grad, **TOL[dtype])


def test_huber_is_mse_near_and_mae_far():
    target = torch.zeros(4)
    near = torch.tensor([0.1, -0.2, 0.5, -1.0])
    torch.testing.assert_close(L.huber(near, target), 0.5 * L.mse(near, target))
    far = torch.tensor([10.0, -20.0, 5.0, -3.0])
    torch.testing.assert_close(L.huber(far, target), L.mae(far, target) - 0.5)
    with pytest.raises(ValueError, match=r"huber: delta must be a number above 0; got 0\. It is where the loss turns"):
        L.huber(near, target, delta=0)


@pytest.mark.parametrize("loss", [L.mse, L.mae, L.huber])
def test_regression_shape_mismatch_says_both_shapes_and_the_fix(loss):
    with pytest.raises(
        ValueError, match=r"same shape, got pred \(4, 1\) and target \(4,\)\. Squeeze the last axis of pred"
    ):
        loss(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(ValueError, match=r"got pred \(3,\) and target \(4,\)"):
        loss(torch.zeros(3), torch.zeros(4))
    with pytest.raises(TypeError, match=r"target should be a floating-point tensor.*got torch\.int64"):
        loss(torch.zeros(4), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(ValueError, match=r'reduction must be "mean", "sum" or "none", got \'average\''):
        loss(torch.zeros(4), torch.zeros(4), reduction="average")


# ----------------------------------------------------------------------------- binary cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_matches_torch(dtype, seed, reduction):
    logits = randn(seed, (6, 7), dtype, 3.0)
    prob = torch.sigmoid(logits)
    target = torch.rand(6, 7, generator=gen(seed + 5), dtype=torch.float64).to(dtype)  # soft targets are allowed
    hard = (target > 0.5).to(dtype)
    for t in (target, hard):
        torch.testing.assert_close(
            L.binary_cross_entropy(prob, t, reduction=reduction),
            F.binary_cross_entropy(prob, t, reduction=reduction),
            **TOL[dtype],
        )
        torch.testing.assert_close(
            L.binary_cross_entropy_with_logits(logits, t, reduction=reduction),
            F.binary_cross_entropy_with_logits(logits, t, reduction=reduction),
            **TOL[dtype],
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_cross_entropy_clamps_the_log_at_minus_100_like_torch(dtype):
    prob = torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-50, 1 - 1e-7], dtype=dtype)
    target = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0], dtype=dtype)
    ours = L.binary_cross_entropy(prob, target, reduction="none")
    torch.testing.assert_close(ours, F.binary_cross_entropy(prob, target, reduction="none"), **TOL[dtype])
    assert float(ours[0]) == 100.0 and float(ours[1]) == 100.0 and float(ours[2]) == 0.0 and float(ours[3]) == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_is_finite_and_exact_at_200(dtype):
    logits = torch.tensor([-200.0, -200.0, 200.0, 200.0, -1000.0, 0.0], dtype=dtype, requires_grad=True)
    target = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 1.0], dtype=dtype)
    ours = L.binary_cross_entropy_with_logits(logits, target, reduction="none")
    theirs = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    torch.testing.assert_close(ours, theirs, **TOL[dtype])
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours.detach(), torch.tensor([200.0, 0.0, 0.0, 200.0, 1000.0, np.log(2)], dtype=dtype))
    # the naive route through probabilities saturates: sigmoid(-200) rounds to 0 and the log is clamped at -100
    naive = F.binary_cross_entropy(torch.sigmoid(logits.detach()), target, reduction="none")
    assert float(naive[0]) == 100.0
    ours.sum().backward()  # gradient sigma(z) - y, finite everywhere
    torch.testing.assert_close(logits.grad, torch.sigmoid(logits.detach()) - target, **TOL[dtype])


def test_binary_cross_entropy_refuses_probabilities_outside_0_1():
    with pytest.raises(
        ValueError,
        match=r"probabilities in \[0, 1\], got 1\.5\. If these are raw model outputs "
        r"\(logits\), use binary_cross_entropy_with_logits",
    ):
        L.binary_cross_entropy(torch.tensor([0.2, 1.5]), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"got -0\.1"):
        L.binary_cross_entropy(torch.tensor([-0.1]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match=r"got nan"):
        L.binary_cross_entropy(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_binary_losses_refuse_shape_and_dtype_mistakes():
    with pytest.raises(
        ValueError, match=r"logits and target must have the same shape, got logits \(8, 1\) and target \(8,\)"
    ):
        L.binary_cross_entropy_with_logits(torch.zeros(8, 1), torch.zeros(8))
    with pytest.raises(
        ValueError,
        match=r"prob and target must have the same shape, got prob \(8,\) and target \(8, 1\)\. "
        r"Squeeze the last axis of target",
    ):
        L.binary_cross_entropy(torch.full((8,), 0.5), torch.zeros(8, 1))
    with pytest.raises(
        TypeError,
        match=r"target should be a floating-point tensor .* got torch\.int64\. Convert it with target\.float\(\)",
    ):
        L.binary_cross_entropy_with_logits(torch.zeros(3), torch.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"reduction must be"):
        L.binary_cross_entropy_with_logits(torch.zeros(3), torch.zeros(3), reduction="mean ")


# ----------------------------------------------------------------------------- cross-entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35, 1.0])
def test_cross_entropy_matches_torch(dtype, seed, reduction, smoothing):
    logits = randn(seed, (9, 5), dtype, 2.0)
    target = torch.randint(0, 5, (9,), generator=gen(seed + 1))
    ours = L.cross_entropy(logits, target, label_smoothing=smoothing, reduction=reduction)
    theirs = F.cross_entropy(logits, target, label_smoothing=smoothing, reduction=reduction)
    assert ours.dtype == dtype and ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, **TOL[dtype])


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_gradient_is_softmax_minus_smoothed_one_hot(smoothing):
    logits = randn(7, (6, 4), torch.float64).requires_grad_()
    target = torch.tensor([0, 3, 1, 1, 2, 0])
    L.cross_entropy(logits, target, label_smoothing=smoothing, reduction="sum").backward()
    smoothed = F.one_hot(target, 4).double() * (1 - smoothing) + smoothing / 4
    torch.testing.assert_close(logits.grad, torch.softmax(logits.detach(), dim=1) - smoothed)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_supports_extra_dimensions_and_a_single_example(reduction):
    logits = randn(4, (2, 5, 3, 4), torch.float64)  # (N, C, H, W): per-pixel classification
    target = torch.randint(0, 5, (2, 3, 4), generator=gen(4))
    torch.testing.assert_close(
        L.cross_entropy(logits, target, 0.1, reduction),
        F.cross_entropy(logits, target, label_smoothing=0.1, reduction=reduction),
    )
    single = randn(5, (5,), torch.float64)
    torch.testing.assert_close(
        L.cross_entropy(single, torch.tensor(2), reduction=reduction),
        F.cross_entropy(single, torch.tensor(2), reduction=reduction),
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_is_finite_for_logits_of_1000(dtype):
    logits = torch.tensor([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]], dtype=dtype)
    target = torch.tensor([1, 2])
    ours = L.cross_entropy(logits, target, reduction="none")
    torch.testing.assert_close(ours, F.cross_entropy(logits, target, reduction="none"), **TOL[dtype])
    torch.testing.assert_close(ours, torch.tensor([2000.0, 1 + np.log1p(np.exp(-1))], dtype=dtype))


def test_cross_entropy_error_messages():
    logits = torch.zeros(4, 3)
    with pytest.raises(
        TypeError,
        match=r"integer class indices \(torch\.int64\) as target, got torch\.float32\. "
        r"Convert labels with target\.long\(\)",
    ):
        L.cross_entropy(logits, torch.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(
        ValueError,
        match=r"expected target of shape \(4,\).*got \(3,\)\. The batch sizes differ: 4 rows "
        r"of logits, 3 targets",
    ):
        L.cross_entropy(logits, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"got \(4, 1\)\. Squeeze the target"):
        L.cross_entropy(logits, torch.zeros(4, 1, dtype=torch.int64))
    with pytest.raises(
        ValueError, match=r"got \(4, 3\)\. target has the logits' shape: is it one-hot\? Use target\.argmax"
    ):
        L.cross_entropy(logits, torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 2\] for 3 classes, got 3"):
        L.cross_entropy(logits, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 2\] for 3 classes, got -1"):
        L.cross_entropy(logits, torch.tensor([0, -1, 2, 2]))
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]; got 1\.5"):
        L.cross_entropy(logits, torch.tensor([0, 1, 2, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"reduction must be"):
        L.cross_entropy(logits, torch.tensor([0, 1, 2, 1]), reduction="batchmean")
    with pytest.raises(TypeError, match=r"logits should be a floating-point tensor"):
        L.cross_entropy(torch.zeros(4, 3, dtype=torch.int64), torch.tensor([0, 1, 2, 1]))


# ----------------------------------------------------------------------------- KL and entropy
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_kl_divergence_matches_f_kl_div_with_the_arguments_swapped(dtype, seed):
    log_p = torch.log_softmax(randn(seed, (6, 5), dtype, 2.0), dim=1)
    log_q = torch.log_softmax(randn(seed + 3, (6, 5), dtype, 2.0), dim=1)
    # F.kl_div(input, target) computes KL(target || input): input is the model's log q.
    per_row = F.kl_div(log_q, log_p, log_target=True, reduction="none").sum(dim=1)
    torch.testing.assert_close(L.kl_divergence(log_p, log_q, reduction="none"), per_row, **TOL[dtype])
    torch.testing.assert_close(
        L.kl_divergence(log_p, log_q), F.kl_div(log_q, log_p, log_target=True, reduction="batchmean"), **TOL[dtype]
    )
    torch.testing.assert_close(
        L.kl_divergence(log_p, log_q, reduction="sum"),
        F.kl_div(log_q, log_p, log_target=True, reduction="sum"),
        **TOL[dtype],
    )
    # torch.distributions agrees, and KL is not symmetric
    P, Q = torch.distributions.Categorical(logits=log_p), torch.distributions.Categorical(logits=log_q)
    torch.testing.assert_close(
        L.kl_divergence(log_p, log_q, reduction="none"), torch.distributions.kl_divergence(P, Q), **TOL[dtype]
    )
    assert not torch.allclose(
        L.kl_divergence(log_p, log_q, reduction="none"), L.kl_divergence(log_q, log_p, reduction="none")
    )
    assert (L.kl_divergence(log_p, log_q, reduction="none") >= 0).all()
    assert float(L.kl_divergence(log_p, log_p)) == pytest.approx(0.0, abs=1e-6)


def test_kl_is_cross_entropy_minus_entropy():
    log_q = torch.log_softmax(randn(1, (5, 4), torch.float64), dim=1)
    target = torch.tensor([0, 3, 1, 1, 2])
    for smoothing in (0.0, 0.1):
        p = F.one_hot(target, 4).double() * (1 - smoothing) + smoothing / 4
        log_p = p.log()
        cross = L.cross_entropy(log_q, target, label_smoothing=smoothing, reduction="none")  # H(p, q)
        torch.testing.assert_close(L.kl_divergence(log_p, log_q, reduction="none"), cross - L.entropy(log_p))


def test_zero_probabilities_count_as_zero_where_f_kl_div_gives_nan():
    log_p = torch.log(torch.tensor([[0.5, 0.5, 0.0]]))
    log_q = torch.log(torch.tensor([[0.2, 0.3, 0.5]]))
    ours = L.kl_divergence(log_p, log_q, reduction="none")
    assert torch.isnan(F.kl_div(log_q, log_p, log_target=True, reduction="none")).any()  # 0 * -inf
    torch.testing.assert_close(ours, F.kl_div(log_q, log_p.exp(), reduction="none").sum(dim=1))  # xlogy: 0 log 0 = 0
    assert float(L.entropy(log_p)) == pytest.approx(np.log(2))
    torch.testing.assert_close(
        L.entropy(torch.log_softmax(torch.zeros(3, 8), 1), reduction="mean"),
        torch.tensor(np.log(8), dtype=torch.float32),
    )


def test_kl_error_messages():
    with pytest.raises(
        ValueError,
        match=r"log_q should hold log-probabilities \(all <= 0\), got a value of 0\.7\. "
        r"Pass torch\.log\(p\)",
    ):
        L.kl_divergence(torch.log(torch.tensor([0.5, 0.5])), torch.tensor([0.3, 0.7]))
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3,\)"):
        L.kl_divergence(torch.full((2, 3), -1.0), torch.full((3,), -1.0))
    with pytest.raises(ValueError, match=r"reduction must be"):
        L.kl_divergence(torch.full((3,), -1.0), torch.full((3,), -1.0), reduction="batchmean")


# ----------------------------------------------------------------------------- NaN and bad targets, as torch
NAN = float("nan")


def _with_nan(x):
    x = x.clone()
    x.view(-1)[1] = NAN
    return x


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_a_nan_prediction_gives_nan_where_torch_gives_nan(reduction):
    """Every loss, with one NaN in its input: the loss and its gradient are NaN exactly where torch's are."""
    pred, target = _with_nan(randn(0, (4, 3), torch.float64)), randn(1, (4, 3), torch.float64)
    labels, bits = torch.tensor([0, 2, 1, 1]), (randn(2, (4, 3), torch.float64) > 0).double()
    log_p = torch.log_softmax(randn(3, (4, 3), torch.float64), dim=1)
    cases = [
        (L.mse, F.mse_loss, (pred, target)),
        (L.mae, F.l1_loss, (pred, target)),
        (L.huber, F.huber_loss, (pred, target)),
        (L.binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, (pred, bits)),
        (L.cross_entropy, F.cross_entropy, (pred, labels)),
    ]
    for ours, theirs, (a, b) in cases:
        a1, a2 = a.clone().requires_grad_(True), a.clone().requires_grad_(True)
        mine, reference = ours(a1, b, reduction=reduction), theirs(a2, b, reduction=reduction)
        torch.testing.assert_close(mine, reference, equal_nan=True)
        mine.sum().backward()
        reference.sum().backward()
        assert torch.equal(a1.grad.isnan(), a2.grad.isnan()), ours.__name__
    # KL(p || q) and H(p): torch's kl_div with a probability target uses xlogy, which keeps NaN as NaN.
    for nan_in in ("p", "q"):
        lp, lq = (_with_nan(log_p), log_p.flip(0)) if nan_in == "p" else (log_p, _with_nan(log_p.flip(0)))
        expected = F.kl_div(lq, lp.exp(), reduction="none").sum(dim=1)
        torch.testing.assert_close(L.kl_divergence(lp, lq, reduction="none"), expected, equal_nan=True)
    torch.testing.assert_close(
        L.entropy(_with_nan(log_p)), torch.special.entr(_with_nan(log_p).exp()).sum(dim=1), equal_nan=True
    )


@pytest.mark.parametrize("bad", [1.5, -0.2, NAN])
def test_binary_cross_entropy_refuses_a_target_outside_0_1_like_torch(bad):
    prob, target = torch.tensor([0.3, 0.6]), torch.tensor([1.0, bad])
    with pytest.raises(RuntimeError, match="all elements of target should be between 0 and 1"):
        F.binary_cross_entropy(prob, target)
    shown = "nan" if bad != bad else f"{bad:g}"
    with pytest.raises(
        ValueError,
        match=rf"expects targets in \[0, 1\] \(a label 0 or 1, or a probability\), "
        rf"got {shown}\. Labels such as -1/\+1",
    ):
        L.binary_cross_entropy(prob, target)


def test_soft_targets_inside_0_1_are_still_accepted():
    prob, target = torch.tensor([0.3, 0.6]), torch.tensor([0.25, 1.0])
    torch.testing.assert_close(L.binary_cross_entropy(prob, target), F.binary_cross_entropy(prob, target))


def test_loss_options_must_be_numbers_and_dims_axes():
    with pytest.raises(ValueError, match=r"huber: delta must be a number above 0; got '1'"):
        L.huber(torch.zeros(2), torch.zeros(2), delta="1")
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\]; got nan"):
        L.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=NAN)
    for loss in (L.entropy, lambda lp, dim: L.kl_divergence(lp, lp, dim=dim)):
        with pytest.raises(ValueError, match=r"dim must be an axis of the input.*got 2"):
            loss(torch.full((2, 3), -1.1), dim=2)


# ----------------------------------------------------------------------------- TensorFlow / Keras
@pytest.fixture(scope="module")
def tf():
    return load_tensorflow()


def test_regression_losses_match_keras(tf):
    import keras

    pred, target = randn(0, (8, 5), torch.float64, 3.0), randn(1, (8, 5), torch.float64, 3.0)
    p, t = pred.numpy(), target.numpy()
    # Keras losses take (y_true, y_pred) - the opposite order to PyTorch - and default to
    # reduction="sum_over_batch_size": the per-example loss (mean over the last axis) averaged over the
    # batch. With equal-length rows that equals PyTorch's mean over all elements.
    assert float(keras.losses.MeanSquaredError()(t, p)) == pytest.approx(float(L.mse(pred, target)), rel=1e-6)
    assert float(keras.losses.MeanAbsoluteError()(t, p)) == pytest.approx(float(L.mae(pred, target)), rel=1e-6)
    # keras.losses.Huber has the same formula and delta=1.0 default as F.huber_loss.
    for delta in (1.0, 0.5):
        assert float(keras.losses.Huber(delta=delta)(t, p)) == pytest.approx(
            float(L.huber(pred, target, delta=delta)), rel=1e-6
        )
    # reduction=None gives one loss per example (a row mean), not per element like reduction="none".
    per_example = np.asarray(keras.losses.MeanSquaredError(reduction=None)(t, p))
    np.testing.assert_allclose(per_example, L.mse(pred, target, reduction="none").mean(dim=1).numpy(), rtol=1e-6)


def test_sigmoid_cross_entropy_matches_tensorflow(tf):
    logits = torch.tensor([-200.0, -3.0, 0.0, 2.5, 200.0], dtype=torch.float64)
    target = torch.tensor([1.0, 0.0, 1.0, 0.3, 0.0], dtype=torch.float64)
    tf_loss = tf.nn.sigmoid_cross_entropy_with_logits(labels=target.numpy(), logits=logits.numpy()).numpy()
    np.testing.assert_allclose(
        L.binary_cross_entropy_with_logits(logits, target, reduction="none").numpy(), tf_loss, rtol=1e-12
    )


def test_keras_binary_cross_entropy_defaults_bite(tf):
    import keras

    logits = torch.tensor([[-4.0], [0.5], [3.0], [1.0]], dtype=torch.float32)
    target = torch.tensor([[0.0], [1.0], [1.0], [0.0]])
    prob = torch.sigmoid(logits)
    ours = float(L.binary_cross_entropy(prob, target))
    # Keras' default is from_logits=False: it expects probabilities, exactly like F.binary_cross_entropy.
    keras_prob = float(keras.losses.BinaryCrossentropy()(target.numpy(), prob.numpy()))
    assert keras_prob == pytest.approx(ours, rel=1e-5)
    keras_logits = float(keras.losses.BinaryCrossentropy(from_logits=True)(target.numpy(), logits.numpy()))
    assert keras_logits == pytest.approx(float(L.binary_cross_entropy_with_logits(logits, target)), rel=1e-5)
    # Passing logits with the default from_logits=False is silently wrong: Keras clips them into
    # [1e-7, 1 - 1e-7] and treats them as probabilities.
    wrong = float(keras.losses.BinaryCrossentropy()(target.numpy(), logits.numpy()))
    assert abs(wrong - keras_logits) > 1.0
    # Where the definitions differ: Keras clips probabilities at epsilon = 1e-7 (a loss of at most
    # -log(1e-7) = 16.1), PyTorch clamps the log at -100 (a loss of at most 100).
    sure_and_wrong = np.array([[0.0]], dtype="float32")
    keras_max = float(keras.losses.BinaryCrossentropy()(np.array([[1.0]], dtype="float32"), sure_and_wrong))
    assert keras_max == pytest.approx(-np.log(1e-7), rel=1e-3)
    assert float(L.binary_cross_entropy(torch.tensor([0.0]), torch.tensor([1.0]))) == 100.0


def test_categorical_cross_entropy_matches_keras(tf):
    import keras

    logits = randn(2, (6, 4), torch.float32, 3.0)
    target = torch.tensor([0, 3, 1, 1, 2, 0])
    ours = float(L.cross_entropy(logits, target))
    # Keras' sparse loss takes integer labels, like F.cross_entropy; again from_logits defaults to False.
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(target.numpy(), logits.numpy())
    assert float(sparse) == pytest.approx(ours, rel=1e-5)
    # label smoothing exists only on the one-hot version; Keras spreads epsilon / C over the classes, as PyTorch does.
    one_hot = F.one_hot(target, 4).float().numpy()
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(one_hot, logits.numpy())
    assert float(smoothed) == pytest.approx(float(L.cross_entropy(logits, target, label_smoothing=0.2)), rel=1e-5)


def test_kl_divergence_matches_keras(tf):
    import keras

    p = torch.softmax(randn(3, (5, 4), torch.float64), dim=1)
    q = torch.softmax(randn(4, (5, 4), torch.float64), dim=1)
    # keras.losses.KLDivergence(y_true=p, y_pred=q) is KL(p || q) per row (probabilities, not logs),
    # averaged over the batch; it clips both to [1e-7, 1], which does not matter for these values.
    keras_kl = float(keras.losses.KLDivergence()(p.numpy(), q.numpy()))
    assert keras_kl == pytest.approx(float(L.kl_divergence(p.log(), q.log())), rel=1e-6)
