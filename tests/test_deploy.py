"Deployment: quantized and exported models agree with eager, and bad input gets a VitlabError that says what to do."
import pytest, torch, torch.nn as nn
from vitlab.core import VitlabError
from vitlab.models import create_model, reference_model, REFERENCE_NAME, REFERENCE_WEIGHTS
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.measure import agreement
from vitlab.deploy import quantize, module_precision, export_pte, export_lite, check_export, load_exported, QUANT_MODES, PTE_MODES

torch.set_num_threads(1)

def test_unknown_backend(tiny):
    with pytest.raises(VitlabError, match=r"unknown quantization backend 'tflite'.*use one of 'x86', 'fbgemm', 'qnnpack', 'onednn'"):
        quantize(tiny, 'int8_dynamic', backend='tflite')

def test_unknown_mode(tiny):
    with pytest.raises(VitlabError, match=r"unknown quantization mode 'int4'.*'fp16'"):
        quantize(tiny, 'int4')

def test_static_without_calibration(tiny, tmp_path, example):
    with pytest.raises(VitlabError, match=r"needs calibration images.*calibration_set"):
        quantize(tiny, 'int8_static')
    with pytest.raises(VitlabError, match=r"needs calibration images"):
        export_pte(tiny, tmp_path/'q.pte', example, mode='int8_static')
    assert not list(tmp_path.iterdir())

def test_static_quantizes_every_linear(tiny, sub):
    q = quantize(tiny, 'int8_static', calib=loader(calibration_set(sub, 32), 32))
    n_lin = sum(isinstance(m, nn.Linear) for m in tiny.modules())
    prec = module_precision(q)
    assert sum(v == 'int8' for v in prec.values()) == n_lin == 9
    assert prec['patch_embed.proj'] == 'fp32'

def test_existing_output_path_is_refused(tiny, tmp_path, example):
    for p, f in ((tmp_path/'m.pte', export_pte), (tmp_path/'m.ptl', export_lite)):
        p.write_bytes(b'keep me')
        with pytest.raises(VitlabError, match='already exists.*overwrite=True'):
            f(tiny, p, example)
        assert p.read_bytes() == b'keep me'
    assert sorted(x.name for x in tmp_path.iterdir()) == ['m.pte', 'm.ptl']

class DataDependent(nn.Module):
    "Python control flow on a tensor's value: torch.export cannot capture it as one graph."
    def forward(self, x): return x.relu() if x.sum().item() > 0 else -x

def test_untraceable_model(tmp_path, example):
    with pytest.raises(VitlabError, match=r"torch.export cannot handle (op |source line |code at ).*in forward.*traceable tensor code"):
        export_pte(DataDependent(), tmp_path/'d.pte', example)
    assert not list(tmp_path.iterdir())

def test_fp32_round_trips(tiny, sub, tmp_path, example):
    few = torch.utils.data.Subset(sub, range(0, 1000, 25))
    for p in (export_pte(tiny, tmp_path/'t.pte', example), export_lite(tiny, tmp_path/'t.ptl', example)):
        r = check_export(p, tiny, few)
        assert r['agreement'] == 1.0 and r['max_abs_diff'] < 1e-3, (p, r)

needs_weights = pytest.mark.skipif(not REFERENCE_WEIGHTS.exists(), reason='reference weights not trained yet')

@needs_weights
def test_reference_int8_round_trip(sub, tmp_path, example):
    ref = reference_model()
    r = check_export(export_pte(ref, tmp_path/'dyn.pte', example, mode='int8_dynamic'), ref, sub)
    assert r['agreement'] >= 0.99 and r['size_mb'] < 0.35*check_export(export_pte(ref, tmp_path/'f.pte', example), ref,
                                                                          torch.utils.data.Subset(sub, range(10)))['size_mb'], r

@needs_weights
def test_reference_eager_int8(sub):
    ref = reference_model()
    assert agreement(quantize(ref, 'int8_dynamic'), ref, sub)['agreement'] >= 0.99
    h = agreement(quantize(ref, 'fp16'), ref, sub)
    assert h['agreement'] >= 0.998 and h['max_abs_diff'] < 0.05, h

def test_measure_reads_exported_file_size(tiny, sub, tmp_path, example):
    from vitlab.measure import measure_models
    p = export_lite(tiny, tmp_path/'t.ptl', example)
    r = measure_models({'lite': load_exported(p)}, torch.utils.data.Subset(sub, range(10)), example=example, runs=20, warmup=1)[0]
    assert r['size_mb'] == p.stat().st_size/1e6 and r['acc'] is not None, r

def test_pt2e_model_can_be_evaluated(tiny, sub):
    from vitlab.deploy import quantize_pt2e
    few = torch.utils.data.Subset(sub, range(20))
    q = quantize_pt2e(tiny, loader(few, 10))
    r = agreement(q, tiny, few)  # predict() calls .eval() on it
    assert r['agreement'] >= 0.8, r

def test_onednn_static_warns(tiny, sub):
    with pytest.warns(UserWarning, match="reference kernel.*prefer backend='x86'"):
        quantize(tiny, 'int8_static', 'onednn', calib=loader(torch.utils.data.Subset(sub, range(8)), 8))

def test_one_name_per_idea(tiny, tmp_path, example):
    assert QUANT_MODES == ('fp16', 'int8_dynamic', 'int8_static') and set(PTE_MODES) - {None} <= set(QUANT_MODES)
    with pytest.raises(VitlabError, match=r"unknown ExecuTorch quantization mode 'fp16'"):
        export_pte(tiny, tmp_path/'h.pte', example, mode='fp16')
    assert not list(tmp_path.iterdir())

def test_packages_reexport_their_modules():
    import importlib, vitlab.deploy, vitlab.prune
    from vitlab.prune import prune_structured, save_pruned, load_pruned
    for pkg, mods in ((vitlab.deploy, ('capture', 'ptq', 'export', 'profile')), (vitlab.prune, ('structured',))):
        for m in mods:
            mod = importlib.import_module(f'{pkg.__name__}.{m}')
            assert set(mod.__all__) <= set(pkg.__all__), m
            for n in mod.__all__: assert getattr(pkg, n) is getattr(mod, n), (m, n)

def test_no_import_cycle_between_deploy_modules():
    "capture < ptq < export < profile: a module imports only the ones below it."
    import ast, importlib, inspect
    order = ['capture', 'ptq', 'export', 'profile']
    for i, m in enumerate(order):
        tree = ast.parse(inspect.getsource(importlib.import_module(f'vitlab.deploy.{m}')))
        used = {n.module.split('.')[-1] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 1}
        assert not used & set(order[i:]), (m, used)

def test_friendly_export_is_one_delegate_call_and_agrees(tiny, sub, tmp_path, example):
    "Attention and LayerNorm rewritten for XNNPACK: the same logits, and the whole ViT in one XNNPACK call."
    import copy
    from vitlab.deploy import xnnpack_friendly, program_ops
    few = torch.utils.data.Subset(sub, range(0, 1000, 50))
    m = copy.deepcopy(tiny)
    assert xnnpack_friendly(m) == dict(attention=2, layernorm=5)
    xb = torch.stack([few[i][0] for i in range(4)])
    torch.testing.assert_close(m(xb), tiny(xb), atol=1e-5, rtol=1e-5)
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in tiny.named_parameters()]  # same names: bit configs still apply
    p = export_pte(tiny, tmp_path/'f.pte', example, mode='int8_dynamic')
    ops = program_ops(p)
    assert ops['delegate'] == 2 and set(ops) == {'delegate', 'aten::expand_copy', 'aten::select_copy'}, ops
    assert check_export(p, tiny, few)['agreement'] >= 0.9  # int8 on an untrained 2-block model: near-tied logits may flip

def test_attention_with_mask_is_refused():
    from vitlab.deploy import xnnpack_friendly
    m = create_model(REFERENCE_NAME, depth=1).eval(); xnnpack_friendly(m)
    with pytest.raises(VitlabError, match='no attention mask'):
        m.blocks[0].attn(torch.randn(1, 17, 192), attn_mask=torch.zeros(17, 17))

def test_strided_example_exports_for_the_standard_layout(tiny, tmp_path):
    "A non-contiguous example (a slice of a bigger batch) gives a program that runs on ordinary images."
    x = torch.randn(1, 1, 28, 56)[..., ::2]
    assert not x.is_contiguous()
    p = export_pte(tiny, tmp_path/'s.pte', x)
    torch.testing.assert_close(load_exported(p)(x.contiguous()), tiny(x), atol=1e-4, rtol=1e-4)

def test_program_ops_of_missing_file(tmp_path):
    from vitlab.deploy import program_ops
    with pytest.raises(VitlabError, match='does not exist'): program_ops(tmp_path/'none.pte')
