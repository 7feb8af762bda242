# Copyright (c) mmhybrid contributors. All rights reserved.
"""Inspect one image or label file: does it exist, is it empty, does it decode completely.

Images are decoded with Pillow, which (unlike OpenCV) refuses truncated files instead of
filling the missing part with grey; files Pillow cannot identify are retried with OpenCV so
formats only OpenCV reads are not reported. Label maps are decoded exactly as mmseg's
``LoadAnnotations`` does (Pillow, ``flag='unchanged'``).
"""
import io
import os
from typing import NamedTuple, Optional, Tuple

import numpy as np

#: EXIF orientations that rotate by 90 degrees: OpenCV (``mmcv.imfrombytes``) applies them,
#: so the loaded image has width and height swapped relative to the stored pixels.
_TRANSPOSING_EXIF_ORIENTATIONS = (5, 6, 7, 8)


class ImageFile(NamedTuple):
    """A decoded file: ``size`` is ``(width, height)`` of the stored pixels."""
    size: Tuple[int, int]
    transposed_on_load: bool = False
    array: Optional[np.ndarray] = None

    def loaded_sizes(self) -> Tuple[Tuple[int, int], ...]:
        """The ``(width, height)`` sizes a loader may return (both when EXIF rotates)."""
        if self.transposed_on_load:
            return self.size, self.size[::-1]
        return (self.size, )


def _is_local(path: str) -> bool:
    return '://' not in path


def read_file_bytes(path: str, backend_args: Optional[dict] = None) -> Tuple[bytes, str]:
    """Return ``(content, problem)``; ``problem`` is '' when the file could be read.

    Checks: the file exists, is a file and is not empty (0 bytes).
    """
    if _is_local(path) and (backend_args or {}).get('backend', 'local') == 'local':
        if not os.path.exists(path):
            return b'', 'file does not exist'
        if not os.path.isfile(path):
            return b'', 'is not a file'
    try:
        from mmengine import fileio
        content = fileio.get(path, backend_args=backend_args)
    except Exception as exc:  # any storage backend error: report it with the file
        return b'', f'cannot be read ({type(exc).__name__}: {exc})'
    if len(content) == 0:
        return b'', 'file is empty (0 bytes)'
    return content, ''


def _decode_with_opencv(content: bytes) -> Optional[np.ndarray]:
    try:
        import cv2
        return cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_UNCHANGED)
    except Exception:
        return None


def decode_image(content: bytes, keep_array: bool = False) -> Tuple[Optional[ImageFile], str]:
    """Decode ``content`` completely; return ``(ImageFile, '')`` or ``(None, problem)``.

    Checks: the bytes are an image format (Pillow or OpenCV), and the whole image decodes
    (a truncated or corrupt file is reported). With ``keep_array`` the pixels are returned as
    ``np.asarray`` of the Pillow image (palette indices for ``P`` images, like mmseg labels).
    """
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(io.BytesIO(content)) as img:
            img.load()
            orientation = img.getexif().get(0x0112, 1) if hasattr(img, 'getexif') else 1
            array = np.asarray(img) if keep_array else None
            return ImageFile(img.size, orientation in _TRANSPOSING_EXIF_ORIENTATIONS,
                             array), ''
    except UnidentifiedImageError:
        array = _decode_with_opencv(content)
        if array is not None:
            return ImageFile((array.shape[1], array.shape[0]), False,
                             array if keep_array else None), ''
        return None, f'not an image file (starts with {content[:16]!r})'
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError ...
        return None, f'truncated or corrupt image ({type(exc).__name__}: {exc})'


def inspect_image_file(path: str,
                       backend_args: Optional[dict] = None,
                       keep_array: bool = False) -> Tuple[Optional[ImageFile], str]:
    """Read and decode the image at ``path``; return ``(ImageFile, '')`` or ``(None, problem)``.

    Checks, in order: exists, not empty, an image format, decodes completely.
    """
    content, problem = read_file_bytes(path, backend_args)
    if problem:
        return None, problem
    return decode_image(content, keep_array)
