"""The shipped embedded model: offline loading, checksums, a judged sample, vocabulary errors, size."""
import json

import pytest
import torch

from nti_edu.evaluator import load_evaluator
from nti_edu.models import load_model
from nti_edu.models.loading import EMBEDDED_DIR
from nti_edu.sampling import generate
from nti_edu.train.export import sha256
from nti_edu.world import parse_prompt, vocabulary

# A prompt and seed whose sample the evaluator must judge right (every attribute) at w = 7.5, 50 steps.
JUDGED_PROMPT, JUDGED_SEED = "a large blue square at the center on a yellow background", 0


@pytest.fixture(scope="module")
def embedded(no_network_module):
    return load_model("embedded")


@pytest.fixture(scope="module")
def no_network_module():
    """Sockets blocked and the hub's offline switch off while the module's model loads."""
    with pytest.MonkeyPatch.context() as mp:
        import socket

        def refuse(*args, **kwargs):
            raise RuntimeError("network access attempted while loading the embedded model")

        mp.setenv("HF_HUB_OFFLINE", "0")
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


def test_loads_offline_in_stable_diffusion_shape(embedded):
    assert embedded.latent_shape == (4, 16, 16) and embedded.image_size == 64
    assert embedded.unet.config.cross_attention_dim == embedded.text_encoder.config.hidden_size
    assert 0.1 < embedded.vae.config.scaling_factor < 10
    assert embedded.name.startswith("embedded")


def test_shipped_files_match_their_checksums():
    sums = json.loads((EMBEDDED_DIR / "checksums.json").read_text())
    files = {str(p.relative_to(EMBEDDED_DIR)) for p in EMBEDDED_DIR.rglob("*") if p.is_file()}
    assert files == set(sums) | {"checksums.json"}
    for name, digest in sums.items():
        assert sha256(EMBEDDED_DIR / name) == digest, name


def test_checkpoint_is_at_most_30_mb():
    total = sum(p.stat().st_size for p in EMBEDDED_DIR.rglob("*") if p.is_file())
    assert total <= 30 * 2**20, total


def test_a_fixed_sample_is_judged_correct(embedded):
    image = generate(embedded, [JUDGED_PROMPT], num_steps=50, w=7.5, seed=JUDGED_SEED)  # (1, 3, 64, 64)
    verdict = load_evaluator().judge(image, [JUDGED_PROMPT])[0]
    assert all(verdict.values()), verdict


def test_guidance_raises_prompt_fidelity(embedded):
    """On 16 held-out prompts (50 steps, seed 0), every attribute right for 15 at w = 7.5, 3 at w = 1 (measured
    2026-12-01 on the 6000-step CPU checkpoint); the bounds leave a margin for other CPUs' round-off."""
    from nti_edu.world import heldout_seeds, make_batch

    prompts = make_batch(heldout_seeds(16))[1]
    judge = load_evaluator()
    share = {w: judge.matches(generate(embedded, prompts, num_steps=50, w=w, seed=0), prompts).float().mean().item()
             for w in (1.0, 7.5)}
    assert share[7.5] >= 0.8 and share[7.5] >= share[1.0] + 0.4, share


def test_unknown_words_list_the_vocabulary_and_the_closest_match(embedded):
    with pytest.raises(ValueError) as err:
        embedded.encode_prompt("a large blue sqaure at the center on a yellow background")
    message = str(err.value)
    assert "'sqaure'" in message and "Did you mean 'square'?" in message
    assert all(word in message for word in vocabulary())


def test_every_world_prompt_word_is_known(embedded):
    ids = embedded.encode_prompt([parse_prompt(JUDGED_PROMPT).prompt(), ""])  # (2, L, D)
    assert ids.shape[:2] == (2, embedded.tokenizer.model_max_length) and torch.isfinite(ids).all()


def test_an_before_a_vowel_is_read_as_a(embedded):
    """"an orange face" (English) and "a orange face" (the world's grammar) are the same prompt to the model."""
    english = "An orange face with a red hat on a blue background"
    emb = embedded.encode_prompt([english, "a orange face with a red hat on a blue background"])  # (2, L, D)
    assert torch.equal(emb[0], emb[1])
    assert parse_prompt(english) == parse_prompt("a orange face with a red hat on a blue background")


def test_shipped_files_load_in_transformers_4_and_5():
    """transformers 5 writes a tokenizer class name and a text-encoder key layout that transformers 4 cannot read
    (it would leave the text encoder random); the shipped files use the names both versions read, as
    Stable Diffusion's checkpoints on the hub do. (CI loads them with transformers 4 as well: .ci/run.)"""
    from safetensors import safe_open

    config = json.loads((EMBEDDED_DIR / "tokenizer" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    with safe_open(str(EMBEDDED_DIR / "text_encoder" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys and all(k.startswith("text_model.") for k in keys), [k for k in keys if not k.startswith("text_model.")]
