"""What can go wrong with keys, signatures and the files they cover: one line each, for the user."""

from rtguard.errors import RtguardError


class IntegrityError(RtguardError):
    """A key, a signature or a signed folder cannot be trusted."""


class KeyFileError(IntegrityError):
    """A key file is missing, unreadable, not PEM, or of a type rtguard does not sign with."""


class SignatureError(IntegrityError):
    """A signature is missing, malformed, made with another key, or does not match the files."""


class UnsafeFileError(IntegrityError):
    """A file that would be signed or loaded is a link, not a regular file, or too large."""
