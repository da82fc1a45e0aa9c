"""Models behind one interface (``LatentDiffusion``): the embedded model and Stable Diffusion 1.x."""
from .latent_diffusion import LatentDiffusion
from .loading import EMBEDDED, SD15_ID, ModelNotFoundError, load_model

__all__ = ["LatentDiffusion", "load_model", "ModelNotFoundError", "EMBEDDED", "SD15_ID"]
