# Copyright (c) mmhybrid contributors. All rights reserved.
"""The whole path, fetch -> check -> convert -> verify (:func:`fetch_official_weights`), and
what ``tools/model_converters/fetch_official.py`` runs (:func:`run_fetch_official`)."""
import os
import os.path as osp
from typing import Callable, Optional, Sequence

from .catalog import (
    Catalog,
    NoReleasedWeights,
    OfficialWeights,
    list_official_weights,
    project_root,
    resolve_name,
)
from .convert import convert_command, convert_official_file, fetch_command, verify_converted
from .download import download_file, sha256sum
from .errors import (
    BrowserDownloadRequired,
    ChecksumMismatch,
    NoWeightsReleased,
    OfficialWeightsError,
    UnknownWeightsName,
    VerificationError,
)


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


def print_official_weights_list(dest: str = 'checkpoints') -> None:
    """Print every known name with its status, and its output file, figure and URL (or what to
    train): what ``fetch_official.py --list`` prints (rows of :func:`list_official_weights`)."""
    rows = list_official_weights(dest)
    width = max(len(row['name']) for row in rows)
    status_width = max(len(row['status']) for row in rows)
    for row in rows:
        present = ' (present)' if row['present'] == 'yes' else ''
        line = f'{row["name"]:<{width}}  {row["status"]:<{status_width}}  '
        if row['status'] == 'no released weights':
            line += f'{row["metric"]}'
        else:
            line += f'-> {row["output"]}{present}  [{row["metric"]}]  {row["url"]}'
        print(line)


def run_fetch_official(name: Optional[str],
                       list_names: bool = False,
                       dest: str = 'checkpoints',
                       force: bool = False,
                       source_file: Optional[str] = None,
                       keep_download: bool = False,
                       allow_pickle: bool = False,
                       attempts: int = 3,
                       progress: bool = True) -> str:
    """What ``tools/model_converters/fetch_official.py`` runs, one argument per flag.

    With ``list_names`` (``--list``), print every known name
    (:func:`print_official_weights_list`) and return ``''``; else fetch, convert and verify
    ``name`` (:func:`fetch_official_weights`) and return the converted file's path. Raises as
    :func:`fetch_official_weights` does.
    """
    if list_names:
        print_official_weights_list(dest)
        return ''
    return fetch_official_weights(name, dest=dest, force=force, source_file=source_file,
                                  keep_download=keep_download, allow_pickle=allow_pickle,
                                  attempts=attempts, progress=progress)
