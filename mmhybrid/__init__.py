# Copyright (c) mmhybrid contributors. All rights reserved.
"""mmhybrid: hybrid CNN-Transformer backbones (EdgeViT, TRT-ViT, TransCNN/HAT-Net, TopFormer)
for MMDetection 3.x, MMSegmentation 1.x and MMPretrain 1.x."""
from .version import __version__, version_info

__all__ = ['__version__', 'version_info']
