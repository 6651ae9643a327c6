"OpenVINO export: fp32 and int8 IRs agree with the eager model, the .xml/.bin pair is written atomically, and bad input gets a VitlabError that says what to do."
import os, sys
import pytest, torch, torch.nn as nn
from torch.utils.data import Subset
pytest.importorskip('openvino'); pytest.importorskip('nncf')
from vitlab.core import VitlabError
from vitlab.models import create_model, reference_model, REFERENCE_NAME
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.measure import agreement
import vitlab.deploy.openvino as vov
from vitlab.deploy.openvino import OPENVINO_MODES, export_openvino, OpenvinoModel

torch.set_num_threads(1)

@pytest.fixture(scope='module')
def few(sub): return Subset(sub, range(0, 1000, 25))

@pytest.fixture(scope='module')
def tiny_ir(tiny, example, tmp_path_factory):
    return export_openvino(tiny, tmp_path_factory.mktemp('ir')/'tiny.xml', example)

def names(d): return sorted(f.name for f in d.iterdir())

def test_modes(): assert OPENVINO_MODES == (None, 'int8')

def test_fp32_round_trip(tiny, tiny_ir, few):
    assert names(tiny_ir.parent) == ['tiny.bin', 'tiny.xml']  # nothing temporary left
    m = OpenvinoModel(tiny_ir, threads=1, precision='f32')
    assert (m.runtime, m.threads, m.precision, m.path) == ('openvino', 1, 'f32', tiny_ir)
    r = agreement(m, tiny, few)
    assert r['agreement'] == 1.0 and r['max_abs_diff'] < 1e-3, r
    xb = torch.randn(3, 1, 28, 28)
    out = m(xb)
    assert out.dtype == torch.float32 and out.shape == (3, 10)
    torch.testing.assert_close(out, tiny(xb).detach(), atol=1e-4, rtol=1e-4)
    assert repr(m) == f"OpenvinoModel({str(tiny_ir)!r}, threads=1, precision='f32')"

def test_fp32_weights_are_fp32(tiny, tiny_ir):
    n = sum(v.numel() for v in tiny.state_dict().values())
    assert abs(tiny_ir.with_suffix('.bin').stat().st_size/4 - n) < 0.01*n

def test_default_precision_is_f32(tiny_ir):
    assert OpenvinoModel(tiny_ir).precision == 'f32'
    assert OpenvinoModel(tiny_ir, precision=None).precision in ('f32', 'bf16')  # OpenVINO's choice for this CPU
    with pytest.raises(VitlabError, match=r"unknown precision 'fp16'.*'f32', 'bf16' or None"):
        OpenvinoModel(tiny_ir, precision='fp16')
    with pytest.raises(VitlabError, match=r"threads=0"):
        OpenvinoModel(tiny_ir, threads=0)

def test_int8_reference_agrees(sub, example, tmp_path):
    ref = reference_model()
    held_out, pool = Subset(sub, range(0, 500, 2)), Subset(sub, range(500, 1000))  # 250 scored images, none calibrated on
    f32 = export_openvino(ref, tmp_path/'ref.xml', example)
    q = export_openvino(ref, tmp_path/'ref_int8.xml', example, 'int8', loader(calibration_set(pool, 64), 32))
    r = agreement(OpenvinoModel(q, threads=1), ref, held_out)
    assert r['agreement'] >= 0.98 and 0 < r['max_abs_diff'], r
    assert q.with_suffix('.bin').stat().st_size < 0.35*f32.with_suffix('.bin').stat().st_size
    assert names(tmp_path) == ['ref.bin', 'ref.xml', 'ref_int8.bin', 'ref_int8.xml']

def test_int8_is_quiet(tiny, sub, example, tmp_path, capfd):
    capfd.readouterr()
    export_openvino(tiny, tmp_path/'q.xml', example, 'int8', loader(calibration_set(sub, 16), 8))
    out, err = capfd.readouterr()
    assert out == '' and err == '', (out, err)

def test_wrong_suffix(tiny, example, tmp_path):
    with pytest.raises(VitlabError, match=r"should end in \.xml.*model\.xml"):
        export_openvino(tiny, tmp_path/'m.bin', example)
    with pytest.raises(VitlabError, match=r"is not an OpenVINO IR.*\.xml file written by export_openvino"):
        OpenvinoModel(tmp_path/'m.bin')
    assert names(tmp_path) == []

def test_existing_files_are_refused(tiny, example, tmp_path):
    for f in ('a.xml', 'b.bin'):
        (tmp_path/f).write_bytes(b'keep me')
        with pytest.raises(VitlabError, match=f'{f} already exists.*overwrite=True'):
            export_openvino(tiny, tmp_path/(f[0] + '.xml'), example)
        assert (tmp_path/f).read_bytes() == b'keep me'
    assert names(tmp_path) == ['a.xml', 'b.bin']

def test_overwrite_replaces_the_pair(tiny, example, tmp_path):
    p = export_openvino(tiny, tmp_path/'m.xml', example)
    other = create_model(REFERENCE_NAME, depth=1).eval()
    export_openvino(other, p, example, overwrite=True)
    assert names(tmp_path) == ['m.bin', 'm.xml']
    torch.testing.assert_close(OpenvinoModel(p)(example), other(example).detach(), atol=1e-4, rtol=1e-4)

def test_unknown_mode(tiny, example, tmp_path):
    with pytest.raises(VitlabError, match=r"unknown OpenVINO quantization mode 'int4'.*None, 'int8'"):
        export_openvino(tiny, tmp_path/'m.xml', example, mode='int4')

def test_int8_needs_calibration(tiny, example, tmp_path):
    with pytest.raises(VitlabError, match=r"needs calibration images.*calib=loader\(calibration_set\(ds, 256\), 64\)"):
        export_openvino(tiny, tmp_path/'m.xml', example, mode='int8')
    with pytest.raises(VitlabError, match=r"holds no images"):
        export_openvino(tiny, tmp_path/'m.xml', example, mode='int8', calib=[])
    with pytest.raises(VitlabError, match=r"calibration images have shape \(3, 32, 32\).*exported for \(1, 28, 28\)"):
        export_openvino(tiny, tmp_path/'m.xml', example, mode='int8', calib=[(torch.zeros(2, 3, 32, 32), None)])
    assert names(tmp_path) == []

class DataDependent(nn.Module):
    "Python control flow on a tensor's value: torch.export cannot capture it as one graph."
    def forward(self, x):
        if x.sum() > 0: return x*2
        return x

class Zeta(nn.Module):
    "An op OpenVINO's PyTorch frontend has no conversion for."
    def forward(self, x): return torch.special.zeta(x.abs() + 1, x.abs() + 2)

def test_unconvertible_models(example, tmp_path):
    with pytest.raises(VitlabError, match=r"torch.export cannot handle source line 'if x.sum\(\) > 0.*traceable tensor code"):
        export_openvino(DataDependent(), tmp_path/'d.xml', example)
    with pytest.raises(VitlabError, match=r"OpenVINO conversion cannot handle op aten\.special_zeta"):
        export_openvino(Zeta(), tmp_path/'z.xml', example)
    assert names(tmp_path) == []

def test_quantization_failure(tiny, sub, example, tmp_path, monkeypatch):
    import nncf
    def broken(*a, **k): raise RuntimeError("no statistics for node aten::matmul")
    monkeypatch.setattr(nncf, 'quantize', broken)
    with pytest.raises(VitlabError, match=r"NNCF quantization cannot handle op aten::matmul"):
        export_openvino(tiny, tmp_path/'q.xml', example, 'int8', loader(calibration_set(sub, 8), 8))
    assert names(tmp_path) == []

def test_failed_move_leaves_nothing(tiny, example, tmp_path, monkeypatch):
    real = os.replace
    def replace(src, dst):
        if str(dst).endswith('.xml'): raise OSError("disk full")
        return real(src, dst)
    monkeypatch.setattr(vov.os, 'replace', replace)
    with pytest.raises(OSError, match='disk full'):
        export_openvino(tiny, tmp_path/'m.xml', example)
    assert names(tmp_path) == []  # the .bin moved first was taken back, the temporary folder removed

def test_missing_files(tiny_ir, tmp_path):
    with pytest.raises(VitlabError, match=r"missing\.xml does not exist.*export it first with export_openvino"):
        OpenvinoModel(tmp_path/'missing.xml')
    (tmp_path/'w.xml').write_text(tiny_ir.read_text())
    with pytest.raises(VitlabError, match=r"w\.bin does not exist.*export it first with export_openvino"):
        OpenvinoModel(tmp_path/'w.xml')

def test_corrupted_files(tiny_ir, tmp_path):
    xml, weights = tiny_ir.read_text(), tiny_ir.with_suffix('.bin').read_bytes()
    (tmp_path/'c.xml').write_text(xml[:3000]); (tmp_path/'c.bin').write_bytes(weights)  # truncated graph
    (tmp_path/'g.xml').write_text('not an IR'); (tmp_path/'g.bin').write_bytes(weights)  # not XML at all
    (tmp_path/'t.xml').write_text(xml); (tmp_path/'t.bin').write_bytes(weights[:len(weights)//2])  # truncated weights
    for n in 'cgt':
        with pytest.raises(VitlabError, match=rf"{n}\.xml \(with {n}\.bin\) is not a readable OpenVINO IR.*export it again"):
            OpenvinoModel(tmp_path/f'{n}.xml')

def test_wrong_image_shape(tiny_ir):
    with pytest.raises(VitlabError, match=r"takes images of shape \(1, 28, 28\), not \(3, 28, 28\)"):
        OpenvinoModel(tiny_ir)(torch.zeros(2, 3, 28, 28))

@pytest.mark.parametrize('missing', ['openvino', 'nncf'])
def test_missing_extra(tiny, tiny_ir, sub, example, tmp_path, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # as if the package were not installed
    calib = loader(calibration_set(sub, 8), 8)
    with pytest.raises(VitlabError, match=rf"{missing} is not installed.*pip install \"vitlab\[openvino\]\""):
        export_openvino(tiny, tmp_path/'m.xml', example, 'int8', calib)
    if missing == 'openvino':
        with pytest.raises(VitlabError, match=r'pip install "vitlab\[openvino\]"'):
            OpenvinoModel(tiny_ir)
    else: export_openvino(tiny, tmp_path/'f.xml', example)  # fp32 needs no NNCF
    assert names(tmp_path) == (['f.bin', 'f.xml'] if missing == 'nncf' else [])
