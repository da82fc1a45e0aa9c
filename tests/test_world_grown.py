"""Issue 37's grown world: dogs, cats and abstract paintings of portraits, on their own sampling path."""
import numpy as np
import pytest
import torch

from nti_edu.models.prompts import tokenize
from nti_edu.world import (ANIMALS, GROWN_EDIT_KINDS, PAINTING, REFINEMENT, WORD_SWAP, Scene, all_grown_scenes,
                           build_tokenizer, edit_scene, make_batch, make_edit, make_example, parse_prompt, random_edit,
                           render, render_edit, save_tokenizer, train_seeds)
from nti_edu.world.tokenizer import MODEL_MAX_LENGTH

DOG = "a large brown dog at the top left on a blue background"
PORTRAIT = "a yellow face with sunglasses on a green background"


@pytest.fixture(scope="module")
def grown_tokenizer():
    return build_tokenizer(grown=True)


def test_the_grown_path_is_deterministic_and_leaves_other_seeds_as_they_were():
    seeds = train_seeds(300)
    images, prompts, scenes, _ = make_batch(seeds, new_kinds=0.4)
    again = make_batch(seeds, new_kinds=0.4)
    base_images, base_prompts = make_batch(seeds)[:2]
    assert torch.equal(images, again[0]) and prompts == again[1]
    grown = [s.kind == "animal" or s.style is not None for s in scenes]
    assert 0.3 < np.mean(grown) < 0.5
    for k, is_grown in enumerate(grown):
        assert is_grown != (prompts[k] == base_prompts[k] and torch.equal(images[k], base_images[k]))
    assert torch.equal(make_batch(seeds, new_kinds=0.0)[0], base_images)


def test_every_grown_prompt_reads_back_and_fits_the_tokenizer(grown_tokenizer):
    scenes = list(all_grown_scenes())
    assert len({s.prompt() for s in scenes}) == len(scenes) > 1500
    assert max(len(s.prompt().split()) for s in scenes) <= MODEL_MAX_LENGTH - 2
    for scene in scenes[::5]:
        assert parse_prompt(scene.prompt()) == scene
    ids = tokenize(grown_tokenizer, [s.prompt() for s in scenes[::5]])  # (B, 16)
    assert grown_tokenizer.unk_token_id not in ids.flatten().tolist()


def test_prompts_are_plain_english():
    assert parse_prompt(DOG).prompt() == DOG
    painted = edit_scene(parse_prompt(PORTRAIT), style=PAINTING)
    assert painted.prompt() == "an abstract painting of " + PORTRAIT
    assert parse_prompt("An abstract painting of a yellow face on a green background").style == PAINTING


def test_only_a_portrait_without_a_hat_is_painted():
    with pytest.raises(ValueError, match="portraits"):
        parse_prompt("an abstract painting of " + DOG)
    with pytest.raises(ValueError, match="portraits"):
        Scene("face", "yellow", "green", hat="red", style=PAINTING)
    with pytest.raises(ValueError, match="animal size"):
        parse_prompt("a small brown dog at the top left on a blue background")


def test_the_grown_tokenizer_only_appends_ids(grown_tokenizer, tmp_path):
    from transformers import AutoTokenizer

    shipped = AutoTokenizer.from_pretrained("nti_edu/assets/embedded/tokenizer")
    vocab = grown_tokenizer.get_vocab()
    assert all(vocab[word] == i for word, i in shipped.get_vocab().items())
    assert sorted(vocab[w] for w in ("dog", "cat", "abstract", "painting", "of")) == list(range(40, 45))
    loaded = AutoTokenizer.from_pretrained(save_tokenizer(tmp_path / "tok", grown_tokenizer))
    assert torch.equal(tokenize(loaded, DOG), tokenize(grown_tokenizer, DOG))


def test_a_dog_and_a_cat_differ_only_inside_the_animal():
    edit = make_edit("animal swap", parse_prompt(DOG))
    assert (edit.target.animal, edit.p2p, edit.region) == ("cat", WORD_SWAP, "animal")
    for seed in range(5):
        source, target, region = render_edit(edit, seed)
        a, b = np.asarray(source), np.asarray(target)  # (64, 64, 3) each
        assert np.array_equal(a[~region], b[~region])
        assert np.abs(a[region].astype(int) - b[region].astype(int)).sum(-1).astype(bool).mean() > 0.2


def test_the_painting_keeps_the_layout_and_changes_the_look():
    edit = make_edit("abstract painting", parse_prompt(PORTRAIT))
    assert (edit.p2p, edit.region) == (REFINEMENT, "image")
    source, target, region = render_edit(edit, 3)
    assert region.all() and np.array_equal(np.asarray(render_edit(edit, 3)[1]), np.asarray(target))
    _, plain_masks = render(edit.source, 3)
    _, painted_masks = render(edit.target, 3)
    assert all(np.array_equal(plain_masks[k], painted_masks[k]) for k in plain_masks)
    a, b = (np.asarray(im, dtype=float) for im in (source, target))
    assert np.abs(a - b).mean() > 15  # a clearly different look
    assert np.abs(a.mean((0, 1)) - b.mean((0, 1))).max() < 25  # the same colours, on the whole


@pytest.mark.parametrize("kind", list(GROWN_EDIT_KINDS))
def test_random_grown_edits_apply(kind):
    for seed in range(10):
        edit = random_edit(kind, np.random.default_rng(seed))
        assert edit.kind == kind and edit.source != edit.target
        assert edit.source.animal in (None, "dog") and edit.source.style is None


def test_old_scenes_print_as_before():
    scene = parse_prompt("a pink face on a red background")
    assert repr(scene) == ("Scene(kind='face', colour='pink', background='red', shape=None, size=None, "
                           "position=None, sunglasses=False, hat=None)")
    assert "animal='dog'" in repr(parse_prompt(DOG))


def test_grown_examples_are_the_same_for_the_same_seed():
    grown = [s for s in range(40) if make_example(s, new_kinds=1.0).scene.kind == "animal"]
    a, b = make_example(grown[0], new_kinds=1.0), make_example(grown[0], new_kinds=1.0)
    assert a.scene.animal in ANIMALS and torch.equal(a.image, b.image)


def test_a_painting_keeps_its_drawings_layout_and_other_scenes_do_not():
    from nti_edu.layout import LAYOUT_THRESHOLD, layout_similarity

    def tensor(image):
        return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)  # (3, 64, 64)

    pairs = [render_edit(random_edit("abstract painting", np.random.default_rng(s)), s)[:2] for s in range(40)]
    plain, painted = (torch.stack([tensor(p[k]) for p in pairs]) for k in (0, 1))  # (40, 3, 64, 64) each
    same, other = layout_similarity(plain, painted), layout_similarity(plain, painted.roll(1, 0))  # (40,) each
    assert (same >= LAYOUT_THRESHOLD).all() and (other < LAYOUT_THRESHOLD).float().mean() > 0.8
    assert torch.allclose(layout_similarity(plain, plain), torch.ones(40))
