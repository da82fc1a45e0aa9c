"""Prompt-to-Prompt: Hertz et al., "Prompt-to-Prompt Image Editing with Cross Attention Control", ICLR 2023.

Controllers (``controllers.py``) change the target branch's attention, a processor (``processor.py``)
installs them through diffusers' public attention-processor API, ``words.py`` aligns the tokens of
two prompts, ``blend.py`` restricts an edit to a region and ``choose.py`` picks a swap or a refinement. ``nti_edu.editing.edit`` runs them.
"""
from .blend import LocalBlend
from .choose import changed_words, edit_kind, prompt_edit
from .controllers import AttentionControl, AttentionEdit, AttentionStore, Refine, Reweight, WordSwap
from .processor import ControlledAttnProcessor, attention_control
from .words import find_words, refine_mapper, swap_mapper, word_positions

__all__ = ["AttentionControl", "AttentionStore", "AttentionEdit", "WordSwap", "Refine", "Reweight", "LocalBlend",
           "ControlledAttnProcessor", "attention_control", "word_positions", "find_words", "swap_mapper",
           "refine_mapper", "edit_kind", "prompt_edit", "changed_words"]
