"""A short tour of VAETransformer on scikit-learn's digits (no download).

Run from the project root:  python3 examples/digits_demo.py
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer


def main():
    # 100 epochs is a time budget here, not convergence: silence that warning.
    warnings.simplefilter("ignore", category=ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    # Dequantise the 0..16 integer pixels to a continuous [0, 1) scale so that
    # densities are comparable (the classical models' score is then finite).
    X = (X + np.random.RandomState(0).uniform(size=X.shape)) / 17.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    print(f"digits: {X_train.shape[0]} training and {X_test.shape[0]} test images, "
          "64 dequantised pixels in [0, 1)")

    start = time.perf_counter()
    vae = VAETransformer(latent_dim=8, max_iter=100, random_state=0).fit(X_train)
    print(f"fitted VAETransformer(latent_dim=8) in {time.perf_counter() - start:.1f} s, "
          f"{vae.n_iter_} epochs, final training loss {vae.loss_curve_[-1]:.1f} nats/image")

    Z = vae.transform(X_test)
    reconstruction = vae.inverse_transform(Z)
    relative_error = ((reconstruction - X_test) ** 2).mean() / X_test.var(axis=0).mean()
    print(f"transform -> {Z.shape}; reconstruction error {relative_error:.2f} of the pixel variance")

    print("held-out mean log-likelihood (higher is better), nats/image:")
    print(f"  VAE ELBO (score)                {vae.score(X_test):9.1f}")
    print(f"  VAE importance-weighted, K=500  "
          f"{vae.log_likelihood(X_test, n_importance_samples=500).mean():9.1f}")
    for model in (PCA(n_components=8), FactorAnalysis(n_components=8)):
        print(f"  {type(model).__name__ + '(8)':32}{model.fit(X_train).score(X_test):9.1f}")

    outlying = vae.score_samples(np.clip(X_test + 0.35, 0, 1))
    print(f"rows brightened by 0.35 score {vae.score_samples(X_test).mean() - outlying.mean():.0f} "
          "nats lower on average")

    samples = vae.sample(5, random_state=0, return_mean=True)
    print(f"sample(5, return_mean=True) -> {samples.shape}, pixel range "
          f"[{samples.min():.1f}, {samples.max():.1f}]")

    pipeline = make_pipeline(
        StandardScaler(),
        VAETransformer(latent_dim=10, max_iter=100, random_state=0),
        LogisticRegression(max_iter=2000),
    )
    accuracy = pipeline.fit(X_train, y_train).score(X_test, y_test)
    print(f"Pipeline(StandardScaler, VAETransformer(10), LogisticRegression) "
          f"test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
