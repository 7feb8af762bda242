# Copyright (c) mmhybrid contributors. All rights reserved.
"""Configs of mmdet, mmseg and mmpretrain may name mmhybrid classes with or without prefix."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope, Registry

import mmhybrid.models as mmhybrid_models
from mmhybrid.registry import MODELS, mirror_into_downstream


def _downstream_models(scope):
    return pytest.importorskip(f'{scope}.registry').MODELS


def test_registry_is_a_root_child_with_locations():
    from mmengine.registry import MODELS as ROOT
    assert MODELS.parent is ROOT
    assert MODELS.scope == 'mmhybrid'
    assert ROOT._children['mmhybrid'] is MODELS


def test_every_library_is_mirrored():
    assert set(mmhybrid_models.MIRRORED_SCOPES) == {'mmdet', 'mmseg', 'mmpretrain'}
    assert len(mmhybrid_models.PUBLIC_MODELS) > 0


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_both_names_resolve_to_the_same_class(scope):
    registry = _downstream_models(scope)
    with DefaultScope.overwrite_default_scope(scope):
        for cls in mmhybrid_models.PUBLIC_MODELS:
            assert registry.get(cls.__name__) is cls, (scope, cls.__name__)
            assert registry.get(f'mmhybrid.{cls.__name__}') is cls, (scope, cls.__name__)


def test_blocks_are_not_mirrored():
    """Plug-ins stay in the mmhybrid scope so they cannot clash with library names; the other
    building blocks (their parts) are not registered at all."""
    public = {cls.__name__ for cls in mmhybrid_models.PUBLIC_MODELS}
    layers = mmhybrid_models.layers
    assert set(layers.PLUGINS) == {'HMHSA', 'LGLBlock', 'MixBlockA', 'MixBlockB', 'MixBlockC'}
    assert set(layers.PLUGINS) < set(layers.__all__)
    for name in layers.__all__:
        assert name not in public
        expected = getattr(layers, name) if name in layers.PLUGINS else None
        assert MODELS.get(name) is expected, name


def test_registry_holds_backbones_heads_and_plug_ins_only():
    """Registered: what a config names (backbones, heads, plug-ins); internal blocks are not."""
    registered = set(MODELS.module_dict)
    expected = {cls.__name__ for cls in mmhybrid_models.PUBLIC_MODELS}
    expected |= set(mmhybrid_models.layers.PLUGINS)
    assert registered == expected
    assert {'EdgeViT', 'HATNet', 'TransCNN', 'TRTViT', 'TopFormer'} <= registered
    for internal in ('TopFormerConv2dBN', 'TopFormerAttention', 'LocalAgg', 'TRTBottleneck'):
        assert internal not in registered


def test_mirroring_is_idempotent_and_reports_clashes():
    target = Registry('model', scope='fake_lib_for_test')

    class Foo:
        pass

    class OtherFoo:
        pass
    OtherFoo.__name__ = 'Foo'

    import sys
    import types
    module = types.ModuleType('fake_lib_for_test.registry')
    module.MODELS = target
    sys.modules['fake_lib_for_test'] = types.ModuleType('fake_lib_for_test')
    sys.modules['fake_lib_for_test.registry'] = module
    try:
        assert mirror_into_downstream([Foo], scopes=['fake_lib_for_test']) == ['fake_lib_for_test']
        assert mirror_into_downstream([Foo], scopes=['fake_lib_for_test']) == ['fake_lib_for_test']
        assert target.get('Foo') is Foo
        with pytest.raises(KeyError, match='already has a different'):
            mirror_into_downstream([OtherFoo], scopes=['fake_lib_for_test'])
        assert mirror_into_downstream([Foo], scopes=['not_installed_lib']) == []
    finally:
        del sys.modules['fake_lib_for_test'], sys.modules['fake_lib_for_test.registry']


CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')

# (library, config, backbone name): a real config of each library, built through that library's
# registry with the backbone named both ways.
CONFIG_CASES = [
    ('mmseg', 'topformer/topformer_t_ade20k.py', 'TopFormer'),
    ('mmdet', 'edgevit/retinanet_edgevit-xxs_fpn_1x_coco.py', 'EdgeViT'),
    ('mmpretrain', 'edgevit/edgevit-xxs_8xb256_in1k.py', 'EdgeViT'),
]
# What each model returns in tensor mode for a 64x64 image: ADE20K logits at 1/8 (TopFormer's
# head), RetinaNet's (80 classes x 9 anchors, 4 x 9 box deltas) on five FPN levels, and the
# ImageNet logits.
_LEVELS = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
TENSOR_SHAPES = {
    'mmseg': (1, 150, 8, 8),
    'mmdet': ([(1, 720, *hw) for hw in _LEVELS], [(1, 36, *hw) for hw in _LEVELS]),
    'mmpretrain': (1, 1000),
}


def _shapes(out):
    """Shapes of a tensor or of a nest of tuples and lists of tensors, keeping the nesting."""
    if isinstance(out, torch.Tensor):
        return tuple(out.shape)
    return type(out)(_shapes(o) for o in out)


@pytest.mark.parametrize('prefix', ['mmhybrid.', ''], ids=['prefixed', 'plain'])
@pytest.mark.parametrize('scope,config,name', CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_library_configs_build_with_either_name(scope, config, name, prefix):
    registry = _downstream_models(scope)
    cfg = Config.fromfile(osp.join(CONFIGS, config))
    assert cfg.default_scope == scope
    model_cfg = cfg.model
    model_cfg.backbone.type = prefix + name
    model_cfg.backbone.init_cfg = None
    if scope == 'mmseg':  # the decode head is an mmhybrid class too
        model_cfg.decode_head.type = prefix + model_cfg.decode_head.type.split('.')[-1]
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(model_cfg)
    assert type(model.backbone).__name__ == name
    assert type(model.backbone) is MODELS.get(name)
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64), mode='tensor')
    assert _shapes(out) == TENSOR_SHAPES[scope]
    assert all(torch.isfinite(t).all() for t in _tensors(out))


def _tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for o in out for t in _tensors(o)]
