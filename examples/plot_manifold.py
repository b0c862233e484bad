"""
The manifold of decoded images
==============================

Each point of a two-dimensional latent space decodes to an image. Decoding a 15 x 15 grid,
placed at the prior's quantiles so that equal steps cover equal probability, shows how the
digits blend into one another across the plane. :class:`~skvae.ManifoldDisplay` draws it.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skvae import ManifoldDisplay, VAETransformer

X = load_digits().data / 16
vae = VAETransformer(
    latent_dim=2, hidden_layer_sizes=(256, 128), likelihood="bernoulli",
    batch_size=64, learning_rate=2e-3, max_iter=150, random_state=0,
).fit(X)

display = ManifoldDisplay.from_estimator(vae, n_images_per_side=15)
display.ax_.set_title("Digits decoded from a 15 x 15 grid of the latent plane")
plt.show()
