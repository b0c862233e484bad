"""
Outlier scores, and the features that explain them
===================================================

:class:`~skvae.VAEOutlierDetector` scores rows (higher = more normal) and
:meth:`~skvae.VAEOutlierDetector.score_features` splits each row's score over its features,
so that a flagged row comes with the features that make it odd. Here the training rows follow
a hidden two-factor structure; the test rows include anomalies that break it in one known
feature each, some of them by a value that is ordinary on its own.
"""

import matplotlib.pyplot as plt
import numpy as np

from skvae import VAEOutlierDetector

rng = np.random.RandomState(0)
n_features = 8
loadings = rng.normal(size=(2, n_features))


def rows(n):
    return rng.normal(size=(n, 2)) @ loadings + 0.3 * rng.normal(size=(n, n_features))


X_train = rows(2000)
X_test = rows(60)
broken = np.arange(50, 60)                  # the last ten rows are anomalies
feature = rng.randint(n_features, size=10)  # each in one feature
X_test[broken, feature] += rng.choice([-3.0, 3.0], size=10)

detector = VAEOutlierDetector(random_state=0).fit(X_train)
scores = detector.score_samples(X_test)
explanation = detector.score_features(X_test)
found = (explanation[broken].argmax(axis=1) == feature).mean()
print(f"the most anomalous feature is the broken one in {found:.0%} of the anomalies")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), width_ratios=[1, 1.4])
left.scatter(np.arange(60), scores, c=np.isin(np.arange(60), broken), cmap="coolwarm", s=18)
left.axhline(detector.offset_, color="grey", lw=1, ls="--", label="offset_ (contamination)")
left.set(xlabel="test row", ylabel="score_samples (higher = more normal)",
         title="Scores: anomalies in red")
left.legend(loc="lower left")
# each row above its median part, scaled to its largest, so mild anomalies show as clearly as
# strong ones
parts = explanation[broken] - np.median(explanation[broken], axis=1, keepdims=True)
parts = np.clip(parts, 0, None)
image = right.imshow(parts / parts.max(axis=1, keepdims=True), cmap="magma", aspect="auto")
right.scatter(feature, np.arange(10), marker="o", facecolors="none", edgecolors="cyan", s=120,
              label="the broken feature")
right.set(xlabel="feature", ylabel="anomalous row", yticks=range(10),
          yticklabels=broken, title="score_features: where each anomaly is")
right.legend(loc="upper right", fontsize="small")
fig.colorbar(image, ax=right, label="part above the row's median, scaled to its largest")
fig.tight_layout()
plt.show()
