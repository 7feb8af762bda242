# Copyright (c) mmhybrid contributors. All rights reserved.
"""The converter against checkpoints written in the authors' key layout (random weights)."""
import argparse
from collections import OrderedDict

import pytest
import torch
from mmengine.registry import init_default_scope

pytest.importorskip('mmseg')
pytest.importorskip('mmpretrain')
from helpers import load_tool, randomize_batchnorm_stats  # noqa: E402
from mmpretrain.registry import MODELS as PRETRAIN_MODELS  # noqa: E402
from mmseg.registry import MODELS as SEG_MODELS  # noqa: E402

from mmhybrid.converters import topformer as conversion  # noqa: E402
from mmhybrid.models import TopFormer  # noqa: E402
from mmhybrid.utils.converters import UnsafeCheckpointError  # noqa: E402

converter = load_tool('model_converters/topformer2mmhybrid.py')


def randomise(model):
    return randomize_batchnorm_stats(model).eval()


def build_segmentor():
    init_default_scope('mmseg')
    return randomise(SEG_MODELS.build(dict(
        type='EncoderDecoder',
        backbone=dict(type='mmhybrid.TopFormer', arch='tiny'),
        decode_head=dict(type='mmhybrid.TopFormerHead', in_channels=[128] * 3, channels=128,
                         depthwise_fuse=True, num_classes=150, norm_cfg=dict(type='BN')))))


def build_classifier():
    init_default_scope('mmpretrain')
    return randomise(PRETRAIN_MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmhybrid.TopFormer', arch='tiny', mode='global'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='mmhybrid.TopFormerClsHead', num_classes=1000, in_channels=208))))


def to_legacy(key):
    """The authors' pre-release spelling of a released key."""
    legacy = {v: k for k, v in conversion.LEGACY_NAMES.items()}
    return '.'.join(legacy.get(part, part) for part in key.split('.'))


def test_imagenet_checkpoint_prefers_ema_and_loads_strictly(tmp_path):
    model = build_classifier()
    authors = OrderedDict((k[len('backbone.'):] if k.startswith('backbone.') else k, v.clone())
                          for k, v in model.state_dict().items())
    assert all(k.startswith(('tpm.', 'trans.', 'head.bn.', 'head.l.')) for k in authors)
    noisy = OrderedDict((k, v + 1) if v.is_floating_point() else (k, v)
                        for k, v in authors.items())
    src, dst = tmp_path / 'topformer-T-224-66.2.pth', tmp_path / 'converted.pth'
    torch.save(dict(state_dict_ema=authors, state_dict=noisy, epoch=599), src)
    converter.main([str(src), str(dst)])

    converted = torch.load(dst, map_location='cpu')
    assert converted['meta']['task'] == 'classification'
    fresh = build_classifier()
    fresh.load_state_dict(converted['state_dict'], strict=True)
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, mode='tensor'), model(x, mode='tensor'))

    # the same file initialises a segmentation backbone (SIM weights are new, hence not strict)
    backbone = TopFormer('tiny', init_cfg=dict(type='Pretrained', checkpoint=str(dst),
                                               prefix='backbone.'))
    backbone.init_weights()
    torch.testing.assert_close(backbone.tpm.layer3.conv[2].c.weight,
                               model.backbone.tpm.layer3.conv[2].c.weight)


def test_ade20k_checkpoint_with_legacy_names_loads_strictly(tmp_path):
    model = build_segmentor()
    state_dict = model.state_dict()
    assert len(state_dict) == 376  # as the authors' TopFormer-T segmentor
    authors = OrderedDict((to_legacy(k), v.clone()) for k, v in state_dict.items())
    assert any('fuse_blocks.1.to_feat1' in k for k in authors)
    assert any(k.startswith('backbone.patch_embed.') for k in authors)
    classes = tuple(f'class{i}' for i in range(150))
    src, dst = tmp_path / 'TopFormer-T_512x512_2x8_160k-33.6.pth', tmp_path / 'converted.pth'
    torch.save(dict(meta=dict(CLASSES=classes, PALETTE=[[i, i, i] for i in range(150)]),
                    state_dict=authors, optimizer=dict()), src)
    converter.main([str(src), str(dst)])

    converted = torch.load(dst, map_location='cpu')
    assert converted['meta']['task'] == 'segmentation'
    assert converted['meta']['dataset_meta']['classes'] == classes
    assert 'optimizer' not in converted
    fresh = build_segmentor()
    fresh.load_state_dict(converted['state_dict'], strict=True)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, mode='tensor'), model(x, mode='tensor'))


def test_raw_and_model_wrappers_and_ddp_prefix():
    weights = OrderedDict([('module.patch_embed.stem.0.c.weight', torch.zeros(1)),
                           ('module.head.l.bias', torch.zeros(1))])
    for checkpoint in (weights, dict(model=weights)):
        converted, kind = conversion.convert(checkpoint)
        assert kind == 'classification'
        assert list(converted) == ['backbone.tpm.stem.0.c.weight', 'head.l.bias']


def test_unknown_keys_are_an_error():
    with pytest.raises(KeyError, match='do not belong'):
        conversion.convert(dict(state_dict={'tpm.stem.0.c.weight': torch.zeros(1),
                                           'fc.weight': torch.zeros(1)}))
    with pytest.raises(KeyError, match='segmentor'):
        conversion.convert(dict(state_dict={'backbone.tpm.stem.0.c.weight': torch.zeros(1),
                                           'neck.conv.weight': torch.zeros(1)}))
    with pytest.raises(ValueError, match='Cannot find the weights'):
        conversion.convert(dict(epoch=1, args='x'))


def test_pickled_namespace_needs_allow_pickle(tmp_path):
    authors = OrderedDict((k[len('backbone.'):] if k.startswith('backbone.') else k, v)
                          for k, v in build_classifier().state_dict().items())
    src, dst = tmp_path / 'timm.pth', tmp_path / 'out.pth'
    torch.save(dict(state_dict_ema=authors, args=argparse.Namespace(model='topformer')), src)
    with pytest.raises(UnsafeCheckpointError, match='--allow-pickle'):
        converter.main([str(src), str(dst)])
    converter.main([str(src), str(dst), '--allow-pickle'])
    assert len(torch.load(dst)['state_dict']) == len(authors)


def _authors_classifier_state():
    return OrderedDict((k[len('backbone.'):] if k.startswith('backbone.') else k, v)
                       for k, v in build_classifier().state_dict().items())


@pytest.mark.parametrize('damage', ['wrong_shape', 'renamed_key'])
def test_weights_that_do_not_load_strictly_are_rejected(damage, tmp_path, capsys):
    """The converted result must load strictly into the model; nothing is written otherwise."""
    authors = _authors_classifier_state()
    key = 'tpm.layer1.conv.2.bn.weight'
    assert authors[key].shape == (16, )
    if damage == 'wrong_shape':
        authors[key] = torch.ones(17)
        expected = 'size mismatch for tpm.layer1.conv.2.bn.weight'
    else:
        authors['tpm.layer1.conv.2.bn.wieght'] = authors.pop(key)
        expected = 'tpm.layer1.conv.2.bn.wieght'
    src, dst = tmp_path / 'topformer-T-224-66.2.pth', tmp_path / 'converted.pth'
    torch.save(dict(state_dict_ema=authors), src)
    with pytest.raises(RuntimeError, match=expected):
        converter.main([str(src), str(dst)])
    assert converter.run_converter_cli(converter.main, [str(src), str(dst)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: The converted weights do not match TopFormer') and expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == [src.name]


def test_segmentation_head_is_verified(tmp_path):
    state = build_segmentor().state_dict()
    state['decode_head.conv_seg.weight'] = state['decode_head.conv_seg.weight'][:, :64]
    src, dst = tmp_path / 'seg.pth', tmp_path / 'converted.pth'
    torch.save(dict(state_dict=state), src)
    with pytest.raises(RuntimeError, match='size mismatch for conv_seg.weight'):
        converter.main([str(src), str(dst)])
    assert not dst.exists()


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_architecture_is_inferred_from_the_weights(arch):
    state = {f'backbone.{k}': v for k, v in TopFormer(arch, mode='global').state_dict().items()}
    assert conversion.infer_arch(conversion._split(state, 'backbone.')) == arch


def test_unknown_architecture_names_what_was_found():
    state = TopFormer(dict(TopFormer.arch_settings['tiny'],
                           layer_cfgs=TopFormer.arch_settings['tiny']['layer_cfgs'][:-1],
                           tap_indices=[2, 4, 6, 7])).state_dict()
    with pytest.raises(ValueError, match=r'Unknown TopFormer architecture: .* 8 layers with '
                       r'output channels \[16, 16, 16, 32, 32, 64, 64, 96\]'):
        conversion.infer_arch(state)
