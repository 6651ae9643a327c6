"""Speed figures for block pruning (vitlab.prune.block), printed; run from the repository root:

    .venv/bin/python scripts/bench_block_sparse.py [--parts curves,incremental,linear] [--threads 2]

- curves: δ-curves of all 48 linear layers of the reference model, K = 50 ratios, N = 256 calibration images,
  per-sample gradients included (target: ≤ 60 s on 2 cores). Wall and CPU time: on a shared machine CPU time is
  the steadier figure.
- incremental: Eq. 13's incremental δ-curve against recomputing every point, K = 50, on a DeiT-S-sized fc1
  (384→1536, 16×16 tiles) with N = 256 random per-sample gradients (target: ≥ 20× faster).
- linear: batch-1 latency of the block-sparse forms (compact / rows / bsr) against the dense linear, at several
  tile sparsities, for the reference model's layer shapes (17 tokens) and DeiT-S's (197 tokens), timed interleaved;
  beside each time, the paper's power/FLOPs proxy (Eq. 7: tokens × kept tiles, relative to dense).
"""
import argparse, time
import numpy as np, torch
from vitlab.prune.block import delta_curves, delta_curve, block_expand, time_block_linear, BlockSparseLinear
from vitlab.models import reference_model
from vitlab.data import fashion_mnist, calibration_set, loader

def bench_curves():
    model = reference_model()
    calib = loader(calibration_set(fashion_mnist('train'), 256, seed=0), 64)
    t, c = time.time(), time.process_time()
    curves = delta_curves(model, calib, (16, 16), ratios=50, n_samples=256, progress=False)
    wall, cpu = time.time() - t, time.process_time() - c
    print(f"δ-curves, reference model: {len(curves)} layers, K = 50, N = 256, gradients included: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(target ≤ 60 s) — {'met' if wall <= 60 else 'NOT met'} on wall time")

def bench_incremental(N=256, out=1536, inp=384, K=50, block=(16, 16)):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(out, inp, generator=g)*0.02
    G = torch.randn(N, out, inp, generator=g)*1e-3
    scores = torch.rand(out//block[0], inp//block[1], generator=g)
    times = {}
    for inc in (True, False):
        t, c = time.time(), time.process_time(); _, d = delta_curve(W, G, K, block, 1e-4, inc, scores)
        times[inc] = (time.time() - t, time.process_time() - c, d)
    (ti, ci, di), (tn, cn, dn) = times[True], times[False]
    rel = np.abs(di - dn)[1:]/np.abs(dn)[1:]
    print(f"DeiT-S fc1 {inp}→{out}, N = {N}, K = {K}, 16×16 tiles: incremental {ti:.3f} s wall / {ci:.3f} s CPU, "
          f"naive {tn:.3f} s wall / {cn:.3f} s CPU; speed-up {tn/ti:.1f}× wall, {cn/ci:.1f}× CPU (target ≥ 20×); "
          f"curves agree to {rel.max():.1e} relative")

SHAPES = {'reference (17 tokens)': (17, [('qkv', 192, 576), ('proj', 192, 192), ('fc1', 192, 768), ('fc2', 768, 192)]),
          'DeiT-S (197 tokens)': (197, [('qkv', 384, 1152), ('proj', 384, 384), ('fc1', 384, 1536), ('fc2', 1536, 384)])}

def bench_linear(sparsities=(0.3, 0.5, 0.7, 0.9), block=(16, 16), threads=2, runs=40):
    g = torch.Generator().manual_seed(0)
    print(f"\nbatch-1 latency (ms, median of {runs}, interleaved, {threads} threads); ×: dense time / this time; power proxy = kept tiles")
    print(f"{'model':<22} {'layer':<5} {'sparsity':>8} {'dense':>8} {'compact':>8} {'rows':>8} {'bsr':>8}   best       power")
    for model, (M, layers) in SHAPES.items():
        for name, i, o in layers:
            for s in sparsities:
                lin = torch.nn.Linear(i, o)
                nb = (o//block[0])*(i//block[1])
                keep = torch.ones(nb, dtype=torch.bool); keep[torch.randperm(nb, generator=g)[:round(s*nb)]] = False
                with torch.no_grad(): lin.weight.mul_(block_expand(keep.view(o//block[0], -1), block))
                x = torch.randn(1, M, i, generator=g)
                t = time_block_linear(lin, x, block, runs=runs, threads=threads)
                best = min(BlockSparseLinear.KINDS, key=t.get)
                print(f"{model:<22} {name:<5} {s:>8.0%} {t['dense']:>8.3f} {t['compact']:>8.3f} {t['rows']:>8.3f} {t['bsr']:>8.3f}   "
                      f"{best:<7} ×{t['dense']/t[best]:.2f}   {keep.float().mean():.0%}", flush=True)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--parts', default='curves,incremental,linear')
    ap.add_argument('--threads', type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    parts = a.parts.split(',')
    if 'incremental' in parts: bench_incremental()
    if 'curves' in parts: bench_curves()
    if 'linear' in parts: bench_linear(threads=a.threads)
