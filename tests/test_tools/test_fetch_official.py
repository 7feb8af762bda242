# Copyright (c) mmhybrid contributors. All rights reserved.
"""fetch_official.py against a loopback HTTP server serving a file in the authors' layout.

No test here reaches the internet: the URLs are replaced with the ``catalog`` argument or the
``MMHYBRID_OFFICIAL_WEIGHTS_MIRROR`` environment variable, and browser-only / no-weights names
fail before any connection is made.
"""
import argparse
import hashlib
import io
import os
import re
import threading
from collections import OrderedDict
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip('mmpretrain')

from helpers import load_tool  # noqa: E402

from mmhybrid.apis import official_weights as ow  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
NAME = 'topformer-t_8xb128_in1k'
SOURCE_NAME = 'topformer-T-224-66.2.pth'


fetch_cli = load_tool('model_converters/fetch_official.py')


@pytest.fixture(scope='module')
def authors_file():
    """A TopFormer-T ImageNet checkpoint in the authors' layout (timm: ``state_dict_ema`` with
    unprefixed ``tpm.*``/``trans.*``/``head.*`` keys and a pickled ``args`` namespace)."""
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mmhybrid.models  # noqa: F401
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='ImageClassifier',
        backbone=dict(type='mmhybrid.TopFormer', arch='tiny', mode='global'),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='mmhybrid.TopFormerClsHead', num_classes=1000, in_channels=208)))
    authors = OrderedDict((k[len('backbone.'):] if k.startswith('backbone.') else k, v)
                          for k, v in model.state_dict().items())
    buffer = io.BytesIO()
    torch.save(dict(state_dict_ema=authors, epoch=599,
                    args=argparse.Namespace(model='topformer_tiny', epochs=600)), buffer)
    return dict(data=buffer.getvalue(), state=authors)


class FakeHost:
    """Files served by a loopback server with HTTP Range support; ``break_once`` paths send
    half of the body the first time and then close the connection."""

    def __init__(self):
        self.files = {}
        self.break_once = set()
        self.requests = []  # (path, Range header or None)
        host = self

        class Handler(BaseHTTPRequestHandler):

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split('?', 1)[0]
                range_header = self.headers.get('Range')
                host.requests.append((path, range_header))
                data = host.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if range_header:
                    start = int(re.fullmatch(r'bytes=(\d+)-', range_header).group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header('Content-Range', f'bytes */{len(data)}')
                        self.send_header('Content-Length', '0')
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if path in host.break_once:
                    host.break_once.discard(path)
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host(authors_file):
    server = FakeHost()
    server.files[f'/{SOURCE_NAME}'] = authors_file['data']
    yield server
    server.close()


def loopback_catalog(host, **changes):
    entry = replace(ow.OFFICIAL_WEIGHTS[NAME], url=f'{host.url}/{SOURCE_NAME}',
                    browser_only=False, **changes)
    return {NAME: entry}


def test_download_checksum_convert_strict_load_and_final_name(tmp_path, host, authors_file,
                                                             monkeypatch, capsys):
    """Through the CLI, the URL replaced by the mirror variable (as a user's mirror would)."""
    monkeypatch.setenv(ow.MIRROR_ENV, host.url + '/')
    dest = tmp_path / 'checkpoints'
    assert fetch_cli.cli([NAME, '--dest', str(dest), '--no-progress']) == 0
    out = capsys.readouterr().out
    final = dest / 'topformer-t_3rdparty_in1k.pth'
    # the name the configs expect, nothing else left behind (no partial, no temporary file)
    assert sorted(os.listdir(dest)) == [final.name]
    assert hashlib.sha256(authors_file['data']).hexdigest() in out  # none published: printed
    assert 'verified: strict load into configs/topformer/topformer-t_8xb128_in1k.py' in out
    assert host.requests == [(f'/{SOURCE_NAME}', None)]

    converted = torch.load(final, map_location='cpu')
    assert converted['meta']['arch'] == 'tiny'
    state = converted['state_dict']
    for key, value in authors_file['state'].items():
        prefixed = key if key.startswith('head.') else f'backbone.{key}'
        torch.testing.assert_close(state[prefixed], value)
    # the converted file loads strictly into the model of the config and runs
    from mmhybrid.tasks import build_task_model
    task = build_task_model(str(ROOT / ow.OFFICIAL_WEIGHTS[NAME].config), checkpoint=str(final),
                            shape=(64, 64))
    with torch.no_grad():
        assert torch.isfinite(task.module(task.make_inputs())).all()

    # an existing result is refused before anything is downloaded
    assert fetch_cli.cli([NAME, '--dest', str(dest), '--no-progress']) == 1
    assert '--force' in capsys.readouterr().err
    assert len(host.requests) == 1


def test_checksum_mismatch_is_refused_and_leaves_no_file(tmp_path, host):
    dest = tmp_path / 'checkpoints'
    catalog = loopback_catalog(host, sha256='0' * 64)
    with pytest.raises(ow.ChecksumMismatch, match='published one is 0000'):
        ow.fetch_official_weights(NAME, dest=str(dest), catalog=catalog, progress=False,
                                  log=lambda _: None)
    assert os.listdir(dest) == []


def test_a_published_checksum_that_matches_is_accepted(tmp_path, host, authors_file):
    dest = tmp_path / 'checkpoints'
    catalog = loopback_catalog(host, sha256=hashlib.sha256(authors_file['data']).hexdigest())
    messages = []
    path = ow.fetch_official_weights(NAME, dest=str(dest), catalog=catalog, progress=False,
                                     verify_shape=(64, 64), log=messages.append)
    assert path == str(dest / 'topformer-t_3rdparty_in1k.pth')
    assert any('matches the published checksum' in m for m in messages)


def test_interrupted_download_resumes_with_a_range_request(tmp_path, host, authors_file):
    dest = tmp_path / 'checkpoints'
    catalog = loopback_catalog(host)
    host.break_once.add(f'/{SOURCE_NAME}')
    with pytest.raises(ow.DownloadError, match='run the same command again to resume'):
        ow.fetch_official_weights(NAME, dest=str(dest), catalog=catalog, progress=False,
                                  attempts=1, log=lambda _: None)
    partial = dest / f'.{NAME}.download'
    size = partial.stat().st_size
    assert 0 < size < len(authors_file['data'])
    assert not (dest / 'topformer-t_3rdparty_in1k.pth').exists()

    path = ow.fetch_official_weights(NAME, dest=str(dest), catalog=catalog, progress=False,
                                     keep_download=True, verify_shape=(64, 64),
                                     log=lambda _: None)
    assert host.requests[-1] == (f'/{SOURCE_NAME}', f'bytes={size}-')
    assert not partial.exists()
    assert (dest / SOURCE_NAME).read_bytes() == authors_file['data']  # kept on request
    assert os.path.isfile(path)


def test_a_failed_conversion_keeps_the_download_for_the_next_run(tmp_path, host):
    host.files[f'/{SOURCE_NAME}'] = b'not a checkpoint' * 100
    dest = tmp_path / 'checkpoints'
    catalog = loopback_catalog(host)
    for _ in range(2):
        with pytest.raises(ow.VerificationError, match='converts it again without downloading'):
            ow.fetch_official_weights(NAME, dest=str(dest), catalog=catalog, progress=False,
                                      log=lambda _: None)
    assert len(host.requests) == 1  # the second run converted the kept file
    assert sorted(os.listdir(dest)) == [SOURCE_NAME]


def test_download_retries_within_one_run(tmp_path, host, authors_file):
    host.break_once.add(f'/{SOURCE_NAME}')
    target = tmp_path / 'file.download'
    ow.download_file(f'{host.url}/{SOURCE_NAME}', str(target), attempts=2, progress=False,
                     log=lambda _: None)
    assert target.read_bytes() == authors_file['data']
    assert host.requests[0][1] is None and host.requests[1][1].startswith('bytes=')
    # a complete partial file: the server answers 416 and nothing changes
    ow.download_file(f'{host.url}/{SOURCE_NAME}', str(target), progress=False,
                     log=lambda _: None)
    assert target.read_bytes() == authors_file['data']


def test_http_errors_name_the_url_and_are_not_retried(tmp_path, host):
    with pytest.raises(ow.DownloadError, match='missing.pth: HTTP 404'):
        ow.download_file(f'{host.url}/missing.pth', str(tmp_path / 'x'), attempts=3,
                         progress=False, log=lambda _: None)
    assert len(host.requests) == 1


def test_browser_only_prints_url_destination_and_convert_command(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(ow.MIRROR_ENV, raising=False)
    dest = tmp_path / 'checkpoints'
    assert fetch_cli.cli(['topformer_t_ade20k', '--dest', str(dest)]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: topformer_t_ade20k: the authors host this file on Google Drive')
    assert 'https://drive.google.com/file/d/11mxM2roRD-wXRYjw7YzKQVbQs2jsvYYw' in err
    assert 'pan.baidu.com' in err and 'password: topf' in err
    assert f'save it as {dest}/TopFormer-T_512x512_2x8_160k-33.6.pth' in err
    assert (f'tools/model_converters/topformer2mmhybrid.py {dest}/TopFormer-T_512x512_2x8_160k'
            f'-33.6.pth {dest}/topformer-t_3rdparty_ade20k.pth') in err
    assert f'fetch_official.py topformer_t_ade20k --dest {dest} --source-file' in err
    assert not dest.exists() or os.listdir(dest) == []


def test_browser_only_source_file_is_converted(tmp_path, authors_file, monkeypatch):
    """The file a user downloaded in a browser: --source-file, or saved under its own name."""
    monkeypatch.delenv(ow.MIRROR_ENV, raising=False)
    dest = tmp_path / 'checkpoints'
    dest.mkdir()
    (dest / SOURCE_NAME).write_bytes(authors_file['data'])  # where the message says
    path = ow.fetch_official_weights(NAME, dest=str(dest), verify_shape=(64, 64),
                                     log=lambda _: None)
    assert path == str(dest / 'topformer-t_3rdparty_in1k.pth')
    assert (dest / SOURCE_NAME).read_bytes() == authors_file['data']  # the user's file is kept
    # a wrong variant for the name is an error, nothing is written
    other = tmp_path / 'elsewhere.pth'
    other.write_bytes(authors_file['data'])
    with pytest.raises(ow.VerificationError, match="'tiny' variant"):
        ow.fetch_official_weights('topformer-s_8xb128_in1k', dest=str(dest),
                                  source_file=str(other), log=lambda _: None)
    assert not (dest / 'topformer-s_3rdparty_in1k.pth').exists()


@pytest.mark.parametrize('name, config', [
    ('edgevit-xxs_8xb256_in1k', 'configs/edgevit/edgevit-xxs_8xb256_in1k.py'),
    ('trt-vit-a_8xb128_in1k', 'configs/trt_vit/trt-vit-a_8xb128_in1k.py'),
    ('trt-vit', 'configs/trt_vit/trt-vit-d_8xb128_in1k.py'),
])
def test_models_without_released_weights_say_so(name, config, capsys):
    assert fetch_cli.cli([name]) == 1
    err = capsys.readouterr().err
    assert 'no weights' in err or 'neither code nor weights' in err
    # the recipe's command: the config's GPU count (8xb...) as processes, so its total batch
    assert (f'python -m torch.distributed.run --nproc_per_node=8 tools/train.py {config} '
            '--launcher pytorch') in err


def test_list_prints_every_name_with_its_status(capsys, monkeypatch):
    monkeypatch.delenv(ow.MIRROR_ENV, raising=False)
    assert fetch_cli.cli(['--list']) == 0
    lines = capsys.readouterr().out.splitlines()
    by_name = {line.split()[0]: line for line in lines}
    assert set(by_name) == set(ow.OFFICIAL_WEIGHTS) | set(ow.NO_RELEASED_WEIGHTS)
    assert 'downloadable' in by_name['hatnet-tiny_8xb128_in1k']
    assert 'checkpoints/hatnet-tiny_3rdparty_in1k.pth' in by_name['hatnet-tiny_8xb128_in1k']
    assert 'browser-only' in by_name['topformer_b_ade20k']
    assert 'no released weights' in by_name['edgevit-s_8xb256_in1k']


def test_unknown_names_get_suggestions_and_output_names_resolve():
    with pytest.raises(ow.UnknownWeightsName, match='Did you mean hatnet-tiny_8xb128_in1k'):
        ow.resolve_name('hatnet-tiny_8xb128_in1')
    assert [e.name for e in ow.resolve_name('checkpoints/transcnn-small_3rdparty_in1k.pth')] == [
        'transcnn-small_8xb128_in1k']


def test_mirror_variable_replaces_every_url(monkeypatch):
    monkeypatch.setenv(ow.MIRROR_ENV, 'http://127.0.0.1:9/mirror/')
    catalog = ow.default_catalog()
    assert catalog[NAME].url == f'http://127.0.0.1:9/mirror/{SOURCE_NAME}'
    assert not any(entry.browser_only for entry in catalog.values())
    assert catalog['hatnet-large_8xb128_in1k'].url.endswith('/mirror/HAT-Net_Large.pth')


def _metafile_models():
    models = {}
    for metafile in sorted((ROOT / 'configs').glob('*/metafile.yml')):
        for model in yaml.safe_load(metafile.read_text())['Models']:
            models[model['Name']] = model
    return models


def test_output_names_match_what_the_configs_expect():
    """Every ``checkpoints/...`` file a config mentions is written by one entry of the right
    variant, and every entry's config exists (the table cannot drift from the configs)."""
    outputs = {entry.output: entry for entry in ow.OFFICIAL_WEIGHTS.values()}
    assert len(outputs) == len(ow.OFFICIAL_WEIGHTS)
    mentioned = {}
    for config in sorted((ROOT / 'configs').rglob('*.py')):
        for path in re.findall(r"['\"]checkpoints/([\w.-]+\.pth)['\"]", config.read_text()):
            mentioned.setdefault(path, []).append(config.relative_to(ROOT).as_posix())
    assert mentioned, 'no config loads a checkpoints/ file any more?'
    for path, configs in mentioned.items():
        assert path in outputs, f'{configs} load checkpoints/{path}, which no entry writes'
        entry = outputs[path]
        family, letter = path.split('_', 1)[0].rsplit('-', 1)
        assert entry.family == family and entry.arch.startswith(letter), (path, entry)
    for entry in ow.OFFICIAL_WEIGHTS.values():
        assert (ROOT / entry.config).is_file(), entry.config
    for entry in ow.NO_RELEASED_WEIGHTS.values():
        assert (ROOT / entry.config).is_file(), entry.config
    # the ImageNet files are the ones the downstream configs load
    for family, archs in (('topformer', 'tsb'), ('hatnet', ('tiny', 'small')),
                          ('transcnn', ('tiny', 'small'))):
        for arch in archs:
            assert f'{family}-{arch}_3rdparty_in1k.pth' in mentioned


def _metafiles_copy(folder, change):
    """``model-index.yml`` and the metafiles copied to ``folder``, ``change(model)`` applied to
    every metafile model; returns the copy's ``model-index.yml``."""
    index = folder / 'model-index.yml'
    folder.mkdir(parents=True, exist_ok=True)
    index.write_text((ROOT / 'model-index.yml').read_text())
    for metafile in yaml.safe_load(index.read_text())['Import']:
        data = yaml.safe_load((ROOT / metafile).read_text())
        for model in data['Models']:
            change(model)
        (folder / metafile).parent.mkdir(parents=True, exist_ok=True)
        (folder / metafile).write_text(yaml.safe_dump(data, sort_keys=False))
    return str(index)


def test_every_fetchable_url_comes_from_a_metafile(tmp_path):
    """The metafiles are the one place the authors' URLs are written: the catalog follows the
    ``Converted From`` (URL, repository) and ``Config`` of a metafile it is given, and this
    module's source holds none of the URLs."""
    models = _metafile_models()

    def move(model):
        if 'Converted From' in model:
            model['Converted From'] = dict(Weights=f'https://mirror.invalid/{model["Name"]}.pth',
                                           Code=f'https://code.invalid/{model["Name"]}')

    catalog = ow.load_official_weights(_metafiles_copy(tmp_path / 'moved', move))
    assert list(catalog) == list(ow.OFFICIAL_WEIGHTS)
    for name, entry in catalog.items():
        assert entry.url == f'https://mirror.invalid/{name}.pth', name
        assert entry.code == f'https://code.invalid/{name}', name
        assert entry.config == models[name]['Config'], name
        assert not entry.browser_only  # the host decides, and this one needs no browser
    source = ''.join(path.read_text() for path in Path(ow.__file__).parent.glob('*.py'))
    assert 'def ' in source  # the package's modules were read
    for entry in ow.OFFICIAL_WEIGHTS.values():
        assert entry.url == models[entry.name]['Converted From']['Weights'], entry.name
        assert entry.url not in source and entry.code not in source, entry.name

    def drop(model):
        if model['Name'] == 'hatnet-tiny_8xb128_in1k':
            del model['Converted From']

    with pytest.raises(ow.OfficialWeightsError, match='hatnet-tiny_8xb128_in1k has no '
                       '"Converted From: Weights"'):
        ow.load_official_weights(_metafiles_copy(tmp_path / 'dropped', drop))


def test_metafiles_never_host_raw_files():
    """No ``Weights`` points at an unconverted file (``mim download`` would fetch it as if it
    were an mmhybrid checkpoint)."""
    models = _metafile_models()
    raw_urls = {entry.url for entry in ow.OFFICIAL_WEIGHTS.values()}
    for name, model in models.items():
        assert model.get('Weights') not in raw_urls, name
        if name not in ow.OFFICIAL_WEIGHTS:
            assert 'Weights' in model and model['Weights'] is None, name
            assert 'Comment' in model, name
