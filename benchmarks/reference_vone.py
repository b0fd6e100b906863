"""A straightforward VOneBlock, as the study computed it: both quadrature banks of every
channel by dense ``ksize`` x ``ksize`` convolution, a quarter of them thrown away.

Kept as the yardstick for the fast block in :mod:`vonedemo.vone` (speed and correctness).
It shares the fast block's parameters and noise, so outputs can be compared one to one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.vone_internals import VOneBlock, gabor_kernels


class ReferenceVOneBlock(nn.Module):
    def __init__(self, block: VOneBlock):
        super().__init__()
        cfg = block.config
        self.config = cfg
        self.block = block  # reused for noise, so both see the same noise settings
        self.register_buffer("q0", gabor_kernels(block.bank.params, cfg))
        self.register_buffer("q1", gabor_kernels(block.bank.params, cfg, phase_shift=math.pi / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        pad = cfg.ksize // 2
        s_q0 = F.conv2d(x, self.q0, stride=cfg.stride, padding=pad)
        s_q1 = F.conv2d(x, self.q1, stride=cfg.stride, padding=pad)
        n = cfg.simple_channels
        c = torch.sqrt(s_q0[:, n:] ** 2 + s_q1[:, n:] ** 2) / math.sqrt(2)
        s = F.relu(s_q0[:, :n])
        return self.block.add_noise(cfg.k_exc * torch.cat((s, c), 1))


class ReferenceVOneNet(nn.Module):
    """A VOne model computed the study's way: the dense reference block, then the model's own
    bottleneck (canonical channel order) and back-end. Shares every weight with ``model``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.block = ReferenceVOneBlock(model.vone)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.conv2d(self.block(x), self.model.bottleneck.weight)
        return self.model.backend(features)
