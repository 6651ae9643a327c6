"`fit` under torchrun: two Gloo processes end with identical weights, equal to one process training on the same global batch."
import json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from vitlab.core import read_weights
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model
from vitlab.train import fit

SCRIPT = '''
import os, sys, torch
from vitlab.core import save_weights
from vitlab.data import fashion_mnist_subset
from vitlab.models import create_model
from vitlab.train import fit
torch.set_num_threads(1)
out, rank = sys.argv[1], os.environ['RANK']
torch.manual_seed(0); model = create_model('deit_tiny_patch7_fmnist', depth=2, embed_dim=32, num_heads=2)
torch.manual_seed(1); teacher = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
hist = fit(model, fashion_mnist_subset(), batch_size=64, max_steps=8, lr=3e-3, teacher=teacher,
           ckpt=os.path.join(out, f'ckpt{rank}.safetensors'), log_file=os.path.join(out, f'log{rank}.txt'))
save_weights(model, os.path.join(out, f'rank{rank}.safetensors'), metadata={'loss': hist[-1]['train_loss']})
'''

def _single():
    torch.manual_seed(0); model = create_model('deit_tiny_patch7_fmnist', depth=2, embed_dim=32, num_heads=2)
    torch.manual_seed(1); teacher = create_model('deit_tiny_patch7_fmnist', depth=1, embed_dim=32, num_heads=2)
    hist = fit(model, fashion_mnist_subset(), batch_size=64, max_steps=8, lr=3e-3, teacher=teacher, progress=False)
    return model, hist

@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('ddp'); (out/'train.py').write_text(SCRIPT)
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    p = subprocess.run([str(Path(sys.executable).parent/'torchrun'), '--standalone', '--nproc_per_node', '2', str(out/'train.py'), str(out)],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return out, p

def test_ranks_end_identical_and_match_one_process(ddp_run):
    out, _ = ddp_run
    (w0, m0), (w1, m1) = read_weights(out/'rank0.safetensors'), read_weights(out/'rank1.safetensors')
    for k in w0: assert torch.equal(w0[k], w1[k]), k            # DDP keeps the replicas bit-identical
    assert m0['loss'] == m1['loss']                              # the epoch loss is reduced over both ranks
    single, hist = _single()
    torch.manual_seed(0); init = create_model('deit_tiny_patch7_fmnist', depth=2, embed_dim=32, num_heads=2).state_dict()
    assert max((init[k] - w0[k]).abs().max().item() for k in init) > 1e-2  # training really moved the weights …
    for k, v in single.state_dict().items():
        torch.testing.assert_close(w0[k], v, rtol=1e-3, atol=1e-4, msg=k)  # … the same way as one process on the global batches
    assert abs(float(m0['loss']) - hist[-1]['train_loss']) < 1e-4

def test_only_rank0_writes_and_prints(ddp_run):
    out, p = ddp_run
    assert (out/'ckpt0.safetensors').exists() and not (out/'ckpt1.safetensors').exists()
    assert (out/'log0.txt').exists() and not (out/'log1.txt').exists()
    assert len([l for l in p.stdout.splitlines() if l.startswith('epoch=')]) == 1, p.stdout
