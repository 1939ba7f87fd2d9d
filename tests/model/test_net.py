"""The network factory: shapes, gradients, unknown names, BatchNorm folding."""
import copy

import pytest
import torch

from spotscale.model.net import build_net, count_parameters, fuse_for_inference


def test_forward_backward_random_batch():
    torch.manual_seed(0)
    net = build_net("spotnet", num_classes=3, in_channels=4)
    x, sc = torch.randn(6, 4, 48, 48), torch.randn(6, 3)
    out = net(x, sc)
    assert out.shape == (6, 3)
    assert torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_small_enough():
    assert 50_000 < count_parameters(build_net()) < 1_000_000


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown network 'resnet9000'.*spotnet"):
        build_net("resnet9000")


def test_fusing_batchnorm_keeps_outputs():
    torch.manual_seed(1)
    net = build_net()
    net.train()
    for _ in range(3):  # give BatchNorm non-trivial running statistics
        net(torch.randn(8, 4, 48, 48) * 2 + 0.5)
    net.eval()
    x, sc = torch.randn(4, 4, 48, 48), torch.randn(4, 3)
    fused = fuse_for_inference(copy.deepcopy(net))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    torch.testing.assert_close(fused(x, sc), net(x, sc), atol=1e-4, rtol=1e-4)
