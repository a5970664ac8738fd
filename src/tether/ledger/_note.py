"""Ed25519 keys, C2SP signed notes and tlog checkpoints.

A checkpoint is the text ``<origin>\\n<size>\\n<base64 root>\\n`` signed as a C2SP
signed note (https://c2sp.org/signed-note, https://c2sp.org/tlog-checkpoint): a
blank line, then ``— <key name> <base64(key id ‖ signature)>``. The verifier key is
exported in the same ecosystem's text form ``<name>+<hex key id>+<base64(0x01 ‖ key)>``,
so Go's ``golang.org/x/mod/sumdb/note`` and the transparency-dev tools read it too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tether.errors import KeyFileError, SignatureError

__all__ = [
    "Checkpoint",
    "Signer",
    "Verifier",
    "generate_key",
    "load_signer",
    "load_verifier",
]

_ALG_ED25519 = 0x01
_SIG_PREFIX = "\u2014 "  # em dash + space
_NAME = re.compile(r"^[^\s+]+$")


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([_ALG_ED25519]) + public).digest()[:4]


@dataclass(frozen=True)
class Verifier:
    """A named Ed25519 public key that checks signed notes.

    Example:
        >>> signer = Signer(Ed25519PrivateKey.generate(), "example.com/log")
        >>> v = Verifier.parse(signer.verifier.vkey)
        >>> v.name
        'example.com/log'
    """

    name: str
    key: Ed25519PublicKey

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> bytes:
        """The 4-byte key hash that prefixes each signature."""
        return _key_id(self.name, self.public_bytes)

    @property
    def vkey(self) -> str:
        """The verifier key in C2SP text form."""
        blob = base64.b64encode(bytes([_ALG_ED25519]) + self.public_bytes).decode()
        return f"{self.name}+{self.key_id.hex()}+{blob}"

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        """Parse a ``name+keyid+base64`` verifier key.

        Raises:
            KeyFileError: the text is not an Ed25519 verifier key.
        """
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.match(parts[0]):
            raise KeyFileError(
                "public key is not a verifier key of the form NAME+KEYID+BASE64; "
                "export it with 'tether keys export-public'"
            )
        name, hex_id, b64 = parts
        try:
            raw = base64.b64decode(b64, validate=True)
            key_id = bytes.fromhex(hex_id)
        except (binascii.Error, ValueError) as exc:
            raise KeyFileError(f"public key {vkey.strip()!r} is not valid base64/hex") from exc
        if len(raw) != 33 or raw[0] != _ALG_ED25519:
            raise KeyFileError("public key is not an Ed25519 key (want 0x01 + 32 bytes)")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(raw[1:]))
        if verifier.key_id != key_id:
            raise KeyFileError(f"public key id {hex_id} does not match the key and name")
        return verifier

    def open(self, note: str) -> str:
        """Check the note's signature by this key and return the signed text.

        Raises:
            SignatureError: the note is malformed or has no valid signature by this key.
        """
        text, sep, sigs = note.partition("\n\n")
        if not sep or not sigs.endswith("\n"):
            raise SignatureError("signed note has no signature block (expected a blank line)")
        text += "\n"
        found = False
        for line in sigs[:-1].split("\n"):
            if not line.startswith(_SIG_PREFIX):
                raise SignatureError(f"malformed signature line {line!r}")
            name, _, b64 = line[len(_SIG_PREFIX) :].rpartition(" ")
            try:
                blob = base64.b64decode(b64, validate=True)
            except binascii.Error as exc:
                raise SignatureError(f"signature of {name!r} is not base64") from exc
            if name != self.name or blob[:4] != self.key_id:
                continue
            found = True
            try:
                self.key.verify(blob[4:], text.encode())
            except InvalidSignature as exc:
                raise SignatureError(
                    f"signature by {self.name} does not verify: the note was altered "
                    "or signed by another key"
                ) from exc
        if not found:
            raise SignatureError(f"note is not signed by key {self.name} ({self.key_id.hex()})")
        return text


@dataclass(frozen=True)
class Signer:
    """A named Ed25519 private key that signs notes."""

    key: Ed25519PrivateKey
    name: str

    @property
    def verifier(self) -> Verifier:
        """The matching verifier."""
        return Verifier(self.name, self.key.public_key())

    def sign(self, text: str) -> str:
        """Return ``text`` (ending in a newline) as a signed note."""
        if not text.endswith("\n"):
            raise ValueError("note text must end with a newline")
        sig = self.key.sign(text.encode())
        blob = base64.b64encode(self.verifier.key_id + sig).decode()
        return f"{text}\n{_SIG_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the log ``origin`` had ``size`` entries with ``root``."""

    origin: str
    size: int
    root: bytes
    note: str

    @classmethod
    def sign(cls, signer: Signer, size: int, root: bytes) -> Checkpoint:
        """Create and sign a checkpoint."""
        body = f"{signer.name}\n{size}\n{base64.b64encode(root).decode()}\n"
        return cls(signer.name, size, root, signer.sign(body))

    @classmethod
    def open(cls, note: str, verifier: Verifier) -> Checkpoint:
        """Verify a signed checkpoint note and parse it.

        Raises:
            SignatureError: the signature or the checkpoint body is wrong.
        """
        text = verifier.open(note)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise SignatureError("checkpoint body needs origin, size and root lines")
        origin, size_text, root_b64 = lines[:3]
        if origin != verifier.name:
            raise SignatureError(f"checkpoint origin {origin!r} is not the log {verifier.name!r}")
        if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise SignatureError(f"checkpoint size {size_text!r} is not a decimal number")
        try:
            root = base64.b64decode(root_b64, validate=True)
        except binascii.Error as exc:
            raise SignatureError("checkpoint root is not base64") from exc
        if len(root) != 32:
            raise SignatureError(f"checkpoint root has {len(root)} bytes, expected 32")
        return cls(origin, int(size_text), root, note)


def generate_key(path: Path) -> Ed25519PrivateKey:
    """Create a new private key file (mode 0600); refuse to overwrite one.

    Raises:
        KeyFileError: the file exists already or cannot be written.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileError(f"key file {path} exists already; not overwriting it") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return key


def load_signer(path: Path, name: str) -> Signer:
    """Load the Ed25519 private key at ``path`` as the signer named ``name``.

    Raises:
        KeyFileError: the file is missing, unreadable or not an Ed25519 private key.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError(
            f"signing key {path} does not exist; run 'tether init' or set TETHER_SIGNING_KEY"
        ) from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"signing key {path} is corrupt or not a PEM private key; restore it from backup"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key {path} is not an Ed25519 key")
    return Signer(key, name)


def load_verifier(path: Path) -> Verifier:
    """Load a verifier key file written by ``tether keys export-public``.

    Raises:
        KeyFileError: the file is missing or does not hold a verifier key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise KeyFileError(f"public key file {path} does not exist") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"cannot read public key file {path}: {exc}") from exc
    return Verifier.parse(text)
