# Copyright (c) mmhybrid contributors. All rights reserved.
from .edgevit import EdgeViT
from .hatnet import HATNet, TransCNN

__all__ = ['EdgeViT', 'HATNet', 'TransCNN']
