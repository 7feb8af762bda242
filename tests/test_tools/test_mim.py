# Copyright (c) mmhybrid contributors. All rights reserved.
"""`mim install -e .`, `mim train mmhybrid` and `mim test mmhybrid` on the installed package."""
import functools
import os
import os.path as osp
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
from smoke import make_smoke_config

from mmhybrid.testing import make_ade20k

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'topformer', 'topformer_t_ade20k.py')

pytestmark = pytest.mark.slow


@pytest.fixture
def empty_mmcv_index(tmp_path):
    """`mim install` always adds OpenMMLab's mmcv find-links URL; serve an empty one locally
    (this machine reaches no other host) so pip skips it at once."""
    root = tmp_path / 'mmcv_index'
    root.mkdir()
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(root))
    server = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/mmcv/dist'
    server.shutdown()


def mim(*args, env=None, timeout=600):
    proc = subprocess.run([sys.executable, '-m', 'mim', *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout,
                          env=dict(os.environ, PYTHONUNBUFFERED='1', **(env or {})))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'mim {" ".join(args)} failed:\n{output[-4000:]}'
    return output


def test_mim_install_train_test(tmp_path, empty_mmcv_index):
    # Editable install through mim (what `make install` did through pip, so it is idempotent).
    mim('install', '-e', '.', '--no-deps', '--no-build-isolation',
        env=dict(MMCV_BASE_URL=empty_mmcv_index))
    for name in ('configs', 'tools', 'model-index.yml'):
        assert osp.exists(osp.join(REPO, 'mmhybrid', '.mim', name)), name

    data_root = make_ade20k(str(tmp_path / 'tiny'), num_train=4, num_val=2)
    work_dir = tmp_path / 'work'
    cfg = make_smoke_config(CONFIG, {'ade20k': data_root}, str(work_dir))
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'SmokeStopHook']
    cfg.train_cfg.max_iters = 2
    cfg.default_hooks['checkpoint'] = dict(type='CheckpointHook', by_epoch=False, interval=2)
    config = str(tmp_path / 'topformer_t_tiny.py')
    cfg.dump(config)

    out = mim('train', 'mmhybrid', config, '--work-dir', str(work_dir))
    checkpoint = work_dir / 'iter_2.pth'
    assert checkpoint.exists(), out[-3000:]

    out = mim('test', 'mmhybrid', config, '--checkpoint', str(checkpoint), '--work-dir',
              str(tmp_path / 'test'))
    assert 'mIoU' in out


def test_mim_finds_packaged_configs_by_name():
    """`mim train mmhybrid NAME.py` resolves a bare config name inside the package."""
    from mim.utils import get_installed_path
    pkg_root = get_installed_path('mmhybrid')
    assert osp.isfile(osp.join(pkg_root, '.mim', 'tools', 'train.py'))
    assert osp.isfile(osp.join(pkg_root, '.mim', 'configs', 'topformer', 'topformer_t_ade20k.py'))


def test_mim_download_fetches_nothing_while_no_converted_weights_are_hosted(tmp_path):
    """mmhybrid hosts no converted checkpoints, so no metafile model has ``Weights`` (only
    ``Converted From``, the authors' unconverted files, which mim does not read): ``mim download``
    must fail before downloading anything. openmim 0.3.9 then stops with a pandas error about
    the ``weight`` field (it selects that column unconditionally); the metafiles cannot turn that
    into a one-line message, so users are pointed to tools/model_converters/fetch_official.py by
    the README and the metafile ``Comment``. No network: proxies point at a closed port."""
    from mim.commands.search import get_model_info
    info = get_model_info('mmhybrid')
    assert 'weight' not in info.columns  # no model would download an unconverted file
    assert 'topformer_t_ade20k' in info.index

    dest = tmp_path / 'downloads'
    dead_proxy = 'http://127.0.0.1:9'
    proc = subprocess.run(
        [sys.executable, '-m', 'mim', 'download', 'mmhybrid', '--config', 'topformer_t_ade20k',
         '--dest', str(dest)], cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, HTTP_PROXY=dead_proxy, HTTPS_PROXY=dead_proxy,
                 http_proxy=dead_proxy, https_proxy=dead_proxy, NO_PROXY=''))
    assert proc.returncode != 0
    assert "{'weight'}" in proc.stderr  # openmim 0.3.9's complaint, before any download
    assert not (dest.exists() and list(dest.iterdir())), 'mim wrote a checkpoint'
