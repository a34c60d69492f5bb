"""Integrity: key pairs, signatures over variant folders, and verified private copies.

Never imports torch or the training code: a serving process verifies with this alone.
"""

from rtguard.integrity.errors import IntegrityError, KeyFileError, SignatureError, UnsafeFileError
from rtguard.integrity.keys import check_private_key, check_public_key, generate_keypair
from rtguard.integrity.release import RELEASE_NAME, Release, next_release, read_release
from rtguard.integrity.selection import SELECTION_NAME, SELECTION_SIGNATURE, chosen_name, read_selection, sign_selection
from rtguard.integrity.signing import SIGNATURE_NAME, SIGNED_FILES, sign_variant, verified_copy, verify_variant
from rtguard.integrity.variants import bind_schema, sign_all, variant_folders

__all__ = [
    "IntegrityError", "KeyFileError", "SignatureError", "UnsafeFileError",
    "check_private_key", "check_public_key", "generate_keypair",
    "RELEASE_NAME", "Release", "next_release", "read_release",
    "SELECTION_NAME", "SELECTION_SIGNATURE", "chosen_name", "read_selection", "sign_selection",
    "SIGNATURE_NAME", "SIGNED_FILES", "sign_variant", "verified_copy", "verify_variant",
    "bind_schema", "sign_all", "variant_folders",
]
