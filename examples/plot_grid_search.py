"""
Choosing the latent size and beta with GridSearchCV
===================================================

:meth:`~skvae.VAETransformer.score` is the mean ELBO of held-out rows, computed with
:math:`\\beta = 1` whatever ``beta`` the model was trained with, so it is a bound on the same
log-likelihood for every candidate. :class:`~sklearn.model_selection.GridSearchCV` can
therefore choose ``latent_dim`` and ``beta`` as it chooses the components of a
:class:`~sklearn.mixture.GaussianMixture`.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

X = load_digits().data / 16
grid = {"latent_dim": [2, 4, 8, 16], "beta": [0.5, 1.0]}
search = GridSearchCV(
    VAETransformer(likelihood="bernoulli", max_iter=40, random_state=0),  # 40 epochs: quick
    grid, cv=2,
).fit(X)
print("best:", search.best_params_, f"held-out ELBO {search.best_score_:.2f} nats per image")

scores = search.cv_results_["mean_test_score"].reshape(len(grid["latent_dim"]), len(grid["beta"]))
fig, ax = plt.subplots(figsize=(6, 4))
positions = range(len(grid["latent_dim"]))
for j, beta in enumerate(grid["beta"]):
    ax.plot(positions, scores[:, j], marker="o", label=f"beta = {beta}")
ax.set(xticks=positions, xticklabels=grid["latent_dim"], xlabel="latent_dim",
       ylabel="mean held-out ELBO (nats per image)",
       title="GridSearchCV over latent_dim and beta (2 folds)")
ax.legend()
plt.show()
