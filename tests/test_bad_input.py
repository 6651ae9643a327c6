"Bad input gets the project's error, with a message naming the problem and the fix, and leaves no partial file."
import os
from pathlib import Path
import pytest, torch
from vitlab.core import VitlabError, check_fraction, save_weights, load_weights, save_json, atomic_path
from vitlab.models import create_model, check_vit, REFERENCE_NAME
from vitlab import data as vdata
from vitlab.data import fashion_mnist, calibration_set, fashion_mnist_subset
from vitlab.train import fit

def test_error_is_value_error():
    assert issubclass(VitlabError, ValueError)

def test_unknown_model_name_suggests_close_names():
    with pytest.raises(VitlabError, match="unknown model name 'deit_tiny_patch16_22'.*did you mean deit_tiny_patch16_224"):
        create_model('deit_tiny_patch16_22')
    with pytest.raises(VitlabError, match="unknown model name.*timm.list_models"):
        create_model('no_such_architecture_at_all')

def test_non_vit_model_is_refused():
    with pytest.raises(VitlabError, match="cannot compress a ResNet.*use a ViT-family .* or Swin"):
        create_model('resnet18')
    with pytest.raises(VitlabError, match="needs a torch.nn.Module"):
        check_vit('deit_tiny_patch16_224')

def test_missing_dataset_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setattr(vdata, 'fashion_mnist_dirs', lambda root=None: [tmp_path])
    with pytest.raises(VitlabError, match=r"apt-get install dataset-fashion-mnist.*VITLAB_DATA") as e:
        fashion_mnist('train')
    assert 'train-images-idx3-ubyte' in str(e.value)

def test_vitlab_data_env_is_searched(tmp_path, monkeypatch):
    monkeypatch.setenv('VITLAB_DATA', str(tmp_path))
    assert tmp_path in vdata.fashion_mnist_dirs()

def test_corrupted_dataset_file(tmp_path, monkeypatch):
    for name in vdata.FMNIST_FILES['test']: (tmp_path/name).write_bytes(b'\x00\x00\x08\x03' + b'\x00'*20)
    monkeypatch.setattr(vdata, 'fashion_mnist_dirs', lambda root=None: [tmp_path])
    with pytest.raises(VitlabError, match='truncated'):
        fashion_mnist('test')

def test_truncated_checkpoint(tmp_path):
    m = create_model(REFERENCE_NAME, depth=1)
    p = save_weights(m, tmp_path/'m.safetensors')
    p.write_bytes(p.read_bytes()[:len(p.read_bytes())//2])
    with pytest.raises(VitlabError, match='truncated or corrupted'):
        load_weights(create_model(REFERENCE_NAME, depth=1), p)

def test_wrong_shape_checkpoint(tmp_path):
    p = save_weights(create_model(REFERENCE_NAME, depth=1, embed_dim=96), tmp_path/'m.safetensors')
    m = create_model(REFERENCE_NAME, depth=1)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(VitlabError, match=r'does not match the model \(.*file \(1, 1, 96\) vs model \(1, 1, 192\)'):
        load_weights(m, p)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # nothing half-loaded

def test_missing_checkpoint(tmp_path):
    with pytest.raises(VitlabError, match='does not exist'):
        load_weights(create_model(REFERENCE_NAME, depth=1), tmp_path/'nope.safetensors')

@pytest.mark.parametrize('bad', [-0.1, 1.0, 1.5, 25, float('nan'), 'a lot', None])
def test_fractions(bad):
    with pytest.raises(VitlabError, match='ratio'):
        check_fraction(bad, 'ratio')

def test_fractions_in_training_and_calibration():
    sub = fashion_mnist_subset()
    with pytest.raises(VitlabError, match='label_smoothing'):
        fit(create_model(REFERENCE_NAME, depth=1), sub, label_smoothing=1.2)
    with pytest.raises(VitlabError, match='warmup'):
        fit(create_model(REFERENCE_NAME, depth=1), sub, warmup=-0.5)
    with pytest.raises(VitlabError, match='pass n <= 1000'):
        calibration_set(sub, 1001)

def test_failed_write_leaves_nothing(tmp_path):
    class Boom(torch.nn.Module):
        def state_dict(self): raise RuntimeError('interrupted')
    with pytest.raises(RuntimeError):
        save_weights(Boom(), tmp_path/'x.safetensors')
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError):
        save_json({'x': object()}, tmp_path/'r.json')
    assert list(tmp_path.iterdir()) == []

def test_refuse_to_overwrite(tmp_path):
    save_json({'a': 1}, tmp_path/'r.json')
    with pytest.raises(VitlabError, match='already exists.*overwrite=True'):
        save_json({'a': 2}, tmp_path/'r.json', overwrite=False)
    assert (tmp_path/'r.json').read_text().count('1') == 1
