"Fake quantization and adaptive attention shrink across models and modules: timm DeiTs (plain, distilled, pruned), bit configurations on disk, bad input."
import copy, json
import pytest, torch, torch.nn as nn
from timm.models.vision_transformer import Attention
from vitlab.core import VitlabError
from vitlab.models import create_model, reference_model, vit_linears, REFERENCE_NAME
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.quant.fake import (BitConfig, calibrate, fake_quantize, set_bits, quantize_tensor, quant_params,
                               num_tokens, vit_attentions, FakeQuantAttention)
from vitlab.quant.attention_shrink import patch_importance, patch_bits, shrink_config, average_patch_bits

def small_deit(name='deit_tiny_patch16_224', **kw):
    torch.manual_seed(0)
    return create_model(name, img_size=32, patch_size=8, depth=2, **kw).eval()

@pytest.fixture(scope='module')
def deit(): return small_deit()

@pytest.fixture(scope='module')
def images():
    torch.manual_seed(1)
    return torch.randn(24, 3, 32, 32)

def rel_err(a, b): return ((a - b).norm()/b.norm()).item()

def test_timm_deit_round_trip(deit, images):
    "A timm DeiT: the copy is fake-quantized, the original and timm's Attention class are untouched."
    fused = [b.attn.fused_attn for b in deit.blocks]
    cfg = BitConfig.uniform(deit, 8, 8, 8)
    q = fake_quantize(deit, cfg, images, progress=False)
    assert type(deit.blocks[0].attn) is Attention and [b.attn.fused_attn for b in deit.blocks] == fused
    assert isinstance(q.blocks[0].attn, FakeQuantAttention) and list(vit_linears(q)) == list(vit_linears(deit))
    with torch.no_grad():
        ref = deit(images)
        e8 = rel_err(q(images), ref)
        e4 = rel_err(set_bits(q, BitConfig.uniform(deit, 4, 4, 4))(images), ref)
        e2 = rel_err(set_bits(q, BitConfig.uniform(deit, 2, 2, 2))(images), ref)
    assert e8 < 0.05 < e2 and e8 < e4 < e2, (e8, e4, e2)
    assert num_tokens(deit) == 17 and q.bit_config == BitConfig.uniform(deit, 2, 2, 2)

def test_calibrators_and_reuse(deit, images):
    "One calibration serves every calibrator and bit-width; OMSE's range never exceeds min-max's."
    cal = calibrate(deit, images, progress=False)
    name = 'blocks.1.mlp.fc2'
    for bits in (2, 4, 8):
        lo_m, hi_m = cal.range(name, bits, calibrator='minmax')
        lo_o, hi_o = cal.range(name, bits, calibrator='omse')
        assert lo_m - 1e-6 <= lo_o and hi_o <= hi_m + 1e-6
    q = fake_quantize(deit, BitConfig.uniform(deit, 4, 4, 4), calibration=cal, calibrator='minmax')
    with torch.no_grad():
        outs = {c: set_bits(q, q.bit_config, calibrator=c)(images) for c in ('minmax', 'percentile', 'omse')}
    assert q.fake_quant.calibrator == 'omse' and not torch.equal(outs['minmax'], outs['omse'])

def test_distilled_deit_two_prefix_tokens(images):
    "Distilled DeiT: two prefix tokens, per-token lists of 18; AAS keeps both prefix tokens high."
    m = small_deit('deit_tiny_distilled_patch16_224')
    assert num_tokens(m) == 18
    imp = patch_importance(m, images, progress=False)
    assert set(imp) == {0, 1} and imp[0].shape == (18,)
    cfg = shrink_config(BitConfig.uniform(m, 8, 8, 4), imp, prefix_tokens=2)
    assert all(l[:2] == [5, 5] and len(l) == 18 for l in cfg.p_patches.values())
    q = fake_quantize(m, cfg, images, progress=False)
    with torch.no_grad(): assert q(images).shape == (24, 1000)

def test_pruned_model_fake_quantizes(images):
    "A structurally pruned DeiT (fewer heads, narrower MLP) is fake-quantized like any other."
    from vitlab.prune.structured import prune_structured
    m = small_deit()
    prune_structured(m, 0.25, importance='l2', head_ratio=1/3, example=images[:1], progress=False)
    assert m.blocks[0].attn.num_heads == 2 and m.blocks[0].mlp.fc1.out_features < 768
    q = fake_quantize(m, BitConfig.uniform(m, 8, 8, 8), images, progress=False)
    with torch.no_grad(): assert rel_err(q(images), m(images)) < 0.05

def test_reference_model_aas_average_and_config_file(tmp_path):
    "AAS on the reference model: per-token bits around 4, realised average reported, config saved and loaded identical."
    m = reference_model()
    sub = fashion_mnist_subset()
    imp = patch_importance(m, loader(calibration_set(sub, 64), 32), progress=False)
    pb = patch_bits(imp, 4)
    assert all(len(l) == 17 and l[0] == 5 and set(l) <= {3, 4, 5} for l in pb.values())
    cfg = shrink_config(BitConfig.uniform(m, 6, 8, 4), imp)
    assert abs(cfg.average_bits(m)['p'] - average_patch_bits(pb)) < 1e-9
    path = cfg.save(tmp_path/'bits.json')
    d = json.loads(path.read_text())
    assert d['format'] == 'vitlab.BitConfig/1' and len(d['weights']) == 48 and len(d['p_patches']) == 12
    assert BitConfig.load(path) == cfg

def test_quantize_tensor_for_weight_perturbation():
    "`quantize_tensor` keeps shape, is per output channel by default, and its error shrinks with bits."
    w = torch.randn(64, 32) * torch.logspace(-2, 0, 64)[:, None]
    errs = [((quantize_tensor(w, b) - w)**2).sum().item() for b in range(2, 9)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert quantize_tensor(w, 4).shape == w.shape
    s, _ = quant_params(w, 4, per_channel=True)
    assert torch.allclose(s, w.abs().amax(1)/7)

@pytest.mark.parametrize('make, match', [
    (lambda m: BitConfig.uniform(m, w=1), 'not a bit-width'),
    (lambda m: BitConfig.uniform(m, a=9), 'not a bit-width'),
    (lambda m: BitConfig.uniform(m).replace(p={'blocks.0.attn': 16}), 'not a bit-width'),
    (lambda m: BitConfig.uniform(m).replace(weights={'blocks.7.mlp.fc1': 4}), 'which this config does not have'),
    (lambda m: BitConfig.uniform(create_model(REFERENCE_NAME, depth=3)).validate(m), 'which the model does not have'),
    (lambda m: BitConfig.from_dict({'weights': {}}), 'lacks activations'),
    (lambda m: quant_params(torch.randn(4), 4, calibrator='kl'), 'unknown calibrator'),
    (lambda m: fake_quantize(m, BitConfig.uniform(m), torch.randn(2, 3, 32, 32), calibrator='mse'), 'unknown calibrator'),
    (lambda m: fake_quantize(m, BitConfig.uniform(m)), 'needs calibration images'),
    (lambda m: calibrate(m, [], progress=False), 'yielded no sample'),
    (lambda m: patch_importance(m, [], progress=False), 'yielded no sample'),
    (lambda m: fake_quantize(nn.Sequential(nn.Linear(2, 2)), BitConfig.uniform(m), torch.randn(2, 2)), 'cannot compress a Sequential'),
    (lambda m: BitConfig.uniform(create_model('resnet10t', require_vit=False)), 'cannot compress a ResNet'),
    (lambda m: set_bits(m, BitConfig.uniform(m)), 'made by fake_quantize'),
    (lambda m: patch_bits({0: torch.rand(17)}, 1), 'not a bit-width'),
])
def test_bad_input(deit, make, match):
    with pytest.raises(VitlabError, match=match): make(deit)

def test_bad_config_file_is_refused_and_nothing_half_written(tmp_path, deit):
    (tmp_path/'bits.json').write_text('{"weights": ')
    with pytest.raises(VitlabError, match='not valid JSON'): BitConfig.load(tmp_path/'bits.json')
    cfg = BitConfig.uniform(deit)
    with pytest.raises(VitlabError, match='already exists'): cfg.save(tmp_path/'bits.json', overwrite=False)
    assert (tmp_path/'bits.json').read_text() == '{"weights": ' and sorted(p.name for p in tmp_path.iterdir()) == ['bits.json']

def test_symmetric_activations_and_per_tensor_weights(deit, images):
    "The non-default quantizer choices work too: symmetric activations, one weight scale per tensor."
    q = fake_quantize(deit, BitConfig.uniform(deit, 8, 8, 8), images, act_symmetric=True, weight_per_channel=False, progress=False)
    lin = q.blocks[0].mlp.fc1
    assert lin.act.params[1].item() == 0 and lin.act.params[2:] == (-128, 127)  # zero point 0, signed grid
    assert lin._wcache[(8, 'minmax', False, 99.99)][0].ndim == 0  # one weight scale
    with torch.no_grad(): assert rel_err(q(images), deit(images)) < 0.05

def test_saved_calibration_gives_the_same_model(tmp_path, deit, images):
    "A calibration saved to safetensors and loaded in another place builds the same fake-quant model."
    from vitlab.quant.fake import Calibration
    cal = calibrate(deit, images, progress=False)
    cal.save(tmp_path/'cal.safetensors')
    cfg = BitConfig.uniform(deit, 4, 6, 4)
    with torch.no_grad():
        a = fake_quantize(deit, cfg, calibration=cal)(images)
        b = fake_quantize(deit, cfg, calibration=Calibration.load(tmp_path/'cal.safetensors'))(images)
    assert torch.equal(a, b)
    cfg.save(tmp_path/'bits.json')
    with pytest.raises(VitlabError, match='not a readable safetensors file'): Calibration.load(tmp_path/'bits.json')
