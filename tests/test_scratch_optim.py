"""course_lib.scratch.optim step for step against torch.optim and keras.optimizers.

torch: every option combination, float32 and float64, the parameters compared after every
one of many steps, on a fixed stream of random gradients and on a small network whose
gradients depend on the parameters (so any difference would feed back and grow).

Keras: where its definitions agree with torch's, the same numbers; where they differ the test
says how, and checks the difference is real:
- SGD momentum: Keras keeps m = mu*m - lr*g and adds it; torch keeps b = mu*b + g and subtracts
  lr*b. The same trajectory while lr is constant (m = -lr*b); they part once a schedule changes lr.
- weight_decay: in Keras it is always decoupled (w -= lr*wd*w before the step, like AdamW); in
  torch's SGD, RMSprop and Adam it is an L2 term added to the gradient. Same for plain SGD only.
- RMSprop: Keras puts epsilon inside the square root, sqrt(v + eps); torch outside, sqrt(v) + eps.
  Keras's defaults differ too: rho=0.9 (torch alpha=0.99), epsilon=1e-7, learning_rate=0.001.
- Adam: Keras adds epsilon to sqrt(v) before the bias correction ("epsilon hat" in Kingma & Ba),
  torch after it, so a Keras epsilon e acts like a torch eps of e / sqrt(1 - beta2^t): about 30 times
  larger at the first step with beta2 = 0.999. Default 1e-7 vs 1e-8. With eps = 0 they agree exactly.
Keras keeps the learning rate in float32 and casts Python hyperparameters through float32 even for
float64 variables (ops.cast(0.9, "float64") is 0.8999999762), so the Keras comparisons use numbers
that float32 holds exactly: learning rates 2**-k, momentum 0.875, betas (0.875, 1 - 2**-10).
"""

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from course_lib.scratch import optim as scratch
from course_lib.tensorflow_setup import load_tensorflow

DTYPES = [torch.float32, torch.float64]
TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-11, atol=1e-13)}
STEPS = 120


def _options(**choices):
    names = list(choices)
    return [dict(zip(names, values)) for values in itertools.product(*choices.values())]


SGD_CASES = [
    o
    for o in _options(
        lr=[0.05], momentum=[0.0, 0.9], dampening=[0.0, 0.3], weight_decay=[0.0, 0.05], nesterov=[False, True]
    )
    if not (o["nesterov"] and (o["momentum"] == 0 or o["dampening"] != 0))
]
RMSPROP_CASES = _options(
    lr=[0.01], alpha=[0.99, 0.9], centered=[False, True], momentum=[0.0, 0.9], weight_decay=[0.0, 0.05]
)
ADAM_CASES = _options(lr=[0.01], betas=[(0.9, 0.999), (0.8, 0.99)], amsgrad=[False, True], weight_decay=[0.0, 0.05])
ADAMW_CASES = _options(lr=[0.01], amsgrad=[False, True], weight_decay=[0.01, 0.1])

CASES = (
    [(scratch.SGD, torch.optim.SGD, o) for o in SGD_CASES]
    + [(scratch.RMSprop, torch.optim.RMSprop, o) for o in RMSPROP_CASES]
    + [(scratch.Adam, torch.optim.Adam, o) for o in ADAM_CASES]
    + [(scratch.AdamW, torch.optim.AdamW, o) for o in ADAMW_CASES]
)


def case_id(case):
    ours, _, options = case
    return ours.__name__ + "-" + "-".join(f"{k}={v}" for k, v in options.items() if k != "lr")


def random_stream(seed, dtype, steps=STEPS, shapes=((6, 5), (5,))):
    gen = torch.Generator().manual_seed(seed)
    start = [torch.randn(s, generator=gen, dtype=torch.float64).to(dtype) for s in shapes]
    # gradients of varying size per step, some coordinates tiny, so the adaptive methods are exercised
    grads = [
        [(torch.randn(s, generator=gen, dtype=torch.float64) * (1 + 3 * (t % 7 == 0))).to(dtype) for s in shapes]
        for t in range(steps)
    ]
    return start, grads


def follow(optimizer_class, options, start, grads):
    """Apply ``grads`` step by step and return the parameters after every step."""
    params = [p.clone().requires_grad_(True) for p in start]
    optimizer = optimizer_class(params, **options)
    trajectory = []
    for step_grads in grads:
        optimizer.zero_grad()
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        optimizer.step()
        trajectory.append([p.detach().clone() for p in params])
    return trajectory


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch_step_for_step_on_random_gradients(case, dtype):
    ours, theirs, options = case
    start, grads = random_stream(seed=len(case_id(case)), dtype=dtype)
    for step, (a, b) in enumerate(zip(follow(ours, options, start, grads), follow(theirs, options, start, grads)), 1):
        for p, q in zip(a, b):
            assert p.dtype == dtype
            torch.testing.assert_close(p, q, **TOL[dtype], msg=lambda m, step=step: f"step {step}: {m}")
    assert not torch.allclose(a[0], start[0])  # the parameters really moved


def small_network(dtype, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(32, 4, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randint(0, 3, (32,), generator=gen)
    return model, x, y


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES[::3], ids=[case_id(c) for c in CASES[::3]])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch_training_a_small_network(case, dtype):
    ours, theirs, options = case
    results = []
    for optimizer_class in (ours, theirs):
        model, x, y = small_network(dtype)
        optimizer = optimizer_class(model.parameters(), **options)
        losses = []
        for _ in range(60):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        results.append((losses, [p.detach() for p in model.parameters()]))
    (our_losses, our_params), (their_losses, their_params) = results
    assert our_losses[-1] < our_losses[0]  # it trained
    np.testing.assert_allclose(our_losses, their_losses, rtol=1e-4 if dtype == torch.float32 else 1e-10)
    # In float32 the last-bit rounding differences (torch uses lerp/addcmul, we write the formula) feed back
    # through the network: RMSprop and Adam divide by sqrt(v), which enlarges them where gradients are tiny.
    # 60 steps take them to about 1e-4 with torch 2.14 and to 1.7e-3 with torch 2.11 (whose CPU kernels round
    # differently); float64 shows the update rules themselves agree to 1e-10.
    for p, q in zip(our_params, their_params):
        torch.testing.assert_close(
            p, q, rtol=5e-3 if dtype == torch.float32 else 1e-10, atol=5e-3 if dtype == torch.float32 else 1e-12
        )


def test_defaults_are_torchs():
    p = [torch.zeros(1, requires_grad=True)]
    for ours, theirs in [
        (scratch.SGD, torch.optim.SGD),
        (scratch.RMSprop, torch.optim.RMSprop),
        (scratch.Adam, torch.optim.Adam),
        (scratch.AdamW, torch.optim.AdamW),
    ]:
        our_defaults, their_defaults = ours(p).defaults, theirs(p).defaults
        for name, value in our_defaults.items():
            assert their_defaults[name] == value, f"{ours.__name__}.{name}: ours {value}, torch {their_defaults[name]}"


def test_param_groups_have_their_own_settings_like_torch():
    start, grads = random_stream(0, torch.float64, steps=30, shapes=((3,), (4,)))

    def run(cls):
        a, b = (s.clone().requires_grad_(True) for s in start)
        opt = cls([{"params": [a]}, {"params": [b], "lr": 0.1, "momentum": 0.5}], lr=0.01, momentum=0.9)
        for g_a, g_b in grads:
            a.grad, b.grad = g_a.clone(), g_b.clone()
            opt.step()
        return a.detach(), b.detach()

    for p, q in zip(run(scratch.SGD), run(torch.optim.SGD)):
        torch.testing.assert_close(p, q)


def test_parameters_without_gradient_are_left_alone():
    used, unused = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    optimizer = scratch.Adam([used, unused], lr=0.1, weight_decay=0.1)
    used.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(unused, torch.ones(3)) and unused not in optimizer.state
    assert (used < 1).all()


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none):
    p = torch.ones(3, requires_grad=True)
    optimizer = scratch.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    optimizer.zero_grad(set_to_none=set_to_none)
    if set_to_none:
        assert p.grad is None
    else:
        assert torch.equal(p.grad, torch.zeros(3))
    (p * 2).sum().backward()
    assert torch.equal(p.grad, torch.full((3,), 2.0))  # not 4: the old gradient was cleared


def test_step_with_closure_returns_the_loss():
    p = torch.tensor([3.0], requires_grad=True)
    optimizer = scratch.SGD([p], lr=0.25)

    def closure():
        optimizer.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    assert optimizer.step(closure).item() == 9.0
    assert p.item() == pytest.approx(3.0 - 0.25 * 6.0)


@pytest.mark.parametrize("cls", [scratch.SGD, scratch.RMSprop, scratch.Adam, scratch.AdamW])
def test_state_dict_resumes_exactly(cls):
    options = {"lr": 0.01, "momentum": 0.9} if cls in (scratch.SGD, scratch.RMSprop) else {"lr": 0.01}
    start, grads = random_stream(3, torch.float64, steps=20)
    straight = follow(cls, options, start, grads)[-1]

    params = [p.clone().requires_grad_(True) for p in start]
    first = cls(params, **options)
    for step_grads in grads[:10]:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        first.step()
    saved = first.state_dict()
    resumed = cls(params, **options)
    resumed.load_state_dict(saved)
    for step_grads in grads[10:]:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        resumed.step()
    for p, q in zip(params, straight):
        torch.testing.assert_close(p.detach(), q)


@pytest.mark.parametrize("cls", [scratch.SGD, scratch.Adam])
def test_works_with_fit_and_gives_torchs_history(cls):
    from course_lib import fit

    histories = []
    for optimizer_class in (cls, getattr(torch.optim, cls.__name__)):
        model, x, y = small_network(torch.float32)
        batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
        optimizer = optimizer_class(model.parameters(), lr=0.05)
        histories.append(
            fit(model, batches, nn.functional.cross_entropy, optimizer, epochs=3, device="cpu", progress=False)
        )
    ours, theirs = histories
    np.testing.assert_allclose(ours["train_loss"], theirs["train_loss"], rtol=1e-5)
    assert ours["lr"] == [0.05] * 3
    assert ours["train_loss"][-1] < ours["train_loss"][0]


def test_disabled_grad_scaler_just_calls_step():
    # what fit does on a CPU: GradScaler(enabled=False).step(optimizer) == optimizer.step()
    p = torch.tensor([1.0], requires_grad=True)
    optimizer = scratch.SGD([p], lr=0.5)
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    scaler.scale((p**2).sum()).backward()
    scaler.step(optimizer)
    scaler.update()
    assert p.item() == pytest.approx(0.0)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda p: scratch.SGD(p, lr=-0.1), ValueError, r"lr must be a learning rate.*got -0\.1.*climb the loss"),
        (lambda p: scratch.Adam(p, lr=float("nan")), ValueError, "lr must be a learning rate.*got nan"),
        (lambda p: scratch.SGD(p, lr="0.1"), ValueError, "lr must be a learning rate.*got '0.1'"),
        (lambda p: scratch.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov momentum needs momentum > 0"),
        (lambda p: scratch.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "dampening = 0"),
        (
            lambda p: scratch.SGD(p, lr=0.1, momentum=9),
            ValueError,
            r"momentum must be a number in \[0, 1\); got 9\. It is the fraction.*never forgets",
        ),
        (
            lambda p: scratch.SGD(p, lr=0.1, momentum=-0.5),
            ValueError,
            r"momentum must be a number in \[0, 1\); got -0\.5",
        ),
        (
            lambda p: scratch.SGD(p, lr=0.1, weight_decay=-1e-4),
            ValueError,
            "weight_decay must be a number 0 or more; got -0.0001",
        ),
        (lambda p: scratch.RMSprop(p, alpha=1.0), ValueError, r"alpha must be a number in \[0, 1\); got 1\.0"),
        (lambda p: scratch.RMSprop(p, eps=-1.0), ValueError, "eps must be a number 0 or more; got -1.0"),
        (lambda p: scratch.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be a number in \[0, 1\); got 1\.0"),
        (
            lambda p: scratch.Adam(p, betas=(-0.1, 0.999)),
            ValueError,
            r"betas\[0\] must be a number in \[0, 1\); got -0\.1",
        ),
        (lambda p: scratch.Adam(p, betas=0.9), ValueError, "betas must be a pair"),
        (lambda p: scratch.AdamW(p, weight_decay=-0.01), ValueError, "weight_decay must be a number 0 or more"),
        (lambda p: scratch.SGD(p, lr=0.1, momentum=0.9, nesterov="no"), TypeError, "nesterov must be True or False"),
        (lambda p: scratch.RMSprop(p, centered=1), TypeError, "centered must be True or False, got 1"),
        (lambda p: scratch.Adam(p, amsgrad="False"), TypeError, "amsgrad must be True or False, got 'False'"),
        (lambda p: scratch.Adam(p, eps=float("inf")), ValueError, "eps must be a number 0 or more; got inf"),
    ],
)
def test_bad_hyperparameters_are_refused_with_a_reason(make, error, match):
    with pytest.raises(error, match=match):
        make([torch.zeros(2, requires_grad=True)])


@pytest.mark.parametrize("cls", [scratch.SGD, scratch.RMSprop, scratch.Adam, scratch.AdamW])
def test_bad_parameters_are_refused_with_the_fix(cls):
    with pytest.raises(ValueError, match="empty list of parameters.*generator that can be read only once"):
        cls([])
    model = nn.Linear(2, 2)
    params = model.parameters()
    cls(params)
    with pytest.raises(ValueError, match="already used up"):
        cls(params)  # the generator was consumed by the first optimizer
    with pytest.raises(TypeError, match=r"the model itself; pass its parameters: .*\(model\.parameters\(\)"):
        cls(model)
    with pytest.raises(TypeError, match=r"single tensor; wrap it in a list"):
        cls(torch.zeros(2, requires_grad=True))
    with pytest.raises(
        ValueError, match=r"Parameter 0 \(shape \(3,\)\) does not require gradients.*requires_grad=True"
    ):
        cls([torch.zeros(3)])
    with pytest.raises(ValueError, match="not a leaf tensor"):
        cls([torch.zeros(3, requires_grad=True) * 2])
    with pytest.raises(TypeError, match="can only optimise tensors, but parameter 1 is a float"):
        cls([torch.zeros(1, requires_grad=True), 0.5])
    with pytest.raises(ValueError, match="does not require gradients"):
        cls([{"params": [torch.zeros(2)]}])


# ----------------------------------------------------------------------------- Keras
@pytest.fixture(scope="module")
def keras():
    # torch.optim imports torch._dynamo (and triton) the first time an optimizer is created; doing that
    # after TensorFlow is loaded crashes the process (a native-library clash), so import it first.
    import torch._dynamo  # noqa: F401

    tf = load_tensorflow()
    return tf.keras


def keras_follow(keras, optimizer, start, grads):
    """Run a Keras optimizer on the same start and gradients; parameters after every step."""
    dtype = {torch.float32: "float32", torch.float64: "float64"}[start[0].dtype]
    variables = [keras.Variable(p.numpy(), dtype=dtype) for p in start]
    trajectory = []
    for step_grads in grads:
        optimizer.apply([keras.ops.convert_to_tensor(g.numpy(), dtype=dtype) for g in step_grads], variables)
        trajectory.append([torch.from_numpy(np.array(v.numpy())) for v in variables])
    return trajectory


def assert_same_trajectory(a, b, dtype):
    tol = {torch.float32: dict(rtol=1e-4, atol=1e-5), torch.float64: dict(rtol=1e-10, atol=1e-12)}[dtype]
    for step, (ps, qs) in enumerate(zip(a, b), 1):
        for p, q in zip(ps, qs):
            torch.testing.assert_close(p, q, **tol, msg=lambda m, step=step: f"step {step}: {m}")


def max_difference(a, b):
    return max(float((p - q).abs().max()) for ps, qs in zip(a, b) for p, q in zip(ps, qs))


LR_SGD, LR_ADAPTIVE = 2**-4, 2**-7  # exactly representable in float32, where Keras keeps its learning rate
BETAS = (0.875, 1 - 2**-10)  # likewise, since Keras casts beta_1 and beta_2 through float32


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.875, False), (0.875, True), (0.5, True)])
def test_sgd_matches_keras(keras, dtype, momentum, nesterov):
    start, grads = random_stream(10, dtype, steps=50)
    ours = follow(scratch.SGD, dict(lr=LR_SGD, momentum=momentum, nesterov=nesterov), start, grads)
    theirs = keras_follow(
        keras, keras.optimizers.SGD(learning_rate=LR_SGD, momentum=momentum, nesterov=nesterov), start, grads
    )
    assert_same_trajectory(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_weight_decay_agrees_with_keras_only_without_momentum(keras, dtype):
    start, grads = random_stream(11, dtype, steps=50)
    wd = 2**-3
    plain = follow(scratch.SGD, dict(lr=LR_SGD, weight_decay=wd), start, grads)
    assert_same_trajectory(
        plain, keras_follow(keras, keras.optimizers.SGD(LR_SGD, weight_decay=wd), start, grads), dtype
    )
    # with momentum, torch's L2 term enters the velocity; Keras's decoupled decay does not
    ours = follow(scratch.SGD, dict(lr=LR_SGD, momentum=0.875, weight_decay=wd), start, grads)
    theirs = keras_follow(keras, keras.optimizers.SGD(LR_SGD, momentum=0.875, weight_decay=wd), start, grads)
    assert max_difference(ours, theirs) > 1e-2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("centered, momentum", [(False, 0.0), (True, 0.0), (False, 0.875), (True, 0.875)])
def test_rmsprop_matches_keras_with_eps_zero(keras, dtype, centered, momentum):
    start, grads = random_stream(12, dtype, steps=50)
    ours = follow(
        scratch.RMSprop, dict(lr=LR_ADAPTIVE, alpha=0.875, eps=0.0, centered=centered, momentum=momentum), start, grads
    )
    keras_rmsprop = keras.optimizers.RMSprop(
        learning_rate=LR_ADAPTIVE, rho=0.875, epsilon=0.0, centered=centered, momentum=momentum
    )
    assert_same_trajectory(ours, keras_follow(keras, keras_rmsprop, start, grads), dtype)


def test_rmsprop_epsilon_sits_elsewhere_in_keras(keras):
    start, grads = random_stream(13, torch.float64, steps=20)
    ours = follow(scratch.RMSprop, dict(lr=LR_ADAPTIVE, alpha=0.875, eps=0.1), start, grads)
    theirs = keras_follow(keras, keras.optimizers.RMSprop(LR_ADAPTIVE, rho=0.875, epsilon=0.1), start, grads)
    assert max_difference(ours, theirs) > 1e-3  # sqrt(v) + eps (torch) vs sqrt(v + eps) (Keras)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_matches_keras_with_eps_zero(keras, dtype, amsgrad):
    start, grads = random_stream(14, dtype, steps=60)
    ours = follow(scratch.Adam, dict(lr=LR_ADAPTIVE, betas=BETAS, eps=0.0, amsgrad=amsgrad), start, grads)
    theirs = keras_follow(keras, keras.optimizers.Adam(LR_ADAPTIVE, *BETAS, epsilon=0.0, amsgrad=amsgrad), start, grads)
    assert_same_trajectory(ours, theirs, dtype)


def test_adam_epsilon_is_epsilon_hat_in_keras(keras):
    start, grads = random_stream(15, torch.float64, steps=20)
    eps = 0.1
    theirs = keras_follow(keras, keras.optimizers.Adam(LR_ADAPTIVE, *BETAS, epsilon=eps), start, grads)
    assert max_difference(follow(scratch.Adam, dict(lr=LR_ADAPTIVE, betas=BETAS, eps=eps), start, grads), theirs) > 1e-4
    # a Keras epsilon e is a torch eps of e / sqrt(1 - beta2^t): with that step-dependent eps they agree again
    params = [p.clone().requires_grad_(True) for p in start]
    optimizer = scratch.Adam(params, lr=LR_ADAPTIVE, betas=BETAS)
    for t, (step_grads, expected) in enumerate(zip(grads, theirs), 1):
        optimizer.param_groups[0]["eps"] = eps / (1 - BETAS[1] ** t) ** 0.5
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        optimizer.step()
        for p, q in zip(params, expected):
            torch.testing.assert_close(p.detach(), q, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adamw_matches_keras_adamw_and_keras_adam_weight_decay_is_decoupled(keras, dtype):
    start, grads = random_stream(16, dtype, steps=60)
    wd = 2**-2
    ours = follow(scratch.AdamW, dict(lr=LR_ADAPTIVE, betas=BETAS, eps=0.0, weight_decay=wd), start, grads)
    assert_same_trajectory(
        ours,
        keras_follow(
            keras,
            keras.optimizers.AdamW(LR_ADAPTIVE, weight_decay=wd, beta_1=BETAS[0], beta_2=BETAS[1], epsilon=0.0),
            start,
            grads,
        ),
        dtype,
    )
    keras_adam = keras_follow(
        keras, keras.optimizers.Adam(LR_ADAPTIVE, *BETAS, weight_decay=wd, epsilon=0.0), start, grads
    )
    assert_same_trajectory(ours, keras_adam, dtype)  # Keras's Adam(weight_decay) is AdamW ...
    torch_style_l2 = follow(scratch.Adam, dict(lr=LR_ADAPTIVE, betas=BETAS, eps=0.0, weight_decay=wd), start, grads)
    assert max_difference(torch_style_l2, keras_adam) > 1e-3  # ... not torch's Adam(weight_decay), an L2 term


def test_largest_difference_is_tiny_for_twins_and_large_for_different_rules():
    assert scratch.largest_difference(scratch.Adam, torch.optim.Adam, lr=0.01, amsgrad=True) < 1e-12
    assert scratch.largest_difference(scratch.SGD, torch.optim.SGD, lr=0.05, momentum=0.9, nesterov=True) < 1e-12
    assert scratch.largest_difference(scratch.Adam, torch.optim.AdamW, lr=0.01, weight_decay=0.1) > 1e-4
    with pytest.raises(ValueError, match="steps must be a whole number"):
        scratch.largest_difference(scratch.SGD, torch.optim.SGD, steps=0, lr=0.1)


@pytest.mark.parametrize(
    "options",
    [
        dict(cls="SGD", lr=0.1, momentum=0.9, nesterov=True),
        dict(cls="RMSprop", lr=0.01, centered=True, momentum=0.5),
        dict(cls="Adam", lr=0.01, amsgrad=True),
        dict(cls="AdamW", lr=0.01),
    ],
    ids=lambda o: o["cls"],
)
def test_a_nan_gradient_spoils_the_same_coordinates_as_in_torch(options):
    """A NaN in one gradient coordinate: torch makes that weight NaN and leaves the others finite; so must we."""
    options = dict(options)
    name = options.pop("cls")
    ours_p = torch.ones(4, dtype=torch.float64, requires_grad=True)
    theirs_p = torch.ones(4, dtype=torch.float64, requires_grad=True)
    ours, theirs = getattr(scratch, name)([ours_p], **options), getattr(torch.optim, name)([theirs_p], **options)
    for step in range(3):
        grad = torch.tensor([0.5, -1.0, 2.0, 0.25], dtype=torch.float64)
        if step == 1:
            grad[2] = float("nan")
        for p, optimizer in ((ours_p, ours), (theirs_p, theirs)):
            p.grad = grad.clone()
            optimizer.step()
    assert theirs_p.isnan().tolist() == [False, False, True, False]
    torch.testing.assert_close(ours_p.detach(), theirs_p.detach(), equal_nan=True)


@pytest.mark.parametrize("cls", [scratch.SGD, scratch.RMSprop, scratch.Adam, scratch.AdamW])
def test_a_parameter_group_with_a_bad_hyperparameter_is_refused_too(cls):
    """Only the constructor's arguments were checked: a group's own lr=-0.1 climbed the loss without a word."""
    head, body = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"lr must be a learning rate.*got -0\.1"):
        cls([{"params": [body]}, {"params": [head], "lr": -0.1}], lr=0.01)
    optimizer = cls([body], lr=0.01)
    with pytest.raises(ValueError, match=r"lr must be a learning rate.*got '0\.1'"):
        optimizer.add_param_group({"params": [head], "lr": "0.1"})
    assert len(optimizer.param_groups) == 1  # the refused group was not added
    optimizer.add_param_group({"params": [head], "lr": 0.5})
    assert [group["lr"] for group in optimizer.param_groups] == [0.01, 0.5]
    bad = {
        scratch.SGD: ("momentum", 9),
        scratch.RMSprop: ("alpha", 1.0),
        scratch.Adam: ("betas", (0.9, 1.5)),
        scratch.AdamW: ("eps", -1.0),
    }[cls]
    with pytest.raises(ValueError, match=rf"{bad[0]}(\[1\])? must be a number"):
        cls([{"params": [head], bad[0]: bad[1]}], lr=0.01)
