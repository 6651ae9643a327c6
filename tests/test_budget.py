"compress(budget=…): the search end to end on a tiny timm ViT, through the pipeline and the command line, and its bad input."
import json, subprocess, sys
from pathlib import Path
import pytest
from vitlab.core import VitlabError
from vitlab.pipeline import compress

TINY = dict(model='deit_tiny_patch16_224', model_kwargs=dict(img_size=32, patch_size=8, depth=2, num_classes=10))
GRID = dict(head_ratios=(0,), block_sparsity=(), held_out=200)

def test_budget_search_through_compress(tmp_path):
    out = tmp_path/'b'
    recs = compress(out=out, budget=dict(max_drop=50, objective='size', ratios=(0, 1/8), int4_shares=(0, 1), max_exports=2, **GRID),
                    runs=20, progress=False, **TINY)
    rep = json.loads((out/'report.json').read_text())
    assert rep == json.loads(json.dumps(recs))
    assert rep[0]['name'] == 'dense fp32' and rep[0]['baseline'] and sum(r['baseline'] for r in rep) == 1
    best = [r for r in rep if r['best']]
    assert len(best) == 1 and best[0]['file'] == 'budget_best.pte' and (out/'budget_best.pte').exists()
    assert best[0]['drop'] <= 50 and best[0]['acc_on'] == 'held-out'
    measured = [r for r in rep if r['status'] == 'measured']
    assert 1 <= len(measured) <= 2 and all(r['size_mb'] > 0 and r['latency_ms'] > 0 for r in measured)
    assert best[0]['size_mb'] == min(r['size_mb'] for r in measured if r['drop'] <= 50)   # objective='size': the smallest within budget
    assert [r['file'] for r in rep if r['file']] == ['budget_best.pte']                 # only the chosen program is kept
    assert sorted(p.name for p in out.iterdir()) == ['budget_best.pte', 'front.json', 'front.png', 'report.json', 'report.md']
    front = json.loads((out/'front.json').read_text())
    assert front['best'] == best[0]['name'] and set(front['front']) <= {r['name'] for r in measured}
    assert all(set(r['bits'].values()) <= {4, 8} for r in front['records'] if 'bits' in r)
    md = (out/'report.md').read_text()
    assert 'budget: at most 50 pt' in md and 'random images labelled by the dense model' in md and 'budget_best.pte' in md
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.b')]

def test_unmeetable_budget_names_the_closest_and_writes_nothing(tmp_path):
    with pytest.raises(VitlabError, match=r"no candidate meets the budget of 0 pt: the closest is 'ratio 0.5, heads 0, int4 0%', which loses .* pt held out \(about"):
        compress(out=tmp_path/'b', budget=dict(max_drop=0, ratios=(1/2,), int4_shares=(0,), recover_steps=0, slack=0, **GRID),
                 runs=20, progress=False, **TINY)
    assert list(tmp_path.iterdir()) == []

@pytest.mark.parametrize('budget,msg', [(dict(max_drop=1.0, objective='energy'), "unknown budget objective 'energy'.*latency, size"),
                                        (dict(max_drop=-1), 'max_drop=-1'), (dict(max_drop=float('inf')), 'max_drop=inf'),
                                        (dict(objective='size'), 'no max_drop'), (dict(max_drop=1, ratio=0.5), "unknown budget key"),
                                        (dict(max_drop=1, ratios=(0, 1.0)), 'ratios=1.0 is outside'), ('fast', 'budget must be a dict')])
def test_bad_budgets_are_refused_before_anything_is_written(tmp_path, budget, msg):
    with pytest.raises(VitlabError, match=msg):
        compress(out=tmp_path/'b', budget=budget, progress=False)
    assert list(tmp_path.iterdir()) == []

def test_cli_budget_errors_plainly(tmp_path):
    p = subprocess.run([str(Path(sys.executable).parent/'vitlab_compress'), '--out', str(tmp_path/'b'), '--budget_drop', '1',
                        '--budget_objective', 'energy'], capture_output=True, text=True)
    assert p.returncode != 0 and "unknown budget objective 'energy'" in p.stderr and 'Traceback' not in p.stderr
    assert not (tmp_path/'b').exists()

def test_budget_search_on_the_users_runtime(tmp_path):
    "With runtime='litert' the candidates are LiteRT programs (int8: int4 weights have no kernel there), and the chosen file is one."
    out = tmp_path/'b'
    recs = compress(out=out, runtime='litert', budget=dict(max_drop=50, objective='latency', ratios=(0, 1/8), int4_shares=(0, 1), max_exports=2, **GRID),
                    runs=20, progress=False, **TINY)
    measured = [r for r in recs if r.get('status') == 'measured']
    assert measured and all(r['runtime'] == 'litert' and r['precision'] == 'int8' for r in measured)
    assert all(r.get('int4_share') in (0, 0.0, None) for r in recs)
    best = [r for r in recs if r['best']]
    assert len(best) == 1 and best[0]['file'] == 'budget_best.tflite' and (out/'budget_best.tflite').exists()
    assert 'exported LiteRT program' in (out/'report.md').read_text()
    front = json.loads((out/'front.json').read_text())
    assert front['budget']['runtime'] == 'litert' and front['budget']['int4_shares'] == [0.0]

SWINS = {  # Swin, and Swin-V2 (cosine attention, its qkv applied through F.linear in timm)
    'swin': dict(model='swin_tiny_patch4_window7_224', model_kwargs=dict(img_size=56, embed_dim=32, depths=(2, 1, 1, 1), num_heads=(1, 2, 4, 8), num_classes=10)),
    'swinv2': dict(model='swinv2_tiny_window8_256', model_kwargs=dict(img_size=64, embed_dim=32, window_size=4, depths=(2, 1, 1, 1), num_heads=(1, 2, 4, 8), num_classes=10))}

@pytest.mark.parametrize('family', list(SWINS))
def test_budget_search_on_swin_families(tmp_path, family):
    "A Swin or Swin-V2 through the search: pruned levels, int4 shares in every stage, a smaller chosen program that runs."
    from vitlab.deploy.runtimes import load_exported
    import torch
    out, spec = tmp_path/'b', SWINS[family]
    recs = compress(out=out, budget=dict(max_drop=50, objective='size', ratios=(0, 1/4), int4_shares=(0, 1), max_exports=1, **GRID),
                    runs=20, progress=False, **spec)
    front = json.loads((out/'front.json').read_text())
    bits = [r['bits'] for r in front['records'] if r.get('bits')]
    assert any(k.startswith('layers.3.blocks.0.mlp') for b in bits for k in b) and any(4 in b.values() for b in bits)  # every stage, int4 too
    best = next(r for r in recs if r['best'])
    assert best['status'] == 'measured' and best['drop'] <= 50 and best['size_mb'] < recs[0]['size_mb']/2  # int8 or less vs fp32
    size = spec['model_kwargs']['img_size']
    assert load_exported(out/'budget_best.pte')(torch.randn(1, 3, size, size)).shape == (1, 10)
