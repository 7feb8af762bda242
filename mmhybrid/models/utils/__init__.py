# Copyright (c) mmhybrid contributors. All rights reserved.
from .channels import backbone_output_channels, check_feature_channels
from .deploy import fuse_conv_bn_pairs, switch_to_deploy
from .padding import crop_to, pad_to_multiple
from .reparam import ReparameterizableMixin, UnfoldableNormError, deploy_norm

__all__ = [
    'backbone_output_channels', 'check_feature_channels', 'fuse_conv_bn_pairs',
    'switch_to_deploy', 'pad_to_multiple', 'crop_to', 'ReparameterizableMixin',
    'UnfoldableNormError', 'deploy_norm'
]
