"""MNIST: accuracy, speed and memory of the course's models against the usual tutorial way.

Rows (each trained in its own fresh Python process, seeded, one after another):

  mlp-torch        our MLP, whole tensors in memory (TensorBatchLoader), one-cycle AdamW
  mlp-torch-contended  the same row while a second process trains the same MLP beside it (two
                   notebooks training at once, a shared classroom server); compare its wall_s with
                   mlp-torch's
  mlp-keras        its Keras twin, model.fit on NumPy arrays, the same recipe
  mlp-torchvision  the same MLP and recipe fed the usual way: torchvision MNIST, ToTensor +
                   Normalize per item, torch.utils.data.DataLoader
  cnn-torch        our SmallCNN, one-cycle SGD with batch augmentation (RandomAffine), 5 epochs
  cnn-torch-sprint the same network, no augmentation, a 1-epoch one-cycle schedule (a sprint)
  cnn-keras        the Keras twin of cnn-torch (Keras' random rotation/translation/zoom layers)
  pytorch-examples the CNN recipe of PyTorch's examples/mnist (conv32-conv64-pool-dropout-fc128-
                   dropout-fc10, Adadelta lr=1.0, StepLR gamma=0.7, batch 64, DataLoader with
                   ToTensor + Normalize), trained until the test accuracy reaches 99.0%

Every row evaluates on the 10,000 test images after each epoch. Columns:
  test_acc      test accuracy after the last epoch
  wall_s        wall time of the whole training run, per-epoch test evaluations included
                (data loading and model building excluded)
  img_per_s     training images per second, counting only the training passes
  s_to_99       wall time (as wall_s) until the first epoch whose test accuracy is >= 99.0%
  peak_mb       peak resident memory (ru_maxrss) of the row's own process: Python, the framework
                (about 0.65 GB for torch; the Keras rows load TensorFlow *and* torch, because the
                data comes through course_lib), the data and the training

The targets of issue 4 are checked at the end. Prints a table; writes the rows to
bench/results/mnist.json.

    python bench/mnist.py                      # every row, full size (about 10 minutes alone on 2 cores)
    python bench/mnist.py --only mlp-torch cnn-torch
    python bench/mnist.py --quick              # smoke run: 2,000 training images, 1 epoch per row
    python bench/mnist.py --quick --only mlp-torch mlp-torch-contended   # the contended row, quickly
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rows import fmt, row_from_child  # noqa: E402 (after the path)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mnist.json"
ROWS = (
    "mlp-torch",
    "mlp-torch-contended",
    "mlp-keras",
    "mlp-torchvision",
    "cnn-torch",
    "cnn-torch-sprint",
    "cnn-keras",
    "pytorch-examples",
)
TARGET = 0.99  # the accuracy whose time-to-reach we compare

# The recipes: epochs, batch size and learning rates shared by a model's PyTorch and Keras rows.
MLP_RECIPE = dict(epochs=12, batch_size=128, max_lr=3e-3, weight_decay=1e-4, dropout=0.2)
CNN_RECIPE = dict(
    epochs=5,
    batch_size=128,
    max_lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    degrees=10.0,
    translate=0.08,
    scale=(0.9, 1.1),
)
EXAMPLES_RECIPE = dict(max_epochs=14, batch_size=64, test_batch_size=1000, lr=1.0, gamma=0.7)


def _peak_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


class _Clock:
    """Collects per-epoch training seconds and test accuracies; knows when TARGET was first reached."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.train_seconds = 0.0
        self.accuracies: list[float] = []
        self.seconds_to_target: float | None = None

    def epoch_done(self, train_seconds: float, test_accuracy: float) -> None:
        self.train_seconds += train_seconds
        self.accuracies.append(test_accuracy)
        if self.seconds_to_target is None and test_accuracy >= TARGET:
            self.seconds_to_target = time.perf_counter() - self.start

    def row(self, name: str, model: str, framework: str, pipeline: str, images: int) -> dict:
        epochs = len(self.accuracies)
        return {
            "row": name,
            "model": model,
            "framework": framework,
            "pipeline": pipeline,
            "epochs": epochs,
            "test_acc": self.accuracies[-1],
            "accuracy_per_epoch": self.accuracies,
            "wall_s": time.perf_counter() - self.start,
            "train_s": self.train_seconds,
            "img_per_s": images * epochs / self.train_seconds,
            "s_to_99": self.seconds_to_target,
        }


# ----------------------------------------------------------------------------- PyTorch rows
def _torch_tensors(quick: bool):
    from course_lib.data import load_mnist, normalize_mnist

    x_train, y_train = load_mnist(train=True, limit=2000 if quick else None)
    x_test, y_test = load_mnist(train=False, limit=1000 if quick else None)
    return normalize_mnist(x_train), y_train, normalize_mnist(x_test), y_test  # as transforms.Normalize does


def _fit_torch(
    name: str,
    model,
    train,
    test,
    optimizer,
    scheduler,
    epochs: int,
    images: int,
    pipeline: str,
    channels_last: bool = False,
) -> dict:
    import torch.nn.functional as F

    from course_lib.train import Callback, evaluate, fit

    clock = _Clock()

    class TestEachEpoch(Callback):
        def on_epoch_end(self, epoch, model, history):
            clock.epoch_done(history["seconds"][-1], evaluate(model, test)["accuracy"])
            return False

    fit(
        model,
        train,
        F.cross_entropy,
        optimizer,
        epochs,
        scheduler=scheduler,
        callbacks=[TestEachEpoch()],
        progress=False,
        device="cpu",
        channels_last=channels_last,
    )
    return clock.row(name, type(model).__name__, "PyTorch", pipeline, images)


def row_mlp_torch(quick: bool) -> dict:
    import torch

    from course_lib.data import TensorBatchLoader
    from course_lib.models import MLP

    r = MLP_RECIPE
    x_train, y_train, x_test, y_test = _torch_tensors(quick)
    epochs = 1 if quick else r["epochs"]
    train = TensorBatchLoader(
        x_train, y_train, batch_size=r["batch_size"], shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    test = TensorBatchLoader(x_test, y_test, batch_size=1000)
    model = MLP(dropout=r["dropout"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=r["max_lr"], weight_decay=r["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=r["max_lr"], total_steps=epochs * len(train))
    return _fit_torch(
        "mlp-torch", model, train, test, optimizer, scheduler, epochs, len(x_train), "whole tensors (TensorBatchLoader)"
    )


def row_mlp_torch_contended(quick: bool) -> dict:
    """mlp-torch again; ``_child`` keeps a second process training beside it (``train_forever``)."""
    row = row_mlp_torch(quick)
    row["row"], row["pipeline"] = "mlp-torch-contended", row["pipeline"] + ", a second process training beside it"
    return row


def train_forever(quick: bool) -> None:
    """The contended row's neighbour: trains the MLP recipe epoch after epoch until it is stopped."""
    import torch
    import torch.nn.functional as F

    from course_lib.data import TensorBatchLoader
    from course_lib.models import MLP
    from course_lib.train import fit

    x_train, y_train, _, _ = _torch_tensors(quick)
    train = TensorBatchLoader(x_train, y_train, batch_size=MLP_RECIPE["batch_size"], shuffle=True)
    model = MLP(dropout=MLP_RECIPE["dropout"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=MLP_RECIPE["max_lr"])
    print("TRAINING", flush=True)
    while True:
        fit(model, train, F.cross_entropy, optimizer, 1, progress=False, device="cpu")


def _torchvision_loaders(quick: bool, batch_size: int, test_batch_size: int):
    import torch
    from torchvision import transforms

    from course_lib.data import MNIST_MEAN, MNIST_STD, mnist_torchvision

    # torchvision's per-image twin of normalize_mnist: the same two constants, applied item by item
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    train_set, test_set = mnist_torchvision(True, transform), mnist_torchvision(False, transform)
    if quick:
        train_set = torch.utils.data.Subset(train_set, range(2000))
        test_set = torch.utils.data.Subset(test_set, range(1000))
    train = torch.utils.data.DataLoader(
        train_set, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    test = torch.utils.data.DataLoader(test_set, batch_size=test_batch_size)
    return train, test, len(train_set)


def row_mlp_torchvision(quick: bool) -> dict:
    import torch

    from course_lib.models import MLP

    r = MLP_RECIPE
    train, test, n = _torchvision_loaders(quick, r["batch_size"], 1000)
    epochs = 1 if quick else r["epochs"]
    model = MLP(dropout=r["dropout"])
    optimizer = torch.optim.AdamW(model.parameters(), lr=r["max_lr"], weight_decay=r["weight_decay"])
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=r["max_lr"], total_steps=epochs * len(train))
    return _fit_torch(
        "mlp-torchvision",
        model,
        train,
        test,
        optimizer,
        scheduler,
        epochs,
        n,
        "torchvision + DataLoader, per-item ToTensor/Normalize",
    )


def _row_cnn_torch(quick: bool, name: str, epochs: int, augment: bool) -> dict:
    import torch

    from course_lib.augment import RandomAffine
    from course_lib.data import MNIST_BACKGROUND, TensorBatchLoader
    from course_lib.models import SmallCNN

    r = CNN_RECIPE
    x_train, y_train, x_test, y_test = _torch_tensors(quick)
    epochs = 1 if quick else epochs
    transform = None
    if augment:
        transform = RandomAffine(
            r["degrees"], r["translate"], r["scale"], fill=MNIST_BACKGROUND, generator=torch.Generator().manual_seed(1)
        )
    train = TensorBatchLoader(
        x_train,
        y_train,
        batch_size=r["batch_size"],
        shuffle=True,
        transform=transform,
        generator=torch.Generator().manual_seed(0),
    )
    test = TensorBatchLoader(x_test, y_test, batch_size=1000)
    model = SmallCNN()
    optimizer = torch.optim.SGD(
        model.parameters(), lr=r["max_lr"], momentum=r["momentum"], nesterov=True, weight_decay=r["weight_decay"]
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=r["max_lr"], total_steps=epochs * len(train), pct_start=0.25
    )
    # channels-last memory: on this x86 CPU it made SmallCNN's training steps about 1.4x faster (12.6 s
    # against 17.5 s an epoch, idle machine); fit leaves it off on CPUs by default (see README, Measured).
    pipeline = "whole tensors, channels-last" + (" + RandomAffine" if augment else "")
    return _fit_torch(
        name, model, train, test, optimizer, scheduler, epochs, len(x_train), pipeline, channels_last=True
    )


def row_cnn_torch(quick: bool) -> dict:
    return _row_cnn_torch(quick, "cnn-torch", CNN_RECIPE["epochs"], augment=True)


def row_cnn_torch_sprint(quick: bool) -> dict:
    return _row_cnn_torch(quick, "cnn-torch-sprint", 1, augment=False)


def row_pytorch_examples(quick: bool) -> dict:
    """PyTorch's examples/mnist/main.py, its model and loops as written there (CPU, default arguments)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.optim.lr_scheduler import StepLR

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 32, 3, 1)
            self.conv2 = nn.Conv2d(32, 64, 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(9216, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    r = EXAMPLES_RECIPE
    train_loader, test_loader, n = _torchvision_loaders(quick, r["batch_size"], r["test_batch_size"])
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=r["lr"])
    scheduler = StepLR(optimizer, step_size=1, gamma=r["gamma"])
    clock = _Clock()
    for _ in range(1 if quick else r["max_epochs"]):
        start = time.perf_counter()
        model.train()
        for data, target in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        model.eval()
        correct = 0
        with torch.no_grad():
            for data, target in test_loader:
                correct += model(data).argmax(dim=1).eq(target).sum().item()
        scheduler.step()
        clock.epoch_done(seconds, correct / len(test_loader.dataset))
        if clock.seconds_to_target is not None:
            break
    return clock.row("pytorch-examples", "examples/mnist Net", "PyTorch", "torchvision + DataLoader (batch 64)", n)


# ----------------------------------------------------------------------------- Keras rows
def _keras_arrays(quick: bool):
    from course_lib.keras_models import keras_mnist

    x_train, y_train, x_test, y_test = _torch_tensors(quick)
    return (*keras_mnist(x_train, y_train), *keras_mnist(x_test, y_test))


def _fit_keras(name: str, model, model_name: str, arrays, epochs: int, batch_size: int, pipeline: str) -> dict:
    from course_lib.tensorflow_setup import load_tensorflow

    keras = load_tensorflow().keras
    x_train, y_train, x_test, y_test = arrays
    clock = _Clock()

    class TestEachEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self.start
            accuracy = self.model.evaluate(x_test, y_test, batch_size=1000, verbose=0)[1]
            clock.epoch_done(seconds, float(accuracy))

    model.fit(
        x_train, y_train, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0, callbacks=[TestEachEpoch()]
    )
    return clock.row(name, model_name, "Keras " + keras.__version__, pipeline, len(x_train))


def _warmup_cosine(keras, max_lr: float, total_steps: int, warmup_fraction: float):
    """Keras' nearest to one-cycle: linear warm-up to ``max_lr``, then cosine decay to near 0."""
    warmup = max(1, int(total_steps * warmup_fraction))
    return keras.optimizers.schedules.CosineDecay(
        max_lr / 25, decay_steps=total_steps - warmup, alpha=1e-4, warmup_target=max_lr, warmup_steps=warmup
    )


def row_mlp_keras(quick: bool) -> dict:
    from course_lib.keras_models import compile_classifier, keras_mlp
    from course_lib.reproducibility import seed_everything
    from course_lib.tensorflow_setup import load_tensorflow

    keras = load_tensorflow().keras
    seed_everything(0)  # now that TensorFlow is loaded, seed it too
    r = MLP_RECIPE
    arrays = _keras_arrays(quick)
    epochs = 1 if quick else r["epochs"]
    steps = epochs * -(-len(arrays[0]) // r["batch_size"])
    model = keras_mlp(dropout=r["dropout"], compile=False)
    optimizer = keras.optimizers.AdamW(_warmup_cosine(keras, r["max_lr"], steps, 0.3), weight_decay=r["weight_decay"])
    compile_classifier(model, optimizer=optimizer)
    return _fit_keras("mlp-keras", model, "keras_mlp", arrays, epochs, r["batch_size"], "NumPy arrays, model.fit")


def row_cnn_keras(quick: bool) -> dict:
    from course_lib.data import MNIST_BACKGROUND
    from course_lib.keras_models import compile_classifier, keras_small_cnn
    from course_lib.reproducibility import seed_everything
    from course_lib.tensorflow_setup import load_tensorflow

    keras = load_tensorflow().keras
    seed_everything(0)
    r = CNN_RECIPE
    arrays = _keras_arrays(quick)
    epochs = 1 if quick else r["epochs"]
    steps = epochs * -(-len(arrays[0]) // r["batch_size"])
    background = MNIST_BACKGROUND
    L = keras.layers
    augment = [  # active only in training, like a transform on the training loader
        L.RandomRotation(r["degrees"] / 360, fill_mode="constant", fill_value=background),
        L.RandomTranslation(r["translate"], r["translate"], fill_mode="constant", fill_value=background),
        L.RandomZoom((-0.1, 0.1), fill_mode="constant", fill_value=background),
    ]
    model = keras.Sequential([keras.Input((28, 28, 1)), *augment, keras_small_cnn(compile=False)])
    optimizer = keras.optimizers.SGD(
        _warmup_cosine(keras, r["max_lr"], steps, 0.25),
        momentum=r["momentum"],
        nesterov=True,
        weight_decay=r["weight_decay"],
    )
    compile_classifier(model, optimizer=optimizer)
    return _fit_keras(
        "cnn-keras",
        model,
        "keras_small_cnn",
        arrays,
        epochs,
        r["batch_size"],
        "NumPy arrays + Keras random rotation/translation/zoom layers",
    )


# ----------------------------------------------------------------------------- driver
def run_row(name: str, quick: bool) -> dict:
    """Train one row in this process (called in a child process by ``main``)."""
    import course_lib  # applies the CPU cap to torch's threads
    from course_lib.reproducibility import seed_everything

    seed_everything(0)
    row = globals()["row_" + name.replace("-", "_")](quick)
    row["peak_mb"] = _peak_mb()
    row["threads"] = __import__("torch").get_num_threads()
    return row


def _child(name: str, quick: bool) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--row", name] + (["--quick"] if quick else [])
    neighbour = None
    if name.endswith("-contended"):  # start the second training process first, and wait until it trains
        neighbour = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--train-forever"] + (["--quick"] if quick else []),
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        neighbour.stdout.readline()
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return row_from_child(name, done)


def print_table(rows: list[dict]) -> None:
    header = (
        f"{'row':<20} {'model':<19} {'framework':<12} {'epochs':>6} {'test acc':>8} {'wall s':>7} "
        f"{'img/s':>8} {'s to 99%':>8} {'peak MB':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['row']:<20} FAILED: {r['error']}")
            continue
        print(
            f"{r['row']:<20} {r['model']:<19} {r['framework'][:12]:<12} {r['epochs']:>6} {r['test_acc']:>8.2%} "
            f"{r['wall_s']:>7.1f} {r['img_per_s']:>8.0f} {fmt(r['s_to_99'], '8.1f'):>8} {r['peak_mb']:>8.0f}"
        )


def contention_target(rows: list[dict]) -> list[str]:
    """Issue 9's aim for a shared machine, 'PASS/MISS: ...', if both MLP rows ran (quick runs too)."""
    by = {r["row"]: r for r in rows if "error" not in r}
    if "mlp-torch" not in by or "mlp-torch-contended" not in by:
        return []
    alone, beside = by["mlp-torch"]["wall_s"], by["mlp-torch-contended"]["wall_s"]
    return [
        f"{'PASS' if beside / alone <= 2.5 else 'MISS'}: MLP with a second process training beside it: "
        f"{beside:.1f} s against {alone:.1f} s alone = {beside / alone:.1f}x (aim <= 2.5x)"
    ]


def check_targets(rows: list[dict]) -> list[str]:
    """The issue's targets, each as a line 'PASS/MISS: ...' (only those whose rows were run)."""
    by = {r["row"]: r for r in rows if "error" not in r}
    lines = []

    def line(ok: bool, text: str) -> None:
        lines.append(f"{'PASS' if ok else 'MISS'}: {text}")

    if "mlp-torch" in by:
        line(
            by["mlp-torch"]["test_acc"] >= 0.98,
            f"MLP (PyTorch) test accuracy {by['mlp-torch']['test_acc']:.2%} >= 98.0%",
        )
    if "cnn-torch" in by:
        line(by["cnn-torch"]["test_acc"] >= 0.992, f"SmallCNN test accuracy {by['cnn-torch']['test_acc']:.2%} >= 99.2%")
    for torch_row, keras_row in (("mlp-torch", "mlp-keras"), ("cnn-torch", "cnn-keras")):
        if torch_row in by and keras_row in by:
            gap = abs(by[torch_row]["test_acc"] - by[keras_row]["test_acc"]) * 100
            line(gap <= 0.5, f"{keras_row} within 0.5 points of {torch_row}: {gap:.2f} points apart")
    lines += contention_target(rows)
    if "mlp-torch" in by and "mlp-torchvision" in by:
        ratio = by["mlp-torch"]["img_per_s"] / by["mlp-torchvision"]["img_per_s"]
        line(ratio >= 3, f"MLP training images/s, whole tensors over torchvision DataLoader: {ratio:.1f}x (aim >= 3x)")
    theirs = by.get("pytorch-examples", {}).get("s_to_99")
    for ours in ("cnn-torch-sprint", "cnn-torch"):
        mine = by.get(ours, {}).get("s_to_99")
        if theirs and mine:
            line(
                theirs / mine >= 5,
                f"time to 99.0% test accuracy, examples/mnist over {ours}: "
                f"{theirs:.0f} s / {mine:.0f} s = {theirs / mine:.1f}x (aim >= 5x, 10x reachable)",
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=ROWS, help="run only these rows")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 training images, 1 epoch each")
    parser.add_argument("--row", choices=ROWS, help=argparse.SUPPRESS)  # internal: train one row here
    parser.add_argument("--train-forever", action="store_true", help=argparse.SUPPRESS)  # internal: the neighbour
    parser.add_argument("--output", type=Path, default=RESULTS, help="where to write the JSON rows")
    args = parser.parse_args(argv)

    if args.row:
        print("ROW " + json.dumps(run_row(args.row, args.quick)), flush=True)
        return 0
    if args.train_forever:
        import course_lib  # noqa: F401 (the course's thread settings, as run_row has them)

        train_forever(args.quick)

    rows = []
    for name in args.only or ROWS:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        rows.append(_child(name, args.quick))
    print_table(rows)
    targets = contention_target(rows) if args.quick else check_targets(rows)
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
