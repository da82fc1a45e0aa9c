"""The synthetic world: determinism, the grammar both ways, masks, splits, edits and the tokenizer."""
import json

import numpy as np
import pytest
import torch

from nti_edu.models.prompts import tokenize
from nti_edu.world import (EDIT_KINDS, HELDOUT_SEED_START, MODEL_MAX_LENGTH, REFINEMENT, TRAIN_SEED_LIMIT, WORD_SWAP,
                           Scene, all_scenes, build_tokenizer, count_prompts, edit_scene, heldout_seeds, make_batch,
                           make_edit, make_example, parse_prompt, random_edit, render, render_edit, save_tokenizer,
                           train_seeds)


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer()


def test_same_seed_same_example_and_different_seeds_differ():
    a, b, c = make_example(123), make_example(123), make_example(124)
    assert a.prompt == b.prompt and torch.equal(a.image, b.image)
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert not torch.equal(a.image, c.image)


def test_batch_shapes_range_and_face_share():
    images, prompts, scenes, masks = make_batch(range(400))
    assert images.shape == (400, 3, 64, 64) and images.dtype == torch.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert len(prompts) == len(scenes) == len(masks) == 400
    faces = sum(s.kind == "face" for s in scenes) / 400
    assert 0.18 < faces < 0.32  # FACE_FRACTION = 0.25


def test_prompt_scene_round_trip_over_the_whole_grammar():
    scenes = list(all_scenes())
    for scene in scenes[::7]:
        assert parse_prompt(scene.prompt()) == scene


def test_object_words_are_the_prompts_nouns_of_the_object():
    assert parse_prompt("a small red circle at the top left on a blue background").object_words() == ("circle",)
    assert parse_prompt("a pink face on a red background").object_words() == ("face",)
    assert parse_prompt("a pink face with sunglasses and a blue hat on a red background").object_words() == \
        ("face", "sunglasses", "hat")
    for scene in list(all_scenes())[::97]:
        assert set(scene.object_words()) <= set(scene.prompt().split())


def test_at_least_ten_thousand_distinct_prompts_of_at_most_fourteen_words():
    assert count_prompts() == len(list(all_scenes())) >= 10_000
    lengths = [len(s.prompt().split()) for s in all_scenes()]
    assert max(lengths) == 13 and min(lengths) == 7


def test_prompts_are_lowercase_words_with_single_spaces():
    for ex in (make_example(s) for s in range(50)):
        assert ex.prompt == " ".join(ex.prompt.split()) and ex.prompt.islower()
        assert all(w.isalpha() for w in ex.prompt.split())


def test_masks_partition_the_image_and_objects_are_visible():
    for seed in range(60):
        ex = make_example(seed)
        if ex.scene.kind == "shape":
            expected = {"object", "background"}
        else:
            expected = {"face", "background"} | ({"sunglasses"} if ex.scene.sunglasses else set()) \
                | ({"hat"} if ex.scene.hat else set())
        assert set(ex.masks) == expected
        stack = np.stack(list(ex.masks.values())).astype(int)  # (K, 64, 64)
        assert (stack.sum(0) == 1).all()  # disjoint, and together cover every pixel
        assert all(m.shape == (64, 64) and m.dtype == bool and m.sum() >= 20 for m in ex.masks.values())


def test_masks_agree_with_the_pixels():
    scene = parse_prompt("a large red square at the center on a blue background")
    image, masks = render(scene)  # no seed: no jitter, exact colours
    pixels = np.asarray(image)
    assert (np.abs(pixels[masks["object"]].mean(0) - (220, 30, 30)) < 10).all()
    interior = masks["background"] & ~np.roll(masks["object"], 1, 0) & ~np.roll(masks["object"], -1, 0)
    assert (np.abs(pixels[interior] - (40, 80, 225)).max() == 0)


def test_sizes_and_positions_are_drawn_where_the_prompt_says():
    def box(prompt):
        ys, xs = np.nonzero(render(parse_prompt(prompt))[1]["object"])
        return xs.mean(), ys.mean(), xs.max() - xs.min() + 1

    x, y, small = box("a small green circle at the top left on a white background")
    assert x < 24 and y < 24
    x, y, large = box("a large green circle at the bottom right on a white background")
    assert x > 40 and y > 40 and large > small + 10


def test_heldout_and_training_seeds_never_overlap():
    assert TRAIN_SEED_LIMIT <= HELDOUT_SEED_START
    assert max(train_seeds(1000, start=TRAIN_SEED_LIMIT - 1000)) < min(heldout_seeds(1000))
    with pytest.raises(ValueError, match="training seeds"):
        train_seeds(10, start=TRAIN_SEED_LIMIT - 5)
    assert make_example(HELDOUT_SEED_START).image.shape == (3, 64, 64)


def test_sixty_four_examples_render_fast():
    import time

    make_batch(range(8))
    start = time.perf_counter()
    make_batch(range(1000, 1064))
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("kind", list(EDIT_KINDS))
def test_edits_give_valid_prompts(kind):
    rng = np.random.default_rng(0)
    for _ in range(20):
        edit = random_edit(kind, rng)
        source, target, region = edit.prompts_and_region()
        assert parse_prompt(source) == edit.source and parse_prompt(target) == edit.target and source != target
        assert region in render(edit.target)[1]  # the region is a mask of the edited image
        src, tgt = source.split(), target.split()
        if edit.p2p == WORD_SWAP:
            assert len(src) == len(tgt) and sum(a != b for a, b in zip(src, tgt)) == 1
        else:
            assert edit.p2p == REFINEMENT and len(tgt) > len(src) and "sunglasses" in tgt and region == "sunglasses"


@pytest.mark.parametrize("kind", list(EDIT_KINDS))
def test_edits_change_pixels_only_inside_their_region(kind):
    rng = np.random.default_rng(1)
    for seed in range(10):
        source, target, region = render_edit(random_edit(kind, rng), seed)
        changed = np.any(np.asarray(source) != np.asarray(target), axis=-1)  # (64, 64)
        assert changed.any() and not (changed & ~region).any()
        assert region.mean() < (0.995 if kind == "background swap" else 0.3)  # some of the image is kept


def test_edits_refuse_scenes_they_do_not_apply_to():
    shape = parse_prompt("a small red circle at the top left on a blue background")
    face = parse_prompt("a yellow face with sunglasses on a green background")
    with pytest.raises(ValueError, match="face scenes"):
        make_edit("add sunglasses", shape)
    with pytest.raises(ValueError, match="already wears"):
        make_edit("add sunglasses", face)
    with pytest.raises(ValueError, match="unknown edit kind"):
        make_edit("make it pop", face)
    with pytest.raises(ValueError, match="background must differ"):
        edit_scene(shape, background="red")
    with pytest.raises(ValueError, match="unknown scene attributes"):
        edit_scene(shape, texture="shiny")


@pytest.mark.parametrize("prompt, message", [
    ("a red circle", "expected 'face'"),
    ("a small red cirle at the center on a blue background", "Did you mean 'circle'"),
    ("a small red circle at the top on a blue background", "expected a position"),
    ("a small red circle at the center on a red background", "background must differ"),
    ("a red face on a blue background", "face colour must be one of"),
    ("a yellow face with a yellow hat on a blue background", "hat must differ"),
    ("a small red circle at the center on a blue background now", "not in this world's vocabulary"),
    ("a small red circle at the center on a blue background a", "the end of the prompt"),
])
def test_parse_prompt_explains_what_is_wrong(prompt, message):
    with pytest.raises(ValueError, match=message):
        parse_prompt(prompt)


def test_scene_refuses_impossible_attributes():
    with pytest.raises(ValueError, match="shape must be one of"):
        Scene("shape", "red", "blue", shape="blob", size="small", position="center")
    with pytest.raises(ValueError, match="only face scenes"):
        Scene("shape", "red", "blue", shape="circle", size="small", position="center", sunglasses=True)


def test_tokenizer_pads_to_max_length_with_start_and_end(tokenizer):
    ids = tokenize(tokenizer, ["a red circle", ""])  # (2, 16)
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    assert ids.shape == (2, MODEL_MAX_LENGTH) == (2, 16)
    assert ids[0, :5].tolist() == [bos] + tokenizer.convert_tokens_to_ids(["a", "red", "circle"]) + [eos]
    assert ids[1].tolist() == [bos, eos] + [pad] * 14
    assert tokenizer.unk_token_id not in ids.tolist()[0]


def test_tokenizer_fits_the_longest_prompt_and_lowercases(tokenizer):
    longest = max((s.prompt() for s in all_scenes()), key=lambda p: len(p.split()))
    ids = tokenize(tokenizer, longest)
    assert ids[0, 14].item() == tokenizer.eos_token_id and ids[0, 15].item() == tokenizer.pad_token_id
    assert torch.equal(tokenize(tokenizer, "A  RED Circle"), tokenize(tokenizer, "a red circle"))


def test_unknown_word_names_the_closest_one(tokenizer):
    with pytest.raises(ValueError, match="'circle'"):
        tokenize(tokenizer, "a red cirle")


def test_an_is_read_as_a_and_no_other_word_changes(tokenizer):
    assert torch.equal(tokenize(tokenizer, "AN orange face on a red background"),
                       tokenize(tokenizer, "a orange face on a red background"))
    assert parse_prompt("an orange face on a red background") == parse_prompt("a orange face on a red background")
    and_id = tokenizer.convert_tokens_to_ids("and")
    assert tokenizer("sunglasses and a", add_special_tokens=False).input_ids[1] == and_id
    with pytest.raises(ValueError, match="'band'"):  # a word containing "an" is not touched
        tokenize(tokenizer, "a red band")


def test_saved_tokenizer_loads_with_autotokenizer(tokenizer, tmp_path):
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(save_tokenizer(tmp_path / "tokenizer"))
    prompt = "a yellow face with sunglasses and a red hat on a green background"
    assert torch.equal(tokenize(loaded, prompt), tokenize(tokenizer, prompt))
    assert loaded.model_max_length == 16 and loaded.unk_token == "<|unk|>"


def test_a_used_tokenizer_saves_the_same_files_as_a_fresh_one(tmp_path):
    """Encoding with padding leaves that call's truncation and padding in the backend; the saved files must not
    depend on it (an exported model's checksums would otherwise change with what ran before the export)."""
    used = build_tokenizer()
    tokenize(used, "a red square")  # pads and truncates to 16
    assert used.backend_tokenizer.padding is not None  # what the saved file must not keep
    fresh, after_use = save_tokenizer(tmp_path / "fresh"), save_tokenizer(tmp_path / "used", used)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (after_use / name).read_bytes() == (fresh / name).read_bytes(), name
    assert json.loads((after_use / "tokenizer.json").read_text())["padding"] is None
