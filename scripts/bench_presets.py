"""Every preset × model × runtime against dense FP32 eager and the best peer path, measured in one run; run from the repository root:

    # 1. the pipeline's own runs on the reference model (long: prune → recover → quantize → export → measure), once per preset
    .venv/bin/python scripts/bench_presets.py --compress
    # 2. build the files to time (exports; accuracy of every reference-model program on all 10k test images)
    .venv/bin/python scripts/bench_presets.py --build
    # 3. time them (keep the machine quiet meanwhile: a few minutes)
    .venv/bin/python scripts/bench_presets.py --time

`--compress` and `--build` are heavy (run them beside other work, one thread each); `--time` is the timing run.
Without a phase flag the script does whatever is missing, then times.

Models:
- the reference model (`deit_tiny_patch7_fmnist`, trained): each preset's pruned, recovered model is the one the pipeline
  wrote (`runs/presets/<preset>/pruned.safetensors`, from `compress(preset=…)`); top-1 on all 10,000 Fashion-MNIST test
  images is measured here for every timed program (the exported file itself, in its runtime), beside the pipeline's own
  report (its recovered fp32 model on the same 10k images).
- DeiT-S 224² (`deit_small_patch16_224`) with **random weights** (no hub here): latency and size only. It is pruned to
  the preset's ratios with L2 importance (with random weights only the number of channels kept matters for speed).

Runtimes per preset: ExecuTorch/XNNPACK int8 (dynamic activations, `export_pte(mode='int8_dynamic')`) and TorchScript
Lite with torch's dynamic int8 (`export_lite(quantize(…, 'int8_dynamic'))`). Baselines in the same run: dense FP32
eager, and the peer path — the dense model as TorchScript Lite with torch's dynamic int8 (what PQV-Mobile ships).

Latency: batch 1, `--threads` (2) threads, median of `--runs` timed calls in interleaved blocks (`vitlab.measure.latency_ms`).
Prints the table and the two headline ratios; writes `<out>/bench_presets.json`.
"""
import argparse, copy, json, platform, sys, time
from pathlib import Path
import torch

REF, DEIT_S = 'deit_tiny_patch7_fmnist', 'deit_small_patch16_224'
RUNTIMES = {'ExecuTorch int8': 'et_int8.pte', 'Lite int8': 'lite_int8.ptl'}

def log(*a): print(*a, file=sys.stderr, flush=True)

def run_compress(presets, runs_dir:Path, redo:bool=False):
    "The pipeline itself, once per preset, on the reference model (its report holds the accuracy after its recovery)."
    from vitlab.pipeline import compress
    for p in presets:
        if (runs_dir/p/'report.json').exists() and not redo: log(f"compress {p}: {runs_dir/p} exists"); continue
        t = time.time(); log(f"compress {p} …")
        compress(preset=p, out=runs_dir/p, overwrite=True, progress=False)
        log(f"compress {p}: {(time.time()-t)/60:.1f} min")

def dense_and_example(model:str):
    "The dense model (the trained reference, or timm's architecture with seeded random weights) and its batch-1 example."
    from vitlab.models import create_model, reference_model
    from vitlab.data import fashion_mnist
    if model == REF: return reference_model(), fashion_mnist('test')[0][0][None]
    torch.manual_seed(0); dense = create_model(model).eval()
    return dense, torch.randn(1, *dense.pretrained_cfg['input_size'])

def deit_s_pruned(preset:str, dense, example):
    """DeiT-S pruned to the preset's ratios. Its weights are random, so which channels go does not matter, only how many:
    L2 importance (no gradients) gives the same shapes as the preset's importance, at a fraction of the cost."""
    from vitlab.pipeline import preset_settings
    from vitlab.prune.structured import prune_structured
    ps = preset_settings(preset)
    m = copy.deepcopy(dense)
    prune_structured(m, ps['ratio'], 'l2', head_ratio=ps['head_ratio'], example=example, progress=False)
    return m.eval(), ps

def export_both(model, folder:Path, example, redo:bool=False):
    "The preset's two runtimes: ExecuTorch int8 (dynamic) and Lite + torch dynamic int8."
    from vitlab.deploy.export import export_pte, export_lite
    from vitlab.deploy.quantize import quantize
    folder.mkdir(parents=True, exist_ok=True)
    f = {k: folder/v for k, v in RUNTIMES.items()}
    if redo or not f['ExecuTorch int8'].exists(): export_pte(model, f['ExecuTorch int8'], example, mode='int8_dynamic', overwrite=True)
    if redo or not f['Lite int8'].exists(): export_lite(quantize(model, 'int8_dynamic'), f['Lite int8'], example, overwrite=True)
    return f

def read_meta(out:Path, model:str) -> dict:
    "What `build` recorded for `model` (one file per model, so builds of different models can run side by side)."
    f = out/model/'build.json'
    return json.loads(f.read_text()) if f.exists() else {}

def build(presets, models, out:Path, runs_dir:Path, redo:bool=False):
    "Export every file that is timed; score the reference model's programs on all 10k test images."
    from vitlab.prune.structured import load_pruned
    from vitlab.data import fashion_mnist
    from vitlab.measure import accuracy
    from vitlab.deploy.export import export_lite, load_exported
    from vitlab.deploy.quantize import quantize
    meta = {}
    for model in models:
        t = time.time()
        dense, example = dense_and_example(model)
        d = out/model; d.mkdir(parents=True, exist_ok=True)
        m = meta[model] = read_meta(out, model)
        peer = d/'peer_lite_int8.ptl'
        if redo or not peer.exists(): export_lite(quantize(dense, 'int8_dynamic'), peer, example, overwrite=True)
        for p in presets:
            if model == REF:
                src = runs_dir/p/'pruned.safetensors'
                if not src.exists(): raise SystemExit(f"{src} is missing: run with --compress first")
                pruned = load_pruned(src); rep = json.loads((runs_dir/p/'report.json').read_text())
                m[p] = dict(pipeline=[{k: r.get(k) for k in ('name', 'acc', 'acc_on', 'acc_subset', 'best', 'file')} for r in rep])
            else:
                pruned, ps = deit_s_pruned(p, dense, example); m[p] = dict(settings=ps, importance_used='l2 (random weights: same shapes)')
            export_both(pruned, d/p, example, redo)
            log(f"{model} {p}: files ready ({time.time()-t:.0f} s)")
        if model == REF:  # every timed program's top-1 on all 10,000 test images, in its own runtime
            test = fashion_mnist('test')
            if redo or 'acc' not in m:
                m['acc'] = {'dense fp32 eager': accuracy(dense, test), 'peer': accuracy(load_exported(peer), test)}
            for p in presets:
                for rt, f in RUNTIMES.items():
                    k = f'{p} {rt}'
                    if redo or k not in m['acc']: m['acc'][k] = accuracy(load_exported(d/p/f), test); log(f"{k}: top-1 {m['acc'][k]:.2%}")
        (d/'build.json').write_text(json.dumps(m, indent=1))
    return meta

def time_all(presets, models, out:Path, runs:int, threads:int):
    "Latency of every program of a model, interleaved with its dense FP32 eager and the peer path, in one run."
    from vitlab.deploy.export import load_exported
    from vitlab.measure import latency_ms
    meta = {model: read_meta(out, model) for model in models}
    rows = []
    for model in models:
        d = out/model
        dense, example = dense_and_example(model)
        progs = {'dense fp32 eager': dense, 'peer': load_exported(d/'peer_lite_int8.ptl')}
        files = {'peer': d/'peer_lite_int8.ptl'}
        for p in presets:
            for rt, f in RUNTIMES.items():
                if (d/p/f).exists(): progs[f'{p} {rt}'] = load_exported(d/p/f); files[f'{p} {rt}'] = d/p/f
                else: log(f"{model} {p} {rt}: {d/p/f} not built (run --build): left out")
        with torch.no_grad(): lat = latency_ms(progs, example, runs=runs, threads=threads)
        base, peer = lat['dense fp32 eager']['latency_ms'], lat['peer']['latency_ms']
        acc = meta.get(model, {}).get('acc', {})
        for k, v in lat.items():
            preset, runtime = (None, 'eager fp32') if k == 'dense fp32 eager' else (None, 'peer: dense Lite + torch dyn-int8') if k == 'peer' else k.split(' ', 1)
            size = files[k].stat().st_size/1e6 if k in files else sum(t.numel()*t.element_size() for t in dense.state_dict().values())/1e6
            pipe = meta.get(model, {}).get(preset, {}).get('pipeline') if preset else None
            rec = next((r for r in pipe or [] if r['name'].endswith(' fp32') and r['name'].startswith('pruned')), None)
            rows.append(dict(model=model, preset=preset or '—', runtime=runtime, latency_ms=v['latency_ms'], p10_ms=v['latency_p10_ms'],
                             p90_ms=v['latency_p90_ms'], x_dense=base/v['latency_ms'], x_peer=peer/v['latency_ms'], size_mb=size,
                             acc=acc.get(k), acc_drop_pt=None if acc.get(k) is None else 100*(acc['dense fp32 eager'] - acc[k]),
                             acc_recovered_fp32=rec['acc'] if rec else None, threads=v['threads'], runs=runs))
    return rows

def table(rows) -> str:
    f = lambda v, s: '—' if v is None else s.format(v)
    lines = ['| model | preset | runtime | latency ms (p10–p90) | × dense FP32 | × peer | size MB | top-1 10k | top-1 drop (pt) | recovered fp32 (pipeline) |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f"| {'reference' if r['model'] == REF else 'DeiT-S 224² (random init)'} | {r['preset']} | {r['runtime']} | "
                     f"{r['latency_ms']:.2f} ({r['p10_ms']:.2f}–{r['p90_ms']:.2f}) | {r['x_dense']:.2f} | {r['x_peer']:.2f} | {r['size_mb']:.2f} | "
                     f"{f(r['acc'], '{:.2%}')} | {f(r['acc_drop_pt'], '{:.2f}')} | {f(r['acc_recovered_fp32'], '{:.2%}')} |")
    return '\n'.join(lines)

def headline(rows) -> list[str]:
    get = lambda model, rt: next((r for r in rows if r['model'] == model and r['preset'] == 'fast' and r['runtime'] == rt), None)
    out = []
    d = get(DEIT_S, 'ExecuTorch int8')
    if d: out.append(f"DeiT-S 224² `fast` + ExecuTorch int8: {d['latency_ms']:.2f} ms = {d['x_peer']:.2f}× the peer path (dense Lite + torch "
                     f"dynamic int8) and {d['x_dense']:.2f}× dense FP32 eager, same run (target ≥ 2.0×, aim 2.5×: "
                     f"{'met' if d['x_peer'] >= 2.0 else 'NOT met'})")
    r = get(REF, 'ExecuTorch int8')
    if r: out.append(f"reference model `fast` + ExecuTorch int8: {r['x_dense']:.2f}× dense FP32 eager, losing {r['acc_drop_pt']:.2f} pt top-1 "
                     f"(all 10k test images, the exported program; target ≥ 8× at ≤ 1.0 pt: "
                     f"{'met' if r['x_dense'] >= 8 and r['acc_drop_pt'] <= 1.0 else 'NOT met'})")
    return out

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--presets', default='paper,balanced,fast')
    ap.add_argument('--models', default=f'{REF},{DEIT_S}')
    ap.add_argument('--out', default='runs/bench_presets')
    ap.add_argument('--runs_dir', default='runs/presets', help="compress(preset=…) report folders, one per preset")
    ap.add_argument('--runs', type=int, default=30)
    ap.add_argument('--threads', type=int, default=2)
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
        rows = time_all(presets, models, out, a.runs, a.threads)
        print(table(rows)); print()
        for h in headline(rows): print(h)
        info = dict(torch=torch.__version__, cpu=platform.processor() or platform.machine(), threads=a.threads, runs=a.runs,
                    when=time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()))
        (out/'bench_presets.json').write_text(json.dumps(dict(info=info, rows=rows, headline=headline(rows)), indent=1))
        print(f"\nwritten: {out/'bench_presets.json'}")
