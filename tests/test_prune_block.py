"Block pruning (vitlab.prune.block) end to end on tiny timm ViTs and Swins: curves → allocation → plan → save/load → FLOPs → block-sparse layers; rank agreement; bad input."
import copy, json
import numpy as np, pytest, torch
from vitlab.core import VitlabError
from vitlab.models import create_model
from vitlab.measure import count_flops
from vitlab.prune.block import (delta_curves, allocate_sparsity, uniform_sparsity, prune_blocks, apply_block_plan, save_block_pruned,
                                load_block_pruned, block_flops, layer_costs, sparse_flops, recover_blocks, plan_masks, sparsify,
                                BlockSparseLinear, power_proxy, curve_rank_agreement, second_pass_curves, block_layers)

def tiny(name='deit_tiny_patch16_224', **kw):
    torch.manual_seed(0)
    return create_model(name, img_size=32, patch_size=8, depth=2, num_classes=10, **kw).eval()

def tiny_swin(embed_dim=32, depths=(2, 2), **kw):
    "A Swin with 16×16 tokens in 4×4 windows (stage 0) and 8×8 (stage 1)."
    torch.manual_seed(0)
    return create_model('swin_tiny_patch4_window7_224', img_size=32, patch_size=2, embed_dim=embed_dim, depths=depths,
                        num_heads=tuple(2**i for i in range(1, len(depths) + 1)), window_size=4, num_classes=10, **kw).eval()

def check_plan_round_trip(model, pruned, plan, x, block, path):
    "The plan is JSON, its FLOPs are the pruned model's, and the saved file and the plan applied to a dense copy give its logits."
    json.dumps(plan)
    assert block_flops(pruned, block) == plan['report']['flops_after'] < count_flops(model, x[:1])
    save_block_pruned(pruned, plan, path)
    back = load_block_pruned(path)
    with torch.no_grad(): assert torch.equal(back(x), pruned(x))
    fresh = apply_block_plan(copy.deepcopy(model), plan)
    with torch.no_grad(): assert torch.allclose(fresh(x), pruned(x), atol=1e-6)

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
    check_plan_round_trip(model, pruned, plan, x, block, tmp_path/'m.safetensors')
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
    with pytest.raises(VitlabError, match='cannot compress a ResNet'): delta_curves(create_model('resnet18', require_vit=False), calib)
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


def test_swin_round_trip(calib, tmp_path):
    model = tiny_swin()
    x = torch.randn(2, 3, 32, 32)
    curves = delta_curves(model, calib, ratios=10, n_samples=16, progress=False)
    assert len(curves) == 17 and 'layers.1.downsample.reduction' in curves  # 4 per block + the patch merging
    assert all(d[0] == 0 and np.isfinite(d).all() for _, d in curves.values())
    costs = layer_costs(model)
    assert {n.split('.')[1]: L['tokens'] for n, L in costs['layers'].items()} == {'0': 256, '1': 64}
    assert costs['flops'] == count_flops(model, x[:1])
    for beta in (0, 'auto'):
        r = allocate_sparsity(model, curves, 0.71, beta=beta)
        assert 0.70 < sparse_flops(costs, r)/costs['flops'] <= 0.71
    pruned = copy.deepcopy(model)
    plan = prune_blocks(pruned, r, calib, n_samples=16, progress=False)
    assert plan['family'] == 'swin' and plan['create_kwargs']['depths'] == [2, 2]
    check_plan_round_trip(model, pruned, plan, x, (16, 16), tmp_path/'s.safetensors')
    fast = copy.deepcopy(pruned)
    rep = sparsify(fast, runs=20, margin=0.0)  # every layer swapped, the patch merging's (b, H, W, 4C) input included
    assert len(rep) == 17 and all(v['use'] in BlockSparseLinear.KINDS for v in rep.values())
    with torch.no_grad(): assert torch.allclose(fast(x), pruned(x), atol=1e-4)
    teacher = copy.deepcopy(model)
    ds = torch.utils.data.TensorDataset(torch.cat([b[0] for b in calib]), torch.cat([b[1] for b in calib]))
    recover_blocks(pruned, plan, teacher, ds, max_steps=2, batch_size=8, progress=False, augment=False)
    for n, m in plan_masks(pruned, plan).items(): assert (pruned.get_submodule(n).weight*~m).abs().max() == 0

def test_swin_incremental_matches_naive(calib):
    model = tiny_swin()
    kw = dict(ratios=[0, 0.2, 0.5, 1.0], n_samples=16, progress=False, chunk=5)
    inc, naive = delta_curves(model, calib, **kw), delta_curves(model, calib, incremental=False, **kw)
    for n, (a, d) in inc.items():
        np.testing.assert_allclose(d, naive[n][1], rtol=1e-5, atol=1e-6*np.abs(naive[n][1]).max())

def test_swin_costs_per_stage():
    ref = create_model('swin_tiny_patch2_fmnist')
    costs = layer_costs(ref)
    assert len(costs['layers']) == 51
    assert {n.split('.')[1]: L['tokens'] for n, L in costs['layers'].items()} == {'0': 196, '1': 49, '2': 16, '3': 4}
    L = costs['layers']['layers.2.downsample.reduction']
    assert L['flops'] == 2*16*128*256 and L['tiles'] == 8*16
    p = power_proxy(costs)
    assert p['layers.0.blocks.0.mlp.fc1'] == 196*16 and p['layers.3.blocks.1.mlp.fc1'] == 4*1024

def test_swin_bad_input(calib):
    vit, swin = tiny(), tiny_swin()
    vplan = prune_blocks(copy.deepcopy(vit), 0.5, calib, n_samples=8, progress=False)
    splan = prune_blocks(copy.deepcopy(swin), 0.5, calib, n_samples=8, progress=False)
    with pytest.raises(VitlabError, match='made for a ViT'): apply_block_plan(copy.deepcopy(swin), vplan)
    with pytest.raises(VitlabError, match='made for a Swin'): apply_block_plan(copy.deepcopy(vit), splan)
    with pytest.raises(VitlabError, match=r'names no tiles for layers\.1\.blocks\.2'): apply_block_plan(tiny_swin(depths=(2, 3)), splan)
    with pytest.raises(VitlabError, match=r'does not divide layers\.0\.blocks\.0\.attn\.qkv \(72×24\)'): block_layers(tiny_swin(embed_dim=24))
    v2 = create_model('swinv2_tiny_window8_256', img_size=32, embed_dim=16, depths=(1, 1), num_heads=(1, 2), window_size=4)
    v2plan = prune_blocks(copy.deepcopy(v2), 0.5, calib, n_samples=8, progress=False)  # Swin-V2: its qkv is routed through the module
    assert v2plan['family'] == 'swinv2' and 'layers.0.blocks.0.attn.qkv' in v2plan['layers']
    with pytest.raises(VitlabError, match='made for a Swin-V2'): apply_block_plan(tiny_swin(), v2plan)

def test_rank_agreement_and_second_pass(calib):
    model = tiny_swin()
    curves = delta_curves(model, calib, ratios=10, n_samples=16, progress=False)
    ag = curve_rank_agreement(model, curves, calib, (0.1, 0.5), n_samples=16, progress=False)
    assert ag.predicted.shape == ag.measured.shape == (17, 2) and ag.spearman.shape == (2,) and np.isfinite(ag.spearman).all()
    x, y = torch.cat([b[0] for b in calib]), torch.cat([b[1] for b in calib])
    with torch.no_grad(): assert abs(ag.loss - torch.nn.functional.cross_entropy(model(x), y).item()) < 1e-5
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = {n: 0.3 for n in curves}
    c2 = second_pass_curves(model, curves, r, calib, n_samples=16, progress=False)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the dense model is left unchanged
    for n, (a, d) in c2.items(): np.testing.assert_array_equal(d[a <= 0.3], curves[n][1][a <= 0.3])
    again = curve_rank_agreement(model, c2, calib, (0.1, 0.5), n_samples=16, measured=ag, progress=False)
    np.testing.assert_array_equal(again.measured, ag.measured)
    with pytest.raises(VitlabError, match='other layers or ratios'): curve_rank_agreement(model, c2, calib, (0.2,), measured=ag)
