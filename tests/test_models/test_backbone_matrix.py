# Copyright (c) mmhybrid contributors. All rights reserved.
"""One test matrix over every backbone family and preset arch (the pattern of timm's
``tests/test_models.py``), pinning today's contract before the issue-11 refactor.

* every arch (and TopFormer mode): forward at odd and even sizes gives the documented
  strides (``ceil(H / stride)``) and channels;
* the smallest arch of each family: backward (every parameter that should learn gets a finite,
  non-zero gradient), batch invariance, eval determinism, channels_last parity,
  ``torch.jit.trace``, ``with_cp`` equality, conv+BN folding and fused-checkpoint reload,
  ``out_channels`` / ``feature_info`` describing the outputs.

Where a family does not meet the contract today the test is ``xfail(strict=True)`` with the
reason: the refactor's to-do list. A strict xfail that starts passing fails the run, so whoever
implements the feature must also remove the marker.
"""
import io
import math
import re
import warnings
from typing import Dict, List, Tuple

import pytest
import torch
import torch.nn as nn

from mmhybrid.models import EdgeViT, HATNet, TopFormer, TransCNN, TRTViT
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
WITH_CP_FAMILIES = ('HATNet', 'TransCNN', 'TopFormer', 'EdgeViT', 'TRTViT')
#: Families with a ``deploy=True`` constructor flag / a ``feature_info`` (the rest xfail).
DEPLOY_FLAG_FAMILIES = ('TopFormer', 'HATNet', 'TransCNN', 'EdgeViT', 'TRTViT')
FEATURE_INFO_FAMILIES = ('TopFormer', 'HATNet', 'TransCNN', 'EdgeViT', 'TRTViT')


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

    65x97 makes TopFormer's token grid 2x2: on a 1x1 grid (inputs <= 64 px) attention over a
    single token has a constant softmax, and every ``to_q`` / ``to_k`` gets exactly zero
    gradient (correct, but it would hide a broken attention)."""
    model = build(family, drop_path_rate=0.).double()
    deterministic_weights(model)
    model.train()
    _loss(model(deterministic_input((2, 3, 65, 97)))).backward()
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


def _with_cp_param(family):
    marks = []
    if family.split('-')[0] not in WITH_CP_FAMILIES:
        marks = [pytest.mark.xfail(strict=True, raises=TypeError,
                                   reason='with_cp not implemented yet (issue 11)')]
    return pytest.param(family, marks=marks, id=family)


@pytest.mark.parametrize('family', [_with_cp_param(f) for f in FAMILY_NAMES])
def test_with_cp_gives_identical_outputs_and_gradients(family, deterministic_weights,
                                                        deterministic_input):
    """Gradient checkpointing changes neither the train-mode outputs nor any gradient."""
    x = deterministic_input((2, 3, 33, 47))
    results = []
    for with_cp in (False, True):
        model = build(family, drop_path_rate=0., with_cp=with_cp).double()
        deterministic_weights(model).train()
        outs = model(x)
        _loss(outs).backward()
        results.append(([o.detach() for o in outs],
                        {n: p.grad for n, p in model.named_parameters()}))
    (outs_a, grads_a), (outs_b, grads_b) = results
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert grads_a.keys() == grads_b.keys()
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


@pytest.mark.parametrize('family', FAMILY_NAMES)
def test_fused_outputs_and_checkpoint_reload(family, deterministic_weights,
                                             deterministic_input):
    """After conv+BN folding the float64 outputs equal the unfused eval outputs, every
    BatchNorm that follows a conv is gone, and the fused state dict loads strictly into a
    freshly built and fused model that then reproduces the outputs."""
    model = deterministic_weights(build(family).double()).eval()
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        reference = model(x)
        fused = _fuse(model)
        outs = fused(x)
    for ref, out in zip(reference, outs):
        torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-10)
    buffer = io.BytesIO()
    torch.save(fused.state_dict(), buffer)
    buffer.seek(0)
    fresh = _fuse(build(family).double().eval())
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


def _deploy_flag_param(family):
    marks = [] if family.split('-')[0] in DEPLOY_FLAG_FAMILIES else [pytest.mark.xfail(
        strict=True, raises=TypeError,
        reason='no deploy=True constructor flag that builds the fused structure (issue 11)')]
    return pytest.param(family, marks=marks, id=family)


@pytest.mark.parametrize('family', [_deploy_flag_param(f) for f in FAMILY_NAMES])
def test_deploy_flag_builds_the_fused_structure(family):
    """``deploy=True`` builds the fused structure directly (same state-dict keys/shapes as a
    model fused after construction)."""
    built = build(family, deploy=True)
    fused = _fuse(build(family).eval())
    assert {k: v.shape for k, v in built.state_dict().items()} == \
        {k: v.shape for k, v in fused.state_dict().items()}


@pytest.mark.parametrize('family', [_deploy_flag_param(f) for f in FAMILY_NAMES])
def test_deploy_flag_loads_the_folded_state_dict(family, deterministic_weights,
                                                 deterministic_input):
    """The state dict of a model folded by ``switch_to_deploy()`` loads strictly into a model
    built with ``deploy=True``, which then reproduces the folded outputs exactly."""
    folded = deterministic_weights(build(family).double()).eval()
    folded.switch_to_deploy()
    fresh = build(family, deploy=True).double().eval()
    fresh.load_state_dict(folded.state_dict(), strict=True)
    x = deterministic_input((1, 3, 33, 47))
    with torch.no_grad():
        for ref, out in zip(folded(x), fresh(x)):
            torch.testing.assert_close(out, ref, rtol=0, atol=0)


#: (family, kwargs, reason to xfail or None): configurations whose ``out_channels`` must
#: describe the outputs one by one.
OUT_CHANNELS_CASES: List[Tuple[str, dict, str]] = [
    ('TopFormer-dense', dict(all_outputs=False), None),
    ('TopFormer-global', dict(all_outputs=False), None),
    ('TopFormer-dense', dict(all_outputs=True), None),
    ('EdgeViT', dict(), None),
    ('HATNet', dict(), None),
    ('HATNet', dict(out_indices=(-1, 1)), None),
    ('TransCNN', dict(), None),
    ('TRTViT', dict(all_outputs=False), None),
    ('TRTViT', dict(all_outputs=True), None),
    ('TRTViT', dict(out_indices=(2, 1)), None),
]


def _out_channels_params():
    for family, kwargs, reason in OUT_CHANNELS_CASES:
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        ident = f'{family}-' + ('-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'default')
        yield pytest.param(family, kwargs, marks=marks, id=ident.replace(' ', ''))


@pytest.mark.parametrize('family, kwargs', list(_out_channels_params()))
def test_out_channels_describe_the_outputs(family, kwargs):
    """``out_channels[i]`` is the channel count of output ``i``."""
    model = build(family, **kwargs).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 33, 47))
    assert [out.shape[1] for out in outs] == list(model.out_channels)


@pytest.mark.parametrize('family', [
    pytest.param(f, id=f, marks=[] if f.split('-')[0] in FEATURE_INFO_FAMILIES else
                 pytest.mark.xfail(strict=True, reason='no timm-style feature_info (channels, '
                                   'stride, module) yet (issue 11)')) for f in FAMILY_NAMES])
def test_feature_info_describes_the_outputs(family):
    """``feature_info[i]`` gives the channels and stride of output ``i`` (timm style)."""
    model = build(family).eval()
    with torch.no_grad():
        outs = model(torch.rand(1, 3, 64, 64))
    info = model.feature_info
    assert [i['num_chs'] for i in info] == [o.shape[1] for o in outs]
    assert [i['reduction'] for i in info] == list(FAMILIES[family][3])
