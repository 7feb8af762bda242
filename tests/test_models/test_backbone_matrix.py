# Copyright (c) mmhybrid contributors. All rights reserved.
"""The backbone contract of :class:`~mmhybrid.models.backbones.base_backbone.BaseHybridBackbone`,
checked once for every family: one matrix over every family and preset arch (the pattern of
timm's ``tests/test_models.py``). The family files (``test_backbones/test_<family>.py``) keep
only what belongs to one family (the authors' parameter counts and key names, a block's
arithmetic, a mode or an option only that family has).

* every arch (and TopFormer mode): forward at odd and even sizes gives the documented strides
  (``ceil(H / stride)``) and channels;
* the smallest arch of each family: arch names and dicts and their errors; ``out_indices``
  (selection, order, errors); ``out_channels`` / ``feature_info`` describing the outputs;
  backward (every parameter that should learn gets a finite, non-zero gradient); batch
  invariance; eval determinism; channels_last parity; ``torch.jit.trace``; frozen stages;
  ``norm_eval``; the stochastic-depth schedule; ``with_cp`` equality; ``init_cfg``; conv+BN
  folding (outputs, fused-checkpoint reload, idempotence, ``deploy=True``) and the policy for a
  norm that cannot fold.
"""
import io
import math
import re
import warnings
from typing import Dict, Tuple

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

from mmhybrid.models import EdgeViT, HATNet, TopFormer, TransCNN, TRTViT
from mmhybrid.models.backbones import base_backbone
from mmhybrid.models.utils import UnfoldableNormError
from mmhybrid.models.utils import switch_to_deploy as free_switch_to_deploy

#: family -> (class, preset archs (smallest first), extra kwargs, strides of all outputs,
#: kwargs that select every output).
FAMILIES: Dict[str, Tuple[type, Tuple[str, ...], dict, Tuple[int, ...], dict]] = {
    'TopFormer-dense': (TopFormer, ('tiny', 'small', 'base'), dict(mode='dense'),
                        (4, 8, 16, 32), dict(out_indices=(0, 1, 2, 3))),
    'TopFormer-global': (TopFormer, ('tiny', 'small', 'base'), dict(mode='global'),
                         (4, 8, 16, 32, 64), dict(out_indices=(0, 1, 2, 3, 4))),
    'EdgeViT': (EdgeViT, ('xxs', 'xs', 's'), dict(), (4, 8, 16, 32),
                dict(out_indices=(0, 1, 2, 3))),
    'HATNet': (HATNet, ('tiny', 'small', 'medium', 'large'), dict(), (4, 8, 16, 32),
               dict(out_indices=(0, 1, 2, 3))),
    'TransCNN': (TransCNN, ('tiny', 'small', 'medium', 'large'), dict(), (4, 8, 16, 32),
                 dict(out_indices=(0, 1, 2, 3))),
    'TRTViT': (TRTViT, ('a', 'b', 'c', 'd'), dict(), (4, 8, 16, 32),
               dict(out_indices=(0, 1, 2, 3))),
}
#: Archs whose forward test takes more than about a second here; still run by ``make test``.
SLOW_ARCHS = {('HATNet', 'medium'), ('HATNet', 'large'), ('TransCNN', 'medium'),
              ('TransCNN', 'large'), ('TRTViT', 'c'), ('TRTViT', 'd')}
SIZES = ((33, 47), (64, 64))
FAMILY_NAMES = list(FAMILIES)
#: One entry per class (the arch rules do not depend on TopFormer's mode).
ONE_PER_CLASS = ('TopFormer-dense', 'EdgeViT', 'HATNet', 'TransCNN', 'TRTViT')
#: The documented channels of every output (all outputs selected), per family and arch.
CHANNELS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'TopFormer-dense': {'tiny': (16, 128, 128, 128), 'small': (24, 192, 192, 192),
                        'base': (32, 256, 256, 256)},
    'TopFormer-global': {'tiny': (16, 32, 64, 96, 208), 'small': (24, 48, 96, 128, 296),
                         'base': (32, 64, 128, 160, 384)},
    'EdgeViT': {'xxs': (36, 72, 144, 288), 'xs': (48, 96, 240, 384), 's': (48, 96, 240, 384)},
    'HATNet': {'tiny': (48, 96, 240, 384), 'small': (64, 128, 320, 512),
               'medium': (64, 128, 320, 512), 'large': (64, 128, 320, 640)},
    'TransCNN': {'tiny': (64, 128, 256, 512), 'small': (64, 128, 256, 512),
                 'medium': (64, 128, 320, 640), 'large': (64, 128, 384, 768)},
    'TRTViT': {'a': (256, 512, 1024, 1024), 'b': (256, 512, 1024, 1280),
               'c': (256, 512, 1024, 1472), 'd': (256, 512, 1024, 1792)},
}
#: Blocks of the smallest arch, each with one stochastic-depth rate and run through
#: ``run_block`` (so checkpointed with ``with_cp``): TopFormer-T's 4 transformer blocks (the 9
#: token-pyramid layers are checkpointed too, without drop path), EdgeViT-XXS 1+1+3+2,
#: HAT-Net-T 2+2+6+3, TransCNN-T 2+2+4+2, TRT-ViT-A 2+4+5+4.
DROP_PATH_BLOCKS = {'TopFormer-dense': 4, 'TopFormer-global': 4, 'EdgeViT': 7, 'HATNet': 13,
                    'TransCNN': 10, 'TRTViT': 15}
CHECKPOINTED_BLOCKS = {'TopFormer-dense': 9 + 4, 'TopFormer-global': 9 + 4, 'EdgeViT': 7,
                       'HATNet': 13, 'TransCNN': 10, 'TRTViT': 15}
#: What each increment of ``frozen_stages`` freezes in the smallest arch, from -1 on (TopFormer-T:
#: the stem and the token-pyramid layers up to each tap, then the semantics extractor; the others:
#: the stem, then each stage).
_TOPFORMER_T_STAGES = (('tpm.stem.', 'tpm.layer1.', 'tpm.layer2.', 'tpm.layer3.'),
                       ('tpm.layer4.', 'tpm.layer5.'), ('tpm.layer6.', 'tpm.layer7.'),
                       ('tpm.layer8.', 'tpm.layer9.'), ('trans.', ))
_HATNET_STAGES = (('patch_embed.', ), ('blocks.0.', ), ('ds2.', 'blocks.1.'),
                  ('ds3.', 'blocks.2.'), ('ds4.', 'blocks.3.'))
_EDGEVIT_STAGES = (('patch_embed1.', ), ('blocks1.', ), ('patch_embed2.', 'blocks2.'),
                   ('patch_embed3.', 'blocks3.'), ('patch_embed4.', 'blocks4.'))
_TRT_VIT_STAGES = (('stem.', ), ('stages.0.', ), ('stages.1.', ), ('stages.2.', ),
                   ('stages.3.', ))


def _first(stages, count):
    return sum(stages[:count], ())


#: family -> {frozen_stages: prefixes of the modules (and parameters) it freezes}, smallest arch;
#: the last key is the largest valid value. TopFormer's stage i < 4 is the token pyramid up to
#: tap i (stage 0 with the stem), stage 4 the semantics extractor, so that at 4 only the SIMs
#: (dense mode) still learn; elsewhere 0 freezes the stem and k the stem and stages 0..k-1.
FROZEN: Dict[str, Dict[int, Tuple[str, ...]]] = {
    'TopFormer-dense': {0: _first(_TOPFORMER_T_STAGES, 1), 1: _first(_TOPFORMER_T_STAGES, 2),
                        4: _first(_TOPFORMER_T_STAGES, 5)},
    'TopFormer-global': {0: _first(_TOPFORMER_T_STAGES, 1), 4: _first(_TOPFORMER_T_STAGES, 5)},
    'EdgeViT': {0: _first(_EDGEVIT_STAGES, 1), 1: _first(_EDGEVIT_STAGES, 2),
                4: _first(_EDGEVIT_STAGES, 5)},
    'HATNet': {0: _first(_HATNET_STAGES, 1), 2: _first(_HATNET_STAGES, 3),
               4: _first(_HATNET_STAGES, 5)},
    'TransCNN': {0: _first(_HATNET_STAGES, 1), 2: _first(_HATNET_STAGES, 3),
                 4: _first(_HATNET_STAGES, 5)},
    'TRTViT': {0: _first(_TRT_VIT_STAGES, 1), 1: _first(_TRT_VIT_STAGES, 2),
               4: _first(_TRT_VIT_STAGES, 5)},
}
#: Extra arguments that give a family BatchNorms (HAT-Net's default norm is a GroupNorm).
WITH_BATCHNORM = {'HATNet': dict(norm_cfg=dict(type='BN'))}
#: Configurations whose folding differs from the default one: EdgeViT's classifier norm, HAT-Net
#: with BatchNorms (its pre-norm IRB folds the first norm into the 1x1 conv after it), TransCNN
#: with a GroupNorm (kept, like HAT-Net's default), TRT-ViT's MixBlock ablations.
DEPLOY_CASES = [pytest.param(f, {}, id=f) for f in FAMILY_NAMES] + [
    pytest.param('EdgeViT', dict(final_norm=True), id='EdgeViT-final_norm'),
    pytest.param('HATNet', dict(norm_cfg=dict(type='BN')), id='HATNet-BN'),
    pytest.param('TransCNN', dict(norm_cfg=dict(type='GN', num_groups=1)), id='TransCNN-GN'),
    pytest.param('TRTViT', dict(mix_block='MixBlockA'), id='TRTViT-MixBlockA'),
    pytest.param('TRTViT', dict(mix_block='MixBlockB'), id='TRTViT-MixBlockB'),
]
#: BatchNorms a folded model keeps by design (full match of the module name): H-MHSA's grid_norm
#: normalises a residual sum that the output reuses, HAT-Net's proj_norm is never used (kept for
#: the checkpoints' keys), EdgeViT's final classifier norm has no conv after it.
KEPT_BATCHNORMS = {'HATNet': r'blocks\.\d+\.\d+\.attn\.(grid|proj)_norm',
                   'TransCNN': r'blocks\.\d+\.\d+\.attn\.grid_norm', 'EdgeViT': r'norm'}
#: Families whose blocks keep a per-sample norm (GroupNorm) when folded; in the others every norm
#: slot of a folding block must hold a BatchNorm.
KEEPS_PER_SAMPLE_NORMS = ('HATNet', 'TransCNN')


def _all_arch_params():
    for family, (_, archs, _, _, _) in FAMILIES.items():
        for arch in archs:
            marks = [pytest.mark.slow] if (family, arch) in SLOW_ARCHS else []
            yield pytest.param(family, arch, id=f'{family}-{arch}', marks=marks)


def build(family: str, arch: str = None, all_outputs: bool = True, **kwargs) -> nn.Module:
    """The backbone of ``family`` (smallest arch by default) with every output selected."""
    cls, archs, extra, _, select = FAMILIES[family]
    cfg = dict(extra, arch=arch or archs[0])
    if all_outputs:
        cfg.update(select)
    cfg.update(kwargs)
    return cls(**cfg)


def _loss(outs) -> torch.Tensor:
    # A fixed, RNG-free weighting of every output element (a plain sum would give
    # zero gradient through the mean-subtraction of a following normalisation).
    total = 0.
    for out in outs:
        weights = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
        total = total + (out * weights.cos()).sum()
    return total


@pytest.mark.parametrize('family, arch', list(_all_arch_params()))
def test_forward_shapes_and_strides(family, arch):
    """Every preset arch runs at odd (33x47) and even (64x64) sizes; output ``i`` has the
    documented stride (``ceil(H / stride)``) and channels, and is finite."""
    model = build(family, arch).eval()
    strides = FAMILIES[family][3]
    for height, width in SIZES:
        with torch.no_grad():
            outs = model(torch.rand(1, 3, height, width))
        assert isinstance(outs, tuple) and len(outs) == len(strides)
        for out, stride in zip(outs, strides):
            assert out.shape[0] == 1
            assert tuple(out.shape[2:]) == (math.ceil(height / stride),
                                            math.ceil(width / stride)), (stride, out.shape)
            assert torch.isfinite(out).all()
        assert tuple(out.shape[1] for out in outs) == CHANNELS[family][arch]


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_any_input_size(family):
    """The smallest arch also runs on a single pixel, on a one-pixel-wide strip, on sizes
    below the largest stride, with ``ceil(H / stride)`` outputs."""
    model = build(family).eval()
    strides = FAMILIES[family][3]
    for height, width in ((1, 1), (33, 1), (16, 9), (70, 90)):
        with torch.no_grad():
            outs = model(torch.rand(1, 3, height, width))
        assert [tuple(out.shape[2:]) for out in outs] == [
            (math.ceil(height / stride), math.ceil(width / stride)) for stride in strides]
        assert all(torch.isfinite(out).all() for out in outs)


#: Parameters that legitimately receive no gradient, with the reason.
NO_GRAD_EXPECTED = {
    # HMHSA(with_proj_norm=True) keeps the norm that HAT-Net's checkpoints contain but its forward
    # never uses (documented in HATNet / HMHSA); DDP needs find_unused_parameters=True.
    'HATNet': ('.attn.proj_norm.', ),
}
#: Parameters (regular expressions, full match) whose gradient is zero up to rounding in train
#: mode, for structural reasons that are correct behaviour. Both directions are checked, so a
#: new zero gradient (a disconnected module) or a lost one (a changed graph) is noticed.
_TOPFORMER_ZERO = (
    # A bias on the keys adds q.b to every logit of a query: softmax cancels it (also in eval).
    r'trans\.transformer_blocks\.\d+\.attn\.to_k\.bn\.bias',
    # layer1's output feeds only layer2's expand conv + BN (stride 2, no shortcut); in train mode
    # BN subtracts the batch mean, so a per-channel shift before it cancels.
    r'tpm\.layer1\.conv\.2\.bn\.bias',
)
ZERO_GRAD_IN_TRAIN_EXPECTED = {
    'TopFormer-dense': _TOPFORMER_ZERO + (
        # Dense mode: taps 1-3 and the global semantics reach the outputs only through conv + BN
        # (the SIMs' embeddings and the attention's to_q/to_k/to_v), so per-channel shifts of
        # the blocks that feed them additively (layer4-9 projections, the semantics' residual
        # branches) cancel in train mode. In global mode these maps are outputs themselves.
        r'tpm\.layer[4-9]\.conv\.4\.bn\.bias',
        r'trans\.transformer_blocks\.\d+\.(attn\.proj\.1|mlp\.fc2)\.bn\.bias',
    ),
    'TopFormer-global': _TOPFORMER_ZERO,
    # A conv bias directly followed by a BatchNorm (stem conv, both downsampling branches).
    'TransCNN': (r'patch_embed\.0\.bias', r'ds\d\.(conv|residual)\.bias'),
}


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_backward_reaches_every_parameter(family, deterministic_weights, deterministic_input):
    """Train mode, batch 2: every parameter with ``requires_grad`` gets a finite, non-zero
    gradient, except the documented ones in ``NO_GRAD_EXPECTED`` (no gradient at all) and
    ``ZERO_GRAD_IN_TRAIN_EXPECTED`` (zero up to rounding).

    TopFormer runs at 65x97, which makes its token grid 2x2: on a 1x1 grid (inputs <= 64 px)
    attention over a single token has a constant softmax, and every ``to_q`` / ``to_k`` gets
    exactly zero gradient (correct, but it would hide a broken attention). The others run at
    33x47."""
    model = build(family, drop_path_rate=0.).double()
    deterministic_weights(model)
    model.train()
    size = (65, 97) if family.startswith('TopFormer') else (33, 47)
    _loss(model(deterministic_input((2, 3, *size)))).backward()
    unused = NO_GRAD_EXPECTED.get(family, ())
    zero = ZERO_GRAD_IN_TRAIN_EXPECTED.get(family, ())
    missing, non_finite, zeros = [], [], []
    names = [name for name, _ in model.named_parameters()]
    for name, param in model.named_parameters():
        assert param.requires_grad, name
        if param.grad is None:
            missing.append(name)
        elif not torch.isfinite(param.grad).all():
            non_finite.append(name)
        elif param.grad.abs().max() <= 1e-9 * (1 + param.abs().max()):
            zeros.append(name)
    assert not non_finite
    assert sorted(missing) == sorted(n for n, _ in model.named_parameters()
                                     if any(u in n for u in unused))
    assert sorted(zeros) == sorted(n for n in names if any(re.fullmatch(z, n) for z in zero))


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_batch_invariance(family, deterministic_weights, deterministic_input):
    """Eval mode, float64: sample ``i`` of a batch of 2 equals the single-sample output."""
    model = deterministic_weights(build(family).double()).eval()
    x = deterministic_input((2, 3, 33, 47))
    with torch.no_grad():
        batched = model(x)
        singles = [model(x[i:i + 1]) for i in range(2)]
    for i, single in enumerate(singles):
        for b, s in zip(batched, single):
            torch.testing.assert_close(b[i:i + 1], s, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_eval_is_deterministic(family, deterministic_weights, deterministic_input):
    """Two eval forwards of the same input are bit-identical (no dropout or drop path left on,
    no state updated)."""
    model = deterministic_weights(build(family, drop_path_rate=0.2)).eval()
    x = deterministic_input((1, 3, 33, 47), torch.float32)
    with torch.no_grad():
        first, second = model(x), model(x)
    assert all(torch.equal(a, b) for a, b in zip(first, second))


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_channels_last_parity(family, deterministic_weights, deterministic_input):
    """A channels_last input (and model) gives the same outputs as contiguous NCHW."""
    model = deterministic_weights(build(family).double()).eval()
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        reference = model(x)
        model = model.to(memory_format=torch.channels_last)
        outs = model(x.contiguous(memory_format=torch.channels_last))
    for ref, out in zip(reference, outs):
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_jit_trace_matches_eager(family, deterministic_weights, deterministic_input):
    """``torch.jit.trace`` runs and the traced module reproduces eager outputs on the traced
    input size (tracing bakes the size-dependent padding in)."""
    model = deterministic_weights(build(family)).eval()
    x = deterministic_input((1, 3, 33, 47), torch.float32)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(model, x, check_trace=False)
        eager, outs = model(x), traced(x)
    assert len(outs) == len(eager)
    for ref, out in zip(eager, outs):
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_with_cp_gives_identical_outputs_and_gradients(family, monkeypatch, deterministic_weights,
                                                        deterministic_input):
    """Gradient checkpointing of every block changes neither the train-mode outputs nor any
    gradient: with drop path active (the recomputation replays the RNG), behind a frozen stage
    (whose outputs need no gradient) and in the stages that learn."""
    calls = []
    monkeypatch.setattr(base_backbone, 'checkpoint',
                        lambda *args, **kwargs: calls.append(1) or checkpoint(*args, **kwargs))
    x = deterministic_input((2, 3, 33, 47))
    results = []
    for with_cp in (False, True):
        model = build(family, drop_path_rate=0.2, frozen_stages=1, with_cp=with_cp).double()
        deterministic_weights(model).train()
        torch.manual_seed(1)
        outs = model(x)
        _loss(outs).backward()
        results.append(([o.detach() for o in outs],
                        {n: p.grad for n, p in model.named_parameters()}))
    assert len(calls) == CHECKPOINTED_BLOCKS[family]  # every block, and only with with_cp
    (outs_a, grads_a), (outs_b, grads_b) = results
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert grads_a.keys() == grads_b.keys()
    assert any(grad is not None for grad in grads_a.values())
    for name in grads_a:
        if grads_a[name] is None:
            assert grads_b[name] is None, name
        else:
            torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-10, atol=1e-12,
                                       msg=name)


def _fuse(model: nn.Module) -> nn.Module:
    """The backbone's own deploy conversion (every backbone inherits ``switch_to_deploy()``)."""
    model.switch_to_deploy()
    return model


@pytest.mark.parametrize('family, kwargs', DEPLOY_CASES)
def test_fused_outputs_and_checkpoint_reload(family, kwargs, deterministic_weights,
                                             deterministic_input):
    """After conv+BN folding the float64 outputs equal the unfused eval outputs, every
    BatchNorm is gone but those the family keeps by design (``KEPT_BATCHNORMS``), and the fused
    state dict loads strictly into a freshly built and fused model that then reproduces the
    outputs."""
    model = deterministic_weights(build(family, **kwargs).double()).eval()
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        reference = model(x)
        fused = _fuse(model)
        outs = fused(x)
    for ref, out in zip(reference, outs):
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)
    kept = KEPT_BATCHNORMS.get(family, r'(?!)')
    left = [name for name, m in fused.named_modules() if isinstance(m, _BatchNorm)]
    assert [name for name in left if not re.fullmatch(kept, name)] == []
    buffer = io.BytesIO()
    torch.save(fused.state_dict(), buffer)
    buffer.seek(0)
    fresh = _fuse(build(family, **kwargs).double().eval())
    fresh.load_state_dict(torch.load(buffer), strict=True)
    with torch.no_grad():
        reloaded = fresh.eval()(x)
    for ref, out in zip(outs, reloaded):
        torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_switch_to_deploy_is_idempotent(family, deterministic_weights, deterministic_input):
    """``switch_to_deploy()`` leaves the backbone folded and in eval mode, and a second call
    changes nothing (same state dict, same outputs); the free function
    :func:`mmhybrid.models.utils.switch_to_deploy` then finds nothing left to fold."""
    model = deterministic_weights(build(family).double())
    model.switch_to_deploy()
    assert model.deploy is True and not model.training
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        reference = model(x)
        model.switch_to_deploy()
        free_switch_to_deploy(model)
        outs = model(x)
    assert list(model.state_dict()) == list(state)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key], rtol=0, atol=0, msg=key)
    for ref, out in zip(reference, outs):
        torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.parametrize('family, kwargs', DEPLOY_CASES)
def test_deploy_flag_loads_the_folded_state_dict(family, kwargs, deterministic_weights,
                                                 deterministic_input):
    """``deploy=True`` builds the folded structure directly: the state dict of a model folded by
    ``switch_to_deploy()`` loads strictly (same keys and shapes), and the model then reproduces
    the folded outputs exactly (``switch_to_deploy()`` on it is a no-op)."""
    folded = deterministic_weights(build(family, **kwargs).double()).eval()
    folded.switch_to_deploy()
    fresh = build(family, deploy=True, **kwargs).double().eval()
    assert fresh.deploy is True
    fresh.load_state_dict(folded.state_dict(), strict=True)
    fresh.switch_to_deploy()
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        for ref, out in zip(folded(x), fresh(x)):
            torch.testing.assert_close(out, ref, rtol=0, atol=0)


@pytest.mark.parametrize('family', [f for f in FAMILY_NAMES if f not in KEEPS_PER_SAMPLE_NORMS])
def test_a_norm_that_cannot_fold_is_an_error_naming_the_block(family):
    """A GroupNorm where a block folds its norm: ``deploy=True`` refuses to build, and
    ``switch_to_deploy()`` raises :class:`UnfoldableNormError` with the block's place in the
    backbone, leaving the model unfolded. (HAT-Net and TransCNN keep per-sample norms by design:
    ``DEPLOY_CASES``.)"""
    group_norm = dict(type='GN', num_groups=1)
    with pytest.raises(UnfoldableNormError, match='a GroupNorm: this block folds BatchNorms only'):
        build(family, norm_cfg=group_norm, deploy=True)
    model = build(family, norm_cfg=group_norm).eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(UnfoldableNormError) as info:
        model.switch_to_deploy()
    error = info.value
    assert error.norm == 'GroupNorm' and f'at {error.path!r}' in str(error)
    assert type(model.get_submodule(error.path)) is error.block
    assert model.deploy is False and list(model.state_dict()) == list(state)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize('family, kwargs', [
    ('TopFormer-dense', dict(all_outputs=False)),
    ('TopFormer-global', dict(all_outputs=False)),
    ('TopFormer-dense', dict(all_outputs=True)),
    ('EdgeViT', dict()),
    ('HATNet', dict()),
    ('HATNet', dict(out_indices=(-1, 1))),
    ('TransCNN', dict()),
    ('TRTViT', dict(all_outputs=False)),
    ('TRTViT', dict(all_outputs=True)),
    ('TRTViT', dict(out_indices=(2, 1))),
])
def test_out_channels_describe_the_outputs(family, kwargs):
    """``out_channels[i]`` is the channel count of output ``i``."""
    model = build(family, **kwargs).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 33, 47))
    assert [out.shape[1] for out in outs] == list(model.out_channels)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_feature_info_describes_the_outputs(family):
    """``feature_info[i]`` gives the channels and stride of output ``i`` and the name of a
    submodule of the backbone (timm style)."""
    model = build(family).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    info = model.feature_info
    assert [i['num_chs'] for i in info] == [o.shape[1] for o in outs]
    assert [i['reduction'] for i in info] == list(FAMILIES[family][3])
    for entry in info:
        model.get_submodule(entry['module'])


# ----------------------------------------------------------------------------- arch
@pytest.mark.parametrize('family', ONE_PER_CLASS)
def test_arch_by_name_or_by_dict(family):
    """A preset name is case-insensitive, and the preset given as a dict builds the same
    structure."""
    cls, archs = FAMILIES[family][:2]
    model = build(family)
    assert build(family, arch=archs[0].upper()).arch == model.arch
    as_dict = build(family, arch=cls.parse_arch(archs[0]))
    assert as_dict.arch == model.arch
    assert {k: v.shape for k, v in as_dict.state_dict().items()} == \
        {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize('family', ONE_PER_CLASS)
def test_invalid_arch_is_explained(family):
    """An unknown preset names the valid ones; a dict names its missing and unknown keys;
    anything else is a TypeError."""
    cls, archs = FAMILIES[family][:2]
    name = cls.__name__
    with pytest.raises(ValueError, match=rf"^{name}: unknown arch 'huge'; choose one of " +
                       re.escape(str(sorted(cls.arch_settings)))):
        build(family, arch='huge')
    with pytest.raises(TypeError, match=rf'^{name}: arch must be a str or a dict, got int'):
        build(family, arch=3)
    preset = cls.parse_arch(archs[0])
    for key in (k for k in cls.arch_keys if k not in cls.arch_defaults):
        with pytest.raises(ValueError, match=re.escape(f'missing [{key!r}], unknown []')):
            build(family, arch={k: v for k, v in preset.items() if k != key})
    with pytest.raises(ValueError, match=re.escape("missing [], unknown ['width']")):
        build(family, arch={**preset, 'width': 3})


@pytest.mark.parametrize('family', ['EdgeViT', 'HATNet', 'TransCNN', 'TRTViT'])
def test_per_stage_arch_entries_need_one_value_per_stage(family):
    cls, archs = FAMILIES[family][:2]
    preset = cls.parse_arch(archs[0])
    with pytest.raises(ValueError, match=re.escape(
            f"{cls.__name__}: arch['depths'] needs 4 entries (one per stage)")):
        build(family, arch={**preset, 'depths': preset['depths'][:3]})


# ----------------------------------------------------------------------- out_indices
@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_out_indices_select_outputs_in_stage_order(family, deterministic_weights,
                                                   deterministic_input):
    """Negative indices count from the end, outputs come in stage order whatever order the
    caller used, an int selects one output, and each selected output is the map a model with
    every output selected gives at that index."""
    last = len(FAMILIES[family][3]) - 1
    everything = deterministic_weights(build(family)).eval()
    picked = deterministic_weights(build(family, out_indices=(-1, 1))).eval()
    single = deterministic_weights(build(family, out_indices=2)).eval()
    assert picked.out_indices == (1, last) and single.out_indices == (2, )
    assert picked.feature_info == [everything.feature_info[i] for i in (1, last)]
    x = deterministic_input((1, 3, 33, 47), torch.float32)
    with torch.no_grad():
        outs, picked_outs, single_outs = everything(x), picked(x), single(x)
    assert len(picked_outs) == 2 and len(single_outs) == 1
    assert torch.equal(picked_outs[0], outs[1]) and torch.equal(picked_outs[1], outs[last])
    assert torch.equal(single_outs[0], outs[2])


#: (out_indices as a function of the number of outputs n, error, message pattern given n)
OUT_INDICES_ERRORS = {
    'past-the-end': (lambda n: (n, ), ValueError,
                     lambda n: rf'out_indices entry {n} is out of range; valid are 0\.\.{n - 1}'),
    'before-the-start': (lambda n: (-n - 1, ), ValueError,
                         lambda n: rf'out_indices entry {-n - 1} is out of range'),
    'duplicate': (lambda n: (1, 1 - n), ValueError,
                  lambda n: rf'out_indices \(1, {1 - n}\) names an output twice'),
    'empty': (lambda n: (), TypeError, None),
    'str': (lambda n: '1', TypeError, None),
    'str-entry': (lambda n: ('1', ), TypeError, None),
    'float-entry': (lambda n: (1.0, ), TypeError, None),
    'bool-entry': (lambda n: (True, ), TypeError, None),
}


@pytest.mark.parametrize('case', list(OUT_INDICES_ERRORS))
@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_invalid_out_indices_are_explained(family, case):
    value, error, message = OUT_INDICES_ERRORS[case]
    n = len(FAMILIES[family][3])
    if message is None:  # every TypeError says what is accepted
        message = lambda n: (rf'out_indices must be an int or a non-empty sequence of ints in '  # noqa: E731
                             rf'\[-{n}, {n - 1}\], got ')
    with pytest.raises(error, match=rf'^{FAMILIES[family][0].__name__}: ' + message(n)):
        build(family, out_indices=value(n))


# ----------------------------------------------------------------- training options
def _under(name: str, prefixes: Tuple[str, ...]) -> bool:
    return (name + '.').startswith(prefixes)


@pytest.mark.parametrize('family, frozen_stages',
                         [(f, k) for f in FAMILY_NAMES for k in FROZEN[f]])
def test_frozen_stages_stop_learning(family, frozen_stages, deterministic_input):
    """Exactly the modules of the frozen stages get ``requires_grad=False`` and eval mode, from
    construction on and again after ``train()``; a training step leaves them without gradient
    and with their BatchNorm statistics, while the rest learns."""
    prefixes = FROZEN[family][frozen_stages]
    model = build(family, frozen_stages=frozen_stages, drop_path_rate=0.)
    params = dict(model.named_parameters())
    frozen = sorted(n for n in params if _under(n, prefixes))
    assert frozen
    for _ in ('at construction', 'after train()'):
        assert sorted(n for n, p in params.items() if not p.requires_grad) == frozen
        for name, module in model.named_modules():
            if name:
                assert module.training != _under(name, prefixes), name
        model.train()
    stats = {n: b.clone() for n, b in model.named_buffers() if n.endswith('running_mean')}
    outs = model(deterministic_input((2, 3, 33, 47), torch.float32))
    if len(frozen) < len(params):
        _loss(outs).backward()
    unused = NO_GRAD_EXPECTED.get(family, ())
    for name, param in params.items():
        if _under(name, prefixes) or any(u in name for u in unused):
            assert param.grad is None, name
        else:
            assert param.grad is not None, name
    for name, before in stats.items():
        assert torch.equal(before, model.get_buffer(name)) == _under(name, prefixes), name


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_invalid_frozen_stages_are_explained(family):
    top = max(FROZEN[family])
    for bad in (top + 1, -2, 1.5, True, '1'):
        with pytest.raises(ValueError, match=rf'^{FAMILIES[family][0].__name__}: frozen_stages '
                           rf'must be an int in \[-1, {top}\] \(-1 freezes nothing\), got '):
            build(family, frozen_stages=bad)


@pytest.mark.parametrize('norm_eval', [False, True])
@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_norm_eval_keeps_batchnorm_statistics(family, norm_eval, deterministic_input):
    """``norm_eval=True``: after ``train()`` every BatchNorm is in eval mode and keeps its
    running statistics through a training forward, every other module trains; without it
    every BatchNorm the forward uses updates its statistics."""
    model = build(family, norm_eval=norm_eval, drop_path_rate=0.1,
                  **WITH_BATCHNORM.get(family, {})).train()
    norms = {name for name, m in model.named_modules() if isinstance(m, _BatchNorm)}
    assert norms
    for name, module in model.named_modules():
        assert module.training == (not (norm_eval and name in norms)), name
    stats = {n: b.clone() for n, b in model.named_buffers()
             if n.endswith(('running_mean', 'running_var'))}
    with torch.no_grad():
        model(deterministic_input((2, 3, 33, 47), torch.float32))
    changed = {n for n, before in stats.items() if not torch.equal(before, model.get_buffer(n))}
    unused = NO_GRAD_EXPECTED.get(family, ())
    assert changed == (set() if norm_eval else
                       {n for n in stats if not any(u in n for u in unused)})


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_drop_path_rises_linearly_over_the_blocks(family, deterministic_weights,
                                                  deterministic_input):
    """Stochastic depth rises linearly from 0 (first block: no drop path module) to
    ``drop_path_rate`` (last block) over every block, is random in training only, and is
    absent at rate 0; rates outside [0, 1) are refused."""
    model = deterministic_weights(build(family, drop_path_rate=0.3))
    rates = [m.drop_prob for m in model.modules() if hasattr(m, 'drop_prob')]
    expected = torch.linspace(0, 0.3, DROP_PATH_BLOCKS[family]).tolist()[1:]
    assert list(dict.fromkeys(rates)) == pytest.approx(expected)  # in block order
    assert not any(hasattr(m, 'drop_prob') for m in build(family, drop_path_rate=0.).modules())
    x = deterministic_input((2, 3, 33, 47), torch.float32)
    runs = []
    for seed in (1, 1, 2):
        torch.manual_seed(seed)
        with torch.no_grad():
            runs.append(model.train()(x))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1]))
    assert not all(torch.equal(a, c) for a, c in zip(runs[0], runs[2]))
    for bad in (1.0, -0.1, True, '0.1'):
        with pytest.raises(ValueError, match=r'drop_path_rate must be a number in \[0, 1\), '):
            build(family, drop_path_rate=bad)


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_init_cfg_applies_after_the_family_initialisation(family):
    """``init_weights()`` gives finite weights, and an ``init_cfg`` given by the user is applied
    (after the family's own scheme, which it would otherwise overwrite)."""
    model = build(family)
    model.init_weights()
    assert all(torch.isfinite(p).all() for p in model.parameters())
    model = build(family, init_cfg=dict(type='Constant', layer='Conv2d', val=0.25, bias=0.))
    model.init_weights()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(torch.all(m.weight == 0.25) for m in convs)
    assert all(torch.all(m.bias == 0) for m in convs if m.bias is not None)
