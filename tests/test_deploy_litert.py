"LiteRT export end to end: files that load back and agree with eager on real images, and bad input that writes nothing."
import sys
import pytest, torch, torch.nn as nn
from vitlab.core import VitlabError
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.models import create_model, reference_model, REFERENCE_NAME
from vitlab.measure import agreement
from vitlab.deploy import export_tflite, TfliteModel, load_exported

torch.set_num_threads(1)

def test_fp32_round_trip(tmp_path, sub):
    tiny = create_model(REFERENCE_NAME, depth=2).eval()
    x = sub[0][0][None]
    p = export_tflite(tiny, tmp_path/'t.tflite', x)
    r = agreement(load_exported(p, threads=1), tiny, torch.utils.data.Subset(sub, range(50)))
    assert r['agreement'] == 1.0 and r['max_abs_diff'] < 1e-3, r
    assert isinstance(load_exported(p), TfliteModel) and [f.name for f in tmp_path.iterdir()] == ['t.tflite']

def test_int8_on_the_reference_model(tmp_path, sub):
    ref, x = reference_model(), sub[0][0][None]
    few = torch.utils.data.Subset(sub, range(0, 1000, 4))  # 250 real test images
    fp = export_tflite(ref, tmp_path/'f.tflite', x)
    dyn = export_tflite(ref, tmp_path/'d.tflite', x, 'int8_dynamic')
    full = export_tflite(ref, tmp_path/'s.tflite', x, 'int8', calib=loader(calibration_set(sub, 64), 32))
    rd, rs = agreement(TfliteModel(dyn, 1), ref, few), agreement(TfliteModel(full, 1), ref, few)
    assert rd['agreement'] >= 0.99 and abs(rd['acc'] - rd['ref_acc']) <= 0.01, rd
    assert rs['agreement'] >= 0.95, rs                   # full integer: int8 in and out, static activation scales
    assert dyn.stat().st_size < 0.35*fp.stat().st_size and full.stat().st_size < 0.35*fp.stat().st_size

class Branchy(nn.Module):
    def forward(self, x):
        if x.sum().item() > 0: return x*2
        return x

@pytest.mark.parametrize('call,msg', [
    (lambda m, x, d: export_tflite(m, d/'a.onnx', x), 'should end in .tflite'),
    (lambda m, x, d: export_tflite(m, d/'a.tflite', x, mode='int4'), 'unknown LiteRT quantization mode'),
    (lambda m, x, d: export_tflite(m, d/'a.tflite', x, mode='int8'), 'needs calibration images'),
    (lambda m, x, d: export_tflite(Branchy(), d/'a.tflite', x), 'LiteRT conversion cannot handle|torch.export cannot handle'),
    (lambda m, x, d: TfliteModel(d/'missing.tflite'), 'export it first'),
])
def test_bad_input_writes_nothing(tmp_path, call, msg):
    tiny, x = create_model(REFERENCE_NAME, depth=1).eval(), torch.randn(1, 1, 28, 28)
    with pytest.raises(VitlabError, match=msg): call(tiny, x, tmp_path)
    assert list(tmp_path.iterdir()) == []

def test_corrupted_file_and_existing_file(tmp_path):
    (tmp_path/'bad.tflite').write_bytes(b'\0'*64)
    with pytest.raises(VitlabError, match='bad.tflite is not a readable LiteRT file'): TfliteModel(tmp_path/'bad.tflite')
    with pytest.raises(VitlabError, match='already exists'):
        export_tflite(create_model(REFERENCE_NAME, depth=1).eval(), tmp_path/'bad.tflite', torch.randn(1, 1, 28, 28))
    assert (tmp_path/'bad.tflite').read_bytes() == b'\0'*64

def test_missing_extra_names_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'ai_edge_litert', None)  # an import of it now fails, as when the extra is not installed
    monkeypatch.setitem(sys.modules, 'ai_edge_litert.interpreter', None)
    with pytest.raises(VitlabError, match=r'pip install "vitlab\[litert\]"'):
        export_tflite(create_model(REFERENCE_NAME, depth=1).eval(), tmp_path/'a.tflite', torch.randn(1, 1, 28, 28))
    assert list(tmp_path.iterdir()) == []
