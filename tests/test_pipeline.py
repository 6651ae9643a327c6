"The compression pipeline end to end on the reference model (small settings), and its bad input."
import json, subprocess, sys
from pathlib import Path
import pytest
from vitlab.core import VitlabError
from vitlab.pipeline import compress

REQUIRED = {'name', 'acc', 'latency_ms', 'size_mb', 'params', 'flops', 'peak_mb'}

def test_compress_writes_a_complete_report(tmp_path):
    out = tmp_path/'report'
    recs = compress(out=out, recover_steps=10, runs=20, eval_images=500, progress=False)
    rep = json.loads((out/'report.json').read_text())
    assert rep == json.loads(json.dumps(recs))
    assert sum(r['baseline'] for r in rep) == 1 and rep[0]['name'] == 'dense fp32' and rep[0]['baseline'] is True
    for r in rep:
        assert REQUIRED <= set(r) and all(r[k] is not None for k in REQUIRED), r
        assert 0 <= r['acc'] <= 1 and r['latency_ms'] > 0 and r['size_mb'] > 0
    by = {r['name']: r for r in rep}
    dense, int8 = by['dense fp32'], next(r for n, r in by.items() if 'int8_dynamic' in n)
    assert int8['size_mb'] < 0.35*dense['size_mb']          # int8 weights: about a quarter of fp32
    assert int8['params'] < dense['params']                  # pruned
    assert abs(int8['acc'] - dense['acc']) < 0.03            # 3/32 pruning + int8 costs little
    names = {p.name for p in out.iterdir()}
    from vitlab.deploy.runtimes import installed_runtimes, RUNTIMES
    rts = installed_runtimes()
    assert {'report.json', 'report.md', 'tradeoffs.png', 'pruned.safetensors', 'pruned_fp32.pte'} <= names
    assert {f'pruned_int8{RUNTIMES[r].suffix}' for r in rts} <= names     # one int8 file per installed runtime
    assert {r['runtime'] for r in rep if r['file']} == set(rts)            # records say their runtime (not their names)
    assert {r['runtime'] for r in rep if not r['file']} == {'eager'}
    assert all(r['threads'] in (1, 2) and set(r['by_threads']) == {'1', '2'} for r in rep if r['runtime'] != 'executorch')  # timed at both,
    assert all(len(r['by_threads']) == 1 for r in rep if r['runtime'] == 'executorch')  # (ExecuTorch's pool is one per process)
    assert all(r['latency_ms'] == min(r['by_threads'].values()) for r in rep)
    assert all(isinstance(r['timing_busy'], bool) for r in rep)
    for r in rep:                                            # what each accuracy was measured on
        assert r['acc_on'] == ('subset' if r['file'] or 'fp16' in r['name'] else 'test') and 0 <= r['acc_subset'] <= 1, r
    assert all(r['agreement'] > 0.95 for r in rep if r['file'])
    best = [r for r in rep if r['best']]                    # the one recommended deployable file
    assert len(best) == 1 and best[0]['runtime'] in rts and (out/best[0]['file']).exists()
    files = [r for r in rep if r['file']]
    ok = [r for r in files if by['dense fp32']['acc'] - r['acc_est'] <= 0.01 + 1e-9]
    assert best[0]['latency_ms'] == min(r['latency_ms'] for r in ok)    # the fastest within the preset's 1 pt, across runtimes
    md = (out/'report.md').read_text()
    assert '| dense fp32 | eager |' in md and 'Export round trips' in md and 'Fashion-MNIST test, 500 images' in md
    assert 'timing: batch 1' in md and 'runtimes: ' in md
    assert 'recovery skipped: pruning cost' in md or 'distillation steps' in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.report')]  # no temporary folder left

def test_existing_output_is_refused_and_untouched(tmp_path):
    out = tmp_path/'report'; out.mkdir(); (out/'keep.txt').write_text('mine')
    with pytest.raises(VitlabError, match='already exists.*--overwrite'):
        compress(out=out, progress=False)
    assert (out/'keep.txt').read_text() == 'mine'

@pytest.mark.parametrize('kw,msg', [(dict(ratio=1.5), 'ratio=1.5 is outside'), (dict(quant=('int4',)), "unknown quantization mode 'int4'"),
                                    (dict(backend='arm'), 'backend'), (dict(model='resnet18'), 'cannot compress a ResNet')])
def test_bad_arguments_leave_nothing(tmp_path, kw, msg):
    with pytest.raises(VitlabError, match=msg):
        compress(out=tmp_path/'r', recover_steps=0, export=False, runs=20, eval_images=100, progress=False, **kw)
    assert list(tmp_path.iterdir()) == []

def test_cli_reports_errors_plainly(tmp_path):
    (tmp_path/'r').mkdir()
    p = subprocess.run([str(Path(sys.executable).parent/'vitlab_compress'), '--out', str(tmp_path/'r')], capture_output=True, text=True)
    assert p.returncode != 0 and 'already exists' in p.stderr and 'Traceback' not in p.stderr

def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(VitlabError, match="unknown preset 'fastest'.*paper, balanced, fast"):
        compress(out=tmp_path/'r', preset='fastest', progress=False)
    assert list(tmp_path.iterdir()) == []

def test_unknown_or_missing_runtime_is_refused(tmp_path):
    with pytest.raises(VitlabError, match="unknown runtime 'tensorrt'"):
        compress(out=tmp_path/'r', runtimes='litert,tensorrt', progress=False)
    with pytest.raises(VitlabError, match="unknown runtime 'coreml'"):
        compress(out=tmp_path/'r', runtime='coreml', progress=False)
    assert list(tmp_path.iterdir()) == []

def test_missing_runtime_names_its_extra(tmp_path, monkeypatch):
    import vitlab.deploy.runtimes as R
    monkeypatch.setattr(R.importlib.util, 'find_spec', lambda name, *a: None if name == 'openvino' else object())
    with pytest.raises(VitlabError, match=r'pip install "vitlab\[openvino\]"'):
        compress(out=tmp_path/'r', runtimes='openvino', progress=False)
    assert list(tmp_path.iterdir()) == []

def test_runtime_restricts_the_recommendation(tmp_path):
    out = tmp_path/'r'
    recs = compress(out=out, ratio=1/8, recover_steps=0, runs=20, eval_images=200, quant=(), runtimes='executorch,litert',
                    runtime='executorch', progress=False)
    assert {r['runtime'] for r in recs if r['file']} == {'executorch', 'litert'}
    best = [r for r in recs if r['best']]
    assert len(best) == 1 and best[0]['runtime'] == 'executorch'
    assert 'on ExecuTorch' in (out/'report.md').read_text()
