"""A linear Gaussian VAE with random weights, for the tests of the objective's closed forms."""

import torch

from skvae._networks import build_vae

N_FEATURES, LATENT_DIM = 6, 3


def linear_vae(seed=0, posterior_matched=False):
    """A linear Gaussian VAE in float64 with random weights and standardisation.

    With ``posterior_matched`` the decoder's columns are made orthogonal in
    the metric of the noise, so the exact posterior has a diagonal covariance,
    and the encoder is set to it: then the ELBO equals log p(x).
    """
    generator = torch.Generator().manual_seed(seed)
    vae = build_vae(N_FEATURES, LATENT_DIM, (), "relu", "gaussian", min_variance=1e-3).double()

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    with torch.no_grad():
        for parameter in vae.parameters():
            parameter.copy_(0.5 * randn(*parameter.shape))
        gaussian = vae.likelihood.parts[0]
        gaussian.shift.copy_(randn(N_FEATURES))
        gaussian.scale.copy_(randn(N_FEATURES).abs() + 0.5)
        if posterior_matched:
            variance = gaussian.variance()
            weight = vae.affine_weight()
            # W = Psi^(1/2) Q D with Q orthonormal: W^T Psi^-1 W = D^2 is diagonal.
            q, _ = torch.linalg.qr(randn(N_FEATURES, LATENT_DIM))
            weight.copy_(variance.sqrt()[:, None] * q * torch.tensor([2.0, 1.0, 0.5]))
            precision = weight.T @ (weight / variance[:, None])  # (d, d), diagonal
            covariance = torch.linalg.inv(torch.eye(LATENT_DIM) + precision)
            gain = covariance @ weight.T / variance  # (d, n_features)
            vae.encoder.mean.weight.copy_(gain)
            offset = vae.decode(torch.zeros(LATENT_DIM, dtype=torch.float64))  # b of W z + b
            vae.encoder.mean.bias.copy_(-gain @ offset)
            vae.encoder.log_var.weight.zero_()
            vae.encoder.log_var.bias.copy_(covariance.diagonal().log())
    return vae.eval()
