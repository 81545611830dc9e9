r"""SGD (with momentum and Nesterov), RMSprop, Adam and AdamW, written from their update rules.

Chapter 05 builds these by hand and checks them step for step against ``torch.optim`` and
``keras.optimizers`` (tests/test_scratch_optim.py). The arguments, defaults and update rules
are torch.optim's, so ``SGD(model.parameters(), lr=0.1, momentum=0.9)`` here and in torch give
the same numbers.

Each class subclasses ``torch.optim.Optimizer``. That base class does only bookkeeping: it
keeps ``param_groups`` (a list of dicts, each with its parameters and its ``"lr"``), a
``state`` dict per parameter, and ``state_dict()`` for checkpoints. Because of it the scratch
optimizers work with ``course_lib.fit``, with ``torch.optim.lr_scheduler`` and with
``course_lib.scratch.schedules``. All the mathematics is in each class's ``step()``: read those.

Notation in the comments: :math:`g` is the gradient, :math:`\theta` the parameter,
:math:`\eta` the learning rate, :math:`t` the step number (from 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from ..arguments import check_bool, check_learning_rate, check_number, check_whole_number

__all__ = ["ScratchOptimizer", "SGD", "RMSprop", "Adam", "AdamW", "largest_difference"]

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


# ----------------------------------------------------------------------------- argument checks
def _check_params(params: Any, name: str) -> list:
    """Turn ``params`` into a list, refusing the mistakes beginners make with a message that says the fix."""
    if isinstance(params, nn.Module):
        raise TypeError(f"{name} was given the model itself; pass its parameters: {name}(model.parameters(), ...).")
    if isinstance(params, torch.Tensor):
        raise TypeError(
            f"{name} expects an iterable of tensors, got a single tensor; wrap it in a list: {name}([w], ...)."
        )
    params = list(params)
    if not params:
        raise ValueError(
            f"{name} got an empty list of parameters. Either the model has no parameters, or "
            "model.parameters() was already used up: it is a generator that can be read only once, "
            "so call model.parameters() again for each optimizer."
        )
    tensors = []
    for item in params:
        if isinstance(item, dict):
            if "params" not in item:
                raise ValueError(
                    f"A parameter group given to {name} must be a dict with a 'params' key, got keys {list(item)}."
                )
            group_params = item["params"]
            tensors += [group_params] if isinstance(group_params, torch.Tensor) else list(group_params)
        else:
            tensors.append(item)
    for i, tensor in enumerate(tensors):
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name} can only optimise tensors, but parameter {i} is a {type(tensor).__name__}.")
        if not tensor.requires_grad:
            raise ValueError(
                f"Parameter {i} (shape {tuple(tensor.shape)}) does not require gradients, so backward() never gives it "
                "a .grad and it would never change. Create it with requires_grad=True, or call w.requires_grad_()."
            )
        if not tensor.is_leaf:
            raise ValueError(
                f"Parameter {i} (shape {tuple(tensor.shape)}) is the result of a computation, not a leaf tensor, so it "
                "has no .grad of its own. Optimise the tensor it was computed from, or create it with "
                "torch.randn(..., requires_grad=True) rather than torch.randn(...).requires_grad_() * 0.1."
            )
    return params


def _run_closure(closure: Callable[[], torch.Tensor] | None) -> torch.Tensor | None:
    """torch.optim's convention: ``step(closure)`` re-evaluates the loss first (LBFGS needs it)."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


# ----------------------------------------------------------------------------- the shared bookkeeping
class ScratchOptimizer(torch.optim.Optimizer):
    """Checks the parameters and every group's hyperparameters; gives ``zero_grad`` and a loop over parameters
    that have a gradient.

    Each subclass says in ``_check_hyperparameters(group)`` what its numbers must be. It runs for every
    parameter group, the constructor's arguments included (torch's ``Optimizer.__init__`` adds them with
    ``add_param_group``), so ``SGD([{"params": head, "lr": -0.1}], lr=0.1)`` is refused too.
    """

    def __init__(self, params: Params, defaults: dict[str, Any]) -> None:
        super().__init__(_check_params(params, type(self).__name__), defaults)

    @staticmethod
    def _check_hyperparameters(group: dict[str, Any]) -> None:
        check_learning_rate(group["lr"])

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        if isinstance(param_group, dict):
            self._check_hyperparameters({**self.defaults, **param_group})  # the values torch will store
        super().add_param_group(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients of the last step (``backward()`` adds to ``.grad``, it does not overwrite)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None  # frees the memory; the next backward() allocates a fresh one
                else:
                    p.grad.detach_()
                    p.grad.zero_()

    def _params_with_grad(self, group: dict[str, Any]) -> Iterable[torch.Tensor]:
        """Parameters of a group that received a gradient (a frozen or unused layer has ``grad is None``)."""
        for p in group["params"]:
            if p.grad is not None:
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} from scratch does not support sparse gradients.")
                yield p


# ----------------------------------------------------------------------------- SGD
class SGD(ScratchOptimizer):
    r"""Stochastic gradient descent, optionally with momentum, Nesterov momentum and L2 weight decay.

    .. math::
        g \leftarrow g + \lambda\theta, \quad
        b_t = \mu b_{t-1} + (1-\tau) g \;(b_1 = g), \quad
        \theta \leftarrow \theta - \eta\,(g + \mu b_t \text{ if Nesterov else } b_t)
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
        )

    @staticmethod
    def _check_hyperparameters(group: dict[str, Any]) -> None:
        check_learning_rate(group["lr"])
        momentum, dampening = group["momentum"], group["dampening"]
        check_number(
            "momentum",
            momentum,
            at_least=0,
            below=1,
            why="It is the fraction of the velocity kept each step (typical: 0.9); at 1 or more the "
            "velocity never forgets old gradients and training diverges.",
        )
        check_number(
            "dampening", dampening, at_least=0, below=1, why="It scales the new gradient by (1 - dampening); usually 0."
        )
        check_number(
            "weight_decay",
            group["weight_decay"],
            at_least=0,
            why="It is the strength of the L2 penalty (typical: 1e-4 or 5e-4).",
        )
        check_bool("nesterov", group["nesterov"])
        if group["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"Nesterov momentum needs momentum > 0 and dampening = 0 (got momentum={momentum}, dampening={dampening}): "
                "it is a correction to momentum, so without momentum there is nothing to correct. "
                "Pass momentum=0.9, or nesterov=False."
            )

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, mu, tau, wd = group["lr"], group["momentum"], group["dampening"], group["weight_decay"]
            for p in self._params_with_grad(group):
                g = p.grad
                if wd != 0:
                    g = g + wd * p  # L2 penalty (wd/2)·‖θ‖² adds wd·θ to the gradient
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()  # first step: the velocity is the gradient itself
                    else:
                        state["momentum_buffer"] = mu * state["momentum_buffer"] + (1 - tau) * g
                    velocity = state["momentum_buffer"]
                    g = g + mu * velocity if group["nesterov"] else velocity  # Nesterov: look one step ahead
                p -= lr * g
        return loss


# ----------------------------------------------------------------------------- RMSprop
class RMSprop(ScratchOptimizer):
    r"""Divide each gradient coordinate by a running root-mean-square of its recent values.

    .. math::
        v_t = \alpha v_{t-1} + (1-\alpha) g^2, \quad
        \theta \leftarrow \theta - \eta\, \frac{g}{\sqrt{v_t} + \epsilon}

    ``centered=True`` subtracts the squared running mean of ``g`` from ``v`` (a variance estimate);
    ``momentum`` keeps a velocity of the scaled steps, as SGD does of the raw gradients.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=centered)
        )

    @staticmethod
    def _check_hyperparameters(group: dict[str, Any]) -> None:
        check_learning_rate(group["lr"])
        check_number(
            "alpha",
            group["alpha"],
            at_least=0,
            below=1,
            why="It is the decay of the running average of g² (typical: 0.99).",
        )
        check_number(
            "eps", group["eps"], at_least=0, why="It keeps the division finite when a gradient is zero (typical: 1e-8)."
        )
        check_number("weight_decay", group["weight_decay"], at_least=0, why="It is the strength of the L2 penalty.")
        check_number(
            "momentum",
            group["momentum"],
            at_least=0,
            below=1,
            why="It is the fraction of the velocity kept each step (0 = off).",
        )
        check_bool("centered", group["centered"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
            for p in self._params_with_grad(group):
                g = p.grad
                if wd != 0:
                    g = g + wd * p
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p)
                    if mu > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                state["step"] += 1
                state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * g * g  # running mean of g²
                mean_square = state["square_avg"]
                if group["centered"]:
                    state["grad_avg"] = alpha * state["grad_avg"] + (1 - alpha) * g  # running mean of g
                    mean_square = mean_square - state["grad_avg"] ** 2  # E[g²] - E[g]² = variance of g
                scaled_g = g / (mean_square.sqrt() + eps)  # every coordinate now moves by about 1 · lr
                if mu > 0:
                    state["momentum_buffer"] = mu * state["momentum_buffer"] + scaled_g
                    scaled_g = state["momentum_buffer"]
                p -= lr * scaled_g
        return loss


# ----------------------------------------------------------------------------- Adam and AdamW
class Adam(ScratchOptimizer):
    r"""Momentum on the gradient (first moment) and RMSprop's scaling (second moment), both bias-corrected.

    .. math::
        m_t = \beta_1 m_{t-1} + (1-\beta_1) g, \quad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g^2, \quad
        \theta \leftarrow \theta - \eta\,\frac{m_t/(1-\beta_1^t)}{\sqrt{v_t/(1-\beta_2^t)} + \epsilon}

    ``weight_decay`` here is the L2 penalty added to the gradient (it then gets divided by
    :math:`\sqrt{v}` like everything else); ``AdamW`` decouples it. ``amsgrad=True`` divides by the
    largest :math:`v` seen so far, so a coordinate's step size can only shrink.
    """

    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        betas = tuple(betas) if isinstance(betas, (tuple, list)) else betas
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    @staticmethod
    def _check_hyperparameters(group: dict[str, Any]) -> None:
        check_learning_rate(group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2) such as (0.9, 0.999), got {betas!r}.")
        check_number(
            "betas[0]", betas[0], at_least=0, below=1, why="beta1 is the decay of the running mean of g (typical: 0.9)."
        )
        check_number(
            "betas[1]",
            betas[1],
            at_least=0,
            below=1,
            why="beta2 is the decay of the running mean of g² (typical: 0.999).",
        )
        check_number(
            "eps", group["eps"], at_least=0, why="It keeps the division finite when a gradient is zero (typical: 1e-8)."
        )
        check_number("weight_decay", group["weight_decay"], at_least=0, why="It is the strength of the weight decay.")
        check_bool("amsgrad", group["amsgrad"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in self._params_with_grad(group):
                g = p.grad
                if wd != 0:
                    if self._decoupled_weight_decay:
                        p *= 1 - lr * wd  # AdamW: shrink the weights directly, outside the adaptive scaling
                    else:
                        g = g + wd * p  # Adam: L2 penalty in the gradient, later divided by sqrt(v)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)  # m: running mean of g
                    state["exp_avg_sq"] = torch.zeros_like(p)  # v: running mean of g²
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * g
                state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * g * g
                v = state["exp_avg_sq"]
                if group["amsgrad"]:
                    state["max_exp_avg_sq"] = torch.maximum(state["max_exp_avg_sq"], v)
                    v = state["max_exp_avg_sq"]
                # m and v start at 0, so early on they are too small by the factors (1 - beta^t): undo that.
                m_hat = state["exp_avg"] / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p -= lr * m_hat / (v_hat.sqrt() + eps)
        return loss


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter): :math:`\theta \leftarrow \theta(1 - \eta\lambda)`, then Adam.

    With plain Adam an L2 penalty is divided by :math:`\sqrt{v}`, so weights with large gradients
    are hardly decayed; AdamW shrinks every weight by the same factor. Default ``weight_decay=0.01``.
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


def largest_difference(
    optimizer_class: type, reference_class: type, steps: int = 50, seed: int = 0, **options: Any
) -> float:
    """Train two copies of a small network in float64, one with each optimizer; the largest weight gap seen.

    ``largest_difference(SGD, torch.optim.SGD, lr=0.1, momentum=0.9)`` is about 1e-16 when the two
    implement the same update rule, and far larger at the first step where they do not. The gradients
    depend on the weights, so any difference would feed back and grow over the ``steps``.
    """
    check_whole_number("steps", steps, 1, unit="optimizer steps")
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(64, 4, generator=generator, dtype=torch.float64)
    y = torch.randn(64, 1, generator=generator, dtype=torch.float64)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    twin = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    twin.load_state_dict(model.state_dict())
    pairs = [
        (model, optimizer_class(model.parameters(), **options)),
        (twin, reference_class(twin.parameters(), **options)),
    ]
    largest = 0.0
    for _ in range(steps):
        for network, optimizer in pairs:
            optimizer.zero_grad()
            nn.functional.mse_loss(network(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            gaps = [float((p - q).abs().max()) for p, q in zip(model.parameters(), twin.parameters())]
        largest = max(largest, *gaps)
    return largest
