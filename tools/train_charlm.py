"""Train the character model chapter 08 ships (data/weights/<name>.safetensors), reproducibly from a seed.

The notebook trains its own model for a few minutes; this script trains the same kind of model
(``course_lib.charlm.SHIPPED_CHAR_LM``: its sizes and recipe) for much longer, so the chapter
can show what more training buys without a learner waiting half an hour. It goes through
``course_lib.train.fit`` like the notebook: ``StatefulLM`` over a ``StreamLoader`` (truncated
back-propagation through time, the hidden state carried between windows), AdamW with a short
warm-up and then a learning rate halved every ``half_life_steps`` steps, gradient clipping by norm.
After every epoch it measures the validation loss on nanoGPT's split with ``evaluate_char_lm`` and
writes the weights (safetensors, float32) with the recipe, the loss and the training time in the
file's metadata, and prints the SHA-256 to record in ``course_lib.checkpoint.SHIPPED_WEIGHTS``.
The schedule depends on the step only, not on the number of epochs, so the file written after
epoch k is exactly what ``--epochs k`` produces: a run stopped early still leaves a reproducible file.

    python tools/train_charlm.py                  # the shipped model (about 25 minutes on 1 CPU thread)
    python tools/train_charlm.py --epochs 1 --limit 200000 --out /tmp/x.safetensors   # a smoke run

Same seed, same torch version, same CPU thread count: the same weights, bit for bit (the
digest may differ on another CPU or torch version; the loss, to about 0.01).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import course_lib  # noqa: E402,F401  (first: sets the thread wait policy before torch loads)
from course_lib.callbacks import Callback  # noqa: E402
from course_lib.charlm import SHIPPED_CHAR_LM, CharLM, StatefulLM, char_lm_loss, evaluate_char_lm  # noqa: E402
from course_lib.checkpoint import save_weights  # noqa: E402
from course_lib.reproducibility import seed_everything  # noqa: E402
from course_lib.text import StreamLoader, load_shakespeare_chars  # noqa: E402
from course_lib.train import fit  # noqa: E402


def learning_rate_factor(step: int, warmup_steps: int, half_life_steps: int) -> float:
    """Linear warm-up, then halve every ``half_life_steps`` (never below 1/20): a function of the step alone."""
    warm = min(1.0, (step + 1) / warmup_steps)
    return warm * max(0.05, 0.5 ** (step / half_life_steps))


class SaveEachEpoch(Callback):
    """After every epoch: the exact validation loss, the weights written, one line printed (flushed, for a log)."""

    def __init__(
        self, model: CharLM, val_ids: torch.Tensor, target: Path, args: argparse.Namespace, every: int = 50
    ) -> None:
        self.model, self.val_ids, self.target, self.args, self.every = model, val_ids, target, args, every
        self.start = time.perf_counter()

    def on_step_end(self, step: int, loss: torch.Tensor, lr: float) -> None:
        if step % self.every == 0 or step <= 3:
            print(
                f"  step {step:5d}  loss {float(loss):.3f}  lr {lr:.2e}  {time.perf_counter() - self.start:7.0f} s",
                flush=True,
            )

    def on_epoch_end(self, epoch: int, model: torch.nn.Module, history) -> bool:
        seconds = time.perf_counter() - self.start
        val_loss = evaluate_char_lm(self.model, self.val_ids)
        recipe = {key: getattr(self.args, key) for key in RECIPE_KEYS} | {"epochs": epoch}
        save_weights(
            self.target,
            self.model,
            metadata={
                "config": json.dumps(self.model.config),
                "recipe": json.dumps(recipe),
                "val_loss": f"{val_loss:.4f}",
                "train_seconds": f"{seconds:.0f}",
                "torch_version": torch.__version__,
                "made_by": f"python tools/train_charlm.py --epochs {epoch}",
            },
        )
        digest = hashlib.sha256(self.target.read_bytes()).hexdigest()
        if self.args.keep_epochs:
            shutil.copyfile(self.target, self.target.with_name(f"{self.target.stem}-epoch{epoch}.safetensors"))
        print(
            f"epoch {epoch}: train {history['train_loss'][-1]:.4f}  val {val_loss:.4f} nats/char "
            f"(perplexity {math.exp(val_loss):.2f}) after {seconds / 60:.1f} minutes of training; "
            f"wrote {self.target} ({self.target.stat().st_size / 1e6:.2f} MB) sha256 {digest}",
            flush=True,
        )
        self.last = (epoch, val_loss, seconds, digest)
        return False


RECIPE_KEYS = (
    "seed",
    "embed",
    "hidden",
    "layers",
    "cell",
    "dropout",
    "batch_size",
    "window",
    "epochs",
    "lr",
    "warmup_steps",
    "half_life_steps",
    "weight_decay",
    "grad_clip",
    "threads",
    "limit",
)


def parse_arguments() -> argparse.Namespace:
    recipe = SHIPPED_CHAR_LM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--name", default=recipe["name"], help="registry name; the file is data/weights/<name>.safetensors"
    )
    parser.add_argument("--out", type=Path, default=None, help="write here instead (a trial run)")
    parser.add_argument("--seed", type=int, default=recipe["seed"])
    for key in ("embed", "hidden", "layers", "batch_size", "window", "epochs"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=recipe[key])
    parser.add_argument("--cell", default=recipe["cell"], choices=("lstm", "gru"))
    for key in ("warmup_steps", "half_life_steps"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=recipe[key])
    for key in ("dropout", "lr", "weight_decay", "grad_clip"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=float, default=recipe[key])
    parser.add_argument("--threads", type=int, default=recipe["threads"], help="torch threads (1 is fastest here)")
    parser.add_argument("--limit", type=int, default=None, help="train on the first N training characters only")
    parser.add_argument(
        "--keep-epochs",
        action="store_true",
        help="also keep every epoch's file (<name>-epoch<k>.safetensors beside the output), to pick the best",
    )
    return parser.parse_args()


def main() -> int:
    args = parse_arguments()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    corpus = load_shakespeare_chars()
    train_ids = corpus.train if args.limit is None else corpus.train[: args.limit]
    train_loader = StreamLoader(train_ids, args.batch_size, args.window, drop_last=True)
    model = CharLM(
        corpus.vocab, embed=args.embed, hidden=args.hidden, layers=args.layers, cell=args.cell, dropout=args.dropout
    )
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, args.warmup_steps, args.half_life_steps)
    )
    print(
        f"{parameters:,} parameters; {len(train_loader)} windows of {args.batch_size}x{args.window} per epoch, "
        f"{args.epochs} epochs; {torch.get_num_threads()} thread(s); seed {args.seed}",
        flush=True,
    )

    target = args.out or ROOT / "data" / "weights" / f"{args.name}.safetensors"
    saver = SaveEachEpoch(model, corpus.val, target, args)
    fit(
        StatefulLM(model),
        train_loader,
        char_lm_loss,
        optimizer,
        args.epochs,
        device="cpu",
        scheduler=scheduler,
        scheduler_step="batch",
        grad_clip=args.grad_clip,
        progress=False,
        callbacks=[saver],
    )
    epoch, val_loss, seconds, digest = saver.last
    print(
        f"trained {epoch} epochs in {seconds / 60:.1f} minutes ({seconds:.0f} s); validation loss {val_loss:.4f} "
        f"nats/char on nanoGPT's split\nsha256 {digest}  (record it in course_lib.checkpoint.SHIPPED_WEIGHTS)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
