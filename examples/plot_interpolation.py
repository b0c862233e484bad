"""
Interpolation between two images
================================

Walking in a straight line between the latent codes of two images, and decoding each step,
morphs one digit into the other through images that look like digits, not through the
pixel-wise blend of the two. :meth:`~skvae.VAETransformer.interpolate` gives the decoded path
and :class:`~skvae.InterpolationDisplay` draws it, one row per pair.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skvae import InterpolationDisplay, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16
vae = VAETransformer(
    latent_dim=8, hidden_layer_sizes=(256, 128), likelihood="bernoulli",
    batch_size=64, learning_rate=2e-3, max_iter=150, random_state=0,
).fit(X)

# the first 0 to the first 1, 2 to 3, and 4 to 5
start = X[[np.flatnonzero(y == d)[0] for d in (0, 2, 4)]]
end = X[[np.flatnonzero(y == d)[0] for d in (1, 3, 5)]]
display = InterpolationDisplay.from_estimator(vae, start, end, n_steps=10)
display.ax_.set_title("Decoded straight latent paths: 0 to 1, 2 to 3, 4 to 5")
plt.show()
