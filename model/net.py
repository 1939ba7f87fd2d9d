"""The spot classifier networks and their factory.

A crop is (4, S, S): three colour channels relative to the local skin plus the mask channel of
the spot being asked about. A few scalar features (see model.crops.SCALAR_FEATURES) join the
pooled image features before the classifier head, so size survives when a big spot is shrunk.
"""
from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv, BatchNorm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SpotNet(nn.Module):
    """Small CNN (~0.3 M parameters, ~19 M multiply-adds at 48 px): four stages, average + max pooling, scalar features, MLP head."""

    def __init__(self, num_classes: int = 3, in_channels: int = 4, width: int = 16,
                 n_scalars: int = 3, dropout: float = 0.2):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            _block(in_channels, w, stride=2),
            _block(w, 2 * w),
            _block(2 * w, 2 * w),
            nn.MaxPool2d(2),
            _block(2 * w, 4 * w),
            _block(4 * w, 4 * w),
            nn.MaxPool2d(2),
            _block(4 * w, 8 * w),
            _block(8 * w, 8 * w),
        )
        self.n_scalars = n_scalars
        self.head = nn.Sequential(
            nn.Linear(16 * w + n_scalars, 64),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(64, num_classes),
        )

    def forward(self, x: torch.Tensor, scalars: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, num_classes) of crops x (N, C, S, S) and scalar features (N, n_scalars)."""
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        if self.n_scalars:
            if scalars is None:
                scalars = x.new_zeros(x.shape[0], self.n_scalars)
            pooled = torch.cat([pooled, scalars], dim=1)
        return self.head(pooled)


NETS = {"spotnet": SpotNet}


def fuse_for_inference(net: nn.Module) -> nn.Module:
    """The net in eval mode with every BatchNorm folded into the conv before it (same outputs, faster).

    Works in place on `net` and returns it; only for inference (training needs the BatchNorms).
    """
    net.eval()
    for module in net.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, bn = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                _fold(conv, bn)
                module[i + 1] = nn.Identity()
    return net


@torch.no_grad()
def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold bn's affine normalisation into conv's weight and bias."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)


def build_net(name: str = "spotnet", num_classes: int = 3, in_channels: int = 4, **kw) -> nn.Module:
    """The network called `name` (see NETS), e.g. build_net("spotnet", width=16)."""
    if name not in NETS:
        raise ValueError(f"unknown network {name!r}; known: {', '.join(sorted(NETS))}")
    return NETS[name](num_classes=num_classes, in_channels=in_channels, **kw)


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
