"`compress` killed by SIGTERM half way through recovery: a clear how-to-resume error, no report folder; the same command with resume=True ends with the uninterrupted run's weights and report."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from vitlab.core import read_weights
from test_own_data import write_folder, ARCH

STEPS, EVERY = 24, 4
KW = dict(img_size=32, patch_size=8, depth=2, in_chans=1, num_classes=10)
SCRIPT = '''
import sys, time, torch
import vitlab.prune.structured  # where recover_if_better finds `recover`
from vitlab.pipeline import compress
torch.set_num_threads(1)
out, data, how = sys.argv[1], sys.argv[2], sys.argv[3]
recover, seen = vitlab.prune.structured.recover, []
def counted(model, *a, **k):  # counts the training steps recovery runs; with 'slow' each sleeps, to be stopped half way
    def step(m, x):
        seen.append(1)
        if how == 'slow': time.sleep(0.15)
    h = model.register_forward_pre_hook(step)
    try: return recover(model, *a, **k)
    finally: h.remove()
vitlab.prune.structured.recover = counted
recs = compress(%r, out, data=data, model_kwargs=%r, ratio=0.25, recover_steps=%d, recover_min_gap=0.0, calib_images=64, runs=20,
                quant=(), export=False, batch_size=32, device='cpu', progress=False, ckpt_every=%d, resume=how == 'resume')
print('RECORDS', len(recs), 'STEPS', len(seen))
''' % (ARCH, KW, STEPS, EVERY)

def _env(): return {**os.environ, 'OMP_NUM_THREADS': '1'}

@pytest.fixture(scope='module')
def killed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('compress_resume'); root = write_folder(tmp/'images', per_class=(40, 10))
    (tmp/'job.py').write_text(SCRIPT)
    out, ckpt = tmp/'run'/'report', tmp/'run'/'report.ckpt.safetensors'
    p = subprocess.Popen([sys.executable, str(tmp/'job.py'), str(out), str(root), 'slow'], cwd=tmp, env=_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not ckpt.exists() and p.poll() is None and time.time() - t0 < 240: time.sleep(0.05)
    time.sleep(0.5)  # a few steps past the first checkpoint
    p.send_signal(signal.SIGTERM); stdout, stderr = p.communicate(timeout=120)
    at = json.loads(read_weights(ckpt, tensors=False)[1]['vitlab_fit_state'])['step'] if ckpt.exists() else None
    return tmp, root, out, ckpt, p.returncode, stderr, at

def test_sigterm_stops_with_how_to_resume_and_no_report_folder(killed):
    tmp, root, out, ckpt, rc, stderr, at = killed
    assert rc not in (0, None) and 'stopped by SIGTERM before the report was written' in stderr, (rc, stderr[-3000:])
    assert f'the recovery checkpoint {ckpt} is kept: run the same command with --resume to continue' in stderr, stderr[-3000:]
    assert sorted(p.name for p in (tmp/'run').iterdir()) == ['report.ckpt.safetensors']   # no report folder, no temporary folder
    assert at is not None and 0 < at < STEPS and at % EVERY == 0, at   # stopped half way, after at least one checkpoint

def test_the_same_command_without_resume_is_refused(killed):
    tmp, root, out, ckpt, rc, stderr, at = killed
    p = subprocess.run([sys.executable, str(tmp/'job.py'), str(out), str(root), 'fresh'], cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and 'pass --resume to continue it, or --overwrite' in p.stderr, p.stderr[-3000:]
    assert sorted(p.name for p in (tmp/'run').iterdir()) == ['report.ckpt.safetensors']

def test_resume_ends_with_the_uninterrupted_weights_and_report(killed):
    tmp, root, out, ckpt, rc, stderr, at = killed
    p = subprocess.run([sys.executable, str(tmp/'job.py'), str(out), str(root), 'resume'], cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and f'RECORDS 2 STEPS {STEPS - at}' in p.stdout, p.stdout + p.stderr[-3000:]  # continued at step `at`
    assert sorted(p.name for p in (tmp/'run').iterdir()) == ['report']   # the checkpoint is gone once the report is complete
    assert {'report.json', 'report.md', 'pruned.safetensors', 'tradeoffs.png'} <= {f.name for f in out.iterdir()}
    whole = tmp/'whole'/'report'
    q = subprocess.run([sys.executable, str(tmp/'job.py'), str(whole), str(root), 'fresh'], cwd=tmp, env=_env(), capture_output=True, text=True, timeout=300)
    assert q.returncode == 0 and f'RECORDS 2 STEPS {STEPS}' in q.stdout, q.stdout + q.stderr[-3000:]
    (w, m), (w0, m0) = read_weights(out/'pruned.safetensors'), read_weights(whole/'pruned.safetensors')
    assert json.loads(m['vitlab_plan']) == json.loads(m0['vitlab_plan']) and w.keys() == w0.keys()
    for k in w0: assert (w[k] - w0[k]).abs().max().item() <= 1e-6, k
    note = lambda f: next(l for l in f.read_text().splitlines() if 'distillation steps' in l)
    assert note(out/'report.md') == note(whole/'report.md') and 'kept the recovered model' in note(whole/'report.md')  # recovery counted
