"Structured pruning across timm ViT families (random init): shapes, attention consistency, plans, bad input."
import copy, json
import pytest, torch
from vitlab.core import VitlabError
from vitlab.models import create_model, vit_blocks, REFERENCE_NAME
from vitlab.prune.structured import prune_structured, save_pruned, load_pruned, apply_plan, attention_paths_agree
from vitlab.measure import count_params

# (timm name, creation kwargs): DeiT tiny/small/base, distilled DeiT, DeiT-III (LayerScale), ViT with several patch sizes
MODELS = [('deit_tiny_patch16_224', {}), ('deit_small_patch16_224', dict(img_size=96)), ('deit_base_patch16_224', dict(img_size=64)),
          ('deit_tiny_distilled_patch16_224', dict(img_size=96)), ('deit3_small_patch16_224', dict(img_size=96)),
          ('deit3_medium_patch16_224', dict(img_size=64)), ('vit_tiny_patch16_224', dict(img_size=96)),
          ('vit_small_patch32_224', {}), ('vit_base_patch8_224', dict(img_size=32)), (REFERENCE_NAME, {})]

@pytest.mark.parametrize('name,kw', MODELS, ids=[m for m, _ in MODELS])
def test_prune_timm_vits(name, kw, tmp_path):
    torch.manual_seed(0)
    model = create_model(name, **kw).eval()
    dense = copy.deepcopy(model)
    x = torch.randn(2, *model.pretrained_cfg['input_size'][:1], *model.patch_embed.img_size)
    plan = prune_structured(model, 0.25, 'l2', head_ratio=0.34 if vit_blocks(model)[0].attn.num_heads >= 3 else 0.0, progress=False,
                            example=x[:1])
    for b, bd in zip(vit_blocks(model), vit_blocks(dense)):
        a = b.attn
        assert b.mlp.fc1.out_features == b.mlp.fc2.in_features < bd.mlp.fc1.out_features
        assert a.qkv.out_features == 3*a.attn_dim and a.proj.in_features == a.attn_dim == a.num_heads*a.head_dim
        assert a.head_dim < bd.attn.head_dim and abs(a.scale - a.head_dim**-0.5) < 1e-12
        assert b.attn.proj.out_features == bd.attn.proj.out_features  # residual width kept
    for tok in ('pos_embed', 'cls_token', 'dist_token'):
        if getattr(dense, tok, None) is not None: assert getattr(model, tok).shape == getattr(dense, tok).shape
    assert attention_paths_agree(model, x) < 1e-4
    with torch.no_grad(): y = model(x)
    assert y.shape == (2, dense.num_classes) and torch.isfinite(y).all()
    r = plan['report']
    assert 0.1 < r['params_removed'] < 0.6 and r['flops_after'] < r['flops_before'] and r['params_after'] == count_params(model)
    json.dumps(plan)
    save_pruned(model, plan, tmp_path/'p.safetensors')
    back = load_pruned(tmp_path/'p.safetensors')
    with torch.no_grad(): assert torch.equal(back(x), model(x))

def test_unsupported_models_are_named():
    with pytest.raises(VitlabError, match='has no ViT blocks'):
        prune_structured(create_model('swin_tiny_patch4_window7_224', require_vit=False), 0.1, 'l1')
    with pytest.raises(VitlabError, match="Eva has no ViT blocks.*RotaryEmbeddingCat"):
        prune_structured(create_model('eva02_tiny_patch14_224', require_vit=False, img_size=56), 0.1, 'l1')

def test_qk_norm_is_refused():
    m = create_model('vit_small_patch16_224', img_size=32, qk_norm=True)
    with pytest.raises(VitlabError, match='qk-norm'):
        prune_structured(m, 0.1, 'l1')

@pytest.mark.parametrize('kw,msg', [(dict(ratio=-0.1), 'ratio=-0.1 is outside'), (dict(ratio=1.0), 'ratio=1.0 is outside'),
                                    (dict(ratio=0.1, head_ratio=0.7, importance='l1'), 'would remove every one'),
                                    (dict(ratio=0.1, importance='magnitude'), 'unknown importance'),
                                    (dict(ratio=0.1, importance='hessian'), 'needs calibration data')])
def test_bad_arguments(kw, msg):
    m = create_model(REFERENCE_NAME)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(VitlabError, match=msg):
        prune_structured(m, **kw)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # untouched

def test_plan_mismatch_and_not_a_plan(tmp_path):
    m = create_model(REFERENCE_NAME); plan = prune_structured(m, 0.25, 'l1', progress=False)
    with pytest.raises(VitlabError, match='plan does not match the model'):
        apply_plan(create_model('deit_small_patch16_224', img_size=32), plan)
    with pytest.raises(VitlabError, match='not a vitlab pruning plan'):
        apply_plan(create_model(REFERENCE_NAME), {'layers': {}})
    with pytest.raises(VitlabError, match='plan does not match'):
        save_pruned(create_model(REFERENCE_NAME), plan, tmp_path/'x.safetensors')
    assert not (tmp_path/'x.safetensors').exists()
    from vitlab.core import save_weights
    save_weights(create_model(REFERENCE_NAME), tmp_path/'dense.safetensors')
    with pytest.raises(VitlabError, match='holds no pruning plan'):
        load_pruned(tmp_path/'dense.safetensors')

def test_train_mode_is_kept_and_hessian_runs():
    from vitlab.data import fashion_mnist_subset, calibration_set, loader
    m = create_model(REFERENCE_NAME).train()
    plan = prune_structured(m, 3/32, 'hessian', calib=loader(calibration_set(fashion_mnist_subset(), 8), 4), progress=False)
    assert m.training and plan['importance'] == 'hessian'
    assert m.blocks[0].mlp.fc1.out_features == 768 - 72
