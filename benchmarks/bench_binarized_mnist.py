"""Test negative log-likelihood on statically binarised MNIST.

A Bernoulli-decoder MLP VAE with 50 latent dimensions, trained with skvae's
public API on the 60,000 training + validation images, evaluated on the test
images by importance sampling (``VAETransformer.log_likelihood`` with K draws).
Reference: 89.9 nats (Rezende & Mohamed, 2015; pythae reproduces 89.78), about
87 nats for IWAE. The fitted model is saved with ``skvae.save`` (weights and
JSON, no pickle), so the evaluation can be rerun with ``--eval-only``.

Usage (from the project root)::

    PYTHONPATH=. python benchmarks/bench_binarized_mnist.py --max-iter 600
    PYTHONPATH=. python benchmarks/bench_binarized_mnist.py --eval-only --k 5000

The data directory defaults to ``../shared/data`` relative to the project
root; ``--data-dir`` or the environment variable ``SKVAE_DATA_DIR`` override it.
"""

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from _data import RESULTS_DIR, data_dir, load_binarized_mnist, write_table
from sklearn.exceptions import ConvergenceWarning

import skvae
from skvae import VAETransformer

REFERENCE_NATS = 89.9


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iter", type=int, default=600, help="training epochs")
    parser.add_argument("--n-test", type=int, default=10000, help="test images scored")
    parser.add_argument("--k", type=int, default=1000, help="importance samples per image")
    parser.add_argument("--data-dir", default=None, help="folder holding binarized_mnist/")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-epochs", type=int, default=10)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--model", default=str(RESULTS_DIR / "binarized_mnist_vae.safetensors"))
    parser.add_argument("--eval-only", action="store_true", help="load --model, skip fit")
    parser.add_argument(
        "--elbo-draws", type=int, default=128, help="n_mc_samples used to score the ELBO"
    )
    parser.add_argument("--verbose", type=int, default=1)
    return parser.parse_args()


def main():
    args = parse_args()
    folder = data_dir(args.data_dir)
    X_train = np.vstack(
        [load_binarized_mnist(folder, "train"), load_binarized_mnist(folder, "valid")]
    ).astype(np.float32)
    X_test = load_binarized_mnist(folder, "test").astype(np.float32)[: args.n_test]

    record = Path(args.model).with_suffix(".json")  # fit time of the saved model
    if args.eval_only:
        vae = skvae.load(args.model)
        fit_seconds = json.loads(record.read_text())["fit_seconds"] if record.exists() else np.nan
    else:
        vae = VAETransformer(
            latent_dim=50,
            hidden_layer_sizes=tuple(args.hidden),
            likelihood="bernoulli",
            warmup_epochs=args.warmup_epochs,
            max_iter=args.max_iter,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            n_iter_no_change=args.max_iter,  # run every epoch asked for
            device="cpu",
            random_state=args.random_state,
            verbose=args.verbose,
        )
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            vae.fit(X_train)
        fit_seconds = time.perf_counter() - start
        skvae.save(vae, args.model)
        record.write_text(json.dumps({"fit_seconds": fit_seconds, "epochs": vae.n_iter_}))
        print(f"fitted {vae.n_iter_} epochs in {fit_seconds:.0f} s; saved {args.model}")

    vae.set_params(n_mc_samples=args.elbo_draws)  # scoring only: more draws, less error
    start = time.perf_counter()
    test_elbo = vae.score_samples(X_test).astype(np.float64)
    test_iw = vae.log_likelihood(X_test, n_importance_samples=args.k).astype(np.float64)
    eval_seconds = time.perf_counter() - start
    train_elbo = vae.score(X_train[: args.n_test])
    stderr = test_iw.std(ddof=1) / np.sqrt(len(test_iw))
    row = {
        "model": f"skvae VAETransformer MLP {tuple(vae.hidden_layer_sizes)}, latent 50",
        "epochs": vae.n_iter_,
        f"train ELBO NLL (first {len(X_test)})": -train_elbo,
        "test ELBO NLL": -test_elbo.mean(),
        f"test NLL (IWAE K={args.k})": -test_iw.mean(),
        "std. error": stderr,
        "n test images": len(X_test),
        "fit time (s)": fit_seconds,
        "eval time (s)": eval_seconds,
        "reference NLL": REFERENCE_NATS,
    }
    notes = [
        f"Training: train+valid (60,000 images), batch {vae.batch_size}, Adam lr "
        f"{vae.learning_rate}, KL warm-up {vae.warmup_epochs} epochs, device "
        f"{vae._device()}, n_threads={vae.n_threads} (None = 1 torch thread), "
        f"{platform.machine()}, torch {torch.__version__}.",
        "NLL in nats per image (lower is better). The IWAE estimate is a stochastic "
        "lower bound on log p(x), so its NLL is an upper bound on the true NLL.",
        f"Reference: {REFERENCE_NATS} nats (Rezende & Mohamed 2015; pythae 89.78); "
        "IWAE about 87.",
    ]
    write_table(pd.DataFrame([row]), "binarized_mnist", "Binarised MNIST test NLL", notes)


if __name__ == "__main__":
    main()
