# Copyright (c) mmhybrid contributors. All rights reserved.
from .edgevit import EdgeViT
from .hatnet import HATNet, TransCNN
from .topformer import TopFormer
from .trt_vit import TRTViT

__all__ = ['EdgeViT', 'HATNet', 'TransCNN', 'TRTViT', 'TopFormer']
