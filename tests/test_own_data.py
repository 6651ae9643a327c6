"A user's own timm ViT and image folder through `compress` and `vitlab_compress`, and the bad folders and weights they may bring."
import json, shutil, subprocess, sys, time
from pathlib import Path
import pytest, torch
from PIL import Image
from vitlab.core import VitlabError, save_weights
from vitlab.data import fashion_mnist_subset, image_folder, FMNIST_CLASSES
from vitlab.measure import accuracy
from vitlab.models import create_model
from vitlab.prune.structured import load_pruned
from vitlab.train import fit
from vitlab.pipeline import compress, load_source

ARCH = 'deit_tiny_patch16_224'
KW = dict(img_size=32, patch_size=8, depth=2, in_chans=1)  # a DeiT-Tiny-shaped model at 32×32, grey input
CLI = str(Path(sys.executable).parent/'vitlab_compress')

def write_folder(root:Path, per_class=(40, 20), classes=range(10)):
    "Fashion-MNIST images resized to 32×32 (saved as RGB PNGs) in root/train/<class>/ and root/val/<class>/."
    ds = fashion_mnist_subset()
    for c in classes:
        idx = (ds.labels == c).nonzero()[:, 0]
        name = FMNIST_CLASSES[c].replace('/', '-')
        for split, sl in (('train', idx[:per_class[0]]), ('val', idx[per_class[0]:sum(per_class)])):
            (root/split/name).mkdir(parents=True, exist_ok=True)
            for i in sl.tolist():
                Image.fromarray(ds.images[i, 0].numpy()).resize((32, 32), Image.BILINEAR).convert('RGB').save(root/split/name/f'{i}.png')
    return root

@pytest.fixture(scope='module')
def own(tmp_path_factory):
    "A folder dataset and weights trained briefly on it (well above chance)."
    root = write_folder(tmp_path_factory.mktemp('own')/'images')
    torch.manual_seed(0); model = create_model(ARCH, num_classes=10, **KW)
    fit(model, image_folder(root/'train', model), epochs=8, lr=2e-3, batch_size=50, augment=False, progress=False)
    w = save_weights(model, root.parent/'mine.safetensors')
    return root, w, model.eval()

def test_compress_own_model_and_folder(own, tmp_path):
    root, w, model = own
    out = tmp_path/'report'
    recs = compress(ARCH, out, weights=w, data=root, model_kwargs=KW, recover_steps=4, recover_min_gap=0.0,
                    calib_images=64, runs=20, progress=False)
    by = {r['name']: r for r in recs}
    val = image_folder(root/'val', model)
    dense_acc = accuracy(model, val)
    assert dense_acc > 0.4, dense_acc                                     # the trained model (chance is 0.1)
    assert by['dense fp32']['acc'] == pytest.approx(dense_acc) and by['dense fp32']['acc_on'] == 'test'
    exported = [r for r in recs if r['file']]
    from vitlab.deploy.runtimes import installed_runtimes
    assert len(exported) == len(installed_runtimes()) + 1 and all(  # each runtime's int8 file, and ExecuTorch fp32
        r['acc_on'] == 'subset' and 0 <= r['acc'] <= 1 and r['agreement'] > 0.8 for r in exported)
    assert all(r['acc_subset'] is not None for r in recs)
    md = (out/'report.md').read_text()
    assert 'images/val, 200 images' in md and 'distillation steps' in md
    pruned = load_pruned(out/'pruned.safetensors')                        # the plan rebuilds the 32×32, depth-2, grey architecture
    assert pruned(torch.randn(2, 1, 32, 32)).shape == (2, 10) and len(pruned.blocks) == 2
    assert pruned.blocks[0].mlp.fc1.out_features < model.blocks[0].mlp.fc1.out_features

def _bad(tmp_path, root, msg, **kw):
    out = tmp_path/'r'
    with pytest.raises(VitlabError, match=msg):
        compress(ARCH, out, data=root, model_kwargs=KW, recover_steps=0, export=False, runs=20, calib_images=16, progress=False, **kw)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith('.r.')]  # nothing half-written

def test_missing_split(own, tmp_path):
    root = tmp_path/'d'; shutil.copytree(own[0]/'train', root/'train')
    _bad(tmp_path, root, r'has no val/ split.*DIR/train/<class>/<image> and DIR/val/<class>/<image>', weights=own[1])
    _bad(tmp_path, tmp_path/'nowhere', r'data folder .*nowhere does not exist', weights=own[1])

def test_split_without_images(own, tmp_path):
    root = tmp_path/'d'; shutil.copytree(own[0]/'train', root/'train')
    for c in (own[0]/'val').iterdir(): (root/'val'/c.name).mkdir(parents=True)
    _bad(tmp_path, root, r'no images in .*val.*subfolder named after the class', weights=own[1])

def test_unreadable_image(own, tmp_path):
    root = tmp_path/'d'; shutil.copytree(own[0], root)
    bad = next((root/'val').iterdir())/'0000_broken.png'; bad.write_bytes(b'\x89PNG\r\n\x1a\n not really')
    _bad(tmp_path, root, r'cannot read image .*0000_broken\.png.*remove or replace', weights=own[1])

def test_classes_must_match_the_model(own, tmp_path):
    root = write_folder(tmp_path/'three', per_class=(4, 2), classes=range(3))
    _bad(tmp_path, root, r'has 3 classes but the model predicts 10', weights=own[1])

def test_weights_for_another_architecture(own, tmp_path):
    with pytest.raises(VitlabError, match=r'does not match the model.*--model_kwargs'):
        load_source(ARCH, own[1])                                         # built at 224² instead of 32²

def test_pretrained_without_hub_fails_fast(tmp_path):
    t = time.time()
    with pytest.raises(VitlabError, match=r'no pretrained weights for deit_tiny_patch16_224.*--weights'):
        compress(ARCH, tmp_path/'r', pretrained=True, progress=False)
    assert time.time() - t < 30 and not (tmp_path/'r').exists()

def test_cli_own_data_errors_are_plain(own, tmp_path):
    p = subprocess.run([CLI, '--model', ARCH, '--weights', str(own[1]), '--data', str(tmp_path/'none'), '--out', str(tmp_path/'r'),
                        '--model_kwargs', json.dumps(KW)], capture_output=True, text=True)
    assert p.returncode != 0 and 'does not exist' in p.stderr and 'Traceback' not in p.stderr
    p = subprocess.run([CLI, '--model', ARCH, '--model_kwargs', '{img_size: 32}', '--out', str(tmp_path/'r')], capture_output=True, text=True)
    assert p.returncode != 0 and '--model_kwargs is not JSON' in p.stderr and 'Traceback' not in p.stderr
