"""Paste-back (nti_edu.paste_back) and the target branch's "" null (edit(..., target_null="empty"))."""
import pytest
import torch
import torch.nn.functional as F

from nti_edu.editing import edit
from nti_edu.null_text import null_text_inversion
from nti_edu.p2p import WordSwap
from nti_edu.paste_back import colour_segment, keep_mask, paste_back, word_map
from nti_edu.sampling import sample

SOURCE, TARGET, N = "a red circle", "a blue circle", 4


def square_scene():
    """A flat orange image with a purple square at rows and columns 20 to 35: (1, 3, 64, 64) and its mask."""
    image = torch.tensor([0.95, 0.55, 0.1]).view(1, 3, 1, 1).expand(1, 3, 64, 64).clone()
    mask = torch.zeros(1, 1, 64, 64)
    mask[..., 20:36, 20:36] = 1
    image = image + mask * (torch.tensor([0.5, 0.2, 0.6]).view(1, 3, 1, 1) - image)
    return image, mask


def test_paste_back_blends_by_the_mask():
    image, edited = torch.zeros(2, 3, 8, 8), torch.ones(2, 3, 8, 8)
    keep = torch.zeros(2, 1, 8, 8)
    keep[0, :, :4] = 1
    out = paste_back(image, edited, keep)
    assert out[0, :, :4].abs().max() == 0 and (out[0, :, 4:] == 1).all() and (out[1] == 1).all()
    half = paste_back(image, edited, torch.full((2, 1, 8, 8), 0.25))
    assert torch.allclose(half, torch.full_like(half, 0.75))
    with pytest.raises(ValueError, match="keep"):
        paste_back(image, edited, keep[:, :, :4])


def test_colour_segment_snaps_a_coarse_map_to_the_object():
    """An 8 x 8 blob, upsampled bilinearly, two latent pixels off the square: the segment is the square."""
    image, mask = square_scene()
    coarse = torch.zeros(1, 1, 8, 8)
    coarse[..., 2:5, 2:5] = 1.0
    coarse[..., 3, 3] = 0.6  # an uneven map, as attention is
    prior = F.interpolate(coarse, size=(64, 64), mode="bilinear", align_corners=False)
    raw = prior > 0.5
    segment = colour_segment(image, prior)
    iou = lambda m: ((m.bool() & mask.bool()).sum() / (m.bool() | mask.bool()).sum()).item()
    assert iou(raw) < 0.7  # the map alone is far off
    assert iou(segment) == 1.0  # the colours put its edge on the square's
    with pytest.raises(ValueError, match="prior"):
        colour_segment(image, prior[..., :32, :])


def test_colour_segment_without_contrast_thresholds_the_map():
    image, _ = square_scene()
    flat = torch.full((1, 1, 64, 64), 0.4)
    assert colour_segment(image, flat).sum() == 0


@pytest.fixture(scope="module")
def image(tiny_model):
    s = tiny_model.image_size
    return torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(3))


@pytest.fixture(scope="module")
def nti(tiny_model, image):
    return image, null_text_inversion(tiny_model, image, SOURCE, num_steps=N, num_inner_steps=2, progress=False)


def test_empty_target_null_is_plain_guidance_towards_the_target(model64, image):
    """In float64: the edit's batch of two branches and the sampler's batch of one round differently in
    float32 (5.0e-6 on one CPU against 1e-5 allowed before), so only the algorithm is compared."""
    result = null_text_inversion(model64, image.double(), SOURCE, num_steps=N, num_inner_steps=2, progress=False)
    tuned_source, tuned = edit(model64, result, TARGET, target_w=4.0, progress=False)
    source, edited = edit(model64, result, TARGET, target_w=4.0, target_null="empty", progress=False)
    x_0 = sample(model64, result.x_T[:1], model64.encode_prompt(TARGET), num_steps=N, w=4.0)  # (1, C, h, w)
    assert (source - tuned_source).abs().max() <= 1e-9  # the source branch keeps its tuned nulls
    assert (edited - model64.latent_to_image(x_0)).abs().max() <= 1e-9
    assert (edited - tuned).abs().max() > 1e-3
    with pytest.raises(ValueError, match="target_null"):
        edit(model64, result, TARGET, target_null="zero", progress=False)


def test_keep_mask_comes_from_the_source_words_maps(tiny_model, nti):
    image, result = nti
    swap = WordSwap(tiny_model.tokenizer, SOURCE, TARGET, N)
    edit(tiny_model, result, TARGET, controller=swap, progress=False)
    side = max(swap.sides())
    prior = word_map(swap, tiny_model.tokenizer, SOURCE, ("circle",), tuple(image.shape[-2:]), side=side)
    assert prior.shape == (1, 1, *image.shape[-2:]) and 0 <= prior.min() < 0.2 and 0.8 < prior.max() <= 1
    maps = swap.cross_attention(side)[0]  # (s, s, L): the source's
    position = tiny_model.tokenizer(SOURCE).input_ids.index(tiny_model.tokenizer.convert_tokens_to_ids("circle"))
    peak = divmod(int(maps[..., position].argmax()), side)  # (row, column) of the word's strongest pixel
    scale = image.shape[-1] // side
    # the peak cell's normalised value is 1; bilinear upsampling (align_corners=False) gives the pixel at
    # cell * scale + scale // 2 a weight of (1 - 0.5 / scale) per axis on its own cell when scale is even (1 when odd)
    at_least = (1 - 0.5 / scale) ** 2 if scale % 2 == 0 else 1.0
    assert prior[0, 0, peak[0] * scale + scale // 2, peak[1] * scale + scale // 2] >= at_least - 1e-6
    mask = keep_mask(swap, tiny_model.tokenizer, image, SOURCE, ("circle",))
    assert mask.shape == prior.shape and set(mask.unique().tolist()) <= {0.0, 1.0}
    rest = keep_mask(swap, tiny_model.tokenizer, image, SOURCE, ("circle",), outside=True)  # for a new colour
    assert torch.equal(rest, 1 - mask) and 0 < rest.mean() < 1
    target_map = word_map(swap, tiny_model.tokenizer, TARGET, ("circle",), tuple(image.shape[-2:]), side=side,
                          branch=1)  # the target branch's own maps
    maps = swap.cross_attention(side)[1]  # (s, s, L)
    peak = divmod(int(maps[..., position].argmax()), side)
    assert target_map[0, 0, peak[0] * scale + scale // 2, peak[1] * scale + scale // 2] >= at_least - 1e-6
    with pytest.raises(ValueError, match="branch must be 0"):
        word_map(swap, tiny_model.tokenizer, TARGET, ("circle",), (8, 8), side=side, branch=2)
