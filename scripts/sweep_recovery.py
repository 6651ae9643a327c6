"""How much distillation a pruning ratio needs: top-1 of the reference model on all 10,000 test images after
Taylor pruning at each ratio and `fit` (distillation from the dense model, as `recover`) for each number of steps and
learning rate. Runs on a GPU when there is one (a few minutes on one H100; hours on 2 CPU threads).

    python scripts/sweep_recovery.py 0.5,0.625,0.75 300,1000,2000 3e-4,1e-3 out.json [head ratios, default 0]

The sweep behind the `fast` preset is committed as nbs/recovery_sweep.json."""
import sys, json, time, copy, itertools, torch
from fractions import Fraction
from vitlab.measure import accuracy as acc
from vitlab.models import reference_model
from vitlab.data import fashion_mnist, calibration_set, loader, TensorImages
from vitlab.prune.structured import prune_structured
from vitlab.train import fit
dev = 'cuda' if torch.cuda.is_available() else 'cpu'
ratios = [float(Fraction(r)) for r in sys.argv[1].split(',')]
steps_l = [int(s) for s in sys.argv[2].split(',')]
lrs = [float(s) for s in sys.argv[3].split(',')]
out = sys.argv[4]
heads = [float(Fraction(r)) for r in (sys.argv[5].split(',') if len(sys.argv) > 5 else ['0'])]
dense = reference_model().eval()
train, test = fashion_mnist('train'), fashion_mnist('test')
fit_ds = TensorImages(train.images[:-5000], train.labels[:-5000]); hold = TensorImages(train.images[-5000:], train.labels[-5000:])
calib = loader(calibration_set(train, 256, seed=0), 32)
ex = test[0][0][None]
dense_d = copy.deepcopy(dense).to(dev)
res = [dict(name='dense', test=acc(dense_d, test), hold=acc(dense_d, hold))]; print(res[-1], flush=True)
for ratio, hr in itertools.product(ratios, heads):
    pruned = copy.deepcopy(dense)
    torch.manual_seed(0)
    plan = prune_structured(pruned, ratio, 'taylor', head_ratio=hr, calib=calib, example=ex, progress=False)
    p0 = copy.deepcopy(pruned).to(dev)
    r = dict(ratio=ratio, head=hr, steps=0, test=acc(p0, test), hold=acc(p0, hold), flops_after=plan['report']['flops_after']); res.append(r); print(r, flush=True)
    for steps, lr in itertools.product(steps_l, lrs):
        t = time.time(); cand = copy.deepcopy(pruned).to(dev)
        fit(cand, fit_ds, epochs=None, lr=lr, batch_size=128, warmup=0.05, teacher=dense_d, kd_T=2.0, kd_alpha=0.7,
            max_steps=steps, seed=0, progress=False, augment=True)
        r = dict(ratio=ratio, head=hr, steps=steps, lr=lr, test=acc(cand, test), hold=acc(cand, hold), s=time.time()-t); res.append(r); print(r, flush=True)
        json.dump(res, open(out, 'w'), indent=1)
json.dump(res, open(out, 'w'), indent=1)
