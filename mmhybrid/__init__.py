# Copyright (c) mmhybrid contributors. All rights reserved.
"""mmhybrid: hybrid CNN-Transformer backbones (EdgeViT, TRT-ViT, TransCNN/HAT-Net, TopFormer)
for MMDetection 3.x, MMSegmentation 1.x and MMPretrain 1.x."""
from .utils import allow_mmengine_checkpoints
from .version import __version__, version_info

# Resuming and ``load_from`` of MMEngine's own checkpoints on torch >= 2.6 (see the function).
allow_mmengine_checkpoints()

__all__ = ['__version__', 'version_info']
