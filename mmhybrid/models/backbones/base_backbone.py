# Copyright (c) mmhybrid contributors. All rights reserved.
"""Training-time behaviour shared by every mmhybrid backbone: frozen stages and ``norm_eval``."""
from typing import List

import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm


class HybridBackbone(BaseModule):
    """Base class of the mmhybrid backbones.

    Subclasses set ``self.frozen_stages`` and ``self.norm_eval`` and implement
    :meth:`_frozen_modules`. Frozen modules stay in eval mode with ``requires_grad=False``, and
    with ``norm_eval=True`` every BatchNorm keeps its running statistics, also after
    ``model.train()`` (the runner calls it at the start of every epoch).
    """

    frozen_stages: int = -1
    norm_eval: bool = False

    def _frozen_modules(self) -> List[nn.Module]:
        """The modules that ``frozen_stages`` freezes (empty when it is -1)."""
        raise NotImplementedError

    def _freeze_stages(self) -> None:
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'HybridBackbone':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
