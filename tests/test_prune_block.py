"Block pruning (vitlab.prune.block) end to end on tiny timm ViTs: curves → allocation → plan → save/load → FLOPs → block-sparse layers; bad input."
import copy, json
import numpy as np, pytest, torch
from vitlab.core import VitlabError
from vitlab.models import create_model
from vitlab.measure import count_flops
from vitlab.prune.block import (delta_curves, allocate_sparsity, uniform_sparsity, prune_blocks, apply_block_plan, save_block_pruned,
                                load_block_pruned, block_flops, layer_costs, sparse_flops, recover_blocks, plan_masks, sparsify,
                                BlockSparseLinear)

def tiny(name='deit_tiny_patch16_224', **kw):
    torch.manual_seed(0)
    return create_model(name, img_size=32, patch_size=8, depth=2, num_classes=10, **kw).eval()

@pytest.fixture(scope='module')
def calib():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g)) for _ in range(2)]

@pytest.mark.parametrize('name,block', [('deit_tiny_patch16_224', (16, 16)), ('deit_small_patch16_224', (32, 16)),
                                        ('vit_tiny_patch16_224', (16, 32))])
def test_block_pruning_round_trip(name, block, calib, tmp_path):
    model = tiny(name)
    x = torch.randn(2, 3, 32, 32)
    curves = delta_curves(model, calib, block, ratios=10, n_samples=16, progress=False)
    assert len(curves) == 8 and all(d[0] == 0 and np.isfinite(d).all() for _, d in curves.values())
    costs = layer_costs(model, block)
    for beta in (0, 'auto'):
        r = allocate_sparsity(model, curves, 0.6, block, beta=beta)
        assert 0.59 < sparse_flops(costs, r)/costs['flops'] <= 0.6
    pruned = copy.deepcopy(model)
    plan = prune_blocks(pruned, r, calib, block, n_samples=16, progress=False)
    json.dumps(plan)
    assert block_flops(pruned, block) == plan['report']['flops_after'] < count_flops(model, x[:1])
    save_block_pruned(pruned, plan, tmp_path/'m.safetensors')
    back = load_block_pruned(tmp_path/'m.safetensors')
    with torch.no_grad(): assert torch.equal(back(x), pruned(x))
    fresh = apply_block_plan(copy.deepcopy(model), plan)
    with torch.no_grad(): assert torch.allclose(fresh(x), pruned(x), atol=1e-6)
    fast = copy.deepcopy(pruned)
    rep = sparsify(fast, block, runs=20, margin=0.0)  # margin 0: always swap, to exercise every layer's sparse form
    assert all(v['use'] in BlockSparseLinear.KINDS for v in rep.values())
    with torch.no_grad(): assert torch.allclose(fast(x), pruned(x), atol=1e-4)

def test_uniform_baseline_and_recovery_keep_zeros(calib):
    model = tiny(); teacher = copy.deepcopy(model)
    r = uniform_sparsity(model, 0.5)
    assert len(set(r.values())) <= 2  # one ratio, rounded per layer
    plan = prune_blocks(model, r, calib, progress=False)
    ds = torch.utils.data.TensorDataset(torch.cat([b[0] for b in calib]), torch.cat([b[1] for b in calib]))
    recover_blocks(model, plan, teacher, ds, max_steps=3, batch_size=8, progress=False, augment=False)
    for n, m in plan_masks(model, plan).items():
        assert (model.get_submodule(n).weight*~m).abs().max() == 0
    assert block_flops(model) == plan['report']['flops_after']

def test_bad_input(calib, tmp_path):
    model = tiny()
    with pytest.raises(VitlabError, match='no ViT blocks'): delta_curves(create_model('resnet18', require_vit=False), calib)
    with pytest.raises(VitlabError, match='no sample'): delta_curves(model, [], ratios=4, progress=False)
    with pytest.raises(VitlabError, match=r'does not divide blocks\.0\.attn\.qkv \(576×192\)'): prune_blocks(model, 0.5, calib, block=(7, 16))
    for bad in (0, -0.1, 1.5, 'half'):
        with pytest.raises(VitlabError, match='ratio'): prune_blocks(copy.deepcopy(model), bad, calib, progress=False)
    curves = delta_curves(model, calib, ratios=5, n_samples=8, progress=False)
    for bad in (0, 1.2):
        with pytest.raises(VitlabError, match='flops_ratio'): allocate_sparsity(model, curves, bad)
    pruned = copy.deepcopy(model); plan = prune_blocks(pruned, 0.5, calib, progress=False)
    with pytest.raises(VitlabError, match='does not match'): apply_block_plan(create_model('deit_small_patch16_224', img_size=32, patch_size=8, depth=2), plan)
    with pytest.raises(VitlabError, match='non-zero weights'): save_block_pruned(model, plan, tmp_path/'x.safetensors')
    assert not (tmp_path/'x.safetensors').exists() and not list(tmp_path.iterdir())
    with pytest.raises(VitlabError, match='not a vitlab block-pruning plan'): apply_block_plan(model, dict(plan, format='vitlab.pruning_plan/1'))

@pytest.mark.parametrize('ratios', [10, [0.1, 0.3, 0.5, 1.0]])
def test_incremental_matches_naive_on_coarse_tiles(ratios, calib):
    "More grid points than tiles (several α_k prune the same tiles) and a grid not starting at 0 (tiles pruned at α_0)."
    model = tiny()
    kw = dict(block=(96, 96), ratios=ratios, n_samples=16, progress=False, chunk=5)  # proj: 2×2 tiles; chunks of 5, 5, 5, 1
    inc, naive = delta_curves(model, calib, **kw), delta_curves(model, calib, incremental=False, **kw)
    for n, (a, d) in inc.items():
        np.testing.assert_allclose(d, naive[n][1], rtol=1e-5, atol=1e-6*np.abs(naive[n][1]).max())  # float32 gradients: points near 0 cancel
