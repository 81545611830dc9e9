"""Chapter 10: the SmallCNN's inference latency, file sizes and load times in each format it ships in.

Rows of the latency table (median of timed repeats after warm-up, evaluation mode, no gradients):

  torch-eager    PyTorch, the model as trained (``torch.inference_mode``)
  torch-compile  ``torch.compile(model)`` (Inductor), where it works on this CPU (it needs a C++ compiler)
  torch-export   the ``.pt2`` program from ``torch.export``, loaded without the class
  onnxruntime    the ONNX file (``torch.onnx.export``, dynamo exporter) in ONNX Runtime's CPU provider
  keras          the Keras twin (``keras_small_cnn``) called through a ``tf.function``

for one image (a deployed model answering one request) and for a batch of 256. Every engine gets the
same number of threads (``--threads``, default: the CPUs this process may use). Then the file sizes
of each format and the time to load each (best of 3, in this warm process). Prints the tables and
the ratio ONNX Runtime / PyTorch eager at batch 1; writes everything to bench/results/export.json.

    python bench/export.py                # about 2 minutes on 2 cores
    python bench/export.py --quick        # fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import course_lib  # noqa: F401  (first: OMP_WAIT_POLICY before torch loads)
from course_lib.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from course_lib.export import export_onnx, export_program, load_program, onnx_session
from course_lib.models import SmallCNN

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "export.json"
BATCHES = (1, 256)


class _Skipped(Exception):
    pass


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def best_seconds(fn: Callable[[], Any], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def size_of(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
    )
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--no-keras", action="store_true", help="skip the Keras row (no TensorFlow)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (its compiling is slow)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    repeats = {1: 30 if args.quick else 200, 256: 5 if args.quick else 20}
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SmallCNN().eval()
    inputs = {b: torch.randn(b, 1, 28, 28, generator=torch.Generator().manual_seed(b)) for b in BATCHES}
    folder = Path(tempfile.mkdtemp(prefix="bench_export_"))
    latency: dict[str, dict[str, Any]] = {}
    loads: dict[str, float] = {}
    sizes: dict[str, int] = {}
    notes: dict[str, str] = {}

    def timed_row(name: str, run: Callable[[Any], Any], make_input: Callable[[torch.Tensor], Any] = lambda x: x):
        latency[name] = {}
        for b in BATCHES:
            x = make_input(inputs[b])
            latency[name][str(b)] = median_seconds(lambda x=x: run(x), repeats[b])
        print(f"  {name}: done", flush=True)

    # PyTorch eager, and the plain files
    with torch.inference_mode():
        timed_row("torch-eager", model)
    torch.save(model.state_dict(), folder / "state_dict.pt")
    save_weights(folder / "weights.safetensors", model)
    optimizer = torch.optim.AdamW(model.parameters())
    model.train()
    loss = model(inputs[256]).logsumexp(1).mean()
    loss.backward()
    optimizer.step()  # so the checkpoint holds Adam's state, as a real one does
    model.eval()
    save_checkpoint(folder / "run.ckpt", model, optimizer, epoch=1)
    fresh = SmallCNN()
    loads["state_dict.pt (torch.load + load_state_dict)"] = best_seconds(
        lambda: fresh.load_state_dict(torch.load(folder / "state_dict.pt", weights_only=True))
    )
    loads["weights.safetensors (load_weights)"] = best_seconds(
        lambda: load_weights(folder / "weights.safetensors", fresh)
    )
    fresh_optimizer = torch.optim.AdamW(fresh.parameters())
    loads["run.ckpt (load_checkpoint, with AdamW)"] = best_seconds(
        lambda: load_checkpoint(folder / "run.ckpt", fresh, fresh_optimizer, restore_rng=False)
    )

    # torch.compile
    if args.no_compile:
        notes["torch-compile"] = "skipped (--no-compile)"
    try:
        if args.no_compile:
            raise _Skipped

        compiled = torch.compile(model)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(inputs[1])
            compiled(inputs[256])
        loads["torch.compile (first calls: compiling)"] = time.perf_counter() - start
        with torch.inference_mode():
            timed_row("torch-compile", compiled)
    except _Skipped:
        pass
    except Exception as error:  # noqa: BLE001 - no compiler, an unsupported CPU: say so in the table
        notes["torch-compile"] = f"not available here: {type(error).__name__}: {str(error).splitlines()[0][:100]}"
        print("  torch-compile:", notes["torch-compile"], flush=True)

    # torch.export
    export_program(model, inputs[1], folder / "cnn.pt2")
    loads["cnn.pt2 (torch.export.load)"] = best_seconds(lambda: load_program(folder / "cnn.pt2"))
    program = load_program(folder / "cnn.pt2")
    with torch.inference_mode():
        timed_row("torch-export", program)

    # ONNX Runtime
    start = time.perf_counter()
    export_onnx(model, inputs[1], folder / "cnn.onnx")
    notes["onnx-export-seconds"] = f"{time.perf_counter() - start:.1f}"
    loads["cnn.onnx (ONNX Runtime session)"] = best_seconds(lambda: onnx_session(folder / "cnn.onnx", args.threads))
    session = onnx_session(folder / "cnn.onnx", args.threads)
    input_name = session.get_inputs()[0].name
    timed_row("onnxruntime", lambda x: session.run(None, {input_name: x}), lambda x: x.numpy())
    with torch.inference_mode():
        difference = float(
            np.abs(session.run(None, {input_name: inputs[256].numpy()})[0] - model(inputs[256]).numpy()).max()
        )

    # Keras / TensorFlow
    if not args.no_keras:
        from course_lib.keras_models import keras_small_cnn, to_keras_images
        from course_lib.tensorflow_setup import load_tensorflow

        tf = load_tensorflow()
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        keras_model = keras_small_cnn(compile=False)  # no optimizer: served, not trained
        serve = tf.function(lambda x: keras_model(x, training=False))
        timed_row("keras", serve, lambda x: tf.constant(to_keras_images(x)))
        keras_model.save(folder / "cnn.keras")
        loads["cnn.keras (keras.models.load_model)"] = best_seconds(
            lambda: tf.keras.models.load_model(folder / "cnn.keras")
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            keras_model.export(folder / "cnn_savedmodel", verbose=False)
        loads["cnn_savedmodel (tf.saved_model.load)"] = best_seconds(
            lambda: tf.saved_model.load(str(folder / "cnn_savedmodel"))
        )

    for path in sorted(folder.iterdir()):
        sizes[path.name] = size_of(path)
    shutil.rmtree(folder, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"\n{platform.node()}: {platform.processor() or platform.machine()}, {args.threads} threads, torch "
        f"{torch.__version__}, onnxruntime {__import__('onnxruntime').__version__}, load average {load:.1f} "
        "(other programs on the CPUs slow every row)"
    )
    print(f"\n{'latency':<16} {'batch 1 (ms)':>13} {'batch 256 (ms)':>15} {'images/s @256':>14}")
    for name, row in latency.items():
        print(f"{name:<16} {row['1'] * 1e3:>13.3f} {row['256'] * 1e3:>15.2f} {256 / row['256']:>14,.0f}")
    for name, note in notes.items():
        if name in ("torch-compile",):
            print(f"{name:<16} {note}")
    ratio = latency["onnxruntime"]["1"] / latency["torch-eager"]["1"]
    print(f"\nONNX Runtime / PyTorch eager at batch 1: {ratio:.2f} (below 1: ONNX Runtime is faster)")
    print(f"largest difference ONNX Runtime vs PyTorch (batch 256): {difference:.2e}")
    print(f"\n{'file':<22} {'bytes':>10}")
    for name, size in sizes.items():
        print(f"{name:<22} {size:>10,}")
    print(f"\n{'load':<46} {'ms':>9}")
    for name, seconds in loads.items():
        print(f"{name:<46} {seconds * 1e3:>9.1f}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(
            {
                "machine": {
                    "node": platform.node(),
                    "python": platform.python_version(),
                    "torch": torch.__version__,
                    "threads": args.threads,
                    "load_average": load,
                },
                "latency_seconds": latency,
                "ort_over_eager_batch1": ratio,
                "max_abs_difference_ort": difference,
                "file_bytes": sizes,
                "load_seconds": loads,
                "notes": notes,
                "quick": args.quick,
            },
            indent=1,
        )
    )
    print(f"\nwrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
