"""Prompt-to-Prompt: Hertz et al., "Prompt-to-Prompt Image Editing with Cross Attention Control", ICLR 2023.

Controllers (``controllers.py``) change the target branch's attention, a processor (``processor.py``)
installs them through diffusers' public attention-processor API, ``words.py`` aligns the tokens of
two prompts and ``blend.py`` restricts an edit to a region. ``nti_edu.editing.edit`` runs them.
"""
from .blend import LocalBlend
from .controllers import AttentionControl, AttentionEdit, AttentionStore, Refine, Reweight, WordSwap
from .processor import ControlledAttnProcessor, attention_control
from .words import find_words, refine_mapper, swap_mapper, word_positions

__all__ = ["AttentionControl", "AttentionStore", "AttentionEdit", "WordSwap", "Refine", "Reweight", "LocalBlend",
           "ControlledAttnProcessor", "attention_control", "word_positions", "find_words", "swap_mapper",
           "refine_mapper"]
