# Copyright (c) mmhybrid contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData

pytest.importorskip('mmseg')
from mmseg.structures import SegDataSample  # noqa: E402

from mmhybrid.models import TopFormerHead  # noqa: E402


@pytest.fixture(autouse=True)
def _mmseg_scope():
    init_default_scope('mmseg')


def make_head(**kwargs):
    cfg = dict(in_channels=[16, 16, 16], channels=16, num_classes=5, norm_cfg=dict(type='BN'))
    cfg.update(kwargs)
    return TopFormerHead(**cfg)


def test_forward_sums_resized_inputs_at_first_scale():
    head = make_head(dropout_ratio=0.).eval()
    feats = [torch.rand(2, 16, 12, 10), torch.rand(2, 16, 6, 5), torch.rand(2, 16, 3, 3)]
    logits = head(feats)
    assert tuple(logits.shape) == (2, 5, 12, 10)
    fused = feats[0] + sum(
        F.interpolate(f, size=(12, 10), mode='bilinear', align_corners=False) for f in feats[1:])
    torch.testing.assert_close(logits, head.conv_seg(head.linear_fuse(fused)))
    # inputs are not modified in place (the authors' head adds into feats[0])
    assert not torch.equal(fused, feats[0])


def test_in_index_selects_backbone_outputs():
    head = make_head(in_index=[1, 2, 3]).eval()
    feats = [torch.rand(1, 8, 24, 24)] + [torch.rand(1, 16, s, s) for s in (12, 6, 3)]
    assert tuple(head(feats).shape) == (1, 5, 12, 12)


def test_depthwise_fuse_for_tiny():
    head = make_head(in_channels=[128] * 3, channels=128, num_classes=150, depthwise_fuse=True)
    assert tuple(head.linear_fuse.conv.weight.shape) == (128, 1, 1, 1)
    dense = make_head(in_channels=[128] * 3, channels=128, num_classes=150)
    assert tuple(dense.linear_fuse.conv.weight.shape) == (128, 128, 1, 1)
    keys = set(head.state_dict())
    assert {'linear_fuse.conv.weight', 'linear_fuse.bn.weight', 'conv_seg.weight',
            'conv_seg.bias'} <= keys
    # authors' Tiny head: depthwise conv 128 + BN 256 + classifier 128 * 150 + 150
    assert sum(p.numel() for p in head.parameters()) == 128 + 256 + 128 * 150 + 150


def test_invalid_configs():
    with pytest.raises(ValueError, match='every in_channels entry must equal'):
        make_head(in_channels=[16, 32, 16])
    with pytest.raises(ValueError, match='multiple_select'):
        make_head(input_transform='resize_concat')
    with pytest.raises(TypeError, match='sequences'):
        make_head(in_channels=16, in_index=0)


def test_loss_and_predict():
    head = make_head()
    feats = [torch.rand(2, 16, 8, 8), torch.rand(2, 16, 4, 4), torch.rand(2, 16, 2, 2)]
    samples = []
    for _ in range(2):
        sample = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                             pad_shape=(64, 64)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, 64, 64)))
        samples.append(sample)
    losses = head.loss(feats, samples, dict(mode='whole'))
    assert losses['loss_ce'].item() > 0
    losses['loss_ce'].backward()
    assert head.linear_fuse.conv.weight.grad.abs().sum() > 0  # the loss reaches the fusion conv
    seg_logits = head.predict(feats, [s.metainfo for s in samples], dict(mode='whole'))
    assert tuple(seg_logits.shape) == (2, 5, 64, 64)
