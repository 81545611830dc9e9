"""Walk a VAE's 2-D latent space with two sliders, and see what the weight beta on the KL term does.

Chapter 09's explorer. The top half decodes the code (z1, z2) under the sliders, live, beside a
map of where the test digits' codes sit (coloured by class) with the current code marked: move
into a gap between two clusters and the digit morphs from one class into the other. The bottom
half reads the precomputed beta sweep (``experiments.vae.load_beta_sweep``): for each beta, the
same test digits reconstructed and the same prior codes decoded, with the KL and the number of
active units. Everything here only draws: decoding is ``experiments.vae.decode_latent``, the sweep
was trained by ``tools/train_vae.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..arguments import check_number
from ..experiments.vae import BetaSweep, check_vae, decode_latent
from . import one_at_a_time, show_figure

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.figure import Figure

    from ..vae_models import VAE

__all__ = ["plot_latent_point", "plot_latent_map", "plot_beta_effect", "latent_space_explorer"]

_CLASS_COLOURS = "tab10"


def _check_map(means: np.ndarray | None, labels: Sequence[int] | np.ndarray | None) -> None:
    if means is None:
        return
    means = np.asarray(means)
    if means.ndim != 2 or means.shape[1] != 2:
        raise ValueError(f"means should be the 2-D codes of the images, shape (N, 2), got {means.shape}.")
    if labels is not None and len(labels) != len(means):
        raise ValueError(f"labels should give one class per code: {len(labels)} labels for {len(means)} codes.")


def _scatter(ax, means: np.ndarray, labels: Sequence[int] | np.ndarray | None, span: float) -> None:
    colours = None if labels is None else np.asarray(labels)
    points = ax.scatter(
        means[:, 0],
        means[:, 1],
        c=colours,
        cmap=_CLASS_COLOURS if labels is not None else None,
        vmin=-0.5,
        vmax=9.5,
        s=4,
        alpha=0.6,
    )
    if labels is not None:
        ax.figure.colorbar(points, ax=ax, ticks=range(10), label="class")
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")


def plot_latent_point(
    model: VAE,
    z: Sequence[float] | np.ndarray,
    means: np.ndarray | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    span: float = 3.0,
) -> Figure:
    """The digit the decoder draws for the code ``z``; with ``means``, beside the map of codes with ``z`` marked."""
    import matplotlib.pyplot as plt

    check_vae(model, "plot_latent_point")
    image = decode_latent(model, z)
    _check_map(means, labels)
    z = np.asarray(z, dtype=float)
    if means is None:
        fig, digit = plt.subplots(figsize=(3, 3))
    else:
        fig, (digit, where) = plt.subplots(1, 2, figsize=(8, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
        _scatter(where, np.asarray(means), labels, span)
        where.plot(z[0], z[1], marker="x", color="black", markersize=12, mew=3)
        where.set_title("test digits' codes (encoder means)", fontsize=10)
    digit.imshow(image, cmap="gray", vmin=0, vmax=1)
    digit.axis("off")
    shown = ", ".join(f"{v:.2f}" for v in z)
    digit.set_title(f"decoded from z = ({shown})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_latent_map(
    grid: np.ndarray, span: float, means: np.ndarray | None = None, labels: Sequence[int] | np.ndarray | None = None
) -> Figure:
    """A decoded grid of a 2-D latent plane (``experiments.vae.latent_grid``), beside where the test codes fall."""
    import matplotlib.pyplot as plt

    check_number("span", span, above=0)
    grid = np.asarray(grid)
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] % 28:
        raise ValueError(f"grid should be the square image latent_grid returns, (28n, 28n), got {grid.shape}.")
    _check_map(means, labels)
    panels = 1 if means is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 5), squeeze=False)
    axes[0, 0].imshow(grid, cmap="gray", extent=(-span, span, -span, span), vmin=0, vmax=1)
    axes[0, 0].set_xlabel("$z_1$")
    axes[0, 0].set_ylabel("$z_2$")
    axes[0, 0].set_title("decoded digits on a grid of codes", fontsize=10)
    if means is not None:
        _scatter(axes[0, 1], np.asarray(means), labels, span)
        axes[0, 1].set_title("where the test digits' codes fall", fontsize=10)
    fig.tight_layout()
    return fig


def plot_beta_effect(sweep: BetaSweep, beta: float) -> Figure:
    """For one beta of the sweep: test digits (top), their reconstructions, and samples from the prior (bottom)."""
    import matplotlib.pyplot as plt

    if not isinstance(sweep, BetaSweep):
        raise TypeError(
            f"plot_beta_effect draws a BetaSweep (experiments.vae.load_beta_sweep()), got a {type(sweep).__name__}."
        )
    i = sweep.index(beta)  # a negative beta or one not in the sweep: one sentence
    rows = [
        ("test digits", sweep.originals),
        ("reconstructed", sweep.reconstructions[i]),
        ("samples from the prior", sweep.samples[i]),
    ]
    columns = max(len(images) for _, images in rows)
    fig, axes = plt.subplots(3, columns, figsize=(0.9 * columns, 3.2), squeeze=False)
    for r, (name, images) in enumerate(rows):
        for c in range(columns):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].set_title(name, fontsize=9, loc="left")
    dims = sweep.kl_per_dim.shape[1]
    fig.suptitle(
        f"beta = {beta:g}: reconstruction {sweep.reconstruction[i]:.1f} + KL {sweep.kl[i]:.1f} nats, "
        f"{sweep.active_units[i]} of {dims} latent dimensions active",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def latent_space_explorer(
    model: VAE,
    sweep: BetaSweep | None = None,
    means: np.ndarray | None = None,
    labels: Sequence[int] | np.ndarray | None = None,
    span: float = 3.0,
    beta: float = 1.0,
) -> ipywidgets.VBox:
    """Sliders z1, z2 decode a 2-D VAE's code live; with ``sweep``, a beta slider shows that sweep's models.

    ``means``/``labels`` (from ``experiments.vae.encode_means`` and the test labels) add the map of
    codes; ``span`` is how far the sliders reach (the prior puts 99.7% of each coordinate within 3).
    """
    import ipywidgets as widgets

    check_vae(model, "latent_space_explorer")
    if model.latent_dim != 2:
        raise ValueError(
            f"latent_space_explorer has a slider for each of 2 latent coordinates; this VAE's codes have "
            f"{model.latent_dim} numbers (train one with latent_dim=2, or use shipped_vae('ch09_vae_2d'))."
        )
    check_number("span", span, above=0)
    check_number("beta", beta, at_least=0)
    _check_map(means, labels)
    if sweep is not None:
        sweep.index(beta)
    step = span / 30
    z1 = widgets.FloatSlider(value=0.0, min=-span, max=span, step=step, description="z1", continuous_update=True)
    z2 = widgets.FloatSlider(value=0.0, min=-span, max=span, step=step, description="z2", continuous_update=True)
    latent_output = widgets.Output()

    @one_at_a_time
    def redraw_latent(*_: object) -> None:
        show_figure(latent_output, plot_latent_point(model, [z1.value, z2.value], means, labels, span))

    z1.observe(redraw_latent, names="value")
    z2.observe(redraw_latent, names="value")
    redraw_latent()
    children: list = [widgets.HBox([z1, z2]), latent_output]
    sliders = {"z1": z1, "z2": z2}
    redraw_beta = None
    if sweep is not None:
        beta_slider = widgets.SelectionSlider(
            options=[(f"{b:g}", b) for b in sweep.betas],
            value=sweep.betas[sweep.index(beta)],
            description="beta",
            continuous_update=False,
        )
        beta_output = widgets.Output()

        @one_at_a_time
        def redraw_beta(*_: object) -> None:
            show_figure(beta_output, plot_beta_effect(sweep, beta_slider.value))

        beta_slider.observe(redraw_beta, names="value")
        redraw_beta()
        children += [beta_slider, beta_output]
        sliders["beta"] = beta_slider
    box = widgets.VBox(children)
    box.sliders = sliders  # for tests and for scripting the explorer
    box.redraw = redraw_latent
    box.redraw_beta = redraw_beta
    return box
