# Copyright (c) mmhybrid contributors. All rights reserved.
"""What fetching the authors' checkpoints raises: :class:`OfficialWeightsError` and its kinds."""


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
