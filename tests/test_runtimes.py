"The runtime registry across modules: every installed runtime's file round-trips through export_as/load_exported, timing at each thread count, and bad input."
import subprocess, sys
import pytest, torch
from vitlab.core import VitlabError
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model, REFERENCE_NAME
from vitlab.deploy.runtimes import (RUNTIMES, RUNTIME_NAMES, installed_runtimes, check_runtimes, export_as, load_exported,
                                    check_export, time_programs, runtime_of)

torch.set_num_threads(1)

def test_every_runtime_is_installed_here():
    assert installed_runtimes() == RUNTIME_NAMES  # the test set-up installs every extra: CI exercises every exporter

@pytest.mark.parametrize('rt', RUNTIME_NAMES)
def test_fp32_file_of_every_runtime_matches_eager(tmp_path, rt):
    sub = fashion_mnist_subset(); few = torch.utils.data.Subset(sub, range(0, 1000, 100))
    tiny, x = create_model(REFERENCE_NAME, depth=1).eval(), sub[0][0][None]
    f = export_as(rt, tiny, tmp_path/f'm{RUNTIMES[rt].suffix}', x, 'fp32')
    assert runtime_of(f) == rt and load_exported(f).runtime == rt
    c = check_export(f, tiny, few)
    assert c['agreement'] == 1.0 and c['max_abs_diff'] < 1e-2 and c['size_mb'] > 0.5, c

def test_time_programs_reports_each_at_its_best_thread_count(tmp_path):
    tiny, x = create_model(REFERENCE_NAME, depth=1).eval(), torch.randn(1, 1, 28, 28)
    f = export_as('onnx', tiny, tmp_path/'m.onnx', x, 'int8')
    best, q = time_programs({'eager': tiny, 'onnx': f}, x, runs=20, threads=(1, 2))
    for r in best.values():
        assert set(r['by_threads']) == {1, 2} and r['latency_ms'] == min(r['by_threads'].values())
        assert r['threads'] == min(r['by_threads'], key=r['by_threads'].get)
    assert q['spread'] >= 1 and isinstance(q['busy'], bool)

def test_a_busy_machine_is_flagged():
    tiny, x = create_model(REFERENCE_NAME, depth=1).eval(), torch.randn(1, 1, 28, 28)
    hog = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
    try: _, q = time_programs({'eager': tiny}, x, runs=60, threads=(1,))
    finally: hog.kill()
    assert q['other_cpus'] is None or (q['other_cpus'] > 0.25 and q['busy']), q

@pytest.mark.parametrize('call,msg', [
    (lambda d, m, x: check_runtimes('litert,tensorrt'), "unknown runtime 'tensorrt'"),
    (lambda d, m, x: export_as('executorch', m, d/'a.pte', x, 'int2'), 'unknown precision'),
    (lambda d, m, x: export_as('openvino', m, d/'a.xml', x, 'int8'), 'needs calibration images'),
    (lambda d, m, x: export_as('litert', m, d/'a.onnx', x, 'int8'), 'should end in .tflite'),
    (lambda d, m, x: load_exported(d/'a.engine'), "unknown file type '.engine'"),
    (lambda d, m, x: load_exported(d/'a.onnx'), 'does not exist'),
])
def test_bad_input_writes_nothing(tmp_path, call, msg):
    with pytest.raises(VitlabError, match=msg): call(tmp_path, create_model(REFERENCE_NAME, depth=1).eval(), torch.randn(1, 1, 28, 28))
    assert list(tmp_path.iterdir()) == []

@pytest.mark.parametrize('rt,pkg', [('litert', 'ai_edge_litert'), ('onnx', 'onnxruntime'), ('openvino', 'openvino')])
def test_a_missing_extra_names_its_install(monkeypatch, rt, pkg):
    import vitlab.deploy.runtimes as R
    real = R.importlib.util.find_spec
    monkeypatch.setattr(R.importlib.util, 'find_spec', lambda name, *a: None if name == pkg else real(name, *a))
    with pytest.raises(VitlabError, match=rf'runtime {rt!r} is not installed here — pip install "vitlab\[{RUNTIMES[rt].extra}\]"'):
        check_runtimes([rt])
    assert rt not in installed_runtimes()
