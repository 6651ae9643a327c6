"""Probe every timm transformer family with every vitlab method and write the coverage table's data, nbs/coverage.json.

    python scripts/coverage.py [--out nbs/coverage.json] [--only MODEL,MODEL,…]

The families come from timm's registry (`vitlab.coverage.transformer_families`); each is probed with `probe` (random
weights; vitlab's families built small on the CPU, the others on the meta device). With `--only`, the named families
(and any the file lacks) are probed again and the others kept from the file. The file is written atomically; a family
whose probe itself failed is left out of it and named at the end (then fix it and run with `--only`). A method that
crashes is recorded as such, and tests/test_zoo.py fails until it is fixed."""
import argparse, sys, time, traceback
from pathlib import Path
import torch
from vitlab.coverage import transformer_families, probe, save_coverage, load_coverage

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument('--out', default=str(Path(__file__).parent.parent/'nbs'/'coverage.json'))
ap.add_argument('--only', help='comma-separated model names to probe again (the others are kept from --out)')
a = ap.parse_args()
torch.set_num_threads(1)
t0 = time.perf_counter()
fams = transformer_families()
print(f"{len(fams)} families from timm's registry in {time.perf_counter() - t0:.0f} s", flush=True)
only = set(a.only.split(',')) if a.only else None
old = {p.family: p for p in load_coverage(a.out)} if only and Path(a.out).exists() else {}
probes, failed = [], []
for f in fams:
    if only is not None and f.model not in only and f in old: probes.append(old[f]); continue
    t = time.perf_counter()
    try: p = probe(f)
    except Exception: failed.append(f.model); traceback.print_exc(); continue
    probes.append(p)
    bad = {k: o.problem for k, o in p.outcomes.items() if o.status in ('crash', 'wrong')}
    print(f"{f.label:45s} {f.model:35s} {time.perf_counter() - t:6.1f} s  "
          + ' '.join(f"{k}={o.status}" for k, o in p.outcomes.items()) + (f"  PROBLEMS: {bad}" if bad else ''), flush=True)
save_coverage(probes, a.out)
print(f"wrote {a.out}: {len(probes)} families in {(time.perf_counter() - t0)/60:.1f} min")
if failed: sys.exit(f"the probe itself failed for {', '.join(failed)}: they are not in {a.out}")
