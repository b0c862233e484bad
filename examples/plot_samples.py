"""
New samples from the model
==========================

A VAE is a generative model: draw :math:`z \\sim \\mathcal N(0, I)` from the prior and decode
it. :class:`~skvae.SamplesDisplay` shows the decoder's means for 100 such draws, from a model
with an 8-dimensional latent space (more dimensions than the plane of the manifold picture,
so the samples are sharper and more varied).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skvae import SamplesDisplay, VAETransformer

X = load_digits().data / 16
vae = VAETransformer(
    latent_dim=8, hidden_layer_sizes=(256, 128), likelihood="bernoulli",
    batch_size=64, learning_rate=2e-3, max_iter=150, random_state=0,
).fit(X)

display = SamplesDisplay.from_estimator(vae, n_samples=100, random_state=0)
display.ax_.set_title("Decoder means of 100 draws from the prior")
plt.show()

# %%
# ``vae.sample`` gives the rows themselves: noisy draws :math:`x \sim p(x \mid z)` by
# default, or the decoder's means with ``return_mean=True``.
new_images = vae.sample(5, random_state=0, return_mean=True)
print(new_images.shape)
