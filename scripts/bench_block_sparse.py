"""Speed figures for block pruning (vitlab.prune.block), printed; run from the repository root:

    .venv/bin/python scripts/bench_block_sparse.py [--parts curves,incremental,linear] [--threads 1,2] [--json nbs/bench_block_sparse.json]

- curves: δ-curves of all 48 linear layers of the reference model, K = 50 ratios, N = 256 calibration images,
  per-sample gradients included (target: ≤ 60 s on 2 cores). Wall and CPU time: on a shared machine CPU time is
  the steadier figure.
- incremental: Eq. 13's incremental δ-curve against recomputing every point (one GEMV over G per point), K = 50, on
  a DeiT-S-sized fc1 (384→1536, 16×16 tiles) with N = 256 random per-sample gradients (target: ≥ 20× faster); for
  scale also one GEMV alone and all K + 1 points as one GEMM.
- linear: batch-1 latency of the block-sparse forms (compact / rows / bsr) against the dense linear, at several
  tile sparsities, for the reference model's layer shapes (17 tokens) and DeiT-S's (197 tokens), timed interleaved;
  beside each time, the paper's power/FLOPs proxy (Eq. 7: tokens × kept tiles, relative to dense). Timed at each
  thread count of `--threads`; `--json` writes every time (the 11_prune_block notebook renders its table from it).
  Run it with nothing else running: a busy machine inflates torch's eager times.
"""
import argparse, json, os, platform, time
from pathlib import Path
import numpy as np, torch
from vitlab.prune.block import (delta_curves, delta_curve, block_expand, time_block_linear, BlockSparseLinear, LayerCurve,
                                pruning_order, ratio_grid)
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

def bench_incremental(N=256, out=1536, inp=384, K=50, block=(16, 16), repeats=3):
    g = torch.Generator().manual_seed(0)
    W = torch.randn(out, inp, generator=g)*0.02
    G = torch.randn(N, out, inp, generator=g)*1e-3
    scores = torch.rand(out//block[0], inp//block[1], generator=g)
    v = torch.randn(out*inp, generator=g)
    lc = LayerCurve(W, pruning_order(scores), ratio_grid(K), block, incremental=False)
    times = {'incremental': [], 'naive': [], 'one GEMV over G': [], 'all points as one GEMM': []}
    for _ in range(repeats):  # interleaved, medians reported
        for name in times:
            t = time.perf_counter()
            if name == 'one GEMV over G': G.view(N, -1) @ v
            elif name == 'all points as one GEMM':  # every ΔW(α_k) stacked: G·[ΔW_0 … ΔW_K], compute-bound
                D = torch.stack([lc.delta_w(k).flatten() for k in range(K + 1)])
                u = G.view(N, -1) @ D.T; (u.double()**2).sum(0)
            else: times[name].append(delta_curve(W, G, K, block, 1e-4, name == 'incremental', scores)[1])
            times[name].append(time.perf_counter() - t)
    curves = {k: [x for x in v if isinstance(x, np.ndarray)][0] for k, v in times.items() if k in ('incremental', 'naive')}
    med = {k: float(np.median([x for x in v if not isinstance(x, np.ndarray)])) for k, v in times.items()}
    di, dn = curves['incremental'], curves['naive']
    rel = np.abs(di - dn)[1:]/np.abs(dn)[1:]
    print(f"DeiT-S fc1 {inp}→{out}, N = {N}, K = {K}, {block[0]}×{block[1]} tiles, {torch.get_num_threads()} thread(s), median of {repeats}: "
          f"incremental {med['incremental']*1e3:.0f} ms, naive {med['naive']*1e3:.0f} ms — speed-up {med['naive']/med['incremental']:.1f}× "
          f"(target ≥ 20×); one GEMV over G {med['one GEMV over G']*1e3:.0f} ms, so the incremental curve costs "
          f"{med['incremental']/med['one GEMV over G']:.1f} GEMVs, the naive one {med['naive']/med['one GEMV over G']:.1f}; "
          f"curves agree to {rel.max():.1e} relative")
    print(f"  (not the reference, for scale: all K + 1 products G·ΔW(α_k) as one compute-bound GEMM, {med['all points as one GEMM']*1e3:.0f} ms "
          f"= {med['all points as one GEMM']/med['incremental']:.1f}× the incremental curve's time)")
    return med

SHAPES = {'reference (17 tokens)': (17, [('qkv', 192, 576), ('proj', 192, 192), ('fc1', 192, 768), ('fc2', 768, 192)]),
          'DeiT-S (197 tokens)': (197, [('qkv', 384, 1152), ('proj', 384, 384), ('fc1', 384, 1536), ('fc2', 1536, 384)])}

RUNS = 40  # timed runs per figure (median)

def bench_linear(sparsities=(0.5, 0.7, 0.9), block=(16, 16), threads=(1, 2), runs=RUNS) -> list[dict]:
    "One row per layer shape and tile sparsity: the median batch-1 time (ms) of the dense layer and each block-sparse form at each thread count."
    g = torch.Generator().manual_seed(0)
    print(f"\nbatch-1 latency (ms, median of {runs}, interleaved, best of {threads} threads); ×: dense time / this time; power proxy = kept tiles")
    print(f"{'model':<22} {'layer':<5} {'sparsity':>8} {'dense':>8} {'compact':>8} {'rows':>8} {'bsr':>8}   best       power")
    out = []
    for model, (M, layers) in SHAPES.items():
        for name, i, o in layers:
            for s in sparsities:
                lin = torch.nn.Linear(i, o)
                nb = (o//block[0])*(i//block[1])
                keep = torch.ones(nb, dtype=torch.bool); keep[torch.randperm(nb, generator=g)[:round(s*nb)]] = False
                with torch.no_grad(): lin.weight.mul_(block_expand(keep.view(o//block[0], -1), block))
                x = torch.randn(1, M, i, generator=g)
                ms = {n: time_block_linear(lin, x, block, runs=runs, threads=n) for n in threads}
                kinds = ('dense', *BlockSparseLinear.KINDS)
                t = {k: min(ms[n][k] for n in threads) for k in kinds}
                best = min(BlockSparseLinear.KINDS, key=t.get)
                out.append(dict(model=model, layer=name, tokens=M, in_features=i, out_features=o, sparsity=s, kept=float(keep.float().mean()),
                                ms={k: {str(n): ms[n][k] for n in threads} for k in kinds}))
                print(f"{model:<22} {name:<5} {s:>8.0%} {t['dense']:>8.3f} {t['compact']:>8.3f} {t['rows']:>8.3f} {t['bsr']:>8.3f}   "
                      f"{best:<7} ×{t['dense']/t[best]:.2f}   {keep.float().mean():.0%}", flush=True)
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--parts', default='curves,incremental,linear')
    ap.add_argument('--threads', default='1,2', help='thread counts to time at, e.g. 1,2 (each figure is reported at its best)')
    ap.add_argument('--json', default=None, help='write the linear-layer timings here (JSON)')
    a = ap.parse_args()
    threads = tuple(int(n) for n in a.threads.split(','))
    torch.set_num_threads(max(threads))
    parts = a.parts.split(',')
    if 'incremental' in parts: bench_incremental()
    if 'curves' in parts: bench_curves()
    if 'linear' in parts:
        rows = bench_linear(threads=threads)
        if a.json:
            p = Path(a.json); tmp = p.with_suffix('.tmp')
            tmp.write_text(json.dumps(dict(threads=list(threads), runs=RUNS, block=[16, 16], torch=torch.__version__,
                                           cpu=platform.processor() or platform.machine(), cpus=os.cpu_count(), rows=rows), indent=1))
            tmp.replace(p); print(f"wrote {p}")
