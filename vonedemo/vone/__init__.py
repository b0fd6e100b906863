"""The VOneBlock: a fixed, V1-like front-end (Dapello, Marques et al., NeurIPS 2020).

Written from the paper's description and configured as the 2021 VOneNet-FGSM study did:

* a bank of Gabor filters, parameters drawn from primate V1 measurements
  (spatial frequency and orientation: De Valois et al. 1982; envelope widths nx, ny:
  Ringach 2002, nx correlated with frequency), phase uniform;
* simple cells  ``s = ReLU(q0)`` and complex cells ``c = sqrt(q0² + q1²) / √2``, where q0 and q1
  are the responses of a quadrature pair (phase φ and φ + π/2);
* gain ``k_exc``, then Poisson-like neuronal noise ``x + N(0,1)·sqrt(relu(scale·x + level) + ε) / scale``
  followed by a ReLU — on in training *and* evaluation, as in the study;
* (in :mod:`vonedemo.models`) a learned 1x1 bottleneck to a few channels.

Faithful to the study, the complex cell adds nothing inside the square root. At zero energy
(a blank MNIST background seen through a narrow kernel) its derivative is 0/0 = NaN, which
spreads to the input gradient; ``torch.sign(NaN) == 0``. A *repaired* backward pass, defined at
zero energy, is available as an explicit, separate choice (:func:`gradient_mode`).

Modules:

* :mod:`.block` — **the study's block**, to read top to bottom: :class:`VOneConfig`, V1
  parameter sampling, Gabor kernels, simple and complex cells, gain, noise, :class:`VOneBlock`;
* :mod:`.modes` — the run-time switches: :data:`NoiseMode`, :data:`GradientMode`, their checks
  (:func:`check_noise_mode`, :func:`check_gradient_mode`) and per-thread overrides;
* fast paths, each proven equal to the study's block (tests/test_fast_vone.py):
  :mod:`.kernels` (kernel planning and cropping), :mod:`.fast` (the bank's cropped and
  exact-support computations, chunked projection), :mod:`.backward` (the hand-written
  backward), :mod:`.nan_proof` (proving the study's gradient NaN everywhere), :mod:`.noise`
  (parallel per-image noise streams);
* :mod:`.shortcut` — the NaN shortcut, the package's one interface for it (below).

Noise and gradient behaviour can be switched at run time without touching any weight, either
per block (``block.set_noise_mode``) or per thread for a ``with`` block (:func:`noise_mode`,
:func:`gradient_mode`) — the latter is what shared, cached models must use.

The NaN shortcut. On images whose raw gradient is provably NaN at every pixel, an attack's
gradient pass need not run the backward pass downstream of the block (and, when the attack
does not read the logits, not even the forward pass): the result cannot change. Two calls,
one per side, keep that inside this package:

* ``with input_gradient_pass(values_used=True, *, gradient=None, noise=None, noise_seed=0):``
  — entered by the attack around its forward and backward pass: a promise that only the
  input gradient is asked for (and, with ``values_used=False``, that the outputs' values are
  not read), with the pass's gradient and noise choices;
* ``nan_shortcut(block, x, forward, outputs) -> logits`` — called by the model for "block +
  downstream": ``forward(x)``, except that inside such a pass, for the raw gradient, on a batch
  the block proves NaN everywhere, it returns the same logits (or zeros when values are not
  used) carrying the study's all-NaN input gradient. Nothing else reads the promise.

Example::

    >>> block = VOneBlock(VOneConfig())
    >>> with noise_mode("off"):
    ...     y = block(torch.rand(2, 1, 28, 28))
    >>> y.shape
    torch.Size([2, 512, 28, 28])
"""

from .block import (
    GaborBank,
    VOneBlock,
    VOneConfig,
    complex_cell,
    gabor_kernels,
    neuronal_noise,
    sample_gabor_parameters,
)
from .kernels import CROP_TOLERANCE, crop_radius, kernel_radius
from .modes import (
    GRADIENT_MODES,
    NOISE_MODES,
    GradientMode,
    NoiseMode,
    check_gradient_mode,
    check_noise_mode,
    gradient_mode,
    noise_mode,
)
from .noise import fill_normal
from .shortcut import input_gradient_pass, nan_shortcut

__all__ = [
    "CROP_TOLERANCE",
    "GRADIENT_MODES",
    "NOISE_MODES",
    "GaborBank",
    "GradientMode",
    "NoiseMode",
    "VOneBlock",
    "VOneConfig",
    "check_gradient_mode",
    "check_noise_mode",
    "complex_cell",
    "crop_radius",
    "fill_normal",
    "gabor_kernels",
    "gradient_mode",
    "input_gradient_pass",
    "kernel_radius",
    "nan_shortcut",
    "neuronal_noise",
    "noise_mode",
    "sample_gabor_parameters",
]
