# Copyright (c) mmhybrid contributors. All rights reserved.
"""The TopFormer segmentation head (the authors' ``SimpleHead``)."""
from typing import List, Sequence

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead

from mmhybrid.registry import MODELS


@MODELS.register_module()
class TopFormerHead(BaseDecodeHead):
    """Sum-and-classify head of `TopFormer <https://arxiv.org/abs/2204.05525>`_.

    The selected maps (by default the three SIM outputs at strides 8/16/32) are bilinearly resized
    to the first one's size and summed, fused by a 1x1 ``ConvModule`` (conv, norm, activation;
    depthwise when ``depthwise_fuse``, as the authors do for TopFormer-Tiny), then dropout and
    the 1x1 classifier give logits at stride 8. Submodule names (``linear_fuse``, ``conv_seg``)
    match the authors' checkpoints.

    Unlike the authors' code the sum is out of place, so the backbone outputs are not modified.

    Args:
        in_channels (Sequence[int]): Channels of each input map; all must equal ``channels``.
        channels (int): Channels of the fused map.
        depthwise_fuse (bool): Use a depthwise (``groups=channels``) fuse conv. Defaults to False.
        in_index (Sequence[int]): Which backbone outputs to use. Defaults to ``(0, 1, 2)``.
        **kwargs: Passed to :class:`mmseg.models.decode_heads.decode_head.BaseDecodeHead`
            (``num_classes``, ``dropout_ratio``, ``norm_cfg``, ``act_cfg``, ``loss_decode`` ...).

    Example:
        >>> import torch
        >>> from mmhybrid.models import TopFormerHead
        >>> head = TopFormerHead([128] * 3, 128, depthwise_fuse=True, num_classes=150,
        ...                      norm_cfg=dict(type='BN'))
        >>> feats = [torch.rand(1, 128, s, s) for s in (64, 32, 16)]
        >>> print(tuple(head(feats).shape))
        (1, 150, 64, 64)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 depthwise_fuse: bool = False,
                 in_index: Sequence[int] = (0, 1, 2),
                 **kwargs):
        if kwargs.setdefault('input_transform', 'multiple_select') != 'multiple_select':
            raise ValueError('TopFormerHead sums several maps: input_transform must be '
                             f'"multiple_select", got {kwargs["input_transform"]!r}')
        if isinstance(in_channels, int) or isinstance(in_index, int):
            raise TypeError('TopFormerHead takes sequences for in_channels and in_index, e.g. '
                            'in_channels=[128, 128, 128], in_index=[0, 1, 2]')
        if any(c != channels for c in in_channels):
            raise ValueError(f'TopFormerHead sums its inputs, so every in_channels entry must '
                             f'equal channels={channels}; got {list(in_channels)}. Set channels '
                             'to the backbone injection_channels.')
        super().__init__(list(in_channels), channels, in_index=list(in_index), **kwargs)
        self.depthwise_fuse = depthwise_fuse
        self.linear_fuse = ConvModule(
            channels, channels, 1, groups=channels if depthwise_fuse else 1,
            conv_cfg=self.conv_cfg, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        feats = self._transform_inputs(inputs)
        fused = feats[0]
        for feat in feats[1:]:
            fused = fused + F.interpolate(feat, size=fused.shape[-2:], mode='bilinear',
                                          align_corners=self.align_corners)
        return self.cls_seg(self.linear_fuse(fused))
