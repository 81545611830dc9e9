"""Check course_lib's GPU paths on a real GPU and time them: device choice, mixed precision, channels-last.

Trains the MNIST SmallCNN with ``fit`` on the best device four ways (mixed precision on/off,
channels-last on/off) and prints, for each, the seconds per epoch after a warm-up epoch, the
images per second, the test accuracy, and the dtype the convolutions really ran in. A fifth row
repeats the fastest settings with a callback that reads every batch's loss (``on_batch_end``),
which makes fit wait for the GPU after every batch as the loop did before it kept its sums on the
device: the difference between the two rows is what those waits cost. Writes the rows to
bench/results/gpu.json (or ``--output``).

On a machine without a GPU it says so and exits, unless ``--cpu`` asks to run the same rows on
the CPU (to check the script itself; the timings then mean nothing for a GPU).

    python bench/gpu.py [--epochs 3] [--batch-size 256] [--quick] [--cpu] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from course_lib import device_info, get_device, seed_everything
from course_lib.data import TensorBatchLoader, load_mnist
from course_lib.device import DeviceNotAvailableError, autocast_for
from course_lib.models import SmallCNN
from course_lib.train import Callback, evaluate, fit

RESULTS = Path(__file__).resolve().parent / "results" / "gpu.json"


class ReadEveryLoss(Callback):
    """Defines on_batch_end, so fit reads each batch's loss back: one wait for the device per batch."""

    def on_batch_end(self, loss: float) -> None:
        pass


def conv_dtype(model: nn.Module, x: torch.Tensor, mixed_precision: bool) -> str:
    """The dtype the first convolution produces inside fit's autocast region."""
    seen = []
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    handle = conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with torch.no_grad(), autocast_for(x.device, mixed_precision):
        model.eval()(x[:2])
    handle.remove()
    return str(seen[0]).replace("torch.", "")


def weight_memory_format(model: nn.Module) -> str:
    # The last conv's weight: the first has one input channel, and with a dimension of size 1
    # both layouts have the same strides, so it reads as both contiguous and channels-last.
    weight = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1].weight
    return "channels_last" if weight.is_contiguous(memory_format=torch.channels_last) else "contiguous"


def run_row(
    device: torch.device, data: dict, args: argparse.Namespace, mixed: bool, channels_last: bool, read_every_loss: bool
) -> dict:
    seed_everything(0)
    model = SmallCNN().to(device)
    x_train, y_train = data["train"]
    train = TensorBatchLoader(
        x_train,
        y_train,
        batch_size=args.batch_size,
        shuffle=True,
        device=device,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    callbacks = [ReadEveryLoss()] if read_every_loss else []
    history = fit(
        model,
        train,
        nn.functional.cross_entropy,
        optimizer,
        epochs=args.epochs,
        device=device,
        mixed_precision=mixed,
        channels_last=channels_last,
        callbacks=callbacks,
        progress=False,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    timed = history["seconds"][1:] or history["seconds"]  # skip the warm-up epoch when there is another
    per_epoch = sum(timed) / len(timed)
    test = TensorBatchLoader(*data["test"], batch_size=1024, device=device)
    return {
        "mixed_precision": mixed,
        "channels_last": channels_last,
        "reads_every_loss": read_every_loss,
        "conv_dtype": conv_dtype(model, data["test"][0].to(device), mixed),
        "weight_memory_format": weight_memory_format(model),
        "seconds_per_epoch": round(per_epoch, 3),
        "images_per_second": round(len(x_train) / per_epoch),
        "test_accuracy": round(evaluate(model, test, device=device)["accuracy"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--quick", action="store_true", help="256 training images and 2 epochs: checks the script")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU when there is no GPU (checks the script)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs = 2
    device = get_device()
    info = device_info()
    print(f"torch {info['torch']}, best device {device}, GPUs: {info.get('gpus', 'none')}")
    if device.type != "cuda":
        if not args.cpu:
            print("No CUDA GPU here: nothing to check (pass --cpu to run the rows on the CPU anyway).")
            return 0
        device = get_device("cpu")
    else:
        try:
            get_device(f"cuda:{torch.cuda.device_count()}")
        except DeviceNotAvailableError as error:
            print(f"asking for a GPU that is not there: {error}")

    data = {
        "train": load_mnist(train=True, limit=256 if args.quick else None),
        "test": load_mnist(train=False, limit=256 if args.quick else None),
    }
    settings = [(mixed, channels_last, False) for mixed in (False, True) for channels_last in (False, True)]
    settings.append((True, True, True))
    header = (
        f"{'mixed precision':<16} {'channels-last':<14} {'reads every loss':<17} {'conv dtype':<10} "
        f"{'s/epoch':>8} {'images/s':>9} {'test acc':>9}  weights"
    )
    print("\n" + header)
    rows = []
    for mixed, channels_last, read_every_loss in settings:
        started = time.perf_counter()
        row = run_row(device, data, args, mixed, channels_last, read_every_loss)
        row |= {
            "device": str(device),
            "gpu": info["gpus"][0]["name"] if device.type == "cuda" else None,
            "torch": info["torch"],
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "train_images": len(data["train"][1]),
            "wall_s": round(time.perf_counter() - started, 2),
        }
        rows.append(row)
        print(
            f"{mixed!s:<16} {channels_last!s:<14} {read_every_loss!s:<17} {row['conv_dtype']:<10} "
            f"{row['seconds_per_epoch']:>8.2f} {row['images_per_second']:>9} {row['test_accuracy']:>9.4f}  "
            f"{row['weight_memory_format']}",
            flush=True,
        )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
