"A recovery killed by SIGTERM half way and resumed ends with the uninterrupted run's weights; a damaged checkpoint is refused by name."
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from vitlab.core import VitlabError, read_weights, save_weights
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model
from vitlab.train import fit

STEPS, EVERY = 30, 5
SCRIPT = '''
import sys, time, torch
from vitlab.core import save_weights
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model
from vitlab.train import fit
torch.set_num_threads(1)
state, out, resume = sys.argv[1], sys.argv[2], sys.argv[3] == 'resume'
torch.manual_seed(0); model = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
torch.manual_seed(1); teacher = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
if not resume: model.register_forward_pre_hook(lambda m, a: time.sleep(0.15))  # slow enough to be killed half way
fit(model, fashion_mnist_subset(), epochs=None, max_steps=%d, batch_size=100, lr=3e-3, teacher=teacher, progress=resume,
    state_file=state, ckpt_every=%d, resume=resume)
save_weights(model, out)
''' % (STEPS, EVERY)

def _uninterrupted():
    threads = torch.get_num_threads(); torch.set_num_threads(1)  # as in the subprocesses: the same reductions
    try: return _train()
    finally: torch.set_num_threads(threads)

def _train():
    torch.manual_seed(0); model = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    torch.manual_seed(1); teacher = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    fit(model, fashion_mnist_subset(), epochs=None, max_steps=STEPS, batch_size=100, lr=3e-3, teacher=teacher, progress=False)
    return model

@pytest.fixture(scope='module')
def killed(tmp_path_factory):
    d = tmp_path_factory.mktemp('resume'); (d/'run.py').write_text(SCRIPT)
    state, env = d/'run.ckpt.safetensors', {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.Popen([sys.executable, str(d/'run.py'), str(state), str(d/'final.safetensors'), 'fresh'], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not state.exists() and p.poll() is None and time.time() - t0 < 120: time.sleep(0.05)
    time.sleep(0.4)  # a couple of steps past the first checkpoint
    p.send_signal(signal.SIGTERM); out, err = p.communicate(timeout=60)
    assert p.returncode == -signal.SIGTERM, (p.returncode, err[-2000:])
    return d, state

def test_sigterm_then_resume_gives_the_uninterrupted_weights(killed):
    d, state = killed
    at = json.loads(read_weights(state, tensors=False)[1]['vitlab_fit_state'])['step']
    assert 0 < at < STEPS and at % EVERY == 0, at   # killed half way, after at least one checkpoint
    assert not (d/'final.safetensors').exists()
    p = subprocess.run([sys.executable, str(d/'run.py'), str(state), str(d/'final.safetensors'), 'resume'], capture_output=True, text=True,
                       timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert p.returncode == 0, p.stderr[-3000:]
    assert f'resumed from {state} at step {at} of {STEPS}' in p.stdout, p.stdout
    resumed, _ = read_weights(d/'final.safetensors')
    for k, v in _uninterrupted().state_dict().items():
        assert (resumed[k] - v).abs().max().item() <= 1e-6, k

def test_corrupted_checkpoint_is_refused_by_name(killed, tmp_path):
    d, state = killed
    bad = tmp_path/'bad.ckpt.safetensors'; raw = bytearray(state.read_bytes()); raw[len(raw)//2] ^= 0xFF; bad.write_bytes(bytes(raw))
    model = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    with pytest.raises(VitlabError, match=f'checkpoint {bad} is corrupted'):
        fit(model, fashion_mnist_subset(), epochs=None, max_steps=STEPS, batch_size=100, state_file=bad, resume=True, progress=False)
    bad.write_bytes(bytes(raw[:100]))  # truncated inside the header
    with pytest.raises(VitlabError, match=str(bad)):
        fit(model, fashion_mnist_subset(), epochs=None, max_steps=STEPS, batch_size=100, state_file=bad, resume=True, progress=False)

def test_resume_with_other_settings_or_plain_weights_is_refused(killed, tmp_path):
    d, state = killed
    model = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    with pytest.raises(VitlabError, match='written with batch_size=100; this run has batch_size=50'):
        fit(model, fashion_mnist_subset(), epochs=None, max_steps=STEPS, batch_size=50, lr=3e-3, state_file=state, resume=True, progress=False)
    plain = save_weights(model, tmp_path/'weights.safetensors')
    with pytest.raises(VitlabError, match="not a training checkpoint"):
        fit(model, fashion_mnist_subset(), max_steps=4, batch_size=100, state_file=plain, resume=True, progress=False)

def test_gpu_on_a_cpu_machine_is_a_plain_error():
    if torch.cuda.is_available(): pytest.skip('this machine has a GPU')
    model = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    with pytest.raises(VitlabError, match='asks for a GPU'): fit(model, fashion_mnist_subset(), max_steps=2, device='cuda', progress=False)
    with pytest.raises(VitlabError, match='unknown device'): fit(model, fashion_mnist_subset(), max_steps=2, device='gpu0', progress=False)
