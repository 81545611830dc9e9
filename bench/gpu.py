"""Check course_lib's GPU paths on a real GPU and time them: device choice, mixed precision, channels-last.

Trains the MNIST SmallCNN with ``fit`` on the best device four ways (mixed precision on/off,
channels-last on/off) and prints, for each, the seconds per epoch after a warm-up epoch, the
test accuracy, and the dtype the convolutions really ran in. On a machine without a GPU it
says so and exits.

    python bench/gpu.py [--epochs 3] [--batch-size 256]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from course_lib import device_info, evaluate, fit, get_device, seed_everything
from course_lib.data import TensorBatchLoader, load_mnist
from course_lib.device import DeviceNotAvailableError
from course_lib.models import SmallCNN

RESULTS = Path(__file__).resolve().parent / "results" / "gpu.json"


def conv_dtype(model: nn.Module, x: torch.Tensor, mixed_precision: bool) -> str:
    """The dtype the first convolution produces inside fit's autocast region."""
    from course_lib.device import autocast_for

    seen = []
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    handle = conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    with torch.no_grad(), autocast_for(x.device, mixed_precision):
        model.eval()(x[:2])
    handle.remove()
    return str(seen[0]).replace("torch.", "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    device = get_device()
    info = device_info()
    print(f"torch {info['torch']}, best device {device}, GPUs: {info.get('gpus', 'none')}")
    if device.type != "cuda":
        print("No CUDA GPU here: nothing to check.")
        return 0
    try:
        get_device(f"cuda:{torch.cuda.device_count()}")
    except DeviceNotAvailableError as error:
        print(f"asking for a GPU that is not there: {error}")

    x_train, y_train = load_mnist(train=True)
    x_test, y_test = load_mnist(train=False)
    test = TensorBatchLoader(x_test, y_test, batch_size=1024, device=device)
    rows = []
    print(f"\n{'mixed precision':<16} {'channels-last':<14} {'conv dtype':<10} {'s/epoch':>8} {'test acc':>9}")
    for mixed in (False, True):
        for channels_last in (False, True):
            seed_everything(0)
            model = SmallCNN().to(device)
            train = TensorBatchLoader(x_train, y_train, batch_size=args.batch_size, shuffle=True, device=device,
                                      generator=torch.Generator().manual_seed(0))
            optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
            history = fit(model, train, nn.functional.cross_entropy, optimizer, epochs=args.epochs, device=device,
                          mixed_precision=mixed, channels_last=channels_last, progress=False)
            torch.cuda.synchronize()
            per_epoch = sum(history["seconds"][1:]) / max(1, len(history["seconds"]) - 1)  # skip the warm-up epoch
            accuracy = evaluate(model, test, device=device)["accuracy"]
            dtype = conv_dtype(model, x_test.to(device), mixed)
            # The last conv's weight: the first has one input channel, and with a dimension of size 1
            # both layouts have the same strides, so it reads as both contiguous and channels-last.
            weight = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1].weight
            memory_format = "channels_last" if weight.is_contiguous(memory_format=torch.channels_last) else "contiguous"
            rows.append({"mixed_precision": mixed, "channels_last": channels_last, "conv_dtype": dtype,
                         "weight_memory_format": memory_format, "seconds_per_epoch": round(per_epoch, 2),
                         "test_accuracy": round(accuracy, 4), "gpu": info["gpus"][0]["name"], "torch": info["torch"]})
            print(f"{str(mixed):<16} {str(channels_last):<14} {dtype:<10} {per_epoch:>8.2f} {accuracy:>9.4f}"
                  f"  ({memory_format})", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
