"""
The latent space, coloured by class
===================================

A VAE with two latent dimensions maps every image to a point of the plane: the mean of its
posterior :math:`q(z \\mid x)`. Trained without labels, it still puts each digit in its own
region, because images of one digit are alike. :class:`~skvae.LatentSpaceDisplay` draws the
latent means of held-out images, coloured by their label.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skvae import LatentSpaceDisplay, VAETransformer

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16, y, test_size=0.2, random_state=0)

# Pixels in [0, 1]: a Bernoulli decoder. Small steps and batches suit 1,437 images.
vae = VAETransformer(
    latent_dim=2, hidden_layer_sizes=(256, 128), likelihood="bernoulli",
    batch_size=64, learning_rate=2e-3, max_iter=150, random_state=0,
).fit(X_train)
print(f"{vae.n_iter_} epochs, held-out ELBO {vae.score(X_test):.2f} nats per image")

display = LatentSpaceDisplay.from_estimator(vae, X_test, y_test)
display.ax_.set_title("Latent means of 360 held-out digits")
plt.show()
