"""
Denoising
=========

Encoding a noisy image and decoding its latent mean removes much of the noise, because the
decoder can only produce images like the ones it was trained on. Here a quarter of the pixels
of held-out digits are set to black or white (salt-and-pepper noise).
:class:`~skvae.ReconstructionDisplay` with ``X_clean=`` shows the clean, noisy and denoised
images, one above the other.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skvae import ReconstructionDisplay, VAETransformer

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
vae = VAETransformer(
    latent_dim=8, hidden_layer_sizes=(256, 128), likelihood="bernoulli",
    batch_size=64, learning_rate=2e-3, max_iter=150, random_state=0,
).fit(X_train)

rng = np.random.RandomState(0)
noisy = X_test.copy()
hit = rng.uniform(size=noisy.shape) < 0.25
noisy[hit] = rng.randint(0, 2, size=hit.sum())  # black or white
denoised = vae.inverse_transform(vae.transform(noisy))
print(f"mean squared error to the clean images: noisy {((noisy - X_test) ** 2).mean():.4f}, "
      f"denoised {((denoised - X_test) ** 2).mean():.4f}")

display = ReconstructionDisplay.from_estimator(vae, noisy, X_clean=X_test, n_images=10)
plt.show()
