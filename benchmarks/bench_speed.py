"""Speed benchmark: skvae's VAETransformer against a hand-written PyTorch loop and PyOD.

Run from the repository root (``pip install pyod tqdm`` for the PyOD row)::

    PYTHONPATH=. python benchmarks/bench_speed.py           # full run, several minutes
    PYTHONPATH=. python benchmarks/bench_speed.py --quick   # smoke run, figures mean nothing

In one process and one run, on the same data, network, batch size and number
of epochs, it times:

1. ``fit`` against the reference loop, for a 784-512-256-20 network on
   60,000 x 784 rows and a 50-128-64-8 network on 100,000 x 50 rows. The
   reference is the loop a user writes by hand (``ReferenceVAE`` and
   ``reference_fit`` below): the data held in memory as one tensor, shuffled
   with ``torch.randperm`` and sliced into batches, a hand-written module
   computing the same ELBO as skvae (same standardisation, same Gaussian
   decoder with a learned per-feature variance above a floor, same analytic
   KL, same linear KL warm-up, one latent draw per row), plain
   ``torch.optim.Adam(model.parameters(), lr)`` and ``loss.item()`` after
   every step to track the epoch loss. The script checks that both compute
   the same loss on the same weights, batch and noise before timing them.
   A second reference row is the same loop with ``torch.optim.Adam(...,
   fused=True)``, the one keyword a user adds to get the fused kernel that
   skvae uses: the speed-up over that row is what the wrapper gains beyond
   the optimiser kernel.
   Both make the same number of updates (ceil(n_rows / batch_size) per epoch)
   for the same number of epochs; skvae runs with ``tol=0`` and
   ``n_iter_no_change=epochs`` so it never stops early, and with
   ``early_stopping=False``, ``weight_averaging=0`` and a constant step size
   so that it does the reference's work (its defaults hold rows out, score
   them every epoch and keep an average of the weights: the time-to-quality
   benchmark measures those).
2. PyOD's ``VAE`` on the tabular case, with the same layer sizes, batch size,
   epochs and learning rate, ``dropout_rate=0`` and no batch norm (the
   network skvae trains; PyOD's loss is its own MSE + KL, and it drops the
   last short batch). PyOD's ``fit`` trains, then scores the training rows
   (one decoder pass per row); its training loop is timed on its own (a
   subclass times ``PyODVAE.train``) and compared with skvae's ``fit``, which
   only trains. For completeness the table also shows PyOD's whole ``fit``
   and skvae's ``fit`` followed by ``score_samples`` on the training rows
   (an ELBO averaged over ``n_mc_samples`` latent draws, i.e. that many
   decoder passes per row, so more work than PyOD's score).
3. ``transform`` and ``score_samples`` on 1,000,000 x 50 rows: throughput and
   peak memory. Each measurement runs in a fresh subprocess that builds the
   input array in place (no temporaries), warms up on 1,000 rows, reads its
   current resident set size (RSS), resets the kernel's RSS high-water mark
   (``/proc/self/clear_refs``; without it, ``resource.getrusage``'s lifetime
   maximum, which can only overstate), runs the method once and reads the
   high-water mark. "Peak above input" is the high-water mark minus the RSS
   just before the call: it includes the output
   array and every temporary the call makes, as seen by the OS (torch's
   allocator included, which ``tracemalloc`` would miss).
4. ``fit`` time of the tabular network for one epoch on 10,000 to 1,000,000
   rows, to show it grows linearly.
5. skvae's ``fit`` with ``n_threads=1`` (the default) and ``n_threads=2``, one
   epoch on 10,000 rows of each network, under whatever load the machine has.
6. Where a training step's time goes: forward + backward of skvae's loss,
   a plain and a fused Adam step, each timed on its own. The ratio
   (forward-backward + plain step) / (forward-backward + fused step) bounds
   what the optimiser alone can gain over the reference on this machine.

Every contender runs on one CPU thread: ``torch.set_num_threads(1)`` and
one inter-op thread for the reference and PyOD, ``n_threads=1`` for skvae,
and one BLAS / OpenMP thread for everything (``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set to 1 before numpy and
torch load, and ``threadpoolctl.threadpool_limits(1)`` around the run; the
report records the thread pools in force). Only section 5 sets skvae's
``n_threads=2`` on purpose. So the comparison is fair and stable when other
processes share the cores. Timed runs are interleaved (reference, skvae, PyOD, then again, in a
rotating order) and the median of ``--repeats`` runs is reported, so that
background load affects every contender alike. The table is printed and
written to ``benchmarks/results/speed.md`` (and ``speed.json``).
"""

import os

# One BLAS / OpenMP thread for every contender (numpy, PyOD, torch and the
# memory subprocesses, which inherit the environment). Set before numpy and
# torch load; threadpoolctl below pins whatever is already loaded, and the
# report records what was in force.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import pickle  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402
from torch import nn  # noqa: E402

from skvae import VAETransformer  # noqa: E402
from skvae._objective import elbo  # noqa: E402

LOG_2PI = math.log(2.0 * math.pi)
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


# ---------------------------------------------------------------- data
def make_data(n_rows, n_features, dtype=np.float32, seed=0, block=100_000):
    """Low-rank Gaussian data plus noise, built block by block in place.

    Building in place keeps the process's memory high-water mark at the size
    of the array itself, which the memory measurement relies on.
    """
    rng = np.random.default_rng(seed)
    rank = min(10, n_features)
    loadings = rng.standard_normal((rank, n_features)).astype(dtype)
    X = np.empty((n_rows, n_features), dtype=dtype)
    for start in range(0, n_rows, block):
        rows = min(block, n_rows - start)
        factors = rng.standard_normal((rows, rank), dtype=np.float32).astype(dtype)
        X[start : start + rows] = factors @ loadings
        X[start : start + rows] += 0.5 * rng.standard_normal((rows, n_features), dtype=np.float32)
    return X


# --------------------------------------------------- the reference loop
class ReferenceVAE(nn.Module):
    """The VAE a user writes by hand, after pytorch/examples ``vae/main.py``.

    Gaussian decoder with a learned per-feature variance above a floor, on
    standardised data; the loss is the negative ELBO of the raw data (the
    log-Jacobian of the standardisation is added so that its value matches
    skvae's). Where skvae bounds the encoder's input of near-constant columns
    (``bounded``, their positions; none in this script's data), it reads
    ``b tanh(x / b)`` there too.
    """

    def __init__(self, n_features, hidden, latent_dim, min_variance=1e-3, input_bound=None,
                 bounded=()):
        super().__init__()
        self.input_bound = input_bound
        self.bounded = torch.zeros(n_features, dtype=torch.bool)
        self.bounded[list(bounded or ())] = True
        sizes = (n_features, *hidden)
        encoder = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            encoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.encoder = nn.Sequential(*encoder)
        self.fc_mu = nn.Linear(sizes[-1], latent_dim)
        self.fc_log_var = nn.Linear(sizes[-1], latent_dim)
        sizes = (latent_dim, *reversed(hidden))
        decoder = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            decoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        self.decoder = nn.Sequential(*decoder, nn.Linear(sizes[-1], n_features))
        self.log_excess_variance = nn.Parameter(torch.zeros(n_features))
        self.min_variance = min_variance

    def loss(self, x, kl_weight, log_jacobian, eps=None):
        """Mean negative ELBO of a standardised batch ``x``."""
        if self.input_bound is not None:
            b = self.input_bound
            x_in = torch.where(self.bounded, b * torch.tanh(x / b), x)
        else:
            x_in = x
        h = self.encoder(x_in)
        mu, log_var = self.fc_mu(h), self.fc_log_var(h)
        if eps is None:
            eps = torch.randn_like(mu)
        z = mu + torch.exp(0.5 * log_var) * eps
        x_hat = self.decoder(z)
        var = self.min_variance + self.log_excess_variance.exp()
        reconstruction = -0.5 * ((x - x_hat).pow(2) / var + var.log() + LOG_2PI).sum(1)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
        return -(reconstruction - kl_weight * kl + log_jacobian).mean()


def reference_fit(
    X, hidden, latent_dim, *, epochs, batch_size, learning_rate, warmup_epochs, seed, fused=False
):
    """The hand-written loop: tensor in memory, randperm slices, Adam, loss.item().

    ``fused=True`` is the same loop with ``torch.optim.Adam(..., fused=True)``,
    the one-keyword change a user can make; skvae's fit also uses the fused
    kernel, so this row isolates what the wrapper adds beyond it.
    """
    torch.manual_seed(seed)
    X = torch.from_numpy(X)
    scale, shift = torch.std_mean(X, dim=0, correction=0)
    log_jacobian = -scale.log().sum().item()
    model = ReferenceVAE(X.shape[1], hidden, latent_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate, fused=fused)
    n_rows = X.shape[0]
    losses = []
    for epoch in range(epochs):
        kl_weight = min(1.0, (epoch + 1) / warmup_epochs) if warmup_epochs else 1.0
        permutation = torch.randperm(n_rows)
        total = 0.0
        for start in range(0, n_rows, batch_size):
            x = (X[permutation[start : start + batch_size]] - shift) / scale
            loss = model.loss(x, kl_weight, log_jacobian)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * x.shape[0]
        losses.append(total / n_rows)
    return model, losses


def skvae_estimator(hidden, latent_dim, *, epochs, batch_size, learning_rate, warmup_epochs, seed):
    """skvae doing the reference loop's maths: every row trained on, no held-out
    scoring, no weight average, a constant step size, no early stop."""
    return VAETransformer(
        latent_dim,
        hidden_layer_sizes=hidden,
        max_iter=epochs,
        warmup_epochs=warmup_epochs,
        early_stopping=False,
        weight_averaging=0.0,
        learning_rate_schedule="constant",
        tol=0.0,
        n_iter_no_change=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        n_threads=1,
        device="cpu",
        random_state=seed,
    )


def check_same_loss(X, hidden, latent_dim, batch_size):
    """The reference and skvae give the same loss on the same weights, batch and noise."""
    vae = skvae_estimator(
        hidden, latent_dim, epochs=1, batch_size=batch_size, learning_rate=1e-3,
        warmup_epochs=0, seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae.fit(X[:1000])
    net = vae.network_
    gaussian = net.likelihood.parts[0]
    ref = ReferenceVAE(
        X.shape[1], hidden, latent_dim, gaussian.min_variance, gaussian.input_bound,
        gaussian.bounded,
    )
    ref_linears = [m for m in ref.modules() if isinstance(m, nn.Linear)]
    net_linears = (
        [m for m in net.encoder.body if isinstance(m, nn.Linear)]
        + [net.encoder.mean, net.encoder.log_var]
        + [m for m in net.decoder.body if isinstance(m, nn.Linear)]
        + [net.decoder.output]
    )
    with torch.no_grad():
        for r, s in zip(ref_linears, net_linears, strict=True):
            r.weight.copy_(s.weight)
            r.bias.copy_(s.bias)
        ref.log_excess_variance.copy_(gaussian.log_excess_variance)
        x = torch.from_numpy(X[:batch_size])
        eps = torch.randn(x.shape[0], latent_dim, generator=torch.Generator().manual_seed(1))
        ours = -elbo(net, x, eps.unsqueeze(0), 0.5).mean().item()
        x_std = (x - gaussian.shift) / gaussian.scale
        theirs = ref.loss(x_std, 0.5, -gaussian.scale.log().sum().item(), eps).item()
    if not math.isclose(ours, theirs, rel_tol=1e-5, abs_tol=1e-4):
        raise AssertionError(f"Reference and skvae losses differ: {theirs} vs {ours}")
    return abs(ours - theirs)


# --------------------------------------------------------------- timing
def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def compare_fits(contenders, repeats):
    """Run each contender ``repeats`` times, interleaved in a rotating order."""
    times = {name: [] for name in contenders}
    names = list(contenders)
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, _ = timed(contenders[name])
            times[name].append(seconds)
            print(f"    {name:<28} run {repeat + 1}: {seconds:7.2f} s", flush=True)
    return {name: statistics.median(values) for name, values in times.items()}, times


def network_case(label, X, hidden, latent_dim, args, with_pyod):
    common = dict(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=1e-3,
        warmup_epochs=args.epochs, seed=0,
    )
    difference = check_same_loss(X, hidden, latent_dim, args.batch_size)
    print(f"  {label}: reference and skvae losses agree (|difference| = {difference:.1e})")

    def run_reference():
        return reference_fit(X, hidden, latent_dim, **common)

    def run_reference_fused():
        return reference_fit(X, hidden, latent_dim, fused=True, **common)

    def run_skvae():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vae = skvae_estimator(hidden, latent_dim, **common).fit(X)
        assert vae.n_iter_ == args.epochs
        return vae

    def run_skvae_and_score():
        return run_skvae().score_samples(X)

    contenders = {
        "reference loop": run_reference,
        "reference loop, fused Adam": run_reference_fused,
        "skvae fit": run_skvae,
    }
    pyod_training = []
    if with_pyod:
        from pyod.models.vae import VAE as PyODVAE

        class TimedPyODVAE(PyODVAE):
            """PyOD's VAE, timing the training loop that its fit runs before scoring."""

            def train(self, train_loader):
                seconds, _ = timed(lambda: super(TimedPyODVAE, self).train(train_loader))
                pyod_training.append(seconds)

        def run_pyod():
            return TimedPyODVAE(
                epoch_num=args.epochs, batch_size=args.batch_size, lr=1e-3,
                encoder_neuron_list=list(hidden), decoder_neuron_list=list(reversed(hidden)),
                latent_dim=latent_dim, dropout_rate=0.0, batch_norm=False,
                device=torch.device("cpu"), verbose=0, random_state=0,
            ).fit(X)

        contenders["skvae fit + score_samples"] = run_skvae_and_score
        contenders["PyOD VAE fit"] = run_pyod
    medians, runs = compare_fits(contenders, args.repeats)
    if pyod_training:
        runs["PyOD VAE training loop"] = pyod_training
        medians["PyOD VAE training loop"] = statistics.median(pyod_training)
    return {"label": label, "shape": list(X.shape), "hidden": list(hidden),
            "latent_dim": latent_dim, "median_s": medians, "runs_s": runs}


# -------------------------------------------------------- inference memory
def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss():
    """Reset the kernel's RSS high-water mark (Linux >= 4.0); False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb(since_reset):
    """RSS high-water mark: VmHWM since the reset, else ru_maxrss since start."""
    if since_reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def memory_child(model_path, method, dtype, n_rows):
    """Runs in a fresh process: one inference call on ``n_rows`` rows, measured."""
    torch.set_num_threads(1)
    with open(model_path, "rb") as f:
        vae = pickle.load(f)
    X = make_data(n_rows, vae.n_features_in_, dtype=np.dtype(dtype), seed=1)
    getattr(vae, method)(X[:1000])  # warm up: load kernels, allocator
    reset = reset_peak_rss()
    before = current_rss_mb()
    seconds, out = timed(lambda: getattr(vae, method)(X))
    peak = peak_rss_mb(reset)
    print(json.dumps({
        "method": method, "dtype": dtype, "rows": n_rows, "seconds": seconds,
        "rows_per_s": n_rows / seconds, "input_mb": X.nbytes / 2**20,
        "output_mb": out.nbytes / 2**20, "rss_before_mb": before,
        "peak_above_before_mb": peak - before, "high_water_reset": reset,
    }))


def inference_case(args):
    X = make_data(20_000, 50)
    vae = skvae_estimator((128, 64), 8, epochs=1, batch_size=args.batch_size,
                          learning_rate=1e-3, warmup_epochs=1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae.fit(X)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        model_path = os.path.join(folder, "vae.pkl")
        with open(model_path, "wb") as f:
            pickle.dump(vae, f)
        for method in ("transform", "score_samples"):
            for dtype in ("float32", "float64"):
                child = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--memory-child",
                     model_path, method, dtype, str(args.inference_rows)],
                    capture_output=True, text=True, check=True,
                )
                result = json.loads(child.stdout.strip().splitlines()[-1])
                print(f"    {method:<14} {dtype}: {result['rows_per_s']:,.0f} rows/s, "
                      f"peak {result['peak_above_before_mb']:.0f} MB above "
                      f"the input ({result['input_mb']:.0f} MB)", flush=True)
                results.append(result)
    return results


# ----------------------------------------------------------------- scaling
def scaling_case(args):
    results = []
    X_all = make_data(max(args.scaling_rows), 50, seed=2)
    for n_rows in args.scaling_rows:
        X = X_all[:n_rows]
        vae = skvae_estimator((128, 64), 8, epochs=1, batch_size=args.batch_size,
                              learning_rate=1e-3, warmup_epochs=1, seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seconds, _ = timed(lambda: vae.fit(X))
        results.append({"rows": n_rows, "seconds": seconds,
                        "us_per_row": 1e6 * seconds / n_rows})
        print(f"    {n_rows:>9,} rows: {seconds:7.2f} s "
              f"({1e6 * seconds / n_rows:.1f} us per row)", flush=True)
    return results


# ----------------------------------------------------------------- threads
def threads_case(args):
    """skvae's fit with 1 thread (the default) against 2, under the current load."""
    results = []
    for label, n_features, hidden, latent_dim in [
        ("784-512-256-20", 784, (512, 256), 20), ("50-128-64-8", 50, (128, 64), 8)
    ]:
        X = make_data(args.threads_rows, n_features, seed=3)
        contenders = {}
        for n_threads in (1, 2):
            def run(n_threads=n_threads):
                vae = skvae_estimator(hidden, latent_dim, epochs=1, batch_size=args.batch_size,
                                      learning_rate=1e-3, warmup_epochs=1, seed=0)
                vae.set_params(n_threads=n_threads)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    vae.fit(X)
            contenders[f"{label} n_threads={n_threads}"] = run
        medians, _ = compare_fits(contenders, args.repeats)
        results.append({"label": label, "rows": args.threads_rows,
                        "one_thread_s": medians[f"{label} n_threads=1"],
                        "two_threads_s": medians[f"{label} n_threads=2"]})
    return results


# --------------------------------------------------------------- breakdown
def breakdown_case(args):
    """Time per step of forward + backward, plain Adam and fused Adam, interleaved.

    It bounds what any loop can gain over the reference by its optimiser:
    (forward-backward + plain step) / (forward-backward + fused step).
    """
    results = []
    for label, n_features, hidden, latent_dim in [
        ("784-512-256-20", 784, (512, 256), 20), ("50-128-64-8", 50, (128, 64), 8)
    ]:
        vae = skvae_estimator(hidden, latent_dim, epochs=1, batch_size=args.batch_size,
                              learning_rate=1e-3, warmup_epochs=1, seed=0)
        X = make_data(4 * args.batch_size, n_features, seed=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            network = vae.fit(X).network_.train()
        x = torch.from_numpy(X[: args.batch_size])
        noise = torch.randn(1, args.batch_size, latent_dim)

        def forward_backward():
            network.zero_grad(set_to_none=True)
            (-elbo(network, x, noise, 1.0).mean()).backward()

        forward_backward()
        optimizers = {
            "plain Adam step": torch.optim.Adam(network.parameters(), lr=1e-3),
            "fused Adam step": torch.optim.Adam(network.parameters(), lr=1e-3, fused=True),
        }
        steps = {"forward + backward": forward_backward}
        steps.update({name: opt.step for name, opt in optimizers.items()})
        times = {name: [] for name in steps}
        n_steps = args.breakdown_steps
        for _ in range(7 if n_steps >= 20 else 1):
            for name, step in steps.items():
                seconds, _ = timed(lambda step=step: [step() for _ in range(n_steps)])
                times[name].append(seconds / n_steps)
        ms = {name: 1e3 * statistics.median(values) for name, values in times.items()}
        fb, plain, fused = ms["forward + backward"], ms["plain Adam step"], ms["fused Adam step"]
        results.append({"label": label, "ms": ms, "bound": (fb + plain) / (fb + fused)})
        print(f"    {label}: forward+backward {fb:.2f} ms, plain Adam {plain:.2f} ms, "
              f"fused Adam {fused:.2f} ms", flush=True)
    return results


# ------------------------------------------------------------------ report
def load_average():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def render(report):
    lines = [
        "# skvae speed benchmark",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}; torch {report['torch']}, {report['cpu']}, "
        f"{report['cpu_count']} cores; one thread everywhere: {report['threads_pinned']}.  ",
        f"Load average (1 min) before / after: {report['load_before'][0]:.2f} / "
        f"{report['load_after'][0]:.2f} (other processes shared the machine).  ",
        f"Epochs: {report['epochs']}, batch size: {report['batch_size']}, "
        f"median of {report['repeats']} interleaved runs.",
        "",
        "## Fit: skvae against the hand-written reference loop and PyOD",
        "",
        "| network | rows x features | contender | median time (s) | speed-up of skvae |",
        "|---|---|---|---:|---:|",
    ]
    for case in report["fit"]:
        med = case["median_s"]
        net = "-".join(str(s) for s in [case["shape"][1], *case["hidden"], case["latent_dim"]])
        shape = f"{case['shape'][0]:,} x {case['shape'][1]}"
        lines.append(f"| {net} | {shape} | reference loop (plain Adam) | "
                     f"{med['reference loop']:.2f} | |")
        lines.append(f"| {net} | {shape} | reference loop, `Adam(fused=True)` | "
                     f"{med['reference loop, fused Adam']:.2f} | |")
        lines.append(f"| {net} | {shape} | skvae fit | {med['skvae fit']:.2f} | "
                     f"**{med['reference loop'] / med['skvae fit']:.2f}x** vs reference; "
                     f"**{med['reference loop, fused Adam'] / med['skvae fit']:.2f}x** "
                     f"vs fused reference |")
        if "PyOD VAE fit" in med:
            lines.append(
                f"| {net} | {shape} | PyOD VAE training loop (inside its fit) | "
                f"{med['PyOD VAE training loop']:.2f} | "
                f"**{med['PyOD VAE training loop'] / med['skvae fit']:.2f}x** "
                f"vs PyOD training (skvae fit / PyOD training loop) |")
            lines.append(
                f"| {net} | {shape} | PyOD VAE fit (trains, then scores the rows) | "
                f"{med['PyOD VAE fit']:.2f} | "
                f"{med['PyOD VAE fit'] / med['skvae fit']:.2f}x vs skvae fit |")
            lines.append(
                f"| {net} | {shape} | skvae fit + score_samples "
                f"({report['n_mc_samples']} decoder passes per row) | "
                f"{med['skvae fit + score_samples']:.2f} | "
                f"{med['PyOD VAE fit'] / med['skvae fit + score_samples']:.2f}x "
                f"vs PyOD fit |")
    lines += [
        "",
        f"## Inference on {report['inference'][0]['rows']:,} x 50 rows (50-128-64-8 network)",
        "",
        "| method | input dtype | rows/s | input (MB) | output (MB) | peak above input (MB) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in report["inference"]:
        lines.append(f"| {r['method']} | {r['dtype']} | {r['rows_per_s']:,.0f} | "
                     f"{r['input_mb']:.0f} | {r['output_mb']:.1f} | "
                     f"{r['peak_above_before_mb']:.0f} |")
    lines += [
        "",
        "## Fit time against the number of rows (50-128-64-8, one epoch)",
        "",
        "| rows | fit time (s) | us per row |",
        "|---:|---:|---:|",
    ]
    for r in report["scaling"]:
        lines.append(f"| {r['rows']:,} | {r['seconds']:.2f} | {r['us_per_row']:.1f} |")
    lines += [
        "",
        "## Threads: skvae's fit with n_threads=1 and 2, one epoch",
        "",
        "| network | rows | 1 thread (s) | 2 threads (s) | 2 threads / 1 thread |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["threads"]:
        lines.append(f"| {r['label']} | {r['rows']:,} | {r['one_thread_s']:.2f} | "
                     f"{r['two_threads_s']:.2f} | {r['two_threads_s'] / r['one_thread_s']:.2f} |")
    lines += [
        "",
        "## Where a training step's time goes (batch of "
        f"{report['batch_size']} rows, skvae's network and loss)",
        "",
        "| network | forward + backward (ms) | plain Adam step (ms) | fused Adam step (ms) "
        "| bound on the optimiser's gain |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in report["breakdown"]:
        ms = r["ms"]
        lines.append(f"| {r['label']} | {ms['forward + backward']:.2f} | "
                     f"{ms['plain Adam step']:.2f} | {ms['fused Adam step']:.2f} | "
                     f"{r['bound']:.2f}x |")
    return "\n".join(lines) + "\n"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mnist-rows", type=int, default=60_000)
    parser.add_argument("--tabular-rows", type=int, default=100_000)
    parser.add_argument("--inference-rows", type=int, default=1_000_000)
    parser.add_argument("--scaling-rows", type=int, nargs="+",
                        default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--threads-rows", type=int, default=10_000)
    parser.add_argument("--breakdown-steps", type=int, default=20,
                        help="steps per timing in the per-step breakdown")
    parser.add_argument("--no-pyod", action="store_true", help="skip PyOD")
    parser.add_argument("--output", default=None,
                        help="path of the results, without extension "
                             "(default: <out-dir>/speed)")
    parser.add_argument("--out-dir", default=None,
                        help="folder of the results (default: benchmarks/results; "
                             "with --quick, a temporary folder)")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.repeats = 1, 1
        args.mnist_rows, args.tabular_rows = 500, 1_000
        args.inference_rows, args.scaling_rows = 5_000, [1_000, 2_000]
        args.threads_rows, args.breakdown_steps = 500, 2
    if args.output is None:
        if args.out_dir is None and args.quick:  # never overwrite the real results
            args.out_dir = tempfile.mkdtemp(prefix="skvae_quick_")
        args.output = os.path.join(args.out_dir or RESULTS, "speed")
    return args


def main(argv):
    if argv[:1] == ["--memory-child"]:
        memory_child(argv[1], argv[2], argv[3], int(argv[4]))
        return
    args = parse_args(argv)
    with threadpool_limits(limits=1):
        run(args, argv)


def pinned_threads():
    """What runs with how many threads, as loaded: torch intra/inter-op and each BLAS/OpenMP."""
    pools = ", ".join(
        f"{pool['internal_api']} {pool['num_threads']}" for pool in threadpool_info()
    )
    return (f"torch intra-op {torch.get_num_threads()}, inter-op "
            f"{torch.get_num_interop_threads()}; {pools}")


def run(args, argv):
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or inter-op work already started
        pass
    with_pyod = not args.no_pyod
    if with_pyod:
        try:
            import pyod  # noqa: F401
        except ImportError:
            print("PyOD is not installed (pip install pyod tqdm): skipping it.")
            with_pyod = False
    report = {
        "command": " ".join(["PYTHONPATH=. python", "benchmarks/bench_speed.py", *argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "torch": torch.__version__, "cpu": cpu_name(), "cpu_count": os.cpu_count(),
        "load_before": load_average(), "epochs": args.epochs,
        "batch_size": args.batch_size, "repeats": args.repeats,
        "n_mc_samples": VAETransformer().n_mc_samples,
        "threads_pinned": pinned_threads(),
    }
    print("1. Fit, 784-512-256-20 network:", flush=True)
    fit = [network_case("784-512-256-20", make_data(args.mnist_rows, 784),
                        (512, 256), 20, args, with_pyod=False)]
    print("2. Fit, tabular 50-128-64-8 network:", flush=True)
    fit.append(network_case("50-128-64-8", make_data(args.tabular_rows, 50),
                            (128, 64), 8, args, with_pyod=with_pyod))
    report["fit"] = fit
    print("3. Inference:", flush=True)
    report["inference"] = inference_case(args)
    print("4. Fit time against rows:", flush=True)
    report["scaling"] = scaling_case(args)
    print("5. Threads:", flush=True)
    report["threads"] = threads_case(args)
    print("6. Time per training step:", flush=True)
    report["breakdown"] = breakdown_case(args)
    report["load_after"] = load_average()
    table = render(report)
    print()
    print(table)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output + ".md", "w") as f:
        f.write(table)
    with open(args.output + ".json", "w") as f:
        json.dump(report, f, indent=1)
    print(f"Written to {args.output}.md and {args.output}.json")


if __name__ == "__main__":
    main(sys.argv[1:])
