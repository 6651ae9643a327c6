"ONNX export: fp32 and int8 files agree with eager in ONNX Runtime, and bad input gets a VitlabError that says what to do."
import logging, sys
import pytest, torch, torch.nn as nn
from vitlab.core import VitlabError
from vitlab.models import create_model, reference_model, REFERENCE_NAME, REFERENCE_WEIGHTS
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.measure import agreement
from vitlab.deploy.onnx import ONNX_MODES, export_onnx, quantize_onnx, OnnxModel

torch.set_num_threads(1)
needs_weights = pytest.mark.skipif(not REFERENCE_WEIGHTS.exists(), reason='reference weights not trained yet')

@pytest.fixture(scope='module')
def few(sub): return torch.utils.data.Subset(sub, range(0, 1000, 50))

@pytest.fixture(scope='module')
def fp32(tiny, example, tmp_path_factory): return export_onnx(tiny, tmp_path_factory.mktemp('onnx')/'tiny.onnx', example)

def test_modes(): assert ONNX_MODES == (None, 'int8_dynamic', 'int8_static')

def test_fp32_round_trip(tiny, fp32, few):
    m = OnnxModel(fp32, threads=1)
    r = agreement(m, tiny, few)
    assert r['agreement'] == 1.0 and r['max_abs_diff'] < 1e-3, r
    assert (m.path, m.threads, m.runtime) == (fp32, 1, 'onnx') and repr(m) == f"OnnxModel({str(fp32)!r}, threads=1)"
    out = m(torch.randn(3, 1, 28, 28))
    assert out.shape == (3, 10) and out.dtype == torch.float32
    assert m(torch.zeros(0, 1, 28, 28)).shape == (0, 10)
    assert sorted(f.name for f in fp32.parent.iterdir()) == ['tiny.onnx']  # weights inside the file, no temporary files

def test_export_is_quiet(tiny, example, sub, tmp_path, capfd):
    handlers = list(logging.getLogger().handlers)
    export_onnx(tiny, tmp_path/'q.onnx', example, mode='int8_static', calib=loader(calibration_set(sub, 8), 8))
    out, err = capfd.readouterr()
    assert out == '' and err == '', (out, err)
    assert logging.getLogger().handlers == handlers and logging.root.manager.disable == 0

@pytest.mark.parametrize('mode', ['int8_dynamic', 'int8_static'])
def test_int8_tiny(tiny, fp32, few, sub, example, tmp_path, mode):
    calib = loader(calibration_set(sub, 32), 16) if mode == 'int8_static' else None
    q = export_onnx(tiny, tmp_path/'q.onnx', example, mode=mode, calib=calib)
    r = agreement(OnnxModel(q, threads=1), tiny, few)
    assert 0 < r['max_abs_diff'] < 0.5, r
    assert q.stat().st_size < 0.5*fp32.stat().st_size
    assert [f.name for f in tmp_path.iterdir()] == ['q.onnx']

def test_quantize_onnx_file(fp32, tmp_path):
    q = quantize_onnx(fp32, tmp_path/'q.onnx', 'int8_dynamic')
    assert q.stat().st_size < 0.5*fp32.stat().st_size
    with pytest.raises(VitlabError, match='nothing to quantize'): quantize_onnx(fp32, tmp_path/'n.onnx', None)
    with pytest.raises(VitlabError, match='does not exist.*export_onnx'): quantize_onnx(tmp_path/'none.onnx', tmp_path/'n.onnx')

@needs_weights
@pytest.mark.parametrize('mode', ['int8_dynamic', 'int8_static'])
def test_reference_int8(sub, example, tmp_path, mode):
    ref = reference_model()
    evalset = torch.utils.data.Subset(sub, range(0, 500, 2))  # 250 images; calibration on others
    calib = loader(calibration_set(torch.utils.data.Subset(sub, range(500, 1000)), 128), 64) if mode == 'int8_static' else None
    q = export_onnx(ref, tmp_path/'ref.onnx', example, mode=mode, calib=calib)
    r = agreement(OnnxModel(q, threads=1), ref, evalset)
    assert r['agreement'] >= 0.98 and abs(r['acc'] - r['ref_acc']) <= 0.02, r  # 1k images: one standard error ≈ 1 pt; static int8 lost 1.2 pt on a CPU without VNNI
    fp32_mb = 4*sum(p.numel() for p in ref.parameters())/1e6
    assert q.stat().st_size/1e6 < 0.35*fp32_mb

def test_bad_paths_and_modes(tiny, example, fp32, tmp_path):
    p = tmp_path/'m.onnx'
    p.write_bytes(b'keep me')
    with pytest.raises(VitlabError, match='already exists.*overwrite=True'): export_onnx(tiny, p, example)
    assert p.read_bytes() == b'keep me'
    with pytest.raises(VitlabError, match=r'should end in \.onnx'): export_onnx(tiny, tmp_path/'m.pte', example)
    with pytest.raises(VitlabError, match=r"unknown ONNX quantization mode 'int4'.*None, 'int8_dynamic', 'int8_static'"):
        export_onnx(tiny, tmp_path/'a.onnx', example, mode='int4')
    with pytest.raises(VitlabError, match=r"needs calibration images.*calib=loader\(calibration_set\(ds, 256\), 64\).*'int8_dynamic'"):
        export_onnx(tiny, tmp_path/'a.onnx', example, mode='int8_static')
    with pytest.raises(VitlabError, match='calib holds no images'):
        export_onnx(tiny, tmp_path/'a.onnx', example, mode='int8_static', calib=[])
    with pytest.raises(VitlabError, match='batch of one image'): export_onnx(tiny, tmp_path/'a.onnx', example.expand(2, -1, -1, -1))
    assert [f.name for f in tmp_path.iterdir()] == ['m.onnx']

class DataDependent(nn.Module):
    "Python control flow on a tensor's value: torch.export cannot capture it as one graph."
    def forward(self, x):
        if x.sum() > 0: return x.relu()
        return -x

class Svd(nn.Module):
    "An op with no ONNX translation."
    def forward(self, x): return torch.linalg.svd(x[0, 0])[1]

def test_untraceable_model(example, tmp_path, capfd):
    with pytest.raises(VitlabError, match=r"torch.onnx.export cannot handle source line 'if x.sum\(\) > 0:.*traceable tensor code"):
        export_onnx(DataDependent(), tmp_path/'d.onnx', example)
    with pytest.raises(VitlabError, match=r"torch.onnx.export cannot handle op .*_linalg_svd"):
        export_onnx(Svd(), tmp_path/'s.onnx', example)
    assert not list(tmp_path.iterdir())
    out, err = capfd.readouterr()
    assert 'def forward' not in out + err  # the exporter's partial graphs are not printed

def test_quantization_failure(tmp_path):
    (tmp_path/'bad.onnx').write_bytes(b'not a model')
    with pytest.raises(VitlabError, match='ONNX Runtime quantization cannot handle'):
        quantize_onnx(tmp_path/'bad.onnx', tmp_path/'q.onnx')
    assert [f.name for f in tmp_path.iterdir()] == ['bad.onnx']

def test_bad_files(fp32, tmp_path):
    with pytest.raises(VitlabError, match='does not exist.*export it first with export_onnx'): OnnxModel(tmp_path/'none.onnx')
    for name, data in (('cut.onnx', fp32.read_bytes()[:2000]), ('junk.onnx', b'\x00\x01junk'*100)):
        (tmp_path/name).write_bytes(data)
        with pytest.raises(VitlabError, match=rf'{name} is not a readable ONNX file.*export it again'): OnnxModel(tmp_path/name)
    with pytest.raises(VitlabError, match='threads=0'): OnnxModel(fp32, threads=0)
    with pytest.raises(VitlabError, match=r'takes images of shape \(1, 28, 28\)'): OnnxModel(fp32)(torch.zeros(1, 3, 32, 32))

@pytest.mark.parametrize('missing', ['onnxruntime', 'onnxscript', 'onnx'])
def test_missing_extra(tiny, example, fp32, tmp_path, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # as if it were not installed
    with pytest.raises(VitlabError, match=rf'{missing} is not installed.*pip install "vitlab\[onnx\]"'):
        export_onnx(tiny, tmp_path/'m.onnx', example)
    if missing == 'onnxruntime':
        with pytest.raises(VitlabError, match=r'pip install "vitlab\[onnx\]"'): OnnxModel(fp32)
    else: assert OnnxModel(fp32).runtime == 'onnx'  # running a file needs ONNX Runtime alone
    assert not list(tmp_path.iterdir())
