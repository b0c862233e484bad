"""
Training curves: the reconstruction and KL parts
================================================

The loss a VAE minimises has two parts: the reconstruction, :math:`-\\mathbb E_q[\\log
p(x \\mid z)]`, and the KL divergence of the posterior from the prior, the price of the latent
code. Both are recorded for every epoch, for the training rows and the held-out ones.
:class:`~skvae.TrainingCurvesDisplay` draws them with the validation ELBO, the KL warm-up
shaded and the best epoch marked. A KL near zero means an unused latent code (posterior
collapse).
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits

from skvae import TrainingCurvesDisplay, VAETransformer

X = load_digits().data / 16
vae = VAETransformer(latent_dim=8, likelihood="bernoulli", random_state=0).fit(X)
print(f"{vae.n_iter_} epochs; KL per latent dimension: {vae.kl_per_dimension_.round(2)}")

display = TrainingCurvesDisplay.from_estimator(vae)
plt.show()
