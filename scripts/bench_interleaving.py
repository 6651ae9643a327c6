"""Why `latency_ms` interleaves in blocks: batch-1 latency of DeiT-Tiny (224², random weights) as an ExecuTorch
program and as eager int8, timed alone, alternated call by call with the eager FP32 model, and in blocks
(`vitlab.measure.latency_ms`). Prints medians in ms; run with the project's venv: `.venv/bin/python scripts/bench_interleaving.py`."""
import statistics, tempfile, time
from pathlib import Path
import torch
from vitlab.models import create_model
from vitlab.measure import latency_ms
from vitlab.deploy.ptq import quantize
from vitlab.deploy.export import export_pte
from vitlab.deploy.runtimes import load_exported

def call_by_call(models:dict, x, runs:int=30, warmup:int=3) -> dict:
    "Median ms of each model, alternating one call per model (the scheme `latency_ms` replaced)."
    times = {k: [] for k in models}
    with torch.no_grad():
        for m in models.values():
            for _ in range(warmup): m(x)
        for _ in range(runs):
            for k, m in models.items():
                t = time.perf_counter(); m(x); times[k].append(1e3*(time.perf_counter() - t))
    return {k: statistics.median(v) for k, v in times.items()}

if __name__ == '__main__':
    torch.set_num_threads(2); torch.manual_seed(0)
    fp32 = create_model('deit_tiny_patch16_224').eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    others = {'ExecuTorch fp32': load_exported(export_pte(fp32, Path(tempfile.mkdtemp())/'m.pte', x)),
              'eager int8 dyn': quantize(fp32, 'int8_dynamic')}
    print('| model | alone | call by call with eager FP32 | blocks (latency_ms) |\n|---|---|---|---|')
    for k, m in others.items():
        alone = call_by_call({k: m}, x)[k]
        alt = call_by_call({'fp32': fp32, k: m}, x)[k]
        blk = latency_ms({'fp32': fp32, k: m}, x, runs=30, warmup=3)[k]['latency_ms']
        print(f'| {k} | {alone:.2f} | {alt:.2f} | {blk:.2f} |')
