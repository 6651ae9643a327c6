"Sensitivity metrics across modules: Fisher Ω vs the pruner's Fisher statistics, Hutchinson trace, bit allocation into a BitConfig, bad input."
import pytest, torch
import torch.nn as nn
from vitlab.core import VitlabError
from vitlab.models import create_model, vit_blocks, vit_linears
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.quant.sensitivity import (components, component_sizes, fisher_sensitivity, hessian_trace, hessian_vector_product,
                                      spearman, sensitivity_bits)

@pytest.fixture(scope='module')
def deit():
    torch.manual_seed(0)
    return create_model('deit_tiny_patch16_224', img_size=32, patch_size=8, depth=2, num_classes=10).eval()

@pytest.fixture(scope='module')
def calib():
    sub = fashion_mnist_subset()
    x, y = sub.batch(torch.arange(12))
    return [(nn.functional.interpolate(x, size=32).repeat(1, 3, 1, 1), y)]  # 3×32×32 for the timm DeiT

def test_fisher_is_the_pruners_fisher(deit, calib):
    "Ω_c = ½ Σ w² F with F the structured pruner's Hessian statistic: one quantity, one implementation."
    from vitlab.prune.structured import gradient_stats
    om = fisher_sensitivity(deit, calib, n_samples=12, progress=False)
    Fd = gradient_stats(deit, calib, 'hessian', max_samples=12, progress=False)
    assert list(om) == list(vit_linears(deit)) and len(om) == 8
    for n, lin in vit_linears(deit).items():
        assert om[n] == pytest.approx(0.5*float((lin.weight.detach().double()**2*Fd[lin].double()).sum()), rel=1e-6)
    parts = fisher_sensitivity(deit, calib, level='part', n_samples=12, progress=False)
    assert parts['blocks.1.mlp'] == pytest.approx(om['blocks.1.mlp.fc1'] + om['blocks.1.mlp.fc2'], rel=1e-9)

def test_fisher_takes_a_dataset_and_caps_samples(deit):
    from vitlab.data import TensorImages
    sub = fashion_mnist_subset()
    ds = TensorImages(nn.functional.interpolate(sub.images[:20].float(), size=32).to(torch.uint8).repeat(1, 3, 1, 1), sub.labels[:20])
    a = fisher_sensitivity(deit, ds, n_samples=8, progress=False)
    b = fisher_sensitivity(deit, [ds.batch(torch.arange(8))], n_samples=8, progress=False)
    for k in a: assert a[k] == pytest.approx(b[k], rel=1e-5)

def test_hessian_trace_restores_the_model_and_is_seeded(deit, calib):
    deit.train()
    fused = [b.attn.fused_attn for b in vit_blocks(deit)]
    req = [p.requires_grad for p in deit.parameters()]
    e1 = hessian_trace(deit, calib, probes=3, tol=1e-9, n_samples=12, seed=1, progress=False)
    e2 = hessian_trace(deit, calib, probes=3, tol=1e-9, n_samples=12, seed=1, progress=False)
    assert deit.training and [b.attn.fused_attn for b in vit_blocks(deit)] == fused and [p.requires_grad for p in deit.parameters()] == req
    deit.eval()
    assert dict(e1) == pytest.approx(dict(e2), rel=1e-5) and len(e1.samples) == 3 and not e1.converged
    assert set(e1.se) == set(e1) == set(vit_linears(deit))
    assert -1 <= spearman(fisher_sensitivity(deit, calib, n_samples=12, progress=False), e1) <= 1

def test_hvp_is_linear_and_symmetric(deit, calib):
    "vᵀ(Hu) = uᵀ(Hv) and H(2v) = 2Hv — properties of a Hessian, whatever its values."
    names = list(vit_linears(deit))[:3]
    g = torch.Generator().manual_seed(0)
    u = {n: torch.randn(vit_linears(deit)[n].weight.shape, generator=g) for n in names}
    v = {n: torch.randn(vit_linears(deit)[n].weight.shape, generator=g) for n in names}
    hu, hv = hessian_vector_product(deit, calib, u), hessian_vector_product(deit, calib, v)
    vhu, uhv = sum(float((v[n]*hu[n]).sum()) for n in names), sum(float((u[n]*hv[n]).sum()) for n in names)
    assert vhu == pytest.approx(uhv, rel=1e-3, abs=1e-6)
    h2v = hessian_vector_product(deit, calib, {n: 2*t for n, t in v.items()})
    for n in names: torch.testing.assert_close(h2v[n], 2*hv[n], rtol=1e-4, atol=1e-7)

def test_sensitivity_bits_feed_a_bit_config(deit, calib):
    fake = pytest.importorskip('vitlab.quant.fake')
    om = fisher_sensitivity(deit, calib, n_samples=12, progress=False)
    bits, avg = sensitivity_bits(om, component_sizes(deit), 4)
    cfg = fake.BitConfig.uniform(deit, w=4, a=8, p=8).replace(weights=bits)
    assert cfg.weight_bits() == bits
    assert cfg.average_bits(deit)['w'] == pytest.approx(avg)
    assert abs(avg - 4) < 0.5 and set(bits.values()) <= {3, 4, 5}

@pytest.mark.parametrize('call,msg', [
    (lambda m, c: fisher_sensitivity(nn.Sequential(nn.Linear(4, 4)), c, progress=False), 'cannot compress a'),
    (lambda m, c: fisher_sensitivity(m, c, level='block', progress=False), 'unknown level'),
    (lambda m, c: fisher_sensitivity(m, [], progress=False), 'no sample'),
    (lambda m, c: fisher_sensitivity(m, None, progress=False), 'no calibration data'),
    (lambda m, c: fisher_sensitivity(m, c, n_samples=-3, progress=False), 'n_samples'),
    (lambda m, c: hessian_trace(m, c, tol=0, progress=False), 'relative tolerance'),
    (lambda m, c: hessian_trace(m, c, probes=2.5, progress=False), 'probes'),
    (lambda m, c: hessian_trace(create_model('resnet18', require_vit=False), c, progress=False), 'cannot compress a'),
    (lambda m, c: spearman({'a': 1.}, {'b': 2.}), 'in common'),
    (lambda m, c: sensitivity_bits({'a': 1.}, {'a': 10}, 2), 'leave 2..8'),
    (lambda m, c: sensitivity_bits({'a': 1.}, {'a': 10}, 4, share=0.9), 'share'),
])
def test_bad_input(deit, calib, call, msg):
    with pytest.raises(VitlabError, match=msg):
        call(deit, calib)
