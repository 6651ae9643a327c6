"""compress on the trained Swin reference model: Fashion-MNIST applies to it as to the ViT, a preset's block removal is
left out with a note (whole blocks are removed from ViTs only), and a depth_ratio asked for explicitly is refused before
anything is written."""
import json
import pytest, torch
from vitlab.core import VitlabError
from vitlab.models import SWIN_REFERENCE_NAME, SWIN_REFERENCE_WEIGHTS, model_family
from vitlab.pipeline import compress
from vitlab.prune.structured import load_pruned

pytestmark = pytest.mark.skipif(not SWIN_REFERENCE_WEIGHTS.exists(), reason='the Swin reference weights are not installed')

def test_fast_preset_on_the_swin_reference(tmp_path):
    out = tmp_path/'s'
    recs = compress(SWIN_REFERENCE_NAME, out=out, preset='fast', recover_steps=0, export=False, quant=('int8_dynamic',),
                    eval_images=300, runs=20, progress=False)
    by = {r['name']: r for r in recs}
    dense, pruned = by['dense fp32'], by['pruned 0.75 fp32']
    assert dense['acc'] > 0.85 and dense['acc_on'] == 'test'  # the trained Swin on Fashion-MNIST, not random weights
    assert pruned['params'] < 0.35*dense['params'] and pruned['flops'] < 0.35*dense['flops']  # 3/4 of the channels, every block kept
    md = (out/'report.md').read_text()
    assert 'blocks 0;' in md and "the fast preset's block removal (0.333 of the blocks) applies to ViTs; this swin model keeps its blocks" in md
    m = load_pruned(out/'pruned.safetensors')
    assert model_family(m) == 'swin' and sum(len(s.blocks) for s in m.layers) == 12
    assert json.loads((out/'report.json').read_text()) == json.loads(json.dumps(recs))

def test_explicit_depth_ratio_on_swin_is_refused(tmp_path):
    with pytest.raises(VitlabError, match='depth pruning .* does not support Swin models'):
        compress(SWIN_REFERENCE_NAME, out=tmp_path/'s', preset='fast', depth_ratio=0.25, export=False, runs=20, progress=False)
    assert list(tmp_path.iterdir()) == []
