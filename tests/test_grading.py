"""nti_edu.grading and nti_edu.mistakes, the assignments' checks, without nbgrader: a wrapped package function is
refused, a typical mistake is named, an unforeseen one is said to match none, type and shape mistakes are named."""
import pytest
import torch

import nti_edu.ddim
from nti_edu import mistakes
from nti_edu.ddim import ddim_step
from nti_edu.grading import NotOwnWork, check_close, check_number, own_work

X, EPS = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)), torch.randn(2, 4, 8, 8)


def by_name(x_t, eps, a_t, a_prev):
    return ddim_step(x_t, eps, a_t, a_prev)


def through_module(x_t, eps, a_t, a_prev):
    return nti_edu.ddim.ddim_step(x_t, eps, a_t, a_prev)


def imported_inside(x_t, eps, a_t, a_prev):
    from nti_edu.ddim import ddim_step as step
    return step(x_t, eps, a_t, a_prev)


def helper(x_t, eps, a_t, a_prev):
    return by_name(x_t, eps, a_t, a_prev)


def caught(x_t, eps, a_t, a_prev):
    try:
        return nti_edu.ddim.ddim_step(x_t, eps, a_t, a_prev)
    except Exception:  # noqa: BLE001 (a student hiding the sentinel)
        return x_t


def own(x_t, eps, a_t, a_prev):  # the lower-level helper predict_x0 is allowed
    x0_pred = nti_edu.ddim.predict_x0(x_t, eps, a_t)
    return a_prev**0.5 * x0_pred + (1 - a_prev) ** 0.5 * eps


@pytest.mark.parametrize("answer", [by_name, through_module, imported_inside, helper, caught])
def test_calling_the_package_is_refused(answer):
    with pytest.raises(NotOwnWork, match="calls the package's own nti_edu.ddim.ddim_step"):
        own_work("my_ddim_step", answer, nti_edu.ddim.ddim_step)(X, EPS, 0.5, 0.7)
    assert nti_edu.ddim.ddim_step is ddim_step  # put back


def test_own_work_with_lower_level_helpers_passes(capsys):
    got = own_work("my_ddim_step", own, nti_edu.ddim.ddim_step)(X, EPS, 0.5, 0.7)
    check_close("my_ddim_step", got, ddim_step(X, EPS, 0.5, 0.7))
    assert "ok: my_ddim_step" in capsys.readouterr().out


def test_the_matching_mistake_is_named_and_an_unforeseen_one_is_not_guessed():
    expected = ddim_step(X, EPS, 0.5, 0.7)
    named = {"the alphas swapped": lambda: ddim_step(X, EPS, 0.7, 0.5), "eps doubled": ddim_step(X, 2 * EPS, 0.5, 0.7)}
    with pytest.raises(AssertionError, match="Most likely: the alphas swapped"):
        check_close("step", ddim_step(X, EPS, 0.7, 0.5), expected, "eq. 12", named)
    wrong = expected.clone()
    wrong[1, 2, 3, 4] += 0.5
    with pytest.raises(AssertionError, match=r"off by up to 0.5 at index \[1, 2, 3, 4\].*does not match a common "
                                             r"mistake \(the alphas swapped; eps doubled\)\. eq. 12") as err:
        check_close("step", wrong, expected, "eq. 12", named)
    assert "Most likely" not in str(err.value)


@pytest.mark.parametrize("got, message", [(None, "a missing `return`"), ([X[0]], "a type mistake"),
                                          (X[0], r"a shape mistake: expected shape \(2, 4, 8, 8\), got \(4, 8, 8\)")])
def test_type_and_shape_mistakes_are_named(got, message):
    with pytest.raises(AssertionError, match=message):
        check_close("answer", got, X, "rule")


def test_numbers_never_print_the_expected_value():
    with pytest.raises(AssertionError, match=r"0-d tensor"):
        check_number("RATIO", torch.tensor(3.1), 3.1, "rule")
    for got in (2.0, 1 / 3.1):
        with pytest.raises(AssertionError) as err:
            check_number("RATIO", got, 3.1234, "the 2-step error over the 10-step one",
                         {"upside down": 1 / 3.1234})
        assert "3.12" not in str(err.value)
    with pytest.raises(AssertionError, match="Most likely: upside down"):
        check_number("RATIO", 1 / 3.1234, 3.1234, "rule", {"upside down": 1 / 3.1234})


def test_mistakes_at_their_defaults_are_the_right_answers():
    """Each mistake generator with every knob at its default computes the package's answer."""
    g = torch.Generator().manual_seed(1)
    probs = torch.rand(8, 5, 6, generator=g).softmax(-1)  # (4 * heads, P, K), heads = 2
    mapper, token_alpha = torch.rand(6, 6, generator=g), (torch.rand(6, generator=g) > 0.5).float()
    out = mistakes.word_swap_with(probs, 2, mapper, token_alpha).view(4, 2, 5, 6)
    source, target = probs.view(4, 2, 5, 6)[2], probs.view(4, 2, 5, 6)[3]
    expected = torch.einsum("hpw,wn->hpn", source, mapper) * token_alpha + target * (1 - token_alpha)
    assert torch.allclose(out[3], expected) and torch.equal(out[:3], probs.view(4, 2, 5, 6)[:3])
    assert not torch.allclose(mistakes.word_swap_with(probs, 2, mapper, token_alpha, alpha="ignored"), out.view(8, 5, 6))
