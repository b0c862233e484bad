"""The decoder distributions against scipy.stats and numerical integration.

Log-probabilities are per feature, shape (..., n_features): the objective sums them.
"""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy import integrate, stats

from skvae._likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    CompositeLikelihood,
    LOG_THETA_MAX,
    GaussianLikelihood,
    LogNormalLikelihood,
    NegativeBinomialLikelihood,
    PoissonLikelihood,
    make_likelihood,
    standard_gamma,
)


def _gaussian(n_features, min_variance=1e-3, seed=0):
    likelihood = GaussianLikelihood(n_features, min_variance).double()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(seed)
        likelihood.log_excess_variance.copy_(
            torch.randn(n_features, generator=generator, dtype=torch.float64)
        )
    return likelihood


def test_gaussian_log_prob_matches_scipy():
    rng = np.random.RandomState(0)
    likelihood = _gaussian(5)
    x, decoded = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    variance = likelihood.variance().detach().numpy()
    expected = stats.norm.logpdf(x, loc=decoded, scale=np.sqrt(variance))  # (7, 5)
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded))
    assert got.shape == (7, 5)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


def test_gaussian_log_prob_broadcasts_over_draws():
    rng = np.random.RandomState(1)
    likelihood = _gaussian(3)
    x, decoded = rng.normal(size=(4, 3)), rng.normal(size=(6, 4, 3))
    variance = likelihood.variance().detach().numpy()
    expected = stats.norm.logpdf(x, loc=decoded, scale=np.sqrt(variance))
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded))
    assert got.shape == (6, 4, 3)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)


def test_gaussian_expected_log_prob_matches_numerical_integration():
    # E over decoded ~ N(m, s2) of log N(x; decoded, v), integrated by quadrature.
    likelihood = _gaussian(2, seed=3)
    variance = likelihood.variance().detach().numpy()
    x, mean, spread = np.array([0.3, -1.2]), np.array([-0.4, 0.5]), np.array([0.7, 0.2])
    expected = [
        integrate.quad(
            lambda d: stats.norm.pdf(d, mean[j], spread[j])
            * stats.norm.logpdf(x[j], d, np.sqrt(variance[j])),
            -np.inf,
            np.inf,
        )[0]
        for j in range(2)
    ]
    got = likelihood.expected_log_prob(
        torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(spread**2)
    )
    assert got.shape == (2,)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-8)


def test_gaussian_variance_floor_holds_however_small_the_parameter():
    likelihood = GaussianLikelihood(3, min_variance=1e-3).double()
    with torch.no_grad():
        likelihood.log_excess_variance.fill_(-1e4)  # exp underflows to 0
    assert_allclose(likelihood.variance().detach().numpy(), 1e-3, rtol=1e-12)
    x = torch.zeros(1, 3, dtype=torch.float64)
    # A perfect reconstruction has a finite density: log N(0; 0, 1e-3) per feature.
    expected = stats.norm.logpdf(0.0, scale=np.sqrt(1e-3))
    assert_allclose(likelihood.log_prob(x, x).detach().numpy(), [[expected] * 3], rtol=1e-12)


def test_gaussian_sample_has_the_model_variance():
    likelihood = _gaussian(2, seed=4)
    decoded = torch.tensor([[1.0, -2.0]], dtype=torch.float64).expand(200_000, 2)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0)).detach().numpy()
    variance = likelihood.variance().detach().numpy()
    assert_allclose(draws.mean(0), [1.0, -2.0], atol=5 * np.sqrt(variance.max() / 200_000))
    assert_allclose(draws.var(0), variance, rtol=0.02)


@pytest.mark.parametrize("x_value", [0.0, 1.0])
def test_bernoulli_log_prob_matches_scipy(x_value):
    rng = np.random.RandomState(0)
    logits = rng.normal(scale=4.0, size=(5, 6))
    x = np.full((5, 6), x_value)
    probability = 1.0 / (1.0 + np.exp(-logits))
    expected = stats.bernoulli.logpmf(x, probability)  # (5, 6)
    got = BernoulliLikelihood().log_prob(torch.from_numpy(x), torch.from_numpy(logits))
    assert got.shape == (5, 6)
    assert_allclose(got.numpy(), expected, rtol=1e-10)


def test_bernoulli_log_prob_is_stable_for_large_logits():
    # log sigmoid(-40) = -40 - log1p(exp(-40)) must not round to log(0).
    logits = torch.tensor([[40.0, -40.0]], dtype=torch.float64)
    x = torch.tensor([[0.0, 1.0]], dtype=torch.float64)
    got = BernoulliLikelihood().log_prob(x, logits).numpy()
    assert_allclose(got, [[-40.0 - np.log1p(np.exp(-40.0))] * 2], rtol=1e-12)


def test_bernoulli_mean_and_sample():
    logits = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64)
    likelihood = BernoulliLikelihood()
    probability = 1.0 / (1.0 + np.exp(-logits.numpy()))
    assert_allclose(likelihood.mean(logits).numpy(), probability, rtol=1e-12)
    draws = likelihood.sample(logits.expand(100_000, 3), torch.Generator().manual_seed(0))
    assert set(np.unique(draws.numpy())) <= {0.0, 1.0}
    assert_allclose(draws.numpy().mean(0), probability[0], atol=0.01)


def test_make_likelihood_by_name():
    assert isinstance(make_likelihood("gaussian", 3, 1e-3), GaussianLikelihood)
    assert isinstance(make_likelihood("bernoulli", 3, 1e-3), BernoulliLikelihood)
    assert isinstance(make_likelihood("poisson", 3, 1e-3), PoissonLikelihood)
    with pytest.raises(ValueError, match="Unknown likelihood"):
        make_likelihood("zeta", 3, 1e-3)


# ------------------------------------------------------------ the interface
def test_each_likelihood_declares_its_widths():
    for likelihood in (GaussianLikelihood(4, 1e-3), BernoulliLikelihood(4)):
        assert (likelihood.n_columns, likelihood.n_outputs, likelihood.n_inputs) == (4, 4, 4)


def test_gaussian_log_prob_is_the_density_of_the_raw_data():
    # The Gaussian owns its standardisation: log_prob of the transformed
    # values is the density of the raw ones, the Jacobian -log(scale) included.
    rng = np.random.RandomState(3)
    likelihood = GaussianLikelihood(3, min_variance=1e-3).double()
    shift, scale = rng.normal(size=3), rng.uniform(0.5, 3.0, size=3)
    likelihood.set_standardization(shift, scale)
    x = rng.normal(size=(5, 3)) * scale + shift
    decoded = rng.normal(size=(5, 3))
    variance = likelihood.variance().detach().numpy()
    got = likelihood.log_prob(likelihood.transform(torch.from_numpy(x)), torch.from_numpy(decoded))
    expected = stats.norm.logpdf(x, loc=decoded * scale + shift, scale=np.sqrt(variance) * scale)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)
    mean = likelihood.mean(torch.from_numpy(decoded)).numpy()
    assert_allclose(mean, decoded * scale + shift, rtol=1e-12)


@pytest.mark.parametrize("likelihood", [GaussianLikelihood(3, 1e-3), BernoulliLikelihood(3)])
def test_a_mask_leaves_the_missing_entries_out(likelihood):
    x = torch.tensor([[0.2, 1.0, 0.7], [0.0, 0.4, 1.0]])
    decoded = torch.tensor([[0.5, -1.0, 2.0], [0.1, 0.3, -0.2]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    x_t = likelihood.transform(x)
    full = likelihood.log_prob(x_t, decoded)
    masked = likelihood.log_prob(x_t, decoded, mask)
    assert torch.equal(masked[mask == 1], full[mask == 1])
    assert torch.equal(masked[mask == 0], torch.zeros(2))
    # A NaN where a value is missing does not leak into the result.
    x_nan = torch.where(mask == 1, x, torch.nan)
    assert torch.equal(likelihood.log_prob(likelihood.transform(x_nan), decoded, mask), masked)
    encoded = likelihood.encoder_input(likelihood.transform(x_nan), mask)
    assert torch.isfinite(encoded).all() and torch.equal(encoded[mask == 0], torch.zeros(2))


def test_a_composite_is_its_blocks_column_by_column():
    rng = np.random.RandomState(0)
    gaussian = GaussianLikelihood(2, 1e-3).double()
    gaussian.set_standardization([1.0, -2.0], [2.0, 0.5])
    bernoulli = BernoulliLikelihood(2)
    # Columns 0 and 3 are Gaussian, 1 and 2 Bernoulli: not contiguous.
    composite = CompositeLikelihood([([3, 0], gaussian), ([1, 2], bernoulli)])
    assert (composite.n_columns, composite.n_outputs) == (4, 4)
    x = torch.from_numpy(np.column_stack([
        rng.normal(size=6), rng.binomial(1, 0.5, 6), rng.binomial(1, 0.5, 6), rng.normal(size=6)
    ]))
    decoded = torch.from_numpy(rng.normal(size=(6, 4)))  # laid out block after block
    got = composite.log_prob(composite.transform(x), decoded)
    expected = torch.empty(6, 4, dtype=torch.float64)
    expected[:, [3, 0]] = gaussian.log_prob(gaussian.transform(x[:, [3, 0]]), decoded[:, :2])
    expected[:, [1, 2]] = bernoulli.log_prob(x[:, [1, 2]], decoded[:, 2:])
    assert torch.equal(got, expected)
    mean = composite.mean(decoded)
    assert torch.equal(mean[:, [3, 0]], gaussian.mean(decoded[:, :2]))
    assert torch.equal(mean[:, [1, 2]], bernoulli.mean(decoded[:, 2:]))
    draws = composite.sample(decoded, torch.Generator().manual_seed(0))
    assert set(draws[:, [1, 2]].unique().tolist()) <= {0.0, 1.0}
    assert not composite.has_expected_log_prob  # the Bernoulli block has no closed form
    mask = torch.ones(6, 4, dtype=torch.float64)
    mask[:, 0] = 0
    masked = composite.log_prob(composite.transform(x), decoded, mask)
    assert torch.equal(masked[:, 0], torch.zeros(6)) and torch.equal(masked[:, 1:], got[:, 1:])


def test_a_composite_refuses_blocks_that_do_not_cover_the_columns():
    with pytest.raises(ValueError, match="cover columns"):
        CompositeLikelihood([([0, 2], GaussianLikelihood(2, 1e-3))])
    with pytest.raises(ValueError, match="was given 1 columns"):
        CompositeLikelihood([([0], GaussianLikelihood(2, 1e-3)), ([1], BernoulliLikelihood(1))])


# ------------------------------------------------------------ tables' likelihoods
def _lognormal(n_columns, seed=0):
    likelihood = _gaussian(n_columns, seed=seed)
    lognormal = LogNormalLikelihood(n_columns, 1e-3).double()
    lognormal.load_state_dict(likelihood.state_dict())
    rng = np.random.RandomState(seed)
    lognormal.set_standardization(rng.normal(size=n_columns), rng.uniform(0.5, 2.0, n_columns))
    return lognormal


def test_lognormal_log_prob_is_scipys_lognorm_density_of_the_raw_values():
    rng = np.random.RandomState(0)
    likelihood = _lognormal(3)
    shift, scale = likelihood.shift.numpy(), likelihood.scale.numpy()
    sigma = np.sqrt(likelihood.variance().detach().numpy()) * scale  # of log x
    x = np.exp(rng.normal(size=(6, 3)) * 1.5)
    decoded = rng.normal(size=(4, 6, 3))  # broadcast over 4 draws
    got = likelihood.log_prob(likelihood.transform(torch.from_numpy(x)), torch.from_numpy(decoded))
    mu = decoded * scale + shift  # the mean of log x
    expected = stats.lognorm.logpdf(x, s=sigma, scale=np.exp(mu))
    assert got.shape == (4, 6, 3)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-10)
    mean = likelihood.mean(torch.from_numpy(decoded)).detach().numpy()
    assert_allclose(mean, stats.lognorm.mean(s=sigma, scale=np.exp(mu)), rtol=1e-10)


def test_lognormal_expected_log_prob_matches_numerical_integration():
    likelihood = _lognormal(2, seed=5)
    x, mean, spread = np.array([0.7, 3.0]), np.array([-0.4, 0.5]), np.array([0.6, 0.3])
    x_t = likelihood.transform(torch.from_numpy(x))

    def integrand(d, j):
        decoded = torch.zeros(2, dtype=torch.float64)
        decoded[j] = d
        log_prob = likelihood.log_prob(x_t, decoded)[j].item()
        return stats.norm.pdf(d, mean[j], spread[j]) * log_prob

    expected = [integrate.quad(integrand, -np.inf, np.inf, args=(j,))[0] for j in range(2)]
    got = likelihood.expected_log_prob(
        x_t, torch.from_numpy(mean), torch.from_numpy(spread**2)
    )
    assert_allclose(got.detach().numpy(), expected, rtol=1e-8)


def test_lognormal_samples_are_positive_with_the_model_median():
    likelihood = _lognormal(2, seed=2)
    decoded = torch.tensor([[0.3, -0.5]], dtype=torch.float64).expand(100_000, 2)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0)).detach().numpy()
    assert (draws > 0).all()
    median = np.exp(decoded[0].numpy() * likelihood.scale.numpy() + likelihood.shift.numpy())
    assert_allclose(np.median(draws, axis=0), median, rtol=0.02)


def _counts(cls, n_columns, seed=0):
    likelihood = cls(n_columns).double()
    rng = np.random.RandomState(seed)
    likelihood.set_statistics(
        rng.normal(size=n_columns), rng.uniform(0.5, 2.0, n_columns), rng.normal(size=n_columns)
    )
    return likelihood


def test_poisson_log_prob_matches_scipy_and_starts_at_the_offset():
    rng = np.random.RandomState(0)
    likelihood = _counts(PoissonLikelihood, 3)
    x = rng.poisson(3.0, size=(5, 3)).astype(np.float64)
    decoded = rng.normal(size=(2, 5, 3))
    rate = np.exp(decoded + likelihood.log_offset.numpy())
    got = likelihood.log_prob(likelihood.transform(torch.from_numpy(x)), torch.from_numpy(decoded))
    assert got.shape == (2, 5, 3)
    assert_allclose(got.numpy(), stats.poisson.logpmf(x, rate), rtol=1e-10)
    assert_allclose(likelihood.mean(torch.from_numpy(decoded)).numpy(), rate, rtol=1e-12)
    # The encoder reads the standardised log1p of the counts.
    encoded = likelihood.encoder_input(torch.from_numpy(x)).numpy()
    shift, scale = likelihood.shift.numpy(), likelihood.scale.numpy()
    assert_allclose(encoded, (np.log1p(x) - shift) / scale, rtol=1e-12)


def test_poisson_samples_are_counts_with_the_rate():
    likelihood = PoissonLikelihood(2).double()
    likelihood.reset_parameters()
    decoded = torch.tensor([[np.log(0.5), np.log(20.0)]], dtype=torch.float64).expand(100_000, 2)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0)).numpy()
    assert (draws >= 0).all() and np.array_equal(draws, np.round(draws))
    assert_allclose(draws.mean(0), [0.5, 20.0], rtol=0.02)
    assert_allclose(draws.var(0), [0.5, 20.0], rtol=0.03)


@pytest.mark.parametrize("log_theta", [-2.0, 0.0, 3.0, 12.0, 40.0])
def test_negative_binomial_log_prob_matches_scipy(log_theta):
    rng = np.random.RandomState(1)
    likelihood = _counts(NegativeBinomialLikelihood, 3)
    x = rng.poisson(4.0, size=(6, 3)).astype(np.float64)
    log_mean = rng.normal(size=(6, 3))
    decoded = np.concatenate([log_mean, np.full((6, 3), log_theta)], -1)  # (6, 2 x 3)
    mu = np.exp(log_mean + likelihood.log_offset.numpy())
    # log(theta) is the decoder's output, bounded smoothly beyond [-5, 10].
    theta = likelihood.log_theta(torch.from_numpy(decoded)).exp().numpy()
    if log_theta <= 10:
        assert_allclose(theta, np.exp(log_theta), rtol=1e-12)
    assert theta.max() < np.exp(LOG_THETA_MAX)
    got = likelihood.log_prob(torch.from_numpy(x), torch.from_numpy(decoded)).numpy()
    expected = stats.nbinom.logpmf(x, theta, theta / (theta + mu))
    assert got.shape == (6, 3)
    assert_allclose(got, expected, rtol=1e-8, atol=1e-8)
    assert_allclose(likelihood.mean(torch.from_numpy(decoded)).numpy(), mu, rtol=1e-12)


def test_negative_binomial_keeps_float32_precision_near_the_poisson_limit():
    # theta = e^12: lgamma(x + theta) - lgamma(theta) cancels badly in float32.
    likelihood = NegativeBinomialLikelihood(1)
    likelihood.reset_parameters()
    x = torch.tensor([[0.0], [3.0], [40.0]])
    decoded = torch.tensor([[np.log(5.0), 12.0]]).expand(3, 2)
    theta, mu = likelihood.log_theta(decoded[:1]).exp().item(), 5.0
    assert theta > 1e5
    expected = stats.nbinom.logpmf(x.numpy(), theta, theta / (theta + mu))
    assert_allclose(likelihood.log_prob(x, decoded).numpy(), expected, rtol=1e-5)


def test_negative_binomial_samples_have_its_mean_and_variance():
    likelihood = NegativeBinomialLikelihood(2).double()
    likelihood.reset_parameters()
    mu, theta = np.array([3.0, 40.0]), np.array([0.5, 4.0])
    decoded = torch.from_numpy(np.concatenate([np.log(mu), np.log(theta)])[None])
    draws = likelihood.sample(decoded.expand(200_000, 4), torch.Generator().manual_seed(0))
    draws = draws.numpy()
    assert (draws >= 0).all() and np.array_equal(draws, np.round(draws))
    assert_allclose(draws.mean(0), mu, rtol=0.02)
    assert_allclose(draws.var(0), mu + mu**2 / theta, rtol=0.05)


def test_standard_gamma_matches_scipy_and_is_seeded():
    shape = torch.tensor([0.2, 1.0, 7.5], dtype=torch.float64).expand(50_000, 3).contiguous()
    draws = standard_gamma(shape, torch.Generator().manual_seed(0)).numpy()
    for j, a in enumerate([0.2, 1.0, 7.5]):
        assert stats.kstest(draws[:, j], stats.gamma(a).cdf).pvalue > 1e-3
    again = standard_gamma(shape, torch.Generator().manual_seed(0)).numpy()
    assert np.array_equal(draws, again)


def test_categorical_log_prob_matches_scipy_per_column():
    rng = np.random.RandomState(0)
    likelihood = CategoricalLikelihood([3, 2]).double()
    likelihood.set_log_frequency(np.log([0.2, 0.3, 0.5, 0.6, 0.4]))
    codes = np.column_stack([rng.randint(3, size=7), rng.randint(2, size=7)]).astype(float)
    decoded = rng.normal(size=(4, 7, 5))  # 4 draws
    got = likelihood.log_prob(torch.from_numpy(codes), torch.from_numpy(decoded)).numpy()
    assert got.shape == (4, 7, 2)
    logits = decoded + np.log([0.2, 0.3, 0.5, 0.6, 0.4])
    for j, piece in enumerate([slice(0, 3), slice(3, 5)]):
        p = np.exp(logits[..., piece])
        p /= p.sum(-1, keepdims=True)
        one_hot = np.eye(p.shape[-1])[codes[:, j].astype(int)]
        expected = np.array([stats.multinomial.logpmf(one_hot, 1, p[k]) for k in range(4)])
        assert_allclose(got[..., j], expected, rtol=1e-10)
    encoded = likelihood.encoder_input(torch.from_numpy(codes)).numpy()
    assert encoded.shape == (7, 5)
    assert_allclose(encoded[:, :3], np.eye(3)[codes[:, 0].astype(int)])
    mean = likelihood.mean(torch.from_numpy(decoded[0])).numpy()
    most_probable = [logits[0, :, :3].argmax(-1), logits[0, :, 3:].argmax(-1)]
    assert_allclose(mean, np.column_stack(most_probable))


def test_categorical_samples_follow_the_probabilities():
    likelihood = CategoricalLikelihood([3]).double()
    likelihood.reset_parameters()
    p = np.array([0.1, 0.6, 0.3])
    decoded = torch.from_numpy(np.log(p)[None]).expand(100_000, 3)
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0)).numpy()
    assert draws.shape == (100_000, 1)
    assert_allclose(np.bincount(draws[:, 0].astype(int), minlength=3) / 100_000, p, atol=0.01)


@pytest.mark.parametrize(
    "likelihood",
    [
        LogNormalLikelihood(3, 1e-3),
        PoissonLikelihood(3),
        NegativeBinomialLikelihood(3),
        CategoricalLikelihood([2, 3, 2]),
    ],
    ids=lambda lk: type(lk).__name__,
)
def test_the_tables_likelihoods_leave_missing_entries_out(likelihood):
    likelihood.reset_parameters()
    x = torch.tensor([[1.0, 2.0, 1.0], [0.0, 1.0, 1.0]])
    decoded = torch.randn(2, likelihood.n_outputs, generator=torch.Generator().manual_seed(0))
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    x_t = likelihood.transform(x)
    full = likelihood.log_prob(x_t, decoded)
    masked = likelihood.log_prob(x_t, decoded, mask)
    assert torch.equal(masked[mask == 1], full[mask == 1])
    assert torch.equal(masked[mask == 0], torch.zeros(2))
    x_nan = torch.where(mask == 1, x, torch.nan)
    assert torch.equal(likelihood.log_prob(likelihood.transform(x_nan), decoded, mask), masked)
    encoded = likelihood.encoder_input(likelihood.transform(x_nan), mask)
    assert encoded.shape == (2, likelihood.n_inputs) and torch.isfinite(encoded).all()


def test_a_composite_of_unequal_widths_puts_every_column_back_in_place():
    rng = np.random.RandomState(0)
    counts = NegativeBinomialLikelihood(1).double()
    categories = CategoricalLikelihood([3]).double()
    gaussian = GaussianLikelihood(1, 1e-3).double()
    for part in (counts, categories, gaussian):
        part.reset_parameters()
    composite = CompositeLikelihood([([2], counts), ([0], categories), ([1], gaussian)])
    assert (composite.n_columns, composite.n_inputs, composite.n_outputs) == (3, 5, 6)
    x = torch.tensor([[2.0, 0.3, 5.0], [0.0, -1.0, 0.0]], dtype=torch.float64)
    decoded = torch.from_numpy(rng.normal(size=(2, 6)))
    got = composite.log_prob(composite.transform(x), decoded)
    assert torch.equal(got[:, 2:], counts.log_prob(x[:, 2:], decoded[:, :2]))
    assert torch.equal(got[:, :1], categories.log_prob(x[:, :1], decoded[:, 2:5]))
    assert torch.equal(got[:, 1:2], gaussian.log_prob(x[:, 1:2], decoded[:, 5:]))
    assert composite.encoder_input(composite.transform(x)).shape == (2, 5)


# ----------------------------------------------------- variance decoded per row
def _per_row(cls, n_columns, seed=0):
    likelihood = cls(n_columns, 1e-3, per_row=True).double()
    rng = np.random.RandomState(seed)
    likelihood.set_standardization(rng.normal(size=n_columns), rng.uniform(0.5, 2.0, n_columns))
    return likelihood


def test_per_row_gaussian_log_prob_matches_scipy_with_a_variance_per_row():
    rng = np.random.RandomState(0)
    likelihood = _per_row(GaussianLikelihood, 3)
    assert (likelihood.n_columns, likelihood.n_inputs, likelihood.n_outputs) == (3, 3, 6)
    assert not likelihood.has_expected_log_prob
    assert not list(likelihood.parameters())  # the variance comes from the decoder
    shift, scale = likelihood.shift.numpy(), likelihood.scale.numpy()
    x = rng.normal(size=(5, 3)) * 3
    decoded = np.concatenate([rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3)) * 2], -1)
    got = likelihood.log_prob(likelihood.transform(torch.from_numpy(x)), torch.from_numpy(decoded))
    sigma = np.sqrt(1e-3 + np.exp(decoded[..., 3:])) * scale  # each row and draw its own
    expected = stats.norm.logpdf(x, loc=decoded[..., :3] * scale + shift, scale=sigma)
    assert got.shape == (4, 5, 3)
    assert_allclose(got.detach().numpy(), expected, rtol=1e-12)
    mean = likelihood.mean(torch.from_numpy(decoded)).detach().numpy()
    assert_allclose(mean, decoded[..., :3] * scale + shift, rtol=1e-12)


def test_per_row_lognormal_log_prob_matches_scipy():
    rng = np.random.RandomState(1)
    likelihood = _per_row(LogNormalLikelihood, 2, seed=1)
    shift, scale = likelihood.shift.numpy(), likelihood.scale.numpy()
    x = np.exp(rng.normal(size=(6, 2)))
    decoded = rng.normal(size=(6, 4))
    got = likelihood.log_prob(likelihood.transform(torch.from_numpy(x)), torch.from_numpy(decoded))
    sigma = np.sqrt(1e-3 + np.exp(decoded[:, 2:])) * scale
    mu = decoded[:, :2] * scale + shift
    assert_allclose(got.detach().numpy(), stats.lognorm.logpdf(x, s=sigma, scale=np.exp(mu)),
                    rtol=1e-10)
    mean = likelihood.mean(torch.from_numpy(decoded)).detach().numpy()
    assert_allclose(mean, stats.lognorm.mean(s=sigma, scale=np.exp(mu)), rtol=1e-10)


def test_per_row_variance_keeps_its_floor_and_stays_finite_in_float32():
    likelihood = GaussianLikelihood(1, min_variance=1e-3, per_row=True)
    decoded = torch.tensor([[0.0, -1e4], [0.0, 1e4], [0.0, 1e38]])
    variance = likelihood.variance(decoded)[:, 0]
    assert variance[0].item() == pytest.approx(1e-3, rel=1e-5)  # + exp(-20) at most
    assert torch.isfinite(variance).all() and variance.max().item() < 1e-3 + np.exp(10.0) * 1.01
    log_prob = likelihood.log_prob(torch.tensor([[1e3]] * 3), decoded)
    assert torch.isfinite(log_prob).all()
    draws = likelihood.sample(decoded, torch.Generator().manual_seed(0))
    assert torch.isfinite(draws).all()


def test_per_row_gaussian_samples_have_each_rows_variance():
    likelihood = GaussianLikelihood(1, 1e-3, per_row=True).double()
    decoded = torch.tensor([[1.0, np.log(0.01)], [-2.0, np.log(4.0)]], dtype=torch.float64)
    draws = likelihood.sample(decoded.repeat(100_000, 1), torch.Generator().manual_seed(0))
    draws = draws.reshape(100_000, 2).numpy()
    assert_allclose(draws.mean(0), [1.0, -2.0], atol=0.02)
    assert_allclose(draws.var(0), [0.011, 4.001], rtol=0.03)


def test_make_likelihood_builds_the_per_row_variant():
    assert make_likelihood("gaussian", 3, 1e-3, per_row=True).n_outputs == 6
    assert make_likelihood("lognormal", 3, 1e-3, per_row=True).n_outputs == 6
    assert make_likelihood("gaussian", 3, 1e-3).n_outputs == 3
