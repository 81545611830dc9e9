"""VAEs on MNIST: the test negative ELBO, speed and memory of the course's VAEs against PyTorch's own example.

Rows (each trained in its own fresh Python process, seeded, one after another, on the CPU):

  pytorch-examples  PyTorch's examples/vae/main.py as published: 784-400-20 with a sigmoid decoder,
                    BCE(reduction="sum") + KL, Adam 1e-3, batch 128, torchvision MNIST with ToTensor
                    through a DataLoader, 10 epochs; its test loss as the example computes it
  mlp-torch         our MLPVAE (the same 784-400-20, logits + bernoulli_nll_from_logits), whole tensors
                    in memory (TensorBatchLoader), Adam with a one-cycle rate peaking at 3e-3, 10 epochs,
                    through course_lib.train.fit (experiments.vae.train_vae)
  mlp-torch-sprint  the same MLPVAE for the ratio: a shorter one-cycle schedule (5 epochs, peak 4e-3) that ends
                    where the example's 10 epochs end, as bench/mnist.py's cnn-torch-sprint does for the CNN
  conv-torch        our ConvVAE as shipped (latent 20, channels (16, 32), hidden 256), the same recipe,
                    15 epochs (what tools/train_vae.py trains)
  mlp-keras         the Keras twin of MLPVAE (keras_mlp_vae: compute_loss override), model.fit on NumPy
                    arrays, Adam with a linear warm-up and cosine decay peaking at 3e-3, 10 epochs

Columns:
  params      trainable parameters
  test_nelbo  test negative ELBO per image after the last epoch, grey-level MNIST, BCE summed over the
              pixels plus the KL, one sample of z (the example's own definition of its test loss)
  is_nll      importance-sampled negative log-likelihood (k=100) on the first 1,000 test images, for
              the PyTorch rows of ours (estimate_log_likelihood)
  wall_s      wall time of the training run, per-epoch test evaluations included
  img_per_s   training images per second, counting only the training passes
  s_to_ref    wall time (as wall_s) until the first epoch whose test loss is at or below the
              example's own 10-epoch test loss (from its row in the same run)
  peak_mb     peak resident memory (ru_maxrss) of the row's own process

Prints a table and the ratio "seconds to the example's 10-epoch test loss, example over ours" (aim: at
least 5x) and the targets of issue 11; writes the rows to bench/results/vae.json.

    python bench/vae.py                    # every row, full size
    python bench/vae.py --only pytorch-examples mlp-torch
    python bench/vae.py --quick            # smoke run: 2,000 training images, 1 epoch per row
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import fmt, row_from_child  # noqa: E402 (after the path)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "vae.json"
ROWS = ("pytorch-examples", "mlp-torch", "mlp-torch-sprint", "conv-torch", "mlp-keras")
EXAMPLES_RECIPE = dict(epochs=10, batch_size=128, lr=1e-3)
OUR_RECIPE = dict(batch_size=128, max_lr=3e-3, mlp_epochs=10, conv_epochs=15)
SPRINT_RECIPE = dict(max_lr=4e-3, epochs=5)
IS_SAMPLES, IS_IMAGES = 100, 1000


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


class _Clock:
    """Per-epoch training seconds and test losses; when the reference loss was first reached."""

    def __init__(self, reference: float | None) -> None:
        self.start = time.perf_counter()
        self.reference = reference
        self.train_seconds = 0.0
        self.losses: list[float] = []
        self.walls: list[float] = []
        self.seconds_to_reference: float | None = None

    def epoch_done(self, train_seconds: float, test_loss: float) -> None:
        self.train_seconds += train_seconds
        self.losses.append(test_loss)
        self.walls.append(time.perf_counter() - self.start)
        if self.seconds_to_reference is None and self.reference is not None and test_loss <= self.reference:
            self.seconds_to_reference = time.perf_counter() - self.start

    def row(self, name: str, model: str, framework: str, pipeline: str, images: int, params: int) -> dict:
        epochs = len(self.losses)
        return {
            "row": name,
            "model": model,
            "framework": framework,
            "pipeline": pipeline,
            "epochs": epochs,
            "params": params,
            "test_nelbo": self.losses[-1],
            "nelbo_per_epoch": self.losses,
            "wall_per_epoch": self.walls,
            "wall_s": time.perf_counter() - self.start,
            "train_s": self.train_seconds,
            "img_per_s": images * epochs / self.train_seconds,
            "s_to_ref": self.seconds_to_reference,
        }


# ----------------------------------------------------------------------------- PyTorch's example
def row_pytorch_examples(quick: bool, reference: float | None) -> dict:
    """examples/vae/main.py: its model, loss, loaders and loops as written there (CPU, default arguments)."""
    import torch
    from torch import nn
    from torch.nn import functional as F
    from torchvision import transforms

    from course_lib.data import mnist_torchvision

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 400)
            self.fc21 = nn.Linear(400, 20)
            self.fc22 = nn.Linear(400, 20)
            self.fc3 = nn.Linear(20, 400)
            self.fc4 = nn.Linear(400, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = torch.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce + kld

    r = EXAMPLES_RECIPE
    train_set = mnist_torchvision(True, transforms.ToTensor())
    test_set = mnist_torchvision(False, transforms.ToTensor())
    if quick:
        train_set = torch.utils.data.Subset(train_set, range(2000))
        test_set = torch.utils.data.Subset(test_set, range(1000))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=r["batch_size"], shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=r["batch_size"], shuffle=False)
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=r["lr"])
    clock = _Clock(reference)
    for _ in range(1 if quick else r["epochs"]):
        start = time.perf_counter()
        model.train()
        for data, _ in train_loader:
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        test_loss = 0.0
        with torch.no_grad():
            for data, _ in test_loader:
                recon_batch, mu, logvar = model(data)
                test_loss += loss_function(recon_batch, data, mu, logvar).item()
        clock.epoch_done(seconds, test_loss / len(test_loader.dataset))
    params = sum(p.numel() for p in model.parameters())
    return clock.row(
        "pytorch-examples", "examples/vae VAE", "PyTorch", "torchvision + DataLoader, ToTensor", len(train_set), params
    )


# ----------------------------------------------------------------------------- ours
def _images(quick: bool):
    from course_lib.data import load_mnist

    return load_mnist(train=True, limit=2000 if quick else None)[0], load_mnist(
        train=False, limit=1000 if quick else None
    )[0]


def _row_torch(
    name: str, make, epochs: int, quick: bool, reference: float | None, max_lr: float = OUR_RECIPE["max_lr"]
) -> dict:
    import torch

    from course_lib.data import TensorBatchLoader
    from course_lib.experiments.vae import train_vae
    from course_lib.models import count_parameters
    from course_lib.scratch.vae import vae_loss
    from course_lib.train import Callback, evaluate
    from course_lib.vae_models import estimate_log_likelihood

    x_train, x_test = _images(quick)
    test = TensorBatchLoader(x_test, x_test, batch_size=1000)
    model = make()
    clock = _Clock(reference)

    class TestEachEpoch(Callback):
        def on_epoch_end(self, epoch, model, history):
            clock.epoch_done(history["seconds"][-1], evaluate(model, test, vae_loss)["loss"])
            return False

    epochs = 1 if quick else epochs
    train_vae(
        model,
        x_train,
        epochs,
        max_lr=max_lr,
        batch_size=OUR_RECIPE["batch_size"],
        seed=0,
        device="cpu",
        progress=False,
        callbacks=[TestEachEpoch()],
    )
    row = clock.row(
        name,
        type(model).__name__,
        "PyTorch",
        "whole tensors (TensorBatchLoader), fit",
        len(x_train),
        count_parameters(model),
    )
    k = 10 if quick else IS_SAMPLES
    images = x_test[: 100 if quick else IS_IMAGES]
    row["is_nll"] = -float(
        estimate_log_likelihood(model, images, k=k, generator=torch.Generator().manual_seed(0)).mean()
    )
    row["is_nll_on"] = f"k={k}, first {len(images)} test images"
    return row


def row_mlp_torch(quick: bool, reference: float | None) -> dict:
    from course_lib.vae_models import MLPVAE

    return _row_torch("mlp-torch", MLPVAE, OUR_RECIPE["mlp_epochs"], quick, reference)


def row_mlp_torch_sprint(quick: bool, reference: float | None) -> dict:
    from course_lib.vae_models import MLPVAE

    epochs, max_lr = SPRINT_RECIPE["epochs"], SPRINT_RECIPE["max_lr"]
    return _row_torch("mlp-torch-sprint", MLPVAE, epochs, quick, reference, max_lr=max_lr)


def row_conv_torch(quick: bool, reference: float | None) -> dict:
    from course_lib.experiments.vae import SHIPPED_VAES

    return _row_torch("conv-torch", SHIPPED_VAES["ch09_conv_vae"], OUR_RECIPE["conv_epochs"], quick, reference)


def row_mlp_keras(quick: bool, reference: float | None) -> dict:
    from course_lib.keras_models import to_keras_images
    from course_lib.keras_vae_models import keras_mlp_vae
    from course_lib.tensorflow_setup import load_tensorflow

    keras = load_tensorflow().keras
    keras.utils.set_random_seed(0)
    x_train, x_test = (to_keras_images(x) for x in _images(quick))
    epochs = 1 if quick else OUR_RECIPE["mlp_epochs"]
    steps = epochs * math.ceil(len(x_train) / OUR_RECIPE["batch_size"])
    max_lr = OUR_RECIPE["max_lr"]
    schedule = keras.optimizers.schedules.CosineDecay(
        max_lr / 25,
        decay_steps=steps - int(steps * 0.3),
        alpha=1e-4,
        warmup_target=max_lr,
        warmup_steps=int(steps * 0.3),
    )
    model = keras_mlp_vae(compile=False)
    model.compile(optimizer=keras.optimizers.Adam(schedule))
    clock = _Clock(reference)

    class TestEachEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.started
            clock.epoch_done(seconds, model.evaluate(x_test, batch_size=1000, verbose=0, return_dict=True)["loss"])

    model.fit(x_train, batch_size=OUR_RECIPE["batch_size"], epochs=epochs, verbose=0, callbacks=[TestEachEpoch()])
    row = clock.row(
        "mlp-keras", "keras_mlp_vae", "Keras 3", "NumPy arrays, model.fit", len(x_train), int(model.count_params())
    )
    row["is_nll"] = None
    return row


# ----------------------------------------------------------------------------- driver
def run_row(name: str, quick: bool, reference: float | None) -> dict:
    """Train one row in this process (called in a child process by ``main``)."""
    import torch

    import course_lib  # noqa: F401  (applies the CPU cap to torch's threads)
    from course_lib.reproducibility import seed_everything

    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the first optimizer imports torch._dynamo (seconds)
    seed_everything(0)
    row = globals()["row_" + name.replace("-", "_")](quick, reference)
    row["peak_mb"] = _peak_mb()
    row["threads"] = __import__("torch").get_num_threads()
    return row


def _child(name: str, quick: bool, reference: float | None) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--row", name] + (["--quick"] if quick else [])
    if reference is not None:
        command += ["--reference", repr(reference)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    return row_from_child(name, done)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'row':<17} {'model':<17} {'framework':<9} {'params':>8} {'epochs':>6} {'test -ELBO':>10} "
        f"{'IS NLL':>7} {'wall s':>7} {'img/s':>7} {'s to ref':>8} {'peak MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['row']:<17} FAILED: {r['error']}")
            continue
        print(
            f"{r['row']:<17} {r['model']:<17} {r['framework'][:9]:<9} {r['params']:>8,} {r['epochs']:>6} "
            f"{r['test_nelbo']:>10.2f} {fmt(r.get('is_nll'), '7.2f'):>7} {r['wall_s']:>7.1f} {r['img_per_s']:>7.0f} "
            f"{fmt(r['s_to_ref'], '8.1f'):>8} {r['peak_mb']:>7.0f}"
        )


def check_targets(rows: list[dict], reference: float | None) -> list[str]:
    """Issue 11's targets, each as a line 'PASS/MISS: ...' (only those whose rows were run)."""
    by = {r["row"]: r for r in rows if "error" not in r}
    lines = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'PASS' if ok else 'MISS'}: {text}")

    ours = [by[name] for name in ("mlp-torch", "mlp-torch-sprint", "conv-torch", "mlp-keras") if name in by]
    if ours:
        best = min(ours, key=lambda r: r["test_nelbo"])
        line(
            best["test_nelbo"] < 100, f"best test negative ELBO {best['test_nelbo']:.2f} ({best['row']}) < 100 (aim 95)"
        )
    theirs = by.get("pytorch-examples", {}).get("s_to_ref")
    if reference is not None:
        lines.append(f"reference: the example's 10-epoch test loss, {reference:.2f} (published logs: about 105-107)")
    for name in ("mlp-torch", "mlp-torch-sprint", "conv-torch", "mlp-keras"):
        mine = by.get(name, {}).get("s_to_ref")
        if theirs and mine:
            line(
                theirs / mine >= 5,
                f"seconds to the example's 10-epoch test loss, example over {name}: "
                f"{theirs:.0f} s / {mine:.0f} s = {theirs / mine:.1f}x (aim >= 5x)",
            )
        elif theirs and name in by:
            line(False, f"{name} never reached the example's 10-epoch test loss {reference:.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=ROWS, help="run only these rows")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 training images, 1 epoch each")
    parser.add_argument(
        "--reference",
        type=float,
        default=None,
        help="the test loss whose time-to-reach is measured (default: the example's row, if run)",
    )
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # internal: train one row here
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON rows")
    args = parser.parse_args(argv)

    if args.row:
        print("ROW " + json.dumps(run_row(args.row, args.quick, args.reference)), flush=True)
        return 0

    rows, reference = [], args.reference
    names = args.only or ROWS
    for name in sorted(names, key=ROWS.index):  # the example first: its last test loss is the reference
        print(f"training {name} ...", file=sys.stderr, flush=True)
        row = _child(name, args.quick, reference)
        rows.append(row)
        if name == "pytorch-examples" and "error" not in row and args.reference is None:
            reference = row["test_nelbo"]
            # its own time to its own last loss: the first epoch at or below it
            row["s_to_ref"] = next(w for w, v in zip(row["wall_per_epoch"], row["nelbo_per_epoch"]) if v <= reference)
    print_table(rows)
    targets = check_targets(rows, reference)
    for text in targets:
        print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "processor": platform.processor() or platform.machine(),
                },
                "quick": args.quick,
                "reference": reference,
                "rows": rows,
                "targets": targets,
            },
            indent=2,
        )
    )
    print(f"rows written to {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
