"""No crash on any timm transformer: every family timm registers, every method — it works or it raises a VitlabError —
and the committed coverage table (nbs/coverage.json) is what the probes give now."""
from pathlib import Path
import pytest, timm, torch
from vitlab.models import REFERENCE_NAME, SWIN_REFERENCE_NAME
from vitlab.coverage import transformer_families, probe, load_coverage, METHODS

torch.set_num_threads(1)
COVERAGE = Path(__file__).parent.parent/'nbs'/'coverage.json'
COMMITTED = load_coverage(COVERAGE)
REGENERATE = "regenerate the table with `python scripts/coverage.py` (and re-run nbs/07_coverage.ipynb with scripts/run_nb.py)"

def test_the_families_are_timms():
    import json
    assert json.loads(COVERAGE.read_text())['timm'] == timm.__version__, f"nbs/coverage.json was made with another timm: {REGENERATE}"
    assert transformer_families() == [p.family for p in COMMITTED], f"timm's registry gives other families: {REGENERATE}"

@pytest.mark.parametrize('committed', COMMITTED, ids=[p.family.model for p in COMMITTED])
def test_every_method_works_or_refuses(committed):
    p = probe(committed.family)
    assert set(p.outcomes) == set(METHODS)
    bad = [f"{p.family.model}: {k} {o.status}: {o.problem}" for k, o in p.outcomes.items() if o.status in ('crash', 'wrong')]
    assert not bad, '\n'.join(bad)
    for k, o in p.outcomes.items():
        assert o.status in ('ok', 'refused', 'not run'), (p.family.model, k, o)
        if o.status == 'refused': assert o.problem and o.fix, (p.family.model, k, o)  # a reason and what to do
    changed = {k: (committed.outcomes.get(k), o) for k, o in p.outcomes.items() if committed.outcomes.get(k) != o}
    assert not changed and p == committed, f"{p.family.model} differs from nbs/coverage.json ({changed or 'its build'}): {REGENERATE}"

def test_the_reference_families_work():
    by = {p.family.model: p for p in COMMITTED}
    vit, swin = by[REFERENCE_NAME], by[SWIN_REFERENCE_NAME]
    assert (vit.vitlab_family, swin.vitlab_family) == ('vit', 'swin')
    assert all(o.status in ('ok', 'not run') for o in vit.outcomes.values()), vit.outcomes  # every method handles the ViT family
    for k in ('structured', 'block', 'sensitivity', 'fake_quant', 'export'): assert swin.outcomes[k].status == 'ok', (k, swin.outcomes[k])
    for k, o in swin.outcomes.items():  # what Swin does not have yet is refused as such, not by accident
        if o.status == 'refused': assert 'does not support Swin models' in o.problem, (k, o)

@pytest.mark.parametrize('name', ['pit_ti_224', 'crossvit_tiny_240', 'mobilevit_xxs'])
def test_formerly_crashing_models_are_refused_with_the_reason(name):
    p = next(p for p in COMMITTED if p.family.model == name)
    assert p.vitlab_family is None
    assert all(o.status == 'refused' for k, o in p.outcomes.items() if k != 'export'), p.outcomes
