"`compress` under torchrun: two Gloo processes build the same pruned model and recover it with DDP; rank 0 alone writes one report folder, equal to one process's."
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from vitlab.core import VitlabError, read_weights
from vitlab.pipeline import compress
from test_own_data import write_folder, ARCH

KW = dict(img_size=32, patch_size=8, depth=2, in_chans=1, num_classes=10)
SCRIPT = '''
import json, sys, torch
from vitlab.pipeline import compress
torch.set_num_threads(1)
recs = compress(%r, sys.argv[1], data=sys.argv[2], model_kwargs=%s, ratio=0.25, recover_steps=6, recover_min_gap=0.0, calib_images=64,
                runs=20, quant=(), export=False, batch_size=32, device='cpu', progress=False)
print('RECORDS', len(recs))
''' % (ARCH, json.dumps(KW))

def _run(cmd, tmp):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p

@pytest.fixture(scope='module')
def images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp_compress')
    return tmp, write_folder(tmp/'images', per_class=(40, 10))

@pytest.fixture(scope='module')
def runs(images):
    tmp, root = images
    (tmp/'job.py').write_text(SCRIPT)
    two = _run([str(Path(sys.executable).parent/'torchrun'), '--standalone', '--nproc_per_node', '2', str(tmp/'job.py'), str(tmp/'two'/'report'), str(root)], tmp)
    one = _run([sys.executable, str(tmp/'job.py'), str(tmp/'one'/'report'), str(root)], tmp)
    return tmp, two, one

def test_same_plan_and_recovered_weights_as_one_process(runs):
    tmp, two, one = runs
    (w2, m2), (w1, m1) = read_weights(tmp/'two'/'report'/'pruned.safetensors'), read_weights(tmp/'one'/'report'/'pruned.safetensors')
    assert json.loads(m2['vitlab_plan']) == json.loads(m1['vitlab_plan'])
    for k in w1: torch.testing.assert_close(w2[k], w1[k], rtol=1e-4, atol=1e-5, msg=k)
    md2, md1 = (tmp/'two'/'report'/'report.md').read_text(), (tmp/'one'/'report'/'report.md').read_text()
    assert 'in each of 2 torchrun processes' in md2 and 'torchrun' not in md1
    note = lambda md: next(l for l in md.splitlines() if 'distillation steps' in l)
    assert note(md2) == note(md1)                                  # the same held-out accuracies (sharded and summed) and decision

def test_rank0_alone_writes_the_same_records(runs):
    tmp, two, one = runs
    assert sorted(p.name for p in (tmp/'two').iterdir()) == ['report']      # one folder; no checkpoint or temporary folder left
    assert two.stdout.count('RECORDS 0') == 1 and two.stdout.count('RECORDS 2') == 1  # the other rank returns no records
    r2, r1 = json.loads((tmp/'two'/'report'/'report.json').read_text()), json.loads((tmp/'one'/'report'/'report.json').read_text())
    assert [r['name'] for r in r2] == [r['name'] for r in r1]
    for a, b in zip(r2, r1):
        for k in ('acc', 'acc_subset', 'params', 'flops', 'ratio'): assert a[k] == pytest.approx(b[k], abs=1e-6), (a['name'], k)

def test_gpu_asked_on_a_cpu_machine_fails_before_any_work(tmp_path):
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    with pytest.raises(VitlabError, match='asks for a GPU'): compress(out=tmp_path/'r', device='cuda', progress=False)
    with pytest.raises(VitlabError, match='unknown device'): compress(out=tmp_path/'r', device='tpu', progress=False)
    assert list(tmp_path.iterdir()) == []
    p = subprocess.run([str(Path(sys.executable).parent/'vitlab_compress'), '--out', str(tmp_path/'r'), '--device', 'cuda:1'], capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and 'vitlab_compress: device' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]

def test_a_stopped_runs_checkpoint_needs_resume_or_overwrite(tmp_path):
    (tmp_path/'r.ckpt.safetensors').write_bytes(b'x')
    with pytest.raises(VitlabError, match='pass --resume to continue it, or --overwrite'): compress(out=tmp_path/'r', device='cpu', progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['r.ckpt.safetensors']

FAILING = SCRIPT.replace("torch.set_num_threads(1)\n", """torch.set_num_threads(1)
import os, vitlab.pipeline
if os.environ['RANK'] == '1':  # this process fails as recovery starts; rank 0 is waiting for it in DDP
    def broken(*a, **k): raise RuntimeError('rank 1 failed: out of memory')
    vitlab.pipeline.recover_if_better = broken
""")

def test_a_failing_rank_stops_the_others_and_nothing_is_half_written(runs):
    tmp = runs[0]; (tmp/'failing.py').write_text(FAILING)
    p = subprocess.run([str(Path(sys.executable).parent/'torchrun'), '--standalone', '--nproc_per_node', '2', str(tmp/'failing.py'),
                        str(tmp/'fail'/'report'), str(tmp/'images')], capture_output=True, text=True, timeout=600, cwd=tmp,
                       env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode != 0 and 'rank 1 failed: out of memory' in p.stdout + p.stderr, p.stderr[-3000:]
    assert not (tmp/'fail').exists() or list((tmp/'fail').iterdir()) == [], list((tmp/'fail').iterdir())  # no folder, no temporary folder

BUDGET = dict(max_drop=2, objective='size', ratios=(0, 1/4), head_ratios=(0,), int4_shares=(0,), block_sparsity=(), max_exports=1, recover_steps=4)
BUDGET_SCRIPT = '''
import json, sys, torch
from vitlab.pipeline import compress
torch.set_num_threads(1)
recs = compress(%r, sys.argv[1], data=sys.argv[2], model_kwargs=%s, budget=%r, calib_images=64, runs=20, batch_size=32, device='cpu', progress=False)
print('RECORDS', len(recs))
''' % (ARCH, json.dumps(KW), BUDGET)

def test_budget_search_shares_its_screen_and_chooses_as_one_process(images):
    "Two processes screen one pruning level each (rank 1's is recovered there alone and sent to rank 0); rank 0 alone exports and writes the same choice."
    tmp = images[0]; (tmp/'budget.py').write_text(BUDGET_SCRIPT)
    two = _run([str(Path(sys.executable).parent/'torchrun'), '--standalone', '--nproc_per_node', '2', str(tmp/'budget.py'), str(tmp/'btwo'/'report'), str(tmp/'images')], tmp)
    one = _run([sys.executable, str(tmp/'budget.py'), str(tmp/'bone'/'report'), str(tmp/'images')], tmp)
    assert sorted(p.name for p in (tmp/'btwo').iterdir()) == ['report'] and two.stdout.count('RECORDS 0') == 1
    r2, r1 = (json.loads((tmp/d/'report'/'report.json').read_text()) for d in ('btwo', 'bone'))
    assert [r['name'] for r in r2] == [r['name'] for r in r1] and len(r1) == 3
    for a, b in zip(r2, r1):
        for k in ('status', 'best', 'file', 'recover', 'params', 'flops', 'size_mb'): assert a.get(k) == b.get(k), (a['name'], k)
        for k in ('acc', 'drop', 'acc_pruned', 'acc_eager'): assert a.get(k) == pytest.approx(b.get(k), abs=1e-6), (a['name'], k)
    best = next(r for r in r1 if r['best'])
    assert best['name'] == 'ratio 0.25, heads 0, int4 0%' and 'kept the recovered model' in best['recover']   # rank 1's level, recovered
    assert (tmp/'btwo'/'report'/'budget_best.pte').read_bytes() == (tmp/'bone'/'report'/'budget_best.pte').read_bytes()
    md2, md1 = ((tmp/d/'report'/'report.md').read_text() for d in ('btwo', 'bone'))
    assert 'screen shared by 2 torchrun processes' in md2 and 'torchrun' not in md1
