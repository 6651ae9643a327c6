"""Every preset × model × runtime against dense FP32 eager and the best dense peer, measured in one run; run from the repository root:

    # 1. the pipeline's own runs on the reference model (long: prune → recover → quantize → export → measure), once per preset
    .venv/bin/python scripts/bench_presets.py --compress
    # 2. build the files to time (exports; accuracy of every reference-model program on all 10k test images)
    .venv/bin/python scripts/bench_presets.py --build
    # 3. time them (keep the machine quiet meanwhile: a few minutes)
    .venv/bin/python scripts/bench_presets.py --time

`--compress` and `--build` are heavy (run them beside other work); `--time` is the timing run, and says when the
machine was busy while it ran. Without a phase flag the script does whatever is missing, then times.

Models:
- the reference model (`deit_tiny_patch7_fmnist`, trained): each preset's pruned, recovered model is the one the pipeline
  wrote (`runs/presets/<preset>/pruned.safetensors`, from `compress(preset=…)`); top-1 on all 10,000 Fashion-MNIST test
  images is measured here for every timed program (the exported file itself, in its runtime), beside the pipeline's own
  report (its recovered fp32 model on the same 10k images).
- DeiT-S 224² (`deit_small_patch16_224`) with **random weights** (no hub here): latency and size only. It is pruned to
  the preset's ratios (channels, heads, blocks) with L2 importance: with random weights only how much is kept matters for speed.

Runtimes: every installed one (`vitlab.deploy.runtimes`: ExecuTorch, Lite, LiteRT, ONNX Runtime, OpenVINO), each with
its int8 recipe. The peers are the dense model on every runtime in that runtime's int8 recipe; the **best peer** is the
fastest of them in this run (named in the output), and "× best peer" is measured against it. "× Lite peer" keeps the
older comparison (the dense model as TorchScript Lite + torch dynamic int8, PQV-Mobile's path).

Latency: batch 1, every program at 1 and 2 threads in one interleaved run (`vitlab.deploy.runtimes.time_programs`),
each reported at its faster count; median of `--runs` timed calls. Prints the table and the headline ratios; writes
`<out>/bench_presets.json`.
"""
import argparse, copy, json, platform, sys, time
from pathlib import Path
import torch

REF, DEIT_S = 'deit_tiny_patch7_fmnist', 'deit_small_patch16_224'

def log(*a): print(*a, file=sys.stderr, flush=True)

def runtimes():
    from vitlab.deploy.runtimes import installed_runtimes
    return installed_runtimes()

def fname(rt:str) -> str:
    from vitlab.deploy.runtimes import RUNTIMES
    return f'int8{RUNTIMES[rt].suffix}'

def run_compress(presets, runs_dir:Path, redo:bool=False):
    "The pipeline itself, once per preset, on the reference model (its report holds the accuracy after its recovery)."
    from vitlab.pipeline import compress
    for p in presets:
        if (runs_dir/p/'report.json').exists() and not redo: log(f"compress {p}: {runs_dir/p} exists"); continue
        t = time.time(); log(f"compress {p} …")
        compress(preset=p, out=runs_dir/p, overwrite=True, progress=False, runtimes=['litert'])
        log(f"compress {p}: {(time.time()-t)/60:.1f} min")

def dense_and_example(model:str):
    "The dense model (the trained reference, or timm's architecture with seeded random weights) and its batch-1 example."
    from vitlab.models import create_model, reference_model
    from vitlab.data import fashion_mnist
    if model == REF: return reference_model(), fashion_mnist('test')[0][0][None]
    torch.manual_seed(0); dense = create_model(model).eval()
    return dense, torch.randn(1, *dense.pretrained_cfg['input_size'])

def calib_for(model:str, example):
    "Calibration batches for the runtimes whose int8 is static: real training images, or random ones for DeiT-S."
    from vitlab.data import fashion_mnist, calibration_set, loader
    if model == REF: return loader(calibration_set(fashion_mnist('train'), 128), 32)
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(8, *example.shape[1:], generator=g), None) for _ in range(4)]

def deit_s_pruned(preset:str, dense, example):
    """DeiT-S pruned to the preset's ratios. Its weights are random, so which channels and blocks go does not matter, only
    how many: L2 importance (no gradients) gives the same shapes as the preset's importance, at a fraction of the cost."""
    from vitlab.pipeline import preset_settings
    from vitlab.prune.structured import prune_structured
    ps = preset_settings(preset)
    m = copy.deepcopy(dense)
    g = torch.Generator().manual_seed(2)
    xs = torch.randn(32, *example.shape[1:], generator=g)
    with torch.no_grad(): calib = [(xs, dense(xs).argmax(-1))]  # the blocks to drop are scored on the model's own labels (random weights)
    prune_structured(m, ps['ratio'], 'l2', head_ratio=ps['head_ratio'], depth_ratio=ps['depth_ratio'], calib=calib, example=example, progress=False)
    return m.eval(), ps

def export_all(model, folder:Path, example, calib, rts, redo:bool=False):
    "The model on every runtime, in each runtime's int8 recipe."
    from vitlab.deploy.runtimes import export_as
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for rt in rts:
        f = folder/fname(rt)
        if redo or not f.exists():
            t = time.time(); export_as(rt, model, f, example, 'int8', calib, overwrite=True); log(f"  {f}: {time.time()-t:.0f} s")
        out[rt] = f
    return out

def read_meta(out:Path, model:str) -> dict:
    "What `build` recorded for `model` (one file per model, so builds of different models can run side by side)."
    f = out/model/'build.json'
    return json.loads(f.read_text()) if f.exists() else {}

def build(presets, models, out:Path, runs_dir:Path, redo:bool=False):
    "Export every file that is timed; score the reference model's programs on all 10k test images."
    from vitlab.prune.structured import load_pruned
    from vitlab.data import fashion_mnist
    from vitlab.measure import accuracy
    from vitlab.deploy.runtimes import load_exported
    rts = runtimes()
    for model in models:
        t = time.time()
        dense, example = dense_and_example(model)
        calib = calib_for(model, example)
        d = out/model; d.mkdir(parents=True, exist_ok=True)
        m = read_meta(out, model)
        export_all(dense, d/'dense', example, calib, rts, redo)
        for p in presets:
            if model == REF:
                src = runs_dir/p/'pruned.safetensors'
                if not src.exists(): raise SystemExit(f"{src} is missing: run with --compress first")
                pruned = load_pruned(src); rep = json.loads((runs_dir/p/'report.json').read_text())
                m[p] = dict(pipeline=[{k: r.get(k) for k in ('name', 'acc', 'acc_on', 'acc_subset', 'best', 'file', 'runtime')} for r in rep])
            else:
                pruned, ps = deit_s_pruned(p, dense, example); m[p] = dict(settings=ps, importance_used='l2 (random weights: same shapes)')
            export_all(pruned, d/p, example, calib, rts, redo)
            log(f"{model} {p}: files ready ({time.time()-t:.0f} s)")
        if model == REF:  # every timed program's top-1 on all 10,000 test images, in its own runtime
            test = fashion_mnist('test')
            acc = m.setdefault('acc', {})
            if redo or 'dense fp32 eager' not in acc: acc['dense fp32 eager'] = accuracy(dense, test)
            for p in ['dense'] + list(presets):
                for rt in rts:
                    k = f'{p} {rt}'
                    if redo or k not in acc: acc[k] = accuracy(load_exported(d/p/fname(rt)), test); log(f"{k}: top-1 {acc[k]:.2%}")
        (d/'build.json').write_text(json.dumps(m, indent=1))

def time_all(presets, models, out:Path, runs:int, threads=(1, 2)):
    "Latency of every program of a model, with its dense FP32 eager and the dense model on every runtime, in one run per model."
    from vitlab.deploy.runtimes import time_programs, file_mb, RUNTIMES
    rts = runtimes()
    rows, quality = [], {}
    for model in models:
        d, meta = out/model, read_meta(out, model)
        dense, example = dense_and_example(model)
        progs = {'dense eager fp32': dense}
        for p in ['dense'] + list(presets):
            for rt in rts:
                f = d/p/fname(rt)
                if f.exists(): progs[f'{p} {rt}'] = f
                else: log(f"{model} {p} {rt}: {f} not built (run --build): left out")
        lat, q = time_programs(progs, example, runs=runs, threads=threads)
        quality[model] = q
        base = lat['dense eager fp32']['latency_ms']
        peers = {rt: lat[f'dense {rt}']['latency_ms'] for rt in rts if f'dense {rt}' in lat}
        best_rt = min(peers, key=peers.get)
        acc = meta.get('acc', {})
        for k, v in lat.items():
            preset, rt = ('—', 'eager') if k == 'dense eager fp32' else k.split(' ', 1)
            size = file_mb(progs[k]) if rt != 'eager' else sum(t.numel()*t.element_size() for t in dense.state_dict().values())/1e6
            pipe = meta.get(preset, {}).get('pipeline') if preset not in ('—', 'dense') else None
            rec = next((r for r in pipe or [] if r['name'].endswith(' fp32') and r['name'].startswith('pruned')), None)
            a = acc.get('dense fp32 eager' if k == 'dense eager fp32' else k)
            rows.append(dict(model=model, preset=preset, runtime=rt, precision='fp32' if rt == 'eager' else 'int8',
                             latency_ms=v['latency_ms'], p10_ms=v['latency_p10_ms'], p90_ms=v['latency_p90_ms'], threads=v['threads'],
                             by_threads=v['by_threads'], x_dense=base/v['latency_ms'], x_best_peer=peers[best_rt]/v['latency_ms'],
                             best_peer=RUNTIMES[best_rt].label, x_lite_peer=peers['lite']/v['latency_ms'] if 'lite' in peers else None,
                             size_mb=size, acc=a, acc_drop_pt=None if a is None else 100*(acc['dense fp32 eager'] - a),
                             acc_recovered_fp32=rec['acc'] if rec else None, runs=runs, timing_busy=q['busy']))
    return rows, quality

def table(rows) -> str:
    from vitlab.deploy.runtimes import RUNTIMES
    f = lambda v, s: '—' if v is None else s.format(v)
    lines = ['| model | preset | runtime | latency ms (p10–p90) | threads | × dense FP32 | × best peer | × Lite peer | size MB | top-1 10k | drop (pt) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        rt = 'eager FP32' if r['runtime'] == 'eager' else f"{RUNTIMES[r['runtime']].label} int8"
        lines.append(f"| {'reference' if r['model'] == REF else 'DeiT-S 224² (random init)'} | {r['preset']} | {rt} | "
                     f"{r['latency_ms']:.2f} ({r['p10_ms']:.2f}–{r['p90_ms']:.2f}) | {r['threads']} | {r['x_dense']:.2f} | {r['x_best_peer']:.2f} | "
                     f"{f(r['x_lite_peer'], '{:.2f}')} | {r['size_mb']:.2f} | {f(r['acc'], '{:.2%}')} | {f(r['acc_drop_pt'], '{:.2f}')} |")
    return '\n'.join(lines)

def headline(rows) -> list[str]:
    "The preset `fast`'s best file per model against the best dense peer (and, on the reference model, dense FP32 eager and its top-1)."
    out = []
    for model, goal in ((DEIT_S, 'DeiT-S 224²'), (REF, 'reference model')):
        fast = [r for r in rows if r['model'] == model and r['preset'] == 'fast' and (r['acc_drop_pt'] is None or r['acc_drop_pt'] <= 1.0)]
        if not fast: continue
        b = min(fast, key=lambda r: r['latency_ms'])
        s = (f"{goal} `fast` on {b['runtime']}: {b['latency_ms']:.2f} ms = {b['x_best_peer']:.2f}× the best dense peer ({b['best_peer']} int8), "
             f"{b['x_dense']:.2f}× dense FP32 eager, same run")
        if model == REF:
            s += (f"; top-1 −{b['acc_drop_pt']:.2f} pt (all 10k test images, the exported file) — "
                  f"≥ 2.0× best peer and ≥ 15× eager at ≤ 1 pt: {'met' if b['x_best_peer'] >= 2 and b['x_dense'] >= 15 else 'NOT met'}")
        else: s += f" — ≥ 2.0× best peer (aim 2.5×): {'met' if b['x_best_peer'] >= 2 else 'NOT met'}"
        out.append(s)
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--presets', default='paper,balanced,fast')
    ap.add_argument('--models', default=f'{REF},{DEIT_S}')
    ap.add_argument('--out', default='runs/bench_presets')
    ap.add_argument('--runs_dir', default='runs/presets', help="compress(preset=…) report folders, one per preset")
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--threads', default='1,2', help='thread counts every program is timed at (each reported at its best)')
    ap.add_argument('--compress', action='store_true', help='run the pipeline per preset (reference model)')
    ap.add_argument('--build', action='store_true', help='export the files to time; reference-model accuracy')
    ap.add_argument('--time', action='store_true', help='the timing run')
    ap.add_argument('--redo', action='store_true', help='redo what exists')
    a = ap.parse_args()
    presets, models = a.presets.split(','), a.models.split(',')
    out, runs_dir = Path(a.out), Path(a.runs_dir); out.mkdir(parents=True, exist_ok=True)
    everything = not (a.compress or a.build or a.time)
    if a.compress or (everything and REF in models): run_compress(presets, runs_dir, a.redo and a.compress)
    if a.build or everything: build(presets, models, out, runs_dir, a.redo)
    if a.time or everything:
        rows, quality = time_all(presets, models, out, a.runs, tuple(int(t) for t in a.threads.split(',')))
        print(table(rows)); print()
        for h in headline(rows): print(h)
        for m, q in quality.items():
            print(f"{m}: timing spread p90/p10 {q['spread']:.2f}, other processes {q['other_cpus'] if q['other_cpus'] is None else round(q['other_cpus'], 2)} CPUs"
                  + (" — BUSY MACHINE: do not quote these figures" if q['busy'] else ' (quiet)'))
        info = dict(torch=torch.__version__, cpu=platform.processor() or platform.machine(), threads=a.threads, runs=a.runs,
                    when=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), runtimes=list(runtimes()))
        (out/'bench_presets.json').write_text(json.dumps(dict(info=info, rows=rows, quality=quality, headline=headline(rows)), indent=1))
        print(f"\nwritten: {out/'bench_presets.json'}")
