"""Train the VAEs chapter 09 ships, reproducibly from a seed, and write them to data/weights/.

    python tools/train_vae.py                       # all three files
    python tools/train_vae.py --only ch09_vae_2d    # one of them
    python tools/train_vae.py --epochs-scale 0.1    # a quick trial run (does not match the recorded digests)

Files (each registered in ``course_lib.checkpoint.SHIPPED_WEIGHTS`` with its SHA-256):

- ``ch09_conv_vae``: ``ConvVAE(latent_dim=20, channels=(16, 32), hidden=256)``, the chapter's good VAE
  (reconstructions, samples, interpolation, the importance-sampled likelihood). Half the default
  channels: less than half the work (23 s of one core per training epoch against 51 s, measured
  here), so that it trains on a shared 2-core CPU in reasonable time;
- ``ch09_vae_2d``: ``MLPVAE(latent_dim=2, hidden=400)``, the latent plane the explorer walks;
- ``ch09_beta_sweep``: not weights but precomputed results: ``MLPVAE(latent_dim=10, hidden=256)``
  trained once per beta, with its test reconstruction and KL terms, KL per dimension, active units,
  8 reconstructions and 16 prior samples (float16 images), for the explorer's beta slider.

Everything goes through ``course_lib.experiments.vae.train_vae`` (that is, ``course_lib.train.fit``:
Adam, a one-cycle learning rate, batches in an order drawn from the seed) on the 60,000 training
images, on the CPU with one thread, so that the same command gives the same files on the same
machine. Weights are stored as float16, which halves the files; the test negative ELBO printed
is measured on the weights as loaded back from the file, float16 rounding included. Each model's time and test negative ELBO (nats per image, one
sample of z, PyTorch examples/vae's definition) are printed, and the SHA-256 lines to paste
into ``SHIPPED_WEIGHTS``.

The shipped files, made on a shared 2-core machine under heavy load (nice 10; wall times are
several times what an idle laptop takes): ch09_vae_2d 10 epochs in 405 s, test -ELBO 154.48;
ch09_beta_sweep 7 models x 5 epochs in 1072 s (beta 1: 114.1, 10 of 10 units active; beta 16:
182.0, 4 of 10); ch09_conv_vae 15 epochs in 1463 s, test -ELBO 96.87 = 74.19 + KL 22.68,
15 of 20 units active.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import course_lib  # noqa: E402,F401  (sets the thread environment before torch is used)
from course_lib.checkpoint import load_weights, save_weights  # noqa: E402
from course_lib.config import data_dir  # noqa: E402
from course_lib.data import load_mnist  # noqa: E402
from course_lib.experiments.vae import SHIPPED_VAES, run_beta_sweep, train_vae, vae_summary  # noqa: E402
from course_lib.models import count_parameters  # noqa: E402
from course_lib.reproducibility import seed_everything  # noqa: E402

SEED = 0
#: Epochs of each file; the one-cycle schedule is stretched over them.
EPOCHS = {"ch09_vae_2d": 10, "ch09_beta_sweep": 5, "ch09_conv_vae": 15}
BETAS = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
MAX_LR = 3e-3


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_model(name: str, model: torch.nn.Module, metadata: dict[str, str]) -> Path:
    """Save ``model`` as float16 safetensors, load it back into a float32 copy, return the path."""
    path = data_dir() / "weights" / f"{name}.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_weights(path, copy.deepcopy(model).half(), metadata=metadata)
    return path


def train_model(name: str, epochs: int, train_x: torch.Tensor, test_x: torch.Tensor) -> None:
    seed_everything(SEED)
    model = SHIPPED_VAES[name]()
    start = time.perf_counter()
    train_vae(model, train_x, epochs, max_lr=MAX_LR, seed=SEED, device="cpu", progress=False)
    seconds = time.perf_counter() - start
    path = _write_model(
        name,
        model,
        {"epochs": str(epochs), "seed": str(SEED), "max_lr": str(MAX_LR), "made_by": "python tools/train_vae.py"},
    )
    loaded = SHIPPED_VAES[name]()
    load_weights(path, loaded)
    summary = vae_summary(loaded.eval(), test_x, seed=SEED)
    print(
        f"{name}: {count_parameters(model):,} parameters, {epochs} epochs in {seconds:.0f} s; test {summary}",
        flush=True,
    )
    print(f"    {path.relative_to(data_dir())}  {path.stat().st_size:,} bytes  sha256 {_sha256(path)}", flush=True)


def train_sweep(epochs: int, train_x: torch.Tensor, test_x: torch.Tensor) -> None:
    from safetensors.torch import save_file

    start = time.perf_counter()
    sweep = run_beta_sweep(BETAS, train_x, test_x, epochs, seed=SEED, progress=False)
    seconds = time.perf_counter() - start
    path = data_dir() / "weights" / "ch09_beta_sweep.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        sweep.to_tensors(),
        str(path),
        metadata={"epochs": str(epochs), "seed": str(SEED), "made_by": "python tools/train_vae.py"},
    )
    print(f"ch09_beta_sweep: {len(BETAS)} models x {epochs} epochs in {seconds:.0f} s", flush=True)
    print(sweep.table(), flush=True)
    print(f"    {path.relative_to(data_dir())}  {path.stat().st_size:,} bytes  sha256 {_sha256(path)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(EPOCHS), default=list(EPOCHS))
    parser.add_argument("--epochs-scale", type=float, default=1.0, help="multiply every epoch count (trials)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--train-limit", type=int, default=None, help="fewer training images (trials)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_x, _ = load_mnist(train=True, limit=args.train_limit)
    test_x, _ = load_mnist(train=False)
    for name in args.only:
        epochs = max(1, math.ceil(EPOCHS[name] * args.epochs_scale))
        if name == "ch09_beta_sweep":
            train_sweep(epochs, train_x, test_x)
        else:
            train_model(name, epochs, train_x, test_x)


if __name__ == "__main__":
    main()
