# Copyright (c) mmhybrid contributors. All rights reserved.
"""The authors' released checkpoints: where they are, and fetch -> check -> convert -> verify.

:data:`OFFICIAL_WEIGHTS` lists every checkpoint the authors of the re-implemented papers released
(TopFormer ImageNet and ADE20K, TransCNN and HAT-Net ImageNet), keyed by the metafile model name
of the config that uses it, and :data:`NO_RELEASED_WEIGHTS` the models without any (EdgeViT,
TRT-ViT). The metafiles are the one place the authors' URLs are written (``Converted From``):
:data:`OFFICIAL_WEIGHTS` reads them, with each model's config and figure, at first use
(:func:`load_official_weights`); this module adds what the metafiles do not say (the converted
file's name, the variant, the converter, other hosts). :func:`fetch_official_weights` turns a
name into the converted file that the configs expect (``checkpoints/topformer-t_3rdparty_in1k.pth``,
...):

1. download the authors' file to ``<dest>/.<name>.download``, resuming a partial file with an
   HTTP ``Range`` request (several attempts, a progress bar when stderr is a terminal);
2. check its sha256 where one is published (none of these authors publish one, so the digest of
   what was downloaded is printed instead), then rename it to ``<dest>/<authors' file name>``
   (a failed conversion is retried from there without downloading again; removed after
   success unless ``keep_download``);
3. convert it with the family's converter (:mod:`mmhybrid.converters`, the code of
   ``tools/model_converters/*2mmhybrid.py``);
4. load the result with ``strict=True`` into the model that the entry's config builds and run a
   forward pass whose outputs must be finite;
5. move it to its final name atomically; an existing file is only replaced with ``force``.

Files hosted where a browser is needed (Google Drive, Baidu Pan: TopFormer) are never scraped:
:class:`BrowserDownloadRequired` gives the URL, where to save the file and the command that
converts it (the same call with ``source_file``, or a file saved under its suggested name in
``dest`` is picked up by itself).

Everything here raises exceptions (subclasses of :class:`OfficialWeightsError`, or ``OSError``,
``ValueError``, ``RuntimeError`` from the converters); ``tools/model_converters/fetch_official.py``
prints them as ``error: <message>``. Tests point the URLs at a loopback server with the
``catalog`` argument or the :data:`MIRROR_ENV` environment variable.

The module belongs to :mod:`mmhybrid.apis`, above the models: verifying a converted file builds
the model of its config (:func:`mmhybrid.tasks.build_task_model`).
"""
import difflib
import functools
import hashlib
import http.client
import os
import os.path as osp
import re
import shlex
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from ..utils.progress import progress_bar

__all__ = [
    'OfficialWeights', 'NoReleasedWeights', 'OFFICIAL_WEIGHTS', 'NO_RELEASED_WEIGHTS',  # noqa: F822
    'MIRROR_ENV', 'OfficialWeightsError', 'UnknownWeightsName', 'NoWeightsReleased',
    'BrowserDownloadRequired', 'DownloadError', 'ChecksumMismatch', 'VerificationError',
    'project_root', 'default_catalog', 'resolve_name', 'status_of', 'list_official_weights',
    'download_file', 'sha256sum', 'convert_command', 'fetch_command', 'convert_official_file',
    'verify_converted', 'fetch_official_weights', 'FETCH_SCRIPT', 'BROWSER_HOSTS',
    'load_official_weights', 'official_weights'
]

#: Environment variable: a base URL that replaces every authors' URL by ``<base>/<file name>``
#: (a local mirror, or the loopback server of the tests); browser-only entries become
#: downloadable from it.
MIRROR_ENV = 'MMHYBRID_OFFICIAL_WEIGHTS_MIRROR'
#: How users run the fetcher (printed in messages).
FETCH_SCRIPT = 'tools/model_converters/fetch_official.py'

#: Hosts that need a browser (confirmation pages): never scraped.
BROWSER_HOSTS = ('drive.google.com', 'pan.baidu.com')
TOPFORMER_IMAGENET_BAIDU = 'https://pan.baidu.com/s/1YdrU-5Z_EtL2LiSQycRO3w'
BAIDU_PASSWORD_NOTE = 'Baidu Pan password: topf'


class OfficialWeightsError(RuntimeError):
    """Base class of the errors below."""


class UnknownWeightsName(OfficialWeightsError, ValueError):
    """No released checkpoint and no model without one has this name."""


class NoWeightsReleased(OfficialWeightsError):
    """The authors released no weights for this model (EdgeViT, TRT-ViT): train it."""


class BrowserDownloadRequired(OfficialWeightsError):
    """The file is hosted where a browser is needed; the message says what to do by hand."""


class DownloadError(OfficialWeightsError):
    """The download failed (HTTP error, connection lost); a partial file is kept to resume.

    ``retry``: whether another attempt may succeed (a broken connection, a server error), as
    opposed to e.g. HTTP 404.
    """

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class ChecksumMismatch(OfficialWeightsError):
    """The downloaded file's sha256 differs from the published one; the file was deleted."""


class VerificationError(OfficialWeightsError):
    """The converted file does not load strictly into the config's model, or gives non-finite
    outputs, or is another variant than the name says."""


@dataclass(frozen=True)
class OfficialWeights:
    """A checkpoint the authors released, and what mmhybrid makes of it.

    Attributes:
        name: the metafile model name of the config that uses it (what users type).
        family: ``'topformer'``, ``'transcnn'`` or ``'hatnet'``.
        config: the config (relative to the project root) whose model the converted file must
            load into strictly (the metafile's ``Config``).
        output: the converted file's name under ``dest``, the one the configs expect.
        arch: the variant the converter must find in the weights (``'tiny'``, ...).
        url: where the authors host the file (their README's link): the metafile's
            ``Converted From: Weights``, the one place it is written.
        source_name: the authors' file name; a browser download saved as ``<dest>/<source_name>``
            is picked up without ``source_file``.
        converter: the script under ``tools/model_converters/`` (its command line);
            :data:`mmhybrid.converters.CONVERTERS` holds its code under the name before
            ``2mmhybrid.py``.
        browser_only: the host needs a browser (Google Drive folders and confirmation pages,
            Baidu Pan: :data:`BROWSER_HOSTS`); never scraped.
        sha256: the published checksum, if any (none of these authors publish one).
        alternatives: other places the authors host the same file.
        allow_pickle: the file pickles more than tensors (timm's ``args`` namespace), so the
            converter needs ``--allow-pickle``.
        metric: the authors' figure for the file, for ``--list`` (from the metafile's
            ``Results``).
        code: the authors' repository (the metafile's ``Converted From: Code``).
    """
    name: str
    family: str
    config: str
    output: str
    arch: str
    url: str
    source_name: str
    converter: str
    browser_only: bool = False
    sha256: Optional[str] = None
    alternatives: Tuple[str, ...] = ()
    allow_pickle: bool = False
    metric: str = ''
    code: str = ''


@dataclass(frozen=True)
class NoReleasedWeights:
    """A model whose authors released no weights: only training makes them."""
    name: str
    family: str
    config: str
    reason: str

    @property
    def gpus(self) -> int:
        """The GPU count of the recipe, from the config name (``..._8xb256_in1k.py`` -> 8)."""
        from mmhybrid.analysis.recipe import gpus_from_name
        return gpus_from_name(self.config) or 1

    @property
    def train_command(self) -> str:
        """The pretraining command of the recipe: ``gpus`` processes on one machine (what
        ``bash tools/dist_train.sh CONFIG GPUS`` runs), so the total batch is the config's."""
        return (f'python -m torch.distributed.run --nproc_per_node={self.gpus} tools/train.py '
                f'{self.config} --launcher pytorch')

    @property
    def work_dir_checkpoint(self) -> str:
        """Where ``tools/train.py`` leaves the last epoch (what the downstream configs read)."""
        stem = osp.splitext(osp.basename(self.config))[0]
        return f'work_dirs/{stem}/epoch_300.pth'


@dataclass(frozen=True)
class _Release:
    """What only this module knows of a released checkpoint; the metafile entry of ``name``
    gives the rest (URL, authors' repository, config, figure)."""
    name: str
    family: str
    output: str
    arch: str
    converter: str
    source_name: Optional[str] = None  # None: the last part of the URL
    alternatives: Tuple[str, ...] = ()
    allow_pickle: bool = False


def _releases() -> List[_Release]:
    """The authors' READMEs: hustvl/TopFormer (README "Main results": a Google Drive folder /
    Baidu Pan for ImageNet, one Google Drive / Baidu Pan file per ADE20K model),
    yun-liu/TransCNN (release v1.0, README before the repository became yun-liu/HAT-Net) and
    yun-liu/HAT-Net (release v2.0). The URLs are the metafiles' ``Converted From``."""
    releases = [
        _Release(f'topformer-{size.lower()}_8xb128_in1k', 'topformer',
                 f'topformer-{size.lower()}_3rdparty_in1k.pth', arch, 'topformer2mmhybrid.py',
                 source_name=f'topformer-{size}-224-{top1}.pth',
                 alternatives=(f'{TOPFORMER_IMAGENET_BAIDU} ({BAIDU_PASSWORD_NOTE})', ),
                 allow_pickle=True)
        for size, arch, top1 in (('T', 'tiny', '66.2'), ('S', 'small', '72.3'),
                                 ('B', 'base', '75.3'))
    ]
    ade20k = [  # name, output, arch, crop, schedule, mIoU (the file name), Baidu Pan id
        ('topformer-t_8xb2-160k_ade20k-448x448', 'topformer-t_3rdparty_ade20k-448x448.pth',
         'tiny', 448, '2x8', '32.5', '1_Mvi1hyXXfBB4udkJlAiDA'),
        ('topformer-t_8xb4-160k_ade20k-448x448', 'topformer-t_8xb4_3rdparty_ade20k-448x448.pth',
         'tiny', 448, '4x8', '33.4', '1XU43DLbEDfer8ppA9B0GxQ'),
        ('topformer_t_ade20k', 'topformer-t_3rdparty_ade20k.pth', 'tiny', 512, '2x8', '33.6',
         '1-ElpFVrr1djpefKZlAb8GQ'),
        ('topformer-t_8xb4-160k_ade20k-512x512', 'topformer-t_8xb4_3rdparty_ade20k.pth', 'tiny',
         512, '4x8', '34.6', '1QvhPenH1Jw4m2qB7dA-ppg'),
        ('topformer_s_ade20k', 'topformer-s_3rdparty_ade20k.pth', 'small', 512, '2x8', '36.5',
         '1_lcmIShHX3q2IPvrQExfXg'),
        ('topformer-s_8xb4-160k_ade20k-512x512', 'topformer-s_8xb4_3rdparty_ade20k.pth',
         'small', 512, '4x8', '37.0', '1zSzJWl_044P-hYCfCJRUIA'),
        ('topformer_b_ade20k', 'topformer-b_3rdparty_ade20k.pth', 'base', 512, '2x8', '38.3',
         '1M0AVFE0NABsuWbgqRPVqNQ'),
        ('topformer-b_8xb4-160k_ade20k-512x512', 'topformer-b_8xb4_3rdparty_ade20k.pth', 'base',
         512, '4x8', '39.2', '11VQWW_qTKIyjRqyNwn9lVg'),
    ]
    for name, output, arch, crop, schedule, miou, baidu_id in ade20k:
        releases.append(_Release(
            name, 'topformer', output, arch, 'topformer2mmhybrid.py',
            source_name=f'TopFormer-{arch[0].upper()}_{crop}x{crop}_{schedule}_160k-{miou}.pth',
            alternatives=(f'https://pan.baidu.com/s/{baidu_id} ({BAIDU_PASSWORD_NOTE})', )))
    google_ids = dict(  # the Google Drive copies of the GitHub release files
        transcnn=dict(tiny='1OwazUhr8awul-D07U-RQ-7Zl2o6Ki-zJ',
                      small='1XLzseiHvaZKiMJ6Ec4BdmLW-gmb5cuq5',
                      medium='1OMuNIKDqISlxZcxvbuZerUc-ix_LYYUr',
                      large='12nRHmZqj3EVDuJA3Iq9E0vRP7ocaI7k3'),
        hatnet=dict(tiny='1iuhOCEMhEqJlCJKk--Qk1w6TcxP_Plgf',
                    small='1lfVT_nCndVAPikAivigl72Ne5XKjfkCp',
                    medium='1fWITg1Cfm0qDaYw7xhfF8pXdbhK5ctHY',
                    large='1MPNd86S_BvtPDrH_h39vjjvN12opsMki'))
    for family, ids in google_ids.items():
        for arch, google_id in ids.items():
            releases.append(_Release(
                f'{family}-{arch}_8xb128_in1k', family, f'{family}-{arch}_3rdparty_in1k.pth',
                arch, 'hatnet2mmhybrid.py',
                alternatives=(f'https://drive.google.com/file/d/{google_id}/view?usp=sharing', )))
    return releases


def _metric(model) -> str:
    """The figure of a metafile model for ``--list``: ``'top-1 66.2'`` or ``'mIoU 33.6'``."""
    for key, label in (('Top 1 Accuracy', 'top-1'), ('mIoU', 'mIoU')):
        value = model.metric(key)
        if value is not None:
            return f'{label} {value}'
    return ''


def load_official_weights(index_path: Optional[str] = None) -> Dict[str, OfficialWeights]:
    """Every released checkpoint, by metafile model name, its URL, authors' repository, config
    and figure read from the metafiles (:func:`mmhybrid.apis.model_index.load_models`; default:
    the project's ``model-index.yml``).

    Raises:
        OfficialWeightsError: a release has no metafile model, or its model no
            ``Converted From: Weights``.
    """
    from .model_index import load_models
    _, models = load_models(index_path)
    by_name = {model.name: model for model in models}
    catalog = {}
    for release in _releases():
        model = by_name.get(release.name)
        if model is None:
            raise OfficialWeightsError(f'No metafile model is named {release.name!r}: the '
                                       'authors\' checkpoint has no URL.')
        url = model.converted_from.get('Weights')
        if not url:
            raise OfficialWeightsError(f'{model.metafile}: {release.name} has no "Converted '
                                       'From: Weights", the URL of the authors\' checkpoint.')
        catalog[release.name] = OfficialWeights(
            name=release.name, family=release.family, config=model.config,
            output=release.output, arch=release.arch, url=url,
            source_name=release.source_name or url.split('?', 1)[0].rsplit('/', 1)[-1],
            converter=release.converter,
            browser_only=any(f'//{host}/' in url for host in BROWSER_HOSTS),
            alternatives=release.alternatives, allow_pickle=release.allow_pickle,
            metric=_metric(model), code=model.converted_from.get('Code', ''))
    return catalog


@functools.lru_cache(maxsize=None)
def official_weights() -> Dict[str, OfficialWeights]:
    """:func:`load_official_weights` of the project's metafiles, read once (at first use)."""
    return load_official_weights()


def _build_no_released_weights() -> Dict[str, NoReleasedWeights]:
    edgevit = ('Samsung (saic-fi/edgevit) released code but no weights, and mmhybrid hosts none')
    trt_vit = ('ByteDance released neither code nor weights for TRT-ViT, and mmhybrid hosts none')
    entries = [
        NoReleasedWeights(f'edgevit-{size}_8xb256_in1k', 'edgevit',
                          f'configs/edgevit/edgevit-{size}_8xb256_in1k.py', edgevit)
        for size in ('xxs', 'xs', 's')
    ] + [
        NoReleasedWeights(f'trt-vit-{size}_8xb128_in1k', 'trt_vit',
                          f'configs/trt_vit/trt-vit-{size}_8xb128_in1k.py', trt_vit)
        for size in ('a', 'b', 'c', 'd')
    ]
    return {entry.name: entry for entry in entries}


#: The ImageNet models of the families without released weights, by metafile model name.
NO_RELEASED_WEIGHTS: Dict[str, NoReleasedWeights] = _build_no_released_weights()
#: Family names accepted as NAME for the families without weights.
_FAMILY_ALIASES = {'edgevit': 'edgevit', 'trt-vit': 'trt_vit', 'trt_vit': 'trt_vit',
                   'trtvit': 'trt_vit'}

Catalog = Mapping[str, OfficialWeights]
Entry = Union[OfficialWeights, NoReleasedWeights]


def project_root() -> str:
    """The folder holding ``configs/``: the checkout, or ``mmhybrid/.mim``."""
    package = osp.dirname(osp.dirname(osp.abspath(__file__)))
    for candidate in (osp.dirname(package), osp.join(package, '.mim')):
        if osp.isdir(osp.join(candidate, 'configs')):
            return candidate
    raise FileNotFoundError(f'Cannot find configs/ beside {package} or in its .mim folder: use '
                            'a checkout or reinstall mmhybrid.')


def __getattr__(name: str):
    """``OFFICIAL_WEIGHTS``: every checkpoint the authors released, by metafile model name
    (:func:`official_weights`; read from the metafiles at first use, not at import)."""
    if name == 'OFFICIAL_WEIGHTS':
        return official_weights()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


def default_catalog(mirror: Optional[str] = None) -> Dict[str, OfficialWeights]:
    """:data:`OFFICIAL_WEIGHTS`, with every URL under ``mirror`` (default: :data:`MIRROR_ENV`).

    A mirror serves the authors' files under their own names (``source_name``); browser-only
    entries become downloadable from it.
    """
    mirror = os.environ.get(MIRROR_ENV) if mirror is None else mirror
    if not mirror:
        return dict(official_weights())
    base = mirror.rstrip('/')
    return {name: replace(entry, url=f'{base}/{entry.source_name}', browser_only=False)
            for name, entry in official_weights().items()}


def resolve_name(name: str, catalog: Optional[Catalog] = None) -> List[Entry]:
    """The entries a user's NAME means: a metafile model name, a converted file name
    (``topformer-t_3rdparty_in1k.pth``) or, for the families without weights, the family.

    Raises:
        UnknownWeightsName: with the closest known names.
    """
    catalog = default_catalog() if catalog is None else catalog
    key = name.strip()
    if key in catalog:
        return [catalog[key]]
    if key in NO_RELEASED_WEIGHTS:
        return [NO_RELEASED_WEIGHTS[key]]
    by_output = [entry for entry in catalog.values() if entry.output == osp.basename(key)]
    if by_output:
        return by_output
    family = _FAMILY_ALIASES.get(key.lower())
    if family:
        return [entry for entry in NO_RELEASED_WEIGHTS.values() if entry.family == family]
    known = list(catalog) + list(NO_RELEASED_WEIGHTS) + [e.output for e in catalog.values()]
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
    hint = f' Did you mean {", ".join(close)}?' if close else ''
    raise UnknownWeightsName(f'No released checkpoint is known as {name!r}.{hint} '
                             f'`python {FETCH_SCRIPT} --list` prints every name.')


def status_of(entry: Entry) -> str:
    """``'downloadable'``, ``'browser-only'`` or ``'no released weights'``."""
    if isinstance(entry, NoReleasedWeights):
        return 'no released weights'
    return 'browser-only' if entry.browser_only else 'downloadable'


def list_official_weights(dest: str = 'checkpoints',
                          catalog: Optional[Catalog] = None) -> List[Dict[str, str]]:
    """One row per known name: ``name``, ``status``, ``output`` (or what to train),
    ``present`` (``'yes'`` when ``<dest>/<output>`` exists), ``url``, ``metric``."""
    catalog = default_catalog() if catalog is None else catalog
    rows = []
    for entry in catalog.values():
        rows.append(dict(name=entry.name, status=status_of(entry),
                         output=osp.join(dest, entry.output),
                         present='yes' if osp.isfile(osp.join(dest, entry.output)) else 'no',
                         url=entry.url, metric=entry.metric))
    for entry in NO_RELEASED_WEIGHTS.values():
        rows.append(dict(name=entry.name, status=status_of(entry),
                         output=entry.work_dir_checkpoint,
                         present='yes' if osp.isfile(entry.work_dir_checkpoint) else 'no',
                         url='', metric=f'train: {entry.train_command}'))
    return rows


# ---------------------------------------------------------------------------------------------
# Downloading


def _content_range(value: Optional[str]) -> Tuple[Optional[int], Optional[int]]:
    """``(start, total)`` of a ``Content-Range: bytes START-END/TOTAL`` (or ``*/TOTAL``)."""
    match = re.fullmatch(r'\s*bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)\s*', value or '')
    if not match:
        return None, None
    start = int(match.group(1)) if match.group(1) is not None else None
    total = int(match.group(2)) if match.group(2) != '*' else None
    return start, total


def _download_once(url: str, path: str, timeout: float, progress: bool,
                   label: str) -> None:
    """One request: append to a partial ``path`` (HTTP 206) or start over (200)."""
    existing = osp.getsize(path) if osp.isfile(path) else 0
    headers = {'User-Agent': 'mmhybrid-fetch-official/1.0', 'Accept-Encoding': 'identity'}
    if existing:
        headers['Range'] = f'bytes={existing}-'
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and existing:
            _, total = _content_range(exc.headers.get('Content-Range'))
            if total == existing:
                return  # the partial file was complete already
            os.remove(path)  # bigger than the remote file, or the file changed: start over
            raise DownloadError(f'{url}: the server refused to resume ({existing} bytes kept '
                                f'locally, remote size {total}); the partial file was removed.')
        raise DownloadError(f'{url}: HTTP {exc.code} {exc.reason}',
                            retry=exc.code >= 500 or exc.code == 429) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, 'reason', exc)
        raise DownloadError(f'{url}: cannot connect ({reason}).') from None
    with response:
        if existing and response.status == 206:
            start, total = _content_range(response.headers.get('Content-Range'))
            if start != existing:
                raise DownloadError(f'{url}: asked to resume at byte {existing}, the server '
                                    f'sent a range starting at {start}.')
            mode = 'ab'
        else:
            existing, mode = 0, 'wb'  # no partial file, or the server ignored the Range
            length = response.headers.get('Content-Length')
            total = int(length) if length and length.isdigit() else None
        written = existing
        bar = progress_bar(total=total, desc=label, unit='B', progress=progress,
                           initial=existing, unit_scale=True, unit_divisor=1024, leave=True)
        try:
            with open(path, mode) as file:
                while True:
                    try:
                        chunk = response.read(1 << 16)
                    except (http.client.IncompleteRead, ConnectionError, socket.timeout,
                            OSError) as exc:
                        raise DownloadError(
                            f'{url}: the connection broke after {written} of '
                            f'{total if total is not None else "?"} bytes '
                            f'({type(exc).__name__}).') from None
                    if not chunk:
                        break
                    file.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and written != total:
        raise DownloadError(f'{url}: the connection closed after {written} of {total} bytes.')


def download_file(url: str,
                  path: str,
                  attempts: int = 3,
                  timeout: float = 60.,
                  progress: bool = True,
                  log: Callable[[str], None] = print) -> str:
    """Download ``url`` to ``path``, continuing a partial ``path`` with a ``Range`` request.

    Hand-written because no library at hand resumes: ``torch.hub.download_url_to_file`` and
    MMEngine's ``HTTPBackend`` restart a broken download of the authors' files from byte 0.

    A broken connection is retried (resuming) up to ``attempts`` times in all; if the last
    attempt fails the partial file is kept, so the next call resumes it. ``progress``: a bar on
    stderr when it is a terminal (:func:`mmhybrid.utils.progress.progress_bar`).

    Raises:
        DownloadError: the last attempt failed (the message says the partial file is kept).
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    label = osp.basename(url.split('?', 1)[0]) or osp.basename(path)
    if osp.isfile(path) and osp.getsize(path):
        log(f'resuming {path} at byte {osp.getsize(path)}')
    for attempt in range(1, max(1, attempts) + 1):
        try:
            _download_once(url, path, timeout, progress, label)
            return path
        except DownloadError as exc:
            kept = osp.getsize(path) if osp.isfile(path) else 0
            if attempt >= max(1, attempts) or not exc.retry:
                resume = (f' {kept} bytes are kept in {path}; run the same command again to '
                          'resume.') if kept else ''
                raise DownloadError(f'{exc}{resume}', retry=exc.retry) from None
            log(f'{exc} Retrying ({attempt + 1}/{attempts}), resuming at byte {kept}.')
    return path  # pragma: no cover


def sha256sum(path: str, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for chunk in iter(lambda: file.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Converting and verifying


def _quote(args: Sequence[str]) -> str:
    return ' '.join(shlex.quote(str(a)) for a in args)


def convert_command(entry: OfficialWeights, source: str, dst: str) -> str:
    """The converter command line for ``entry`` (what :func:`convert_official_file` does)."""
    args = ['python', f'tools/model_converters/{entry.converter}', source, dst]
    if entry.allow_pickle:
        args.append('--allow-pickle')
    return _quote(args)


def fetch_command(entry: OfficialWeights, source: Optional[str] = None,
                  dest: str = 'checkpoints') -> str:
    """The fetcher's command line for ``entry`` (with ``--source-file`` when given)."""
    args = ['python', FETCH_SCRIPT, entry.name]
    if dest != 'checkpoints':
        args += ['--dest', dest]
    if source:
        args += ['--source-file', source]
    return _quote(args)


def convert_official_file(entry: OfficialWeights, source: str, dst: str,
                          allow_pickle: bool = False,
                          log: Callable[[str], None] = print) -> dict:
    """Convert the authors' file with the family's converter (:mod:`mmhybrid.converters`).

    ``dst`` must not exist (the converters refuse to overwrite). Returns what the converter
    wrote (``{'meta', 'state_dict'}``).

    Raises:
        VerificationError: the converter found another variant than ``entry.arch``.
    """
    from mmhybrid.converters import CONVERTERS
    convert_file = CONVERTERS[entry.converter[:-len('2mmhybrid.py')]]
    result = convert_file(source, dst, allow_pickle=entry.allow_pickle or allow_pickle, log=log)
    arch = (result or {}).get('meta', {}).get('arch') if isinstance(result, dict) else None
    if arch is not None and arch != entry.arch:
        raise VerificationError(f'{source} holds the {arch!r} variant, but {entry.name} is '
                                f'{entry.arch!r}: wrong file for this name.')
    return result


def _flatten(outputs) -> list:
    import torch
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in _flatten(item)]
    return []


def verify_converted(entry: OfficialWeights, path: str, root: Optional[str] = None,
                     shape: Optional[Sequence[int]] = None) -> Tuple[int, ...]:
    """Load ``path`` strictly into the model ``entry.config`` builds and run it once.

    Args:
        shape: ``(H, W)`` of the random input; default: the config's own input size.

    Returns:
        tuple: the shape of the first output.

    Raises:
        VerificationError: keys or shapes do not match, or an output is not finite.
    """
    import torch

    from mmhybrid.tasks import build_task_model
    root = root or project_root()
    config = osp.join(root, entry.config)
    try:
        task = build_task_model(config, checkpoint=path, shape=shape)
    except (RuntimeError, KeyError) as exc:
        raise VerificationError(f'{path} does not load strictly into the model of '
                                f'{entry.config}: {exc}') from None
    with torch.no_grad():
        outputs = _flatten(task.module(task.make_inputs()))
    if not outputs:
        raise VerificationError(f'The model of {entry.config} returned no tensor.')
    bad = [tuple(t.shape) for t in outputs if not torch.isfinite(t).all()]
    if bad:
        raise VerificationError(f'{path} loaded into {entry.config}, but the forward pass gave '
                                f'non-finite values (outputs of shape {bad}).')
    return tuple(outputs[0].shape)


# ---------------------------------------------------------------------------------------------
# The whole path


def _browser_message(entry: OfficialWeights, dest: str, dst: str) -> str:
    saved = osp.join(dest, entry.source_name)
    host = 'Baidu Pan' if 'pan.baidu.com' in entry.url else 'Google Drive'
    others = ''.join(f'\n     or: {alt}' for alt in entry.alternatives)
    return (f'{entry.name}: the authors host this file on {host}, which needs a browser '
            f'(confirmation pages); it is not downloaded by script.\n'
            f'  1. download {entry.source_name} from {entry.url}{others}\n'
            f'  2. save it as {saved}\n'
            f'  3. run this command again (it picks up {saved}), or:\n'
            f'     {fetch_command(entry, saved, dest)}\n'
            f'     which converts, verifies and writes {dst}, the same as\n'
            f'     {convert_command(entry, saved, dst)}')


def fetch_official_weights(name: str,
                           dest: str = 'checkpoints',
                           force: bool = False,
                           source_file: Optional[str] = None,
                           catalog: Optional[Catalog] = None,
                           root: Optional[str] = None,
                           keep_download: bool = False,
                           allow_pickle: bool = False,
                           attempts: int = 3,
                           timeout: float = 60.,
                           progress: bool = True,
                           verify_shape: Optional[Sequence[int]] = None,
                           log: Callable[[str], None] = print) -> str:
    """Fetch, check, convert and verify the authors' checkpoint ``name``; return its path.

    Args:
        name: a metafile model name (see :func:`resolve_name`).
        dest: folder of the converted file (and of the partial download
            ``<dest>/.<name>.download``).
        force: replace an existing converted file.
        source_file: convert this already downloaded file instead of downloading.
        catalog: the entries to use (default :func:`default_catalog`); tests point it at a
            loopback server.
        root: project root holding ``configs/`` (default :func:`project_root`).
        keep_download: keep the authors' file after a successful conversion.
        allow_pickle: let the converter load pickles beyond tensors (only trusted files).
        attempts, timeout, progress: see :func:`download_file`.
        verify_shape: input ``(H, W)`` of the verification forward pass (default: config's).

    Raises:
        UnknownWeightsName, NoWeightsReleased, BrowserDownloadRequired, DownloadError,
        ChecksumMismatch, VerificationError, FileExistsError and the converters' errors.
    """
    from mmhybrid.utils.fileio import atomic_output, check_destination

    entries = resolve_name(name, catalog)
    if isinstance(entries[0], NoReleasedWeights):
        lines = [f'{e.name}: {e.reason}; train it with `{e.train_command}` (the downstream '
                 f'configs read {e.work_dir_checkpoint}).' for e in entries]
        raise NoWeightsReleased('\n'.join(lines))
    if len(entries) > 1:
        raise UnknownWeightsName(f'{name!r} is written by {[e.name for e in entries]}; give '
                                 'one of these names.')
    entry = entries[0]
    root = root or project_root()
    dst = osp.join(dest, entry.output)
    check_destination(dst, sources=[source_file] if source_file else [], force=force)

    partial = osp.join(dest, f'.{entry.name}.download')
    downloaded = saved_before = False
    if source_file is None and osp.isfile(osp.join(dest, entry.source_name)):
        source_file, saved_before = osp.join(dest, entry.source_name), True
        log(f'using {source_file} (the authors\' file, saved before)')
    if source_file is not None:
        if not osp.isfile(source_file):
            raise FileNotFoundError(f'--source-file {source_file} does not exist.')
        source = source_file
    elif entry.browser_only:
        raise BrowserDownloadRequired(_browser_message(entry, dest, dst))
    else:
        log(f'downloading {entry.url}\n  -> {partial}')
        download_file(entry.url, partial, attempts=attempts, timeout=timeout, progress=progress,
                      log=log)
        source, downloaded = partial, True

    digest = sha256sum(source)
    if entry.sha256:
        if digest != entry.sha256.lower():
            if downloaded:
                os.remove(source)
            raise ChecksumMismatch(
                f'sha256 of {source if not downloaded else entry.url} is {digest}, the '
                f'published one is {entry.sha256}'
                f'{"; the download was deleted" if downloaded else ""}. Nothing was written.')
        log(f'sha256 {digest} matches the published checksum')
    else:
        log(f'sha256 {digest}  {osp.basename(source) if not downloaded else entry.source_name} '
            '(the authors publish no checksum; keep it to compare later downloads)')
    if downloaded:  # complete and checked: the authors' file under its own name, so that a
        # failed conversion is retried without downloading again
        source = osp.join(dest, entry.source_name)
        os.replace(partial, source)

    with atomic_output(dst) as converted:
        try:
            convert_official_file(entry, source, converted, allow_pickle=allow_pickle, log=log)
        except Exception as exc:
            kept = (f' The download is kept as {source}: the same command converts it again '
                    'without downloading; delete it to download afresh.') \
                if downloaded or saved_before else ''
            raise type(exc)(f'{exc}{kept}') if isinstance(exc, OfficialWeightsError) else \
                VerificationError(f'converting {source} failed: {exc}{kept}') from None
        output_shape = verify_converted(entry, converted, root, shape=verify_shape)
        log(f'verified: strict load into {entry.config}, finite outputs of shape '
            f'{list(output_shape)}')
    if downloaded and not keep_download:
        os.remove(source)
    log(f'{entry.name}: wrote {dst}')
    return dst
