# Copyright (c) mmhybrid contributors. All rights reserved.
"""Forward-only ``torch.compile``: the helper, the hook, ``tools/train.py --compile`` and
compiled training of one tiny config per family on the CPU.

The training runs (one tiny config per family; TopFormer's through ``tools/train.py --compile``)
compare the compiled run's losses with an eager run of the same config and seed (drop path off,
inductor's random numbers taken from eager), so a compiled graph that computes something else
fails here, not only one that crashes. They are the suite's only inductor parity checks of the
backbones (one per family; ``tests/test_models/test_compile_backbones.py`` finds graph breaks
without generating code), so they train at an odd size (``ODD_SIZE``) that takes the any-size
padding paths (EdgeViT's and HAT-Net's pads, TopFormer's pooled sizes).
"""
import copy
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from helpers import TOPFORMER_T_CUT, read_scalars
from mmengine.config import Config
from smoke import make_smoke_config, run_smoke_training

from mmhybrid.apis.runner_setup import use_forward_compile
from mmhybrid.testing import make_ade20k, make_imagenet
from mmhybrid.utils.compile import compile_forward, compiled_parts, parse_compile_setting

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class CountingBackend:
    """A ``torch.compile`` backend that runs the captured graph eagerly and counts captures."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, graph_module, example_inputs):
        self.graphs += 1
        return graph_module.forward


class ToyHead(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 2, 1)
        self.loss_decode = nn.CrossEntropyLoss()

    def forward(self, x):
        return self.conv(x)

    def loss(self, x, target):
        return self.loss_decode(self.forward(x), target)  # mmseg calls self.forward directly


class ToySegmentor(nn.Module):

    def __init__(self):
        super().__init__()
        self.data_preprocessor = nn.Identity()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.decode_head = ToyHead()

    def forward(self, x):
        return self.decode_head(self.backbone(x))


def test_compile_forward_compiles_the_parts_and_keeps_the_state_dict():
    torch.manual_seed(0)
    model = ToySegmentor()
    keys = list(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    expected = model(x)
    backend = CountingBackend()
    parts = compile_forward(model, backend=backend)
    assert parts == ['backbone', 'decode_head', 'decode_head.loss_decode']
    assert compiled_parts(model) == parts
    assert list(model.state_dict()) == keys  # no '_orig_mod.' prefix: checkpoints unchanged
    torch.testing.assert_close(model(x), expected)
    captured = backend.graphs
    assert captured >= 2
    target = torch.randint(0, 2, (2, 8, 8))
    model.decode_head.loss(model.backbone(x), target)  # self.forward() bypasses __call__
    assert backend.graphs > captured
    assert compile_forward(model, backend=backend) == parts  # idempotent


def test_a_deep_copy_of_a_compiled_model_runs_on_its_own_weights():
    torch.manual_seed(0)
    model = ToySegmentor()
    compile_forward(model, backend=CountingBackend())
    x = torch.randn(1, 3, 8, 8)
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.decode_head.conv.bias.add_(1.)
    torch.testing.assert_close(copied(x), model(x) + 1.)
    # Loading weights after compiling changes what the compiled model computes.
    fresh = ToySegmentor()
    model.load_state_dict(fresh.state_dict())
    torch.testing.assert_close(model(x), fresh(x))


def test_compile_forward_on_a_bare_backbone_and_unknown_parts():
    backbone = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert compile_forward(backbone, backend=CountingBackend()) == ['.']
    with pytest.raises(ValueError, match=r"no sub-module \['neck'\].*children are"):
        compile_forward(ToySegmentor(), parts=['neck'])
    with pytest.raises(ValueError, match='not a torch.compile mode.*reduce-overhead'):
        compile_forward(ToySegmentor(), mode='fastest')


def test_parse_compile_setting():
    assert parse_compile_setting(None) is None
    assert parse_compile_setting(False) is None
    assert parse_compile_setting(True) == {}
    assert parse_compile_setting('default') == {}
    assert parse_compile_setting('max-autotune') == dict(mode='max-autotune')
    with pytest.raises(ValueError, match=r"unknown keys \['modes'\]"):
        parse_compile_setting(dict(modes='default'))
    with pytest.raises(ValueError, match="mode='turbo'"):
        parse_compile_setting('turbo')


def test_use_forward_compile_adds_the_hook_and_translates_mmengine_compile(capsys):
    cfg = Config(dict(custom_hooks=[dict(type='EMAHook')]))
    assert use_forward_compile(cfg, 'reduce-overhead') == dict(mode='reduce-overhead')
    assert cfg.custom_hooks == [dict(type='EMAHook'), dict(
        type='mmhybrid.CompileForwardHook', mode='reduce-overhead')]
    assert use_forward_compile(Config(dict())) is None
    cfg = Config(dict(compile_forward='max-autotune'))
    use_forward_compile(cfg)
    assert cfg.custom_hooks[-1]['mode'] == 'max-autotune'
    cfg = Config(dict(compile=True))
    assert use_forward_compile(cfg) == {}
    assert cfg.compile is False
    assert 'fails inside torch.optim' in capsys.readouterr().out
    with pytest.raises(ValueError, match='compile_forward in the config: .*mode=.fast'):
        use_forward_compile(Config(dict(compile_forward='fast')))


# ----------------------------------------------------------------------------------------------
# Compiled training, one tiny config per family (inductor on the CPU)
# ----------------------------------------------------------------------------------------------
# Depths cut to one block per stage (every block type stays) to keep inductor's compile time
# for forward + backward around a minute each on a 2-core machine. HAT-Net stands for its
# family: TransCNN is the same code (``_HierarchicalAttentionNet``, ``HATBlock``, H-MHSA) with
# another norm and downsampler.
FAMILIES = {
    'topformer': ('configs/topformer/topformer_t_ade20k.py', 'ade20k', dict(
        # >= 128 px: at 64 px TopFormer pools to 1x1 and inductor's CPU backward of a bilinear
        # resize from 1x1 fails to generate code (torch 2.13); real inputs pool to >= 2x2.
        # The backbone cut to TOPFORMER_T_CUT.
        tiny_size=128, options={
            **{f'model.backbone.arch.{key}': value for key, value in TOPFORMER_T_CUT.items()},
            'model.backbone.drop_path_rate': 0.})),
    'edgevit': ('configs/edgevit/edgevit-xxs_8xb256_in1k.py', 'imagenet', dict(options={
        'model.backbone.arch.depths': [1, 1, 1, 1], 'model.backbone.drop_path_rate': 0.})),
    'hatnet': ('configs/hatnet/hatnet-tiny_8xb128_in1k.py', 'imagenet', dict(options={
        'model.backbone.arch.depths': [1, 1, 1, 1], 'model.backbone.drop_path_rate': 0.})),
    'trt_vit': ('configs/trt_vit/trt-vit-a_8xb128_in1k.py', 'imagenet', dict(options={
        'model.backbone.arch.depths': [1, 1, 1, 1],
        'model.backbone.arch.num_mix_blocks': [0, 0, 0, 1],
        'model.backbone.drop_path_rate': 0.})),
}


#: Inductor generates scalar C++ kernels for the parity trainings (``simdlen`` 1 picks no vector
#: ISA; set per compilation, unlike ``cpp.vec_isa_ok``, whose answer inductor caches for the
#: process): the tests take about 60 % of the time (2026-12-03, 2 cores, cold cache, whole test:
#: EdgeViT 142 s -> 85 s, TopFormer's tools/train.py test 157 s -> 98 s). What is checked is
#: the graph the model gives inductor; the vectorized kernels of the same graph are inductor's
#: to test, and ``benchmark.py --compile`` (tests/test_deploy) still runs TopFormer-T's.
SCALAR_KERNELS = {'cpp.simdlen': 1}

#: (height, width) of the training crops: a multiple of no window, grid or pooling stride, so the
#: compiled forward and backward take the padding paths (TopFormer pools it to 3x3).
ODD_SIZE = {'mmpretrain': (67, 93), 'mmseg': (131, 157)}


def _use_odd_training_size(cfg):
    """Train on ``ODD_SIZE`` crops: mmpretrain's ``RandomResizedCrop`` scale (h, w), or mmseg's
    ``RandomCrop`` size with the data preprocessor padding every batch to it."""
    size = ODD_SIZE[cfg.default_scope]
    found = 0
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform['type'] == 'RandomResizedCrop':
            transform['scale'], found = size, found + 1
        elif transform['type'] == 'RandomCrop':
            transform['crop_size'], found = size, found + 1
    assert found == 1, cfg.train_dataloader.dataset.pipeline
    if cfg.default_scope == 'mmseg':
        cfg.model.data_preprocessor.size = size


@pytest.fixture(scope='module')
def tiny_roots(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny')
    return dict(ade20k=make_ade20k(str(root / 'ade'), num_train=4, num_val=2),
                imagenet=make_imagenet(str(root / 'imagenet'), num_train=4, num_val=2))


def _training_config(family, roots, work_dir, compile_setting=None):
    config, dataset, extra = FAMILIES[family]
    cfg = make_smoke_config(osp.join(REPO, config), {dataset: roots[dataset]}, str(work_dir),
                            with_val=False, tiny_size=extra.get('tiny_size'))
    for hook in cfg.custom_hooks:
        if hook['type'] == 'SmokeStopHook':
            hook['num_iters'] = 3
    arch = cfg.model.backbone.get('arch')
    if isinstance(arch, str) and any(k.startswith('model.backbone.arch.') for k in extra.get(
            'options', {})):
        from mmhybrid.registry import MODELS
        backbone_cls = MODELS.get(cfg.model.backbone.type.split('.')[-1])
        cfg.model.backbone.arch = backbone_cls.parse_arch(arch)
    cfg.merge_from_dict(extra.get('options', {}))
    _use_odd_training_size(cfg)
    cfg.randomness = dict(seed=0, deterministic=False)
    if compile_setting is not None:
        use_forward_compile(cfg, compile_setting)
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('family', sorted(set(FAMILIES) - {'topformer'}))
def test_compiled_training_matches_eager(family, tiny_roots, tmp_path):
    # TopFormer's compiled training is checked the same way through tools/train.py below.
    import torch._inductor.config as inductor_config
    torch._dynamo.reset()
    eager = run_smoke_training(_training_config(family, tiny_roots, tmp_path / 'eager'))
    compiled_hooks = []
    with inductor_config.patch(fallback_random=True, **SCALAR_KERNELS):
        compiled = run_smoke_training(
            _training_config(family, tiny_roots, tmp_path / 'compiled', 'default'),
            before_train=lambda runner: compiled_hooks.extend(
                h for h in runner.hooks if type(h).__name__ == 'CompileForwardHook'))
    torch._dynamo.reset()
    assert len(compiled.losses) == len(eager.losses) == 3
    torch.testing.assert_close(compiled.losses, eager.losses, rtol=1e-4, atol=1e-5)
    assert 'backbone' in compiled_hooks[0].compiled
    assert eager.losses[-1] != eager.losses[0]  # the optimizer stepped


def _give_validation_images_of_two_sizes(ade_root):
    """Resize the second validation image and its label, so that the config's keep-ratio
    validation resize produces inputs of two sizes."""
    from PIL import Image
    for folder, resample in (('images', Image.BILINEAR), ('annotations', Image.NEAREST)):
        path = osp.join(ade_root, folder, 'validation')
        second = osp.join(path, sorted(os.listdir(path))[1])
        image = Image.open(second)
        image.resize((200, 90), resample).save(second)


@pytest.mark.slow
def test_train_tool_compile_flag_matches_eager(tiny_roots, tmp_path):
    """``tools/train.py --compile`` on the TopFormer-T config (the family's compiled-training
    test, on ``ODD_SIZE`` crops): the same 3 losses as an eager ``tools/train.py`` run of the
    same config and seed (TopFormer has no random op once drop path is off), and a checkpoint at
    the end. The compiled run then validates (eagerly, the hook's default) with the config's
    real validation pipeline on images of two sizes (it used to die in inductor at the first
    validation of the ADE20K config)."""
    _give_validation_images_of_two_sizes(tiny_roots['ade20k'])
    real = Config.fromfile(osp.join(REPO, FAMILIES['topformer'][0]))
    runs = {}
    for name, extra in (('eager', []), ('compiled', ['--compile'])):
        work_dir = tmp_path / name
        cfg = _training_config('topformer', tiny_roots, work_dir)
        cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'SmokeStopHook']
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=3, val_interval=10**6)
        if name == 'compiled':
            cfg.train_cfg.val_interval = 3
            cfg.val_dataloader = copy.deepcopy(real.val_dataloader)
            cfg.val_dataloader.update(num_workers=0, persistent_workers=False)
            cfg.val_dataloader.dataset.data_root = tiny_roots['ade20k']
            cfg.val_evaluator, cfg.val_cfg = real.val_evaluator, dict(type='ValLoop')
        cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False,
                                               interval=3)
        cfg.default_hooks['logger'] = dict(type='LoggerHook', interval=1)
        cfg.dump(str(tmp_path / f'{name}.py'))
        # Scalar C++ kernels, as in test_compiled_training_matches_eager (see SCALAR_KERNELS).
        env = dict(os.environ, PYTHONUNBUFFERED='1', TORCHINDUCTOR_VEC_ISA_OK='0')
        proc = subprocess.run(
            [sys.executable, osp.join(REPO, 'tools', 'train.py'), str(tmp_path / f'{name}.py'),
             *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        log = proc.stdout + proc.stderr
        assert proc.returncode == 0, log[-3000:]
        assert osp.exists(work_dir / 'iter_3.pth')
        runs[name] = (log, [r['loss'] for r in read_scalars(work_dir) if 'loss' in r])
    assert 'torch.compile (default, backend inductor): backbone, decode_head' in runs[
        'compiled'][0]
    assert re.search(r'Iter\(val\) \[2/2\].*mIoU: \d', runs['compiled'][0])
    assert 'torch.compile' not in runs['eager'][0]
    eager, compiled = runs['eager'][1], runs['compiled'][1]
    assert len(eager) == len(compiled) == 3
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
    assert eager[-1] != eager[0]
