"""The networks (``torch.nn.Module`` code) behind the architectures in ``unisim/models/``.

    from unisim.models.nets.latent import LatentSurrogate
    from unisim.models.nets.base import Surrogate       # the shared call signature

These modules import torch; the spec modules one level up import them only inside
their builders, so that loading a config never imports torch.
"""
