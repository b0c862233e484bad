"""
Inpainting: filling in a hidden part of an image
================================================

NaN marks a missing value, so a hidden region of an image is a block of NaN pixels.
:class:`~skvae.VAEImputer` fills it in from the rest of the image: it encodes what is
observed, and averages the decoder's guesses for the hidden pixels over latent codes weighted
by how well they explain the visible ones (MIWAE). Here it is trained on complete images and
asked to fill in the lower half of held-out ones, a hard case: the upper half of a digit
often fits several digits. On this task a nearest-neighbour imputer is still better, as the
printed errors show.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.impute import KNNImputer
from sklearn.model_selection import train_test_split

from skvae import VAEImputer

X = load_digits().data / 16
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)

imputer = VAEImputer(
    likelihood="bernoulli", latent_dim=8, hidden_layer_sizes=(256, 128),
    batch_size=64, learning_rate=2e-3, random_state=0,
).fit(X_train)

# hide the lower half of ten held-out digits
images = X_test[:10].reshape(-1, 8, 8)
masked = images.copy()
masked[:, 4:, :] = np.nan
filled = imputer.transform(masked.reshape(10, -1)).reshape(-1, 8, 8)
hidden = np.isnan(masked)
knn = KNNImputer().fit(X_train).transform(masked.reshape(10, -1)).reshape(-1, 8, 8)
mean = np.broadcast_to(X_train.mean(axis=0).reshape(8, 8), images.shape)
for name, guess in [("VAEImputer", filled), ("KNNImputer", knn), ("training mean", mean)]:
    error = ((guess - images)[hidden] ** 2).mean()
    print(f"{name}: mean squared error on the hidden pixels {error:.4f}")

gray = plt.get_cmap("gray").with_extremes(bad="tab:orange")  # NaN pixels in orange
fig, axes = plt.subplots(3, 10, figsize=(10, 3.4))
for row, (title, batch) in enumerate([("original", images), ("half hidden", masked),
                                      ("filled in", filled)]):
    for k, ax in enumerate(axes[row]):
        ax.imshow(np.ma.masked_invalid(batch[k]), cmap=gray, vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[row, 0].set_ylabel(title, rotation=0, ha="right", va="center")
fig.suptitle("Inpainting held-out digits with VAEImputer (hidden pixels in orange)")
plt.show()
