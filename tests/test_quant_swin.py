"Quantization across modules on Swin: fake quantization with window attention, sensitivity, AAS in windows, Pareto allocation, NSGA-II search, mixed-precision export; Swin-V2's cosine attention."
import copy, json
import numpy as np
import pytest, torch
import torch.nn.functional as F
from vitlab.core import VitlabError
from vitlab.models import create_model, vit_blocks, vit_linears, SWIN_REFERENCE_NAME
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.quant.fake import BitConfig, calibrate, fake_quantize, set_bits, prepare, quant_points, window_token_index, attention_tokens
from vitlab.quant.sensitivity import fisher_sensitivity, components
from vitlab.quant.attention_shrink import patch_importance, patch_bits, shrink_config
from vitlab.quant.pareto import allocate_bits, perturbation_table, uniform_points
from vitlab.quant.search import BitSearch, LatencyModel, search_bits, non_dominated_sort

def small_swin(**kw):
    torch.manual_seed(0)
    return create_model(SWIN_REFERENCE_NAME, **{**dict(embed_dim=16, depths=(2, 1), num_heads=(1, 2)), **kw}).eval()

@pytest.fixture(scope='module')
def swin(): return small_swin()

@pytest.fixture(scope='module')
def sub(): return fashion_mnist_subset()

@pytest.fixture(scope='module')
def xs(sub): return sub.batch(torch.arange(16))[0]

def manual(model):
    m = copy.deepcopy(model)
    for b in vit_blocks(m): b.attn.fused_attn = False
    return m

def test_float_path_is_timm_and_bits_order_the_error(swin, xs):
    "All quantizers off: timm's manual WindowAttention exactly; quantized: the error shrinks with bits."
    with torch.no_grad():
        ref = manual(swin)(xs)
        assert torch.equal(prepare(swin)(xs), ref)
        q = fake_quantize(swin, BitConfig.uniform(swin), xs, progress=False)
        errs = [(set_bits(q, BitConfig.uniform(swin, b, b, b))(xs) - ref).abs().max().item() for b in (8, 6, 4, 2)]
    assert errs == sorted(errs) and errs[0] < 0.02*ref.abs().max().item(), errs
    assert type(q.layers[0].blocks[1].attn).__name__ == 'FakeQuantWindowAttention'

def test_attention_quantizers_see_windows(swin, xs):
    "P and V are quantized per window: (images·windows, heads, M², ·); the shifted block's mask is timm's."
    q = prepare(swin); shapes = {}
    for name, m in quant_points(q).items():
        if name.endswith(('.p', '.v')): m.register_forward_pre_hook(lambda m, a: shapes.__setitem__(m.name, tuple(a[0].shape)))
    with torch.no_grad(): q(xs)
    assert shapes['layers.0.blocks.1.attn.p'] == (16*4, 1, 49, 49) and shapes['layers.0.blocks.1.attn.v'] == (16*4, 1, 49, 16)
    assert shapes['layers.1.blocks.0.attn.p'] == (16, 2, 49, 49)
    assert swin.layers[0].blocks[1].shift_size == (3, 3) and swin.layers[0].blocks[1].attn_mask.shape == (4, 49, 49)

def test_window_token_index_with_padding():
    "A 12×12 grid in 7×7 windows: padded to 14×14, 52 padding positions, every token exactly once."
    m = small_swin(img_size=24)
    ix = window_token_index(m.layers[0].blocks[1])
    assert ix.shape == (4, 49) and int((ix < 0).sum()) == 52 and sorted(ix[ix >= 0].tolist()) == list(range(144))
    assert attention_tokens(m)['layers.0.blocks.0.attn'] == 144

def test_per_token_bits_in_windows_and_config_file(swin, xs, tmp_path):
    "AAS on a Swin: importance sums to 1 per block, lists as long as each stage's grid, config saved and loaded identical."
    imp = patch_importance(swin, xs, progress=False)
    assert imp.prefix_tokens == 0 and [len(imp[i]) for i in imp] == [196, 196, 49]
    for i in imp: assert abs(imp[i].sum().item() - 1) < 1e-5
    cfg = shrink_config(BitConfig.uniform(swin, 8, 8, 4), imp)
    assert [len(l) for l in cfg.p_patches.values()] == [196, 196, 49]
    assert BitConfig.load(cfg.save(tmp_path/'swin_bits.json')) == cfg
    q = fake_quantize(swin, cfg, xs, progress=False)
    pq = q.layers[0].blocks[0].attn.p_quant
    if isinstance(pq.bits, list): assert pq.params[0].shape == (4, 1, 49, 1)
    with torch.no_grad(): assert q(xs).shape == (16, 10)
    with pytest.raises(VitlabError, match='its stage has 196 tokens'):
        BitConfig.uniform(swin).replace(p_patches={'layers.0.blocks.0.attn': [8]*49}).validate(swin)

def test_fisher_sensitivity_on_swin_by_hand(sub):
    "Ω_c of Eq. 10 from per-sample gradients summed over windows equals ordinary per-sample backward passes."
    m = small_swin(embed_dim=8, depths=(2,), num_heads=(2,), mlp_ratio=1)
    x, y = sub.batch(torch.arange(4))
    om = fisher_sensitivity(m, [(x, y)], n_samples=4, progress=False)
    W = {n: l.weight for n, l in vit_linears(m).items()}
    hand = {n: 0. for n in W}
    for i in range(4):
        m.zero_grad(); F.cross_entropy(m(x[i:i+1]), y[i:i+1]).backward()
        for n, w in W.items(): hand[n] += float(((w.grad*w.detach())**2).sum())/8
    m.zero_grad(set_to_none=True)
    assert list(om) == list(W)
    for n in W: assert om[n] == pytest.approx(hand[n], rel=1e-4, abs=1e-9*max(hand.values()))
    assert list(components(m, 'part'))[:2] == ['layers.0.blocks.0.attn', 'layers.0.blocks.0.mlp']

def test_pareto_allocation_drives_fake_quant(swin, sub):
    rng = np.random.default_rng(0)
    sens = {n: float(rng.uniform(0.1, 2)) for n in vit_linears(swin)}
    u4 = next(u for u in uniform_points(perturbation_table(swin, sens)) if u['bits'] == 4)
    cfg = allocate_bits(swin, sens, u4['size']/1e6)
    wb = cfg.weight_bits()
    assert set(wb) == set(vit_linears(swin)) and len(set(wb.values())) > 1
    assert sum(vit_linears(swin)[n].weight.numel()*b for n, b in wb.items())/8 <= u4['size']
    q = fake_quantize(swin, cfg, loader(calibration_set(sub, 32), 32), progress=False)
    with torch.no_grad(): assert q(sub[0][0][None]).shape == (1, 10)

def test_search_front_on_swin(swin, sub):
    lat = LatencyModel(fp32_ms=10., linear_ms=[2.]*3, qk_ms=[.5]*3, av_ms=[.5]*3, int8_ratio=.6)
    space = BitSearch(swin, sub, loader(calibration_set(sub, 32, seed=0), 32), n_eval=64, latency=lat, progress=False)
    assert space.n_genes == 9 and space.prefix.exact
    front = search_bits(None, None, None, generations=2, population=6, space=space, progress=False)
    Fr = np.array([[1 - o['acc'], o['latency_ms'], o['size_mb']] for _, o in front])
    assert len(front) >= 1 and len(non_dominated_sort(Fr)[0]) == len(Fr)
    assert (Fr[:, 2] <= space.int8_mb).all() and (Fr[:, 1] <= space.fp32_ms).all()
    for c, _ in front: c.validate(swin)

def small_swinv2(**kw):
    "A small Swin-V2 with its post-norms moved off timm's zero init (else every block is the identity)."
    torch.manual_seed(0)
    m = create_model('swinv2_tiny_window8_256', **{**dict(img_size=32, embed_dim=32, depths=(2, 1), num_heads=(1, 2), window_size=4, num_classes=10), **kw}).eval()
    with torch.no_grad():
        for b in vit_blocks(m): b.norm1.weight.normal_(1, .1); b.norm2.weight.normal_(1, .1)
    return m

def test_swin_v2_through_quantization():
    "Cosine attention: float path = timm's, bits order the error, q̂/k̂ are unit vectors; sensitivity, AAS, Pareto and int4/int8 export on V2."
    from vitlab.deploy.mixed import quantize_mixed
    v2, x = small_swinv2(), torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        ref = v2(x)
        assert (prepare(v2)(x) - ref).abs().max() < 1e-5*ref.abs().max()
        q = fake_quantize(v2, BitConfig.uniform(v2), x, progress=False)
        assert type(q.layers[0].blocks[1].attn).__name__ == 'FakeQuantWindowAttentionV2'
        errs = [(set_bits(q, BitConfig.uniform(v2, b, b, b))(x) - ref).abs().max().item() for b in (8, 6, 4, 2)]
    assert errs == sorted(errs) and 0 < errs[0] < 0.05*ref.abs().max().item(), errs
    seen = {}
    h = q.layers[0].blocks[0].attn.k_quant.register_forward_pre_hook(lambda m, a: seen.update(k=a[0]))
    with torch.no_grad(): q(x[:2])
    h.remove(); assert torch.allclose(seen['k'].norm(dim=-1), torch.ones(1), atol=1e-5)
    sens = fisher_sensitivity(v2, [(x, torch.arange(16) % 10)], level='part', n_samples=16, progress=False)
    assert list(sens) == list(components(v2, 'part')) and min(sens.values()) > 0
    table = perturbation_table(v2, sens)
    assert all('cpb_mlp' not in l for ls in table['layers'].values() for l in ls)  # the bias MLP stays float
    cfg = allocate_bits(v2, sens, 0.5*sum(l.weight.numel() for l in vit_linears(v2).values())/1e6, bits=(4, 8))
    cfg.validate(v2)
    imp = patch_importance(v2, x, progress=False)
    assert imp.grids == {0: (8, 8), 1: (8, 8), 2: (4, 4)} and all(abs(imp[i].sum().item() - 1) < 1e-5 for i in imp)
    bits = {n: (4 if 'mlp' in n else 8) for n in vit_linears(v2)}
    with torch.no_grad(): yq = quantize_mixed(v2, bits)(x)
    assert 0 < (yq - ref).abs().max() < 0.25*ref.abs().max()

def test_mixed_precision_swin_eager_and_refusal():
    "int4 groups of 32 on a 32-wide stage; a 16-wide stage refuses int4 by layer name."
    from vitlab.deploy.mixed import mixed_configs, quantize_mixed, runnable_bits
    m = small_swin(embed_dim=32, depths=(2,), num_heads=(1,))
    bits = {n: (4 if 'mlp' in n else 8) for n in vit_linears(m)}
    assert {c.weight_granularity.group_size for c in mixed_configs(m, bits).values() if c.weight_dtype == torch.int4} == {32}
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad(): y, yq = m(x), quantize_mixed(m, bits)(x)
    assert 0 < (yq - y).abs().max().item() < 0.25*y.abs().max().item()
    narrow = small_swin(embed_dim=16, depths=(1,), num_heads=(1,))
    with pytest.raises(VitlabError, match='layers.0.blocks.0.mlp.fc1: 4-bit weights cannot run'): mixed_configs(narrow, {'layers.0.blocks.0.mlp.fc1': 4})
    assert runnable_bits(narrow, {'layers.0.blocks.0.mlp.fc1': 4, 'layers.0.blocks.0.mlp.fc2': 4}) == {'layers.0.blocks.0.mlp.fc1': 8, 'layers.0.blocks.0.mlp.fc2': 4}

def test_mixed_precision_swin_export(tmp_path):
    "The ExecuTorch program of a mixed int4/int8 Swin computes what the eager quantized Swin computes."
    pytest.importorskip('executorch')
    from vitlab.deploy.mixed import export_mixed_pte, quantize_mixed
    from vitlab.deploy.runtimes import load_exported
    m = small_swin(embed_dim=32, depths=(2,), num_heads=(1,))
    bits = {n: (4 if 'mlp' in n else 8) for n in vit_linears(m)}
    x = torch.randn(2, 1, 28, 28)
    p = export_mixed_pte(m, bits, tmp_path/'swin.pte', x[:1])
    with torch.no_grad(): yq = quantize_mixed(m, bits)(x); d = (load_exported(p)(x) - yq).abs().max().item()
    assert d < 0.05*yq.abs().max().item(), d
