"""Speed figures for Swin at ImageNet size, printed and written to `nbs/bench_swin.json`; run from the repository root
on a quiet machine:

    .venv/bin/python scripts/bench_swin.py [--parts prune,curves] [--threads 2]

- prune: structured pruning of Swin-Base (`swin_base_patch4_window7_224`, random weights, 224²): importance and
  pruning through the dependency graph, no recovery — 3/32 of the MLP channels and head dimensions and 1/4 of the
  heads, with L2 importance and with Taylor importance on 32 images (target: ≤ 2 min on 2 cores).
- curves: LSP δ-curves of every linear of Swin-Tiny (`swin_tiny_patch4_window7_224`, 224², 12 blocks + 3 patch
  mergings: 51 layers), K = 50 ratios, N = 256 images, 16×16 tiles, per-sample gradients included (target: ≤ 3 min).
Weights are random (no model hub here): the times do not depend on them. Wall and CPU time are both given.
"""
import argparse, json, time
from pathlib import Path
import torch
from vitlab.core import save_json
from vitlab.models import create_model

def timed(f):
    t, c = time.time(), time.process_time()
    r = f()
    return r, time.time() - t, time.process_time() - c

def images(n, size=224, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs, ys = torch.randn(n, 3, size, size, generator=g), torch.randint(0, 1000, (n,), generator=g)
    return list(zip(xs.split(16), ys.split(16)))

def bench_prune(out):
    from vitlab.prune.structured import prune_structured
    for imp, calib in (('l2', None), ('taylor', images(32))):
        m = create_model('swin_base_patch4_window7_224').eval()
        plan, wall, cpu = timed(lambda: prune_structured(m, 3/32, imp, head_ratio=1/4, calib=calib, progress=False))
        r = plan['report']
        out[f'prune_swin_b_{imp}'] = dict(wall_s=wall, cpu_s=cpu, params_removed=r['params_removed'], flops_removed=r['flops_removed'])
        print(f"Swin-B structured pruning ({imp}, ratio 3/32, heads 1/4): {wall:.1f} s wall, {cpu:.1f} s CPU; params −{r['params_removed']:.1%}, "
              f"FLOPs −{r['flops_removed']:.1%} (target ≤ 120 s) — {'met' if wall <= 120 else 'NOT met'}", flush=True)

def bench_curves(out):
    from vitlab.prune.block import delta_curves
    m = create_model('swin_tiny_patch4_window7_224').eval()
    curves, wall, cpu = timed(lambda: delta_curves(m, images(256), (16, 16), ratios=50, n_samples=256, progress=False))
    out['curves_swin_t'] = dict(wall_s=wall, cpu_s=cpu, layers=len(curves))
    print(f"Swin-T δ-curves at 224²: {len(curves)} layers, K = 50, N = 256: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(target ≤ 180 s) — {'met' if wall <= 180 else 'NOT met'}", flush=True)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--parts', default='prune,curves'); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--out', default='nbs/bench_swin.json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = dict(threads=a.threads, torch=torch.__version__, date=time.strftime('%Y-%m-%d'))
    for p in a.parts.split(','): dict(prune=bench_prune, curves=bench_curves)[p](out)
    save_json(out, a.out)
