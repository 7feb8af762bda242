# Copyright (c) mmhybrid contributors. All rights reserved.
"""Downloading the authors' files: resuming with HTTP ``Range`` requests, retrying, and the
sha256 of what was downloaded."""
import hashlib
import http.client
import os
import os.path as osp
import re
import socket
import urllib.error
import urllib.request
from typing import Callable, Optional, Tuple

from ...utils.progress import progress_bar
from .errors import DownloadError


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
