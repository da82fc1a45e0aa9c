"""nti_edu.report.paper_ablation's findings: each of the paper's sec. 4 claims stated with its numbers, either way."""
from nti_edu.report.paper_ablation import VARIANTS, findings


def measured(psnr: dict, p2p: dict):
    curves = {name: [{"N": 10, "psnr": psnr[name]}] for name in VARIANTS}
    edits = {name: {"p2p": {"success": p2p[name][0], "kept": p2p[name][1]}} for name in VARIANTS}
    return curves, edits


NAMES = list(VARIANTS)  # null-text, random pivot, global null, TI + pivot, TI


def test_the_paper_s_claims_shown_when_the_numbers_agree():
    psnr = dict(zip(NAMES, (30.7, 28.5, 26.1, 31.1, 21.6)))
    p2p = dict(zip(NAMES, ((87.5, 29.7), (100, 22.3), (87.5, 29.8), (75.0, 27.5), (87.5, 27.5))))
    lines = findings(*measured(psnr, p2p))
    assert all("**shown here**" in line for line in lines)
    assert "31.13" not in lines[2] and "31.10 dB against null-text's 30.70 dB" in lines[2] and "75% against 88%" in lines[2]


def test_a_claim_the_numbers_contradict_is_said_not_shown():
    psnr = dict(zip(NAMES, (30.7, 31.0, 32.0, 30.9, 21.6)))  # random pivot and global null better
    p2p = dict(zip(NAMES, ((75.0, 27.0), (100, 22.3), (87.5, 29.8), (87.5, 29.0), (87.5, 27.5))))  # TI edits better
    lines = findings(*measured(psnr, p2p))
    assert ["**not shown here**" in line for line in lines] == [True, True, True]
