"""The colour terms of the generator's loss (deoldify_like.colour_loss, issue 24) on real photos: each pushes
a desaturated output's chroma toward the truth's and is minimal when the output is the truth; the ab head
saves and loads through the model file; a model without it is described and computes as before."""
import numpy as np
import pytest
import torch
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from PIL import Image
from skimage.color import rgb2lab
from torch import nn

from deoldify_like.colour import lab_to_rgb, rgb_to_lab
from deoldify_like.colour_loss import (ChromaClassLoss, ColourfulnessLoss, ColourTermsLoss, ab_bins, annealed_mean,
                                       empirical_ab_prior, lab_ab, rebalancing_weights, soft_encode, to_rgb01)
from deoldify_like.colour_terms import ColourTerms
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.tensors import rgb_batch_to_tensor

PHOTOS = ('101085.jpg', '12084.jpg', '42049.jpg')  # three bsds500_val photos


@pytest.fixture(scope='module')
def photos(shared_data):
    "Three real colour photos at 64 x 48, uint8."
    out = []
    for name in PHOTOS:
        with Image.open(shared_data / 'photos' / 'bsds500_val' / name) as im:
            out.append(np.asarray(im.convert('RGB').resize((64, 48), Image.BICUBIC)))
    return np.stack(out)


def desaturated(rgb, keep=0.3):
    "The same photos with their a*b* scaled by `keep`: a dull, sepia-free version of the truth."
    lab = rgb_to_lab(rgb)
    lab[..., 1:] *= keep
    return np.stack([lab_to_rgb(x) for x in lab])


def chroma(x):
    "Mean a*b* chroma of ImageNet-normalised pictures."
    return lab_ab(to_rgb01(x)).norm(dim=1).mean().item()


def test_lab_ab_matches_skimage(photos):
    got = lab_ab(to_rgb01(rgb_batch_to_tensor(photos))).permute(0, 2, 3, 1).numpy()
    want = rgb2lab(photos.astype(np.float64) / 255)[..., 1:]
    assert np.abs(got - want).max() < 0.05


def test_ab_bins_are_the_srgb_gamut_on_a_grid_of_ten():
    c = ab_bins()
    assert 250 <= len(c) <= 313 and torch.all(c % 10 == 0)
    assert c.min() >= -110 and c.max() <= 110
    assert [0.0, 0.0] in c.tolist() and [80.0, 70.0] in c.tolist() and [-100.0, -100.0] not in c.tolist()


def test_colourfulness_term_pushes_a_dull_output_toward_the_truth(photos):
    truth = rgb_batch_to_tensor(photos)
    loss = ColourfulnessLoss()
    assert loss(truth, truth).item() == 0.0
    x = rgb_batch_to_tensor(desaturated(photos)).requires_grad_(True)
    before, chroma0 = loss(x, truth).item(), chroma(x)
    assert before > 0.03  # CF of a picture at 0.3 of its chroma is well below the truth's (0..1 scale)
    opt = torch.optim.Adam([x], lr=0.02)  # CF is a statistic of the whole picture: per-pixel gradients are tiny
    for _ in range(10):
        opt.zero_grad()
        loss(x, truth).backward()
        opt.step()
    assert loss(x, truth).item() < before * 0.7
    assert chroma0 < chroma(x) <= chroma(truth) * 1.2
    assert abs(chroma(x) - chroma(truth)) < abs(chroma0 - chroma(truth))


def test_chroma_class_term_pushes_dull_logits_toward_the_truth(photos):
    truth = rgb_batch_to_tensor(photos)
    centres = ab_bins()
    prior = torch.ones(len(centres)) / len(centres)
    loss = ChromaClassLoss(rebalancing_weights(prior, centres))
    z_truth, nearest = soft_encode(lab_ab(to_rgb01(truth)), centres)
    floor = (loss.weights[nearest] * -(z_truth * z_truth.clamp_min(1e-12).log()).sum(1)).mean().item()
    assert loss(z_truth.clamp_min(1e-12).log(), truth).item() == pytest.approx(floor, rel=1e-4)  # the minimum
    z_dull, _ = soft_encode(lab_ab(to_rgb01(rgb_batch_to_tensor(desaturated(photos)))), centres)
    logits = (4 * z_dull).requires_grad_(True)  # a model that predicts the dull colours
    before = loss(logits, truth).item()
    assert before > floor + 0.5
    truth_chroma = lab_ab(to_rgb01(truth)).norm(dim=1).mean().item()
    chroma_of = lambda lg: annealed_mean(lg, centres).norm(dim=1).mean().item()  # noqa: E731
    chroma0 = chroma_of(logits)
    opt = torch.optim.Adam([logits], lr=0.5)
    for _ in range(10):
        opt.zero_grad()
        loss(logits, truth).backward()
        opt.step()
    assert loss(logits, truth).item() < before - 0.5
    assert abs(chroma_of(logits) - truth_chroma) < 0.7 * abs(chroma0 - truth_chroma)


def test_rebalancing_weights_favour_rare_colours_and_average_one(tmp_path, shared_data):
    files = sorted((shared_data / 'photos' / 'bsds500_val').glob('*.jpg'))[:6]
    cache = tmp_path / 'prior.json'
    prior = empirical_ab_prior(files, cache)
    assert cache.is_file() and prior.sum().item() == pytest.approx(1.0)
    assert torch.equal(empirical_ab_prior(files, cache), prior)  # read back from the cache
    assert not torch.equal(empirical_ab_prior(files[:3], cache), prior)  # other files: counted again
    centres = ab_bins()
    w = rebalancing_weights(prior, centres)
    grey = int(((centres - 0) ** 2).sum(1).argmin())
    assert w[grey] < 1 < w.max()  # the common neutral colours weigh less than the rarest


def test_terms_add_to_the_base_loss_with_their_weights(photos):
    truth = rgb_batch_to_tensor(photos)
    dull = rgb_batch_to_tensor(desaturated(photos))
    base = nn.L1Loss()
    assert ColourTermsLoss(base)(dull, truth).item() == pytest.approx(base(dull, truth).item())
    both = ColourTermsLoss(base, colourfulness=3.0)
    want = base(dull, truth) + 3.0 * ColourfulnessLoss()(dull, truth)
    assert both(dull, truth).item() == pytest.approx(want.item(), rel=1e-5)
    assert set(both.last_parts) == {'colourfulness'}
    with pytest.raises(ValueError):
        ColourTermsLoss(base, chroma_class=1.0)


def test_a_model_with_the_head_saves_and_loads_through_the_model_file(tmp_path, photos):
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5, ab_bins=len(ab_bins()))
    torch.manual_seed(0)
    model = build_generator(cfg).eval()
    x = rgb_batch_to_tensor(photos[:1, :, :48])
    model.ab_head.active = True
    with torch.no_grad():
        rgb = model(x)
    logits = model.ab_head.logits
    assert logits.shape == (1, len(ab_bins()), 48, 48)
    path = save_generator(tmp_path / 'head.safetensors', model, cfg)
    assert read_header(path)['config']['ab_bins'] == len(ab_bins())
    back, _ = load_generator(path)
    back.ab_head.active = True
    with torch.no_grad():
        assert torch.allclose(back(x), rgb, atol=1e-5)
    assert torch.allclose(back.ab_head.logits, logits, atol=1e-5)
    back.ab_head.active = False  # the head idle: the RGB output is the same, and nothing else is computed
    back.ab_head.logits = None
    with torch.no_grad():
        assert torch.allclose(back(x), rgb, atol=1e-5)
    assert back.ab_head.logits is None


def test_a_model_without_the_head_is_described_as_before(tmp_path):
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    model = build_generator(cfg)
    assert 'ab_bins' not in cfg.to_dict() and not hasattr(model, 'ab_head')
    header = read_header(save_generator(tmp_path / 'plain.safetensors', model, cfg))
    assert 'ab_bins' not in header['config']
    assert GeneratorConfig.from_dict(header['config']) == cfg


class Pairs(torch.utils.data.Dataset):
    "(input, target) pairs with the `files` they came from, as data.ColourPairs has."

    def __init__(self, pairs, files):
        self.pairs, self.files = pairs, files

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        return self.pairs[i]


def test_the_callback_trains_a_training_only_head_beside_the_loss(tmp_path, photos, shared_data):
    "ColourTerms on a fastai Learner: the head's weights move, the model's own state is as without it."
    torch.manual_seed(0)
    model = build_generator(GeneratorConfig(arch='resnet18', nf_factor=0.5))
    keys = set(model.state_dict())
    x = rgb_batch_to_tensor(np.stack([np.stack([p.mean(-1).astype(np.uint8)] * 3, -1) for p in photos])[:, :, :48])
    y = rgb_batch_to_tensor(photos[:, :, :48])
    ds = Pairs(list(zip(x, y)), [shared_data / 'photos' / 'bsds500_val' / n for n in PHOTOS])
    dls = DataLoaders.from_dsets(ds, ds, bs=3, device='cpu')
    cb = ColourTerms(colourfulness=1.0, chroma_class=1.0, head_file=tmp_path / 'head.pt')
    learn = Learner(dls, model, loss_func=nn.L1Loss(), cbs=[cb], path=tmp_path)
    w0 = cb.head.conv.weight.detach().clone()
    learn.fit(1, 1e-3)
    assert not torch.equal(cb.head.conv.weight, w0) and (tmp_path / 'head.pt').is_file()
    assert set(learn.loss_func.last_parts) == {'colourfulness', 'chroma_class'}
    assert set(model.state_dict()) == keys
    assert (tmp_path / 'ab_prior.json').is_file()  # counted from the training pictures, cached in the learner's folder
