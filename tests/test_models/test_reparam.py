# Copyright (c) mmhybrid contributors. All rights reserved.
"""The reparameterization protocol (``mmhybrid.models.utils.reparam``), for every block that
folds: ``reparameterize()`` twice equals once, ``deploy=True`` builds the state-dict keys that
construct-then-``reparameterize()`` gives, a norm that cannot be folded raises an error naming the
block, and the base class's old name still imports, with a warning."""
import importlib
import inspect
import pkgutil
import warnings
from typing import Callable, Dict, Tuple

import pytest
import torch
import torch.nn as nn
from helpers import randomize_batchnorm_stats

import mmhybrid.models
from mmhybrid.models.backbones.base_backbone import BaseHybridBackbone
from mmhybrid.models.backbones.hatnet import (
    ConvDownsample,
    ConvStem,
    InvertedResidual,
    TwoBranchDownsample,
)
from mmhybrid.models.backbones.topformer import TopFormerConv2dBN, TopFormerSemanticsInjection
from mmhybrid.models.layers import HMHSA, LGLBlock, LocalAgg, MixBlockA, MixBlockB, MixBlockC
from mmhybrid.models.layers.lgl import SelfAttnBlock
from mmhybrid.models.layers.trt_blocks import ConvBNAct, TRTBottleneck
from mmhybrid.models.utils import (
    ReparameterizableMixin,
    UnfoldableNormError,
    switch_to_deploy,
)

BN = dict(type='BN')
GN = dict(type='GN', num_groups=2)
ACT = dict(type='SiLU')


def _map(channels: int) -> Callable[[], Tuple[torch.Tensor, ...]]:
    return lambda: (torch.rand(2, channels, 9, 11, dtype=torch.float64), )


def _topformer_cls_head(**kwargs):
    pytest.importorskip('mmpretrain')
    from mmhybrid.models.heads import TopFormerClsHead
    return TopFormerClsHead(num_classes=5, in_channels=8, **kwargs)


#: name -> (factory taking the folding kwargs (``deploy``, ``norm_cfg`` where the block has
#: one), inputs, the kwarg that selects the norm or None when the block has no norm_cfg).
BLOCKS: Dict[str, tuple] = {
    'TopFormerConv2dBN': (lambda **kw: TopFormerConv2dBN(8, 16, 3, padding=1, **kw),
                          _map(8), 'norm_cfg'),
    'TopFormerSemanticsInjection': (
        lambda **kw: TopFormerSemanticsInjection(8, 12, 16, **kw),
        lambda: (torch.rand(2, 8, 9, 11, dtype=torch.float64),
                 torch.rand(2, 12, 3, 4, dtype=torch.float64)), 'norm_cfg'),
    'TopFormerClsHead': (_topformer_cls_head,
                         lambda: ((torch.rand(3, 8, dtype=torch.float64), ), ), None),
    'ConvStem': (lambda **kw: ConvStem(3, 8, 16, kw.pop('norm_cfg', BN), ACT, **kw), _map(3),
                 'norm_cfg'),
    'InvertedResidual-post': (
        lambda **kw: InvertedResidual(8, 16, 3, kw.pop('norm_cfg', BN), ACT, 'post', **kw),
        _map(8), 'norm_cfg'),
    'InvertedResidual-pre': (
        lambda **kw: InvertedResidual(8, 16, 3, kw.pop('norm_cfg', BN), ACT, 'pre', **kw),
        _map(8), 'norm_cfg'),
    'ConvDownsample': (lambda **kw: ConvDownsample(8, 16, kw.pop('norm_cfg', BN), ACT, **kw),
                       _map(8), 'norm_cfg'),
    'TwoBranchDownsample': (
        lambda **kw: TwoBranchDownsample(8, 16, kw.pop('norm_cfg', BN), ACT, **kw), _map(8),
        'norm_cfg'),
    'HMHSA': (lambda **kw: HMHSA(16, head_dim=8, grid_size=4, ds_ratio=2, **kw), _map(16),
              'norm_cfg'),
    'LocalAgg': (lambda **kw: LocalAgg(16, **kw), _map(16), 'norm_cfg'),
    'SelfAttnBlock': (lambda **kw: SelfAttnBlock(16, num_heads=2, sr_ratio=2, **kw), _map(16),
                      None),
    'LGLBlock': (lambda **kw: LGLBlock(16, num_heads=2, sr_ratio=2, **kw), _map(16),
                 'norm_cfg'),
    'ConvBNAct': (lambda **kw: ConvBNAct(8, 16, 3, padding=1, **kw), _map(8), 'norm_cfg'),
    'TRTBottleneck': (lambda **kw: TRTBottleneck(32, 64, stride=2, **kw), _map(32), 'norm_cfg'),
    'MixBlockA': (lambda **kw: MixBlockA(32, 64, **kw), _map(32), 'norm_cfg'),
    'MixBlockB': (lambda **kw: MixBlockB(32, 64, **kw), _map(32), 'norm_cfg'),
    'MixBlockC': (lambda **kw: MixBlockC(32, 64, stride=2, **kw), _map(32), 'norm_cfg'),
}
#: Blocks whose design keeps a per-sample norm (HAT-Net's GroupNorm) in the deployed block.
KEEPS_PER_SAMPLE_NORMS = ('ConvStem', 'InvertedResidual-post', 'InvertedResidual-pre',
                          'ConvDownsample', 'TwoBranchDownsample', 'HMHSA')
#: Blocks whose folded form has no place for a norm other than a BatchNorm.
MUST_FOLD = [name for name, (_, _, kw) in BLOCKS.items()
             if kw and name not in KEEPS_PER_SAMPLE_NORMS]


def _folding_classes():
    """Every concrete class of ``mmhybrid.models`` that follows the protocol (backbones aside)."""
    for info in pkgutil.walk_packages(mmhybrid.models.__path__, 'mmhybrid.models.'):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ReparameterizableMixin) and cls.__module__ == info.name \
                    and cls is not ReparameterizableMixin and not cls.__name__.startswith('_') \
                    and not issubclass(cls, BaseHybridBackbone):
                yield cls


def _built(name: str, **kwargs) -> nn.Module:
    factory = BLOCKS[name][0]
    block = factory(**kwargs).double()
    randomize_batchnorm_stats(block)
    return block.eval()


def _outputs(block: nn.Module, inputs) -> Tuple[torch.Tensor, ...]:
    with torch.no_grad():
        out = block(*inputs)
    return out if isinstance(out, tuple) else (out, )


def test_every_folding_block_is_covered():
    """A new block that folds must join ``BLOCKS``; nothing outside the protocol folds."""
    covered = {type(BLOCKS[name][0]()) for name in BLOCKS}
    assert set(_folding_classes()) == covered
    for info in pkgutil.walk_packages(mmhybrid.models.__path__, 'mmhybrid.models.'):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and hasattr(cls, 'reparameterize'):
                assert issubclass(cls, ReparameterizableMixin), cls
                assert cls.reparameterize is ReparameterizableMixin.reparameterize, cls


@pytest.mark.parametrize('name', list(BLOCKS))
def test_reparameterize_twice_equals_once(name):
    block = _built(name)
    inputs = BLOCKS[name][1]()
    expected = _outputs(block, inputs)
    assert block.deploy is False
    block.reparameterize()
    assert block.deploy is True
    once = {k: v.clone() for k, v in block.state_dict().items()}
    folded = _outputs(block, inputs)
    block.reparameterize()
    assert block.deploy is True
    twice = block.state_dict()
    assert once.keys() == twice.keys()
    assert all(torch.equal(once[k], twice[k]) for k in once)
    again = _outputs(block, inputs)
    for a, b, c in zip(expected, folded, again):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
        assert torch.equal(b, c)
    switch_to_deploy(block)  # the whole-model conversion leaves a folded block alone
    assert all(torch.equal(once[k], v) for k, v in block.state_dict().items())


@pytest.mark.parametrize('name', list(BLOCKS))
def test_deploy_flag_builds_the_folded_structure(name):
    """``deploy=True`` gives the state-dict keys and shapes of construct-then-reparameterize,
    the folded state dict loads strictly, and the outputs match."""
    block = _built(name)
    block.reparameterize()
    fresh = BLOCKS[name][0](deploy=True).double().eval()
    assert fresh.deploy is True
    folded_state = block.state_dict()
    assert list(fresh.state_dict()) == list(folded_state)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == \
        {k: v.shape for k, v in folded_state.items()}
    fresh.load_state_dict(folded_state, strict=True)
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    fresh.reparameterize()  # built folded: a no-op
    assert all(torch.equal(before[k], v) for k, v in fresh.state_dict().items())
    inputs = BLOCKS[name][1]()
    for a, b in zip(_outputs(block, inputs), _outputs(fresh, inputs)):
        assert torch.equal(a, b)


def _check_names_block(error: UnfoldableNormError, cls: type, path: str = '') -> None:
    message = str(error)
    assert isinstance(error, ValueError)
    assert error.block is cls
    assert f'{cls.__module__}.{cls.__qualname__}' in message
    assert message.startswith(cls.__name__)
    assert 'BatchNorms only' in message and 'GroupNorm' in message
    if path:
        assert error.path == path and f'at {path!r}' in message


@pytest.mark.parametrize('name', MUST_FOLD)
def test_unfoldable_norm_names_the_block(name):
    factory = BLOCKS[name][0]
    with pytest.raises(UnfoldableNormError) as info:
        factory(norm_cfg=GN, deploy=True)
    assert info.value.norm == 'GroupNorm'
    block = factory(norm_cfg=GN).eval()
    state = {k: v.clone() for k, v in block.state_dict().items()}
    with pytest.raises(UnfoldableNormError) as info:
        block.reparameterize()
    # the innermost block that cannot fold is named (with its path inside ``block``)
    error = info.value
    owner = block.get_submodule(error.path) if error.path else block
    _check_names_block(error, type(owner), error.path)
    # nothing was folded
    assert block.deploy is False
    assert list(block.state_dict()) == list(state)
    assert all(torch.equal(state[k], v) for k, v in block.state_dict().items())


@pytest.mark.parametrize('name', KEEPS_PER_SAMPLE_NORMS)
def test_per_sample_norms_stay_where_the_design_keeps_them(name):
    """HAT-Net's GroupNorm stays in the deployed block (no conv can absorb it); a BatchNorm
    without running statistics there cannot fold and raises the error naming the block."""
    factory, inputs, _ = BLOCKS[name]
    block = factory(norm_cfg=GN).double().eval()
    x = inputs()
    expected = _outputs(block, x)
    block.reparameterize()
    assert block.deploy
    assert any(isinstance(m, nn.GroupNorm) for m in block.modules())
    for a, b in zip(expected, _outputs(block, x)):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
    assert list(factory(norm_cfg=GN, deploy=True).state_dict()) == list(block.state_dict())

    no_stats = dict(type='BN', track_running_stats=False)
    with pytest.raises(UnfoldableNormError, match='without running statistics') as info:
        factory(norm_cfg=no_stats, deploy=True)
    assert info.value.block is type(block)
    block = factory(norm_cfg=no_stats)
    with pytest.raises(UnfoldableNormError) as info:
        block.reparameterize()
    assert info.value.block is type(block) and not block.deploy


def test_backbone_and_task_model_name_the_block_and_its_place():
    """Through a backbone (``switch_to_deploy()``) or the whole-model ``switch_to_deploy``, the
    error gives the block's path from the root, and nothing is folded."""
    from mmhybrid.models import TopFormer
    model = TopFormer('tiny', norm_cfg=dict(type='GN', num_groups=8)).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnfoldableNormError) as info:
        model.switch_to_deploy()
    _check_names_block(info.value, TopFormerConv2dBN, 'tpm.stem.0')
    assert not model.deploy and list(model.state_dict()) == list(state)

    wrapper = nn.Sequential(nn.Conv2d(3, 3, 1), model)
    with pytest.raises(UnfoldableNormError) as info:
        switch_to_deploy(wrapper)
    _check_names_block(info.value, TopFormerConv2dBN, '1.tpm.stem.0')
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())

    with pytest.raises(UnfoldableNormError, match=r"TopFormerConv2dBN \(mmhybrid"):
        TopFormer('tiny', norm_cfg=dict(type='GN', num_groups=8), deploy=True)


def test_plug_in_error_names_its_place_in_a_stock_network():
    net = nn.Sequential(nn.Conv2d(3, 16, 1), nn.BatchNorm2d(16),
                        nn.Sequential(LGLBlock(16, num_heads=2, sr_ratio=2, norm_cfg=GN))).eval()
    with pytest.raises(UnfoldableNormError) as info:
        switch_to_deploy(net)
    _check_names_block(info.value, LocalAgg, '2.0.LocalAgg')


def test_old_base_class_name_warns_and_is_the_new_class():
    module = importlib.import_module('mmhybrid.models.backbones.base_backbone')
    with pytest.warns(DeprecationWarning, match='renamed BaseHybridBackbone'):
        old = module.HybridBackbone
    assert old is BaseHybridBackbone
    with pytest.warns(DeprecationWarning):
        from mmhybrid.models.backbones.base_backbone import HybridBackbone
    assert HybridBackbone is BaseHybridBackbone
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        from mmhybrid.models.backbones.base_backbone import BaseHybridBackbone as new  # noqa
    with pytest.raises(AttributeError):
        module.NoSuchBackbone  # noqa: B018


def test_base_class_name_is_not_an_openmmlab_name():
    for library in ('mmpretrain', 'mmdet', 'mmseg'):
        registry = pytest.importorskip(f'{library}.registry').MODELS
        assert 'BaseHybridBackbone' not in registry.module_dict
    levit = pytest.importorskip('mmpretrain.models.backbones.levit')
    assert not hasattr(levit, 'BaseHybridBackbone')
    assert levit.HybridBackbone is not BaseHybridBackbone
