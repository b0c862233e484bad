"""
Imputing missing values, once and many times
============================================

:class:`~skvae.VAEImputer` trains a VAE on the incomplete rows themselves and fills each hole
with its importance-weighted conditional mean given the row's observed values (MIWAE). With
``sample_imputations`` it also gives multiple imputations, draws from the posterior predictive
of the missing values, whose spread says how sure each filled value is. Here 30% of the
standardised breast-cancer table is removed at random and filled in by it and by
scikit-learn's imputers.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.preprocessing import StandardScaler

from skvae import VAEImputer

X = StandardScaler().fit_transform(load_breast_cancer().data)
mask = np.random.RandomState(0).uniform(size=X.shape) < 0.3
X_missing = np.where(mask, np.nan, X)

imputers = {
    "mean": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "IterativeImputer": IterativeImputer(max_iter=10, random_state=0),
    "VAEImputer": VAEImputer(random_state=0),
}
errors = {}
for name, imputer in imputers.items():
    filled = imputer.fit_transform(X_missing)
    errors[name] = ((filled - X)[mask] ** 2).mean()
    print(f"{name}: mean squared error on the removed entries {errors[name]:.3f}")

vae_imputer = imputers["VAEImputer"]
imputations = vae_imputer.sample_imputations(X_missing, n_imputations=20, random_state=0)
draws = np.stack(imputations)  # (20, n_samples, n_features)
low, high = np.percentile(draws, [5, 95], axis=0)
inside = ((X >= low) & (X <= high))[mask].mean()
print(f"share of removed values inside their 90% interval from 20 imputations: {inside:.2f}")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
left.barh(list(errors), list(errors.values()), color="tab:blue")
left.set(xlabel="mean squared error (standardised units)", title="Single imputation, 30% MCAR")
row = np.flatnonzero(mask[:, 0])[0]  # a row whose first feature is missing
columns = np.flatnonzero(mask[row])
right.boxplot(draws[:, row, columns], positions=range(len(columns)), widths=0.5)
right.scatter(range(len(columns)), X[row, columns], color="tab:red", zorder=3,
              label="the removed true value")
right.set(xticks=range(len(columns)), xticklabels=columns, xlabel="missing feature of one row",
          ylabel="standardised value", title="20 multiple imputations of one row")
right.legend(loc="upper right")
fig.tight_layout()
plt.show()
