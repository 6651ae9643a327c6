"Structured pruning of timm Swin and Swin-V2 (random init): widths, per-head parameters, attention paths, masks, plans, refusals."
import copy, json
import pytest, torch
torch.set_num_threads(1)
from vitlab.core import VitlabError
from vitlab.models import create_model, create_from_plan, vit_blocks, REFERENCE_NAME, SWIN_REFERENCE_NAME
from vitlab.prune.structured import (prune_structured, save_pruned, load_pruned, apply_plan, attention_paths_agree, kept_heads,
                                     timm_architecture, PrunedWindowAttentionV2)
from vitlab.measure import count_params

# (timm name, creation kwargs): Swin-T/S/B at a small image size (stage grids 14-7-4-2), the reference, Swin-V2 tiny and small
MODELS = [('swin_tiny_patch4_window7_224', dict(img_size=56)), ('swin_small_patch4_window7_224', dict(img_size=56)),
          ('swin_base_patch4_window7_224', dict(img_size=56)), (SWIN_REFERENCE_NAME, {}),
          ('swinv2_tiny_window8_256', dict(img_size=64)), ('swinv2_small_window8_256', dict(img_size=64))]

def _input(model, n=2, seed=0):
    pe = model.patch_embed
    return torch.randn(n, pe.proj.in_channels, *pe.img_size, generator=torch.Generator().manual_seed(seed))

def _widths(m):
    "Every residual-stream width: patch embedding, patch merging, each block's inputs and outputs, final norm, head."
    return ([m.patch_embed.proj.out_channels, tuple(m.norm.normalized_shape), m.head.fc.in_features]
            + [tuple(s.downsample.reduction.weight.shape) for s in m.layers[1:]]
            + [(b.attn.qkv.in_features, b.attn.proj.out_features, b.mlp.fc1.in_features, b.mlp.fc2.out_features) for b in vit_blocks(m)])

def _randomise_heads(m):
    "Per-head parameters that differ between heads (timm initialises logit_scale and the q/v biases to constants)."
    with torch.no_grad():
        for b in vit_blocks(m):
            a = b.attn
            if hasattr(a, 'relative_position_bias_table'): a.relative_position_bias_table.normal_()
            if hasattr(a, 'logit_scale'): a.logit_scale.normal_(2.0, 0.5); a.q_bias.normal_(0, 0.1); a.v_bias.normal_(0, 0.1)
    return m

@pytest.mark.parametrize('name,kw', MODELS, ids=[m for m, _ in MODELS])
def test_prune_timm_swins(name, kw, tmp_path):
    torch.manual_seed(0)
    dense = _randomise_heads(create_model(name, **kw).eval())
    model = copy.deepcopy(dense)
    x = _input(model)
    plan = prune_structured(model, 0.25, 'l2', head_ratio=0.25, progress=False)
    v2 = plan['family'] == 'swinv2'
    assert plan['family'] == ('swinv2' if name.startswith('swinv2') else 'swin')
    assert _widths(model) == _widths(dense)
    for (n, A), b, bd in zip(plan['attention'].items(), vit_blocks(model), vit_blocks(dense)):
        a, ad, H = b.attn, bd.attn, bd.attn.num_heads
        assert a.num_heads == len(A['keep_heads']) == H - -(-H//4)  # ceil(H/4) heads removed
        d = a.proj.in_features//a.num_heads
        assert a.qkv.out_features == 3*a.proj.in_features and d == A['head_dim'] < A['orig_head_dim']
        assert b.mlp.fc1.out_features == b.mlp.fc2.in_features < bd.mlp.fc1.out_features
        h = A['keep_heads']
        if v2:
            assert type(a) is PrunedWindowAttentionV2
            assert torch.equal(a.logit_scale, ad.logit_scale[h]) and torch.equal(a.cpb_mlp[-1].weight, ad.cpb_mlp[-1].weight[h])
            keep = plan['layers'][f'{n}.qkv']['keep_out']; A0 = ad.q_bias.numel()
            assert torch.equal(a.q_bias, ad.q_bias[keep[:len(keep)//3]]) and torch.equal(a.v_bias, ad.v_bias[[r - 2*A0 for r in keep[2*len(keep)//3:]]])
            assert a.k_bias.shape == a.q_bias.shape
        else:
            assert torch.equal(a.relative_position_bias_table, ad.relative_position_bias_table[:, h])
            assert abs(a.scale - d**-0.5) < 1e-12
        assert (b.attn_mask is None and bd.attn_mask is None) or torch.equal(b.attn_mask, bd.attn_mask)  # shifted windows unchanged
    assert sum(b.attn_mask is not None for b in vit_blocks(model)) >= 1
    assert attention_paths_agree(model, x) < 1e-4
    with torch.no_grad(): y = model(x)
    assert y.shape == (2, dense.num_classes) and torch.isfinite(y).all()
    r = plan['report']
    assert 0.1 < r['params_removed'] < 0.6 and r['flops_after'] < r['flops_before'] and r['params_after'] == count_params(model)
    json.dumps(plan)
    fresh = create_from_plan(plan); fresh.load_state_dict(dense.state_dict())
    with torch.no_grad(): assert torch.equal(apply_plan(fresh, plan).eval()(x), y)  # the plan on a fresh dense model, same weights
    save_pruned(model, plan, tmp_path/'p.safetensors')
    with torch.no_grad(): assert torch.equal(load_pruned(tmp_path/'p.safetensors')(x), y)

def test_create_kwargs_rebuild_a_custom_swin():
    m = create_model('swin_tiny_patch4_window7_224', img_size=64, window_size=4, depths=(1, 1, 2, 1), embed_dim=48, num_heads=(2, 4, 4, 8), num_classes=7)
    arch, kw = timm_architecture(m)
    assert (arch, kw) == ('swin_tiny_patch4_window7_224', dict(num_classes=7, img_size=[64, 64], in_chans=3, embed_dim=48, depths=[1, 1, 2, 1],
                                                               num_heads=[2, 4, 4, 8], window_size=4, mlp_ratio=4.0))
    back = create_from_plan(dict(arch=arch, create_kwargs=json.loads(json.dumps(kw))))
    assert back.state_dict().keys() == m.state_dict().keys()
    assert all(v.shape == m.state_dict()[k].shape for k, v in back.state_dict().items())

@pytest.mark.parametrize('name,kw', [(SWIN_REFERENCE_NAME, {}), ('swinv2_tiny_window8_256', dict(img_size=64, depths=(2, 1, 2, 1)))])
def test_heads_only_is_exact(name, kw):
    "ratio=0, head_ratio>0: whole heads go, nothing else; the logits are the dense model's with those heads' proj columns zeroed."
    torch.manual_seed(0)
    dense = _randomise_heads(create_model(name, **kw).eval())
    m, zeroed = copy.deepcopy(dense), copy.deepcopy(dense)
    plan = prune_structured(m, 0.0, 'l2', head_ratio=0.5, progress=False)
    assert plan['report']['heads_kept'] == [b.attn.num_heads//2 for b in vit_blocks(dense)]
    for b, bd in zip(vit_blocks(m), vit_blocks(dense)):
        assert b.attn.proj.in_features//b.attn.num_heads == bd.attn.proj.in_features//bd.attn.num_heads
        assert b.mlp.fc1.out_features == bd.mlp.fc1.out_features
    with torch.no_grad():
        for n, A in plan['attention'].items():
            d = A['orig_head_dim']
            for h in set(range(A['orig_heads'])) - set(A['keep_heads']): zeroed.get_submodule(n).proj.weight[:, h*d:(h + 1)*d] = 0
        x = _input(m, 3)
        torch.testing.assert_close(m(x), zeroed(x), rtol=1e-5, atol=1e-6)

def _state(m): return {k: v.clone() for k, v in m.state_dict().items()}

def _same(m, sd): return m.state_dict().keys() == sd.keys() and all(torch.equal(sd[k], v) for k, v in m.state_dict().items())

def test_plans_refuse_the_wrong_family():
    vit_plan = prune_structured(create_model(REFERENCE_NAME).eval(), 0.25, 'l1', progress=False)
    swin_plan = prune_structured(create_model(SWIN_REFERENCE_NAME).eval(), 0.25, 'l1', head_ratio=0.25, progress=False)
    v2_plan = prune_structured(create_model('swinv2_tiny_window8_256', img_size=64, depths=(1, 1, 1, 1)).eval(), 0.25, 'l1', progress=False)
    for plan, model, msg in [(vit_plan, create_model(SWIN_REFERENCE_NAME), r'it prunes a ViT \(deit_tiny_patch7_fmnist\), the model is a Swin \(SwinTransformer\)'),
                             (swin_plan, create_model(REFERENCE_NAME), r'it prunes a Swin \(swin_tiny_patch2_fmnist\), the model is a ViT'),
                             (v2_plan, create_model(SWIN_REFERENCE_NAME), r'it prunes a Swin-V2 .* the model is a Swin \(')]:
        sd = _state(model)
        with pytest.raises(VitlabError, match=msg): apply_plan(model, plan)
        assert _same(model, sd)  # nothing changed
    old = {k: v for k, v in vit_plan.items() if k != 'family'}  # plans without a family are ViT plans
    with pytest.raises(VitlabError, match='it prunes a ViT'): apply_plan(create_model(SWIN_REFERENCE_NAME), old)

def test_bad_swin_plans_leave_the_model_whole():
    plan = prune_structured(create_model(SWIN_REFERENCE_NAME).eval(), 0.25, 'l1', head_ratio=0.25, progress=False)
    model = create_model(SWIN_REFERENCE_NAME); sd = _state(model)
    n = 'layers.1.blocks.0.attn'
    bad = json.loads(json.dumps(plan)); bad['layers'][f'{n}.qkv']['keep_out'] = bad['layers'][f'{n}.qkv']['keep_out'][1:]
    bad['layers'][f'{n}.qkv']['out_features'] = plan['layers'][f'{n}.qkv']['out_features']
    with pytest.raises(VitlabError, match='do not form whole heads'): apply_plan(model, bad)
    bad = json.loads(json.dumps(plan)); bad['attention'][n]['keep_heads'] = [0, 1, 2]
    if plan['attention'][n]['keep_heads'] != [0, 1, 2]:
        with pytest.raises(VitlabError, match='plan is inconsistent'): apply_plan(model, bad)
    with pytest.raises(VitlabError, match='plan does not match the model'):
        apply_plan(create_model(SWIN_REFERENCE_NAME, embed_dim=48, num_heads=(3, 6, 12, 24)), plan)
    assert _same(model, sd)

def test_swin_refusals():
    m = create_model(SWIN_REFERENCE_NAME); sd = _state(m)
    cb = [(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))]
    with pytest.raises(VitlabError, match=r'depth pruning \(whole-block removal\) does not support Swin models.*4 stages') as e:
        prune_structured(m, 0.25, 'l2', depth_ratio=0.25, calib=cb)
    assert 'use depth_ratio=0' in e.value.fix
    with pytest.raises(VitlabError, match='every one of the 2 heads of layers.0.blocks.0.attn'):
        prune_structured(m, 0.25, 'l2', head_ratio=0.6)
    with pytest.raises(VitlabError, match='needs calibration data'):
        prune_structured(m, 0.25, 'taylor')
    assert _same(m, sd)

def test_kept_heads():
    q = [0, 1, 6, 7, 9, 10]
    assert kept_heads(q + [r + 12 for r in q] + [r + 24 for r in q], 4, 3) == [0, 2, 3]
    assert kept_heads(list(range(36)), 4, 3) == [0, 1, 2, 3]
    for bad in (q + [r + 12 for r in q], [0, 1, 6, 9, 10, 12, 13, 18, 21, 22, 24, 25, 30, 33, 34], [], [0, 0, 12, 24]):
        with pytest.raises(VitlabError, match='do not form whole heads'): kept_heads(bad, 4, 3)

def test_taylor_and_global_ranking_on_swin():
    torch.manual_seed(0)
    m = create_model(SWIN_REFERENCE_NAME).eval()
    cb = [(torch.randn(4, 1, 28, 28), torch.randint(0, 10, (4,)))]
    plan = prune_structured(m, 3/32, 'taylor', head_ratio=0.25, calib=cb, progress=False)
    assert plan['importance'] == 'taylor' and [b.mlp.fc1.out_features for b in m.layers[0].blocks] == [116, 116]
    assert attention_paths_agree(m, cb[0][0]) < 1e-4
    g = create_model(SWIN_REFERENCE_NAME).eval()
    pg = prune_structured(g, 0.25, 'l2', global_ranking=True, progress=False)
    fc1 = [b.mlp.fc1.out_features for b in vit_blocks(g)]
    dense = [b.mlp.fc1.out_features for b in vit_blocks(create_model(SWIN_REFERENCE_NAME))]
    assert sum(fc1) < sum(dense) and len(set(f/d for f, d in zip(fc1, dense))) > 1  # ranked across layers: uneven
    assert attention_paths_agree(g, cb[0][0]) < 1e-4 and pg['report']['params_after'] == count_params(g)
