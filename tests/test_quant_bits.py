"Bit allocation and bit search across modules: Pareto allocation → fake quantization, search fronts as JSON, bad input."
import itertools, json
import numpy as np
import pytest, torch
from vitlab.core import VitlabError
from vitlab.models import create_model, vit_linears
from vitlab.data import fashion_mnist_subset, calibration_set, loader
from vitlab.quant.fake import BitConfig, fake_quantize
from vitlab.quant.pareto import pareto_frontier, allocate_bits, perturbation_table, uniform_points
from vitlab.quant.search import (search_bits, random_search_bits, BitSearch, LatencyModel, latency_model, front_to_json,
                                 front_from_json, non_dominated_sort, hypervolume)

@pytest.fixture(scope='module')
def tiny():
    torch.manual_seed(0)
    return create_model('deit_tiny_patch16_224', img_size=28, patch_size=7, in_chans=1, num_classes=10, depth=2,
                        embed_dim=48, num_heads=2).eval()

@pytest.fixture(scope='module')
def sens(tiny):
    rng = np.random.default_rng(0)
    return {n: float(rng.uniform(0.1, 2)) for n in vit_linears(tiny)}

@pytest.fixture(scope='module')
def data():
    sub = fashion_mnist_subset()
    return sub, calibration_set(sub, 64, seed=0)

def test_allocation_is_least_perturbation_within_budget(tiny, sens):
    "Brute force over all 3^8 configurations of the 8 layers: allocate_bits finds the least Ω that fits."
    bits = (2, 4, 8)
    tab = perturbation_table(tiny, sens, bits)
    ks = np.array(list(itertools.product(range(3), repeat=8)))
    sizes = (tab['numel']*np.array(bits)[ks]).sum(1)/8
    omegas = tab['omega'][np.arange(8), ks].sum(1)
    for frac in (0.3, 0.5, 0.8):
        budget = sizes.min() + frac*(sizes.max() - sizes.min())
        wb = allocate_bits(tiny, sens, budget/1e6, bits=bits).weight_bits()
        o = sum(tab['omega'][i, bits.index(wb[c])] for i, c in enumerate(tab['components']))
        assert o == pytest.approx(omegas[sizes <= budget].min(), rel=1e-9)

def test_allocated_config_fake_quantizes(tiny, sens, data):
    "The allocated BitConfig drives fake_quantize: its weight bits are the allocation's, within the model's layers."
    sub, cal = data
    u4 = next(u for u in uniform_points(perturbation_table(tiny, sens)) if u['bits'] == 4)
    cfg = allocate_bits(tiny, sens, u4['size']/1e6)
    assert set(cfg.weight_bits()) >= set(vit_linears(tiny))
    assert len({cfg.weight_bits()[n] for n in vit_linears(tiny)}) > 1  # mixed
    q = fake_quantize(tiny, cfg, calib=loader(cal, 32))
    assert q(sub[0][0][None]).shape == (1, 10)
    assert BitConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg

def test_frontier_with_part_sensitivity(tiny):
    "Block parts (MSA / MLP) as components: both linears of a part always share one bit-width."
    parts = {f'blocks.{i}.{p}': 1. + i for i in range(2) for p in ('attn', 'mlp')}
    for point in pareto_frontier(tiny, parts, bits=(4, 8)):
        wb = point['config'].weight_bits()
        for i in range(2):
            assert wb[f'blocks.{i}.attn.qkv'] == wb[f'blocks.{i}.attn.proj'] and wb[f'blocks.{i}.mlp.fc1'] == wb[f'blocks.{i}.mlp.fc2']

def test_pareto_bad_input(tiny, sens):
    with pytest.raises(VitlabError, match='empty'): pareto_frontier(tiny, sens, bits=())
    with pytest.raises(VitlabError, match='outside'): pareto_frontier(tiny, sens, bits=(1, 4))
    with pytest.raises(VitlabError, match='outside'): allocate_bits(tiny, sens, 1., bits=(4, 12))
    with pytest.raises(VitlabError, match=r'smallest configuration, 0\.0\d+ MB'): allocate_bits(tiny, sens, 1e-4)
    other = create_model('deit_tiny_patch16_224', img_size=32, patch_size=8, depth=3)
    with pytest.raises(VitlabError, match='does not have'): allocate_bits(tiny, {n: 1. for n in vit_linears(other)}, 1.)
    with pytest.raises(VitlabError, match='does not cover'): allocate_bits(other, sens, 1.)
    with pytest.raises(VitlabError, match='ViT'): pareto_frontier(torch.nn.Linear(3, 3), {'': 1.})

def test_search_front_is_json_and_non_dominated(tiny, data):
    sub, cal = data
    lat = LatencyModel(fp32_ms=10., linear_ms=[3., 3.], qk_ms=[.5, .5], av_ms=[.5, .5], int8_ratio=.6)
    space = BitSearch(tiny, sub, loader(cal, 32), n_eval=100, latency=lat, progress=False)
    front = search_bits(None, None, None, generations=2, population=6, space=space, progress=False)
    rand = random_search_bits(None, None, None, evaluations=12, space=space, progress=False)
    for fr in (front, rand):
        js = json.loads(json.dumps(front_to_json(fr)))
        assert [o for _, o in front_from_json(js)] == [o for _, o in fr]
        F = np.array([[1 - o['acc'], o['latency_ms'], o['size_mb']] for _, o in fr])
        assert len(non_dominated_sort(F)[0]) == len(F)
        assert (F[:, 1] <= lat.fp32_ms).all() and (F[:, 2] <= space.int8_mb).all()
        assert 0 <= hypervolume(F/[1, lat.fp32_ms, space.int8_mb]) <= 1
        for cfg, _ in fr: cfg.validate(tiny)

def test_latency_model_measured(tiny):
    lat = latency_model(tiny, torch.randn(1, 1, 28, 28), runs=20)
    assert lat.fp32_ms > 0 and lat.int8_ratio > 0 and len(lat.linear_ms) == 2
    t4, t8 = lat([4, 4], [4, 4], [4, 4]), lat([8, 8], [8, 8], [8, 8])
    assert t4 < t8 and (t8 < lat.fp32_ms) == (lat.int8_ratio < 1)

def test_search_bad_input(tiny, data):
    sub, cal = data
    with pytest.raises(VitlabError, match='exactly two'): search_bits(tiny, sub, cal, bits=(4,))
    with pytest.raises(VitlabError, match='outside'): search_bits(tiny, sub, cal, bits=(0, 8))
    with pytest.raises(VitlabError, match='generations'): search_bits(tiny, sub, cal, generations=0)
    with pytest.raises(VitlabError, match='Dataset'): search_bits(tiny, None, cal)
    with pytest.raises(VitlabError, match='n_eval'): search_bits(tiny, sub, cal, n_eval=0)
