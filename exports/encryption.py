"""Archives encrypted with age (https://age-encryption.org) as they are written, so the server's
storage never holds them in clear. The owner decrypts with `age -d -i key.txt archive.zip.age`
(their own key, or the passphrase-protected key file made for the export).

pyrage encrypts from a reader into a writer; storage saves from a reader. The ZIP is generated
(and the database read) on the calling thread, which runs the encryption into a pipe; a helper
thread hands the other end of the pipe to storage. Nothing is ever whole in memory or on disk.
A copy to a user's own storage goes the other way (`encrypting_reader`): the helper thread
encrypts the stored archive into the pipe, the caller uploads what comes out.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pyrage
import pyrage.passphrase
from django.core.files import File
from pyrage import ssh, x25519

SUFFIX = ".age"


class RecipientError(ValueError):
    pass


def age_recipient(text: str):
    """The pyrage recipient for an age public key (`age1…`) or an SSH public key."""
    text = (text or "").strip()
    try:
        if text.startswith("age1"):
            return x25519.Recipient.from_str(text)
        if text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
            return ssh.Recipient.from_str(text)
    except pyrage.RecipientError:
        pass
    raise RecipientError(
        "That is not an age public key (age1…, from `age-keygen`) or an SSH public key (ssh-ed25519 … or ssh-rsa …)."
    )


def passphrase_key(passphrase: str) -> tuple[str, str]:
    """For an archive opened with a passphrase: a new key pair whose private half is kept only
    encrypted with the passphrase (an age identity file, scrypt). Returns (the public key to
    encrypt the archive to, the identity file as base64). The passphrase itself is never stored;
    `age -d -i key.age archive.zip.age` asks for it."""
    if len(passphrase) < 8:
        raise RecipientError("Choose a passphrase of at least 8 characters.")
    identity = x25519.Identity.generate()
    key_file = pyrage.passphrase.encrypt(f"{identity}\n".encode(), passphrase)
    return str(identity.to_public()), base64.b64encode(key_file).decode()


def key_file(options: dict) -> bytes | None:
    """The passphrase-protected identity file of a job encrypted with a passphrase."""
    return base64.b64decode(options["age_key"]) if options.get("age_key") else None


class PipeReader(io.RawIOBase):
    """The storage side of the pipe: counts and hashes what it hands on, and fails instead of
    ending quietly when the writing side gave up, so no cut-short archive is ever stored."""

    def __init__(self, fd: int):
        self.pipe = os.fdopen(fd, "rb", buffering=0)
        self.finished = False  # set by the writer before it closes its end
        self.total = 0
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        n = self.pipe.readinto(target)
        if not n:
            if not self.finished:
                raise OSError("The archive was not finished: encrypting it failed.")
            return 0
        self.digest.update(memoryview(target)[:n])
        self.total += n
        return n

    def close(self) -> None:
        self.pipe.close()
        super().close()


class Watched(io.RawIOBase):
    """The plaintext reader as pyrage sees it, keeping the first error raised while reading (a
    storage or database error), so that error, not pyrage's wrapping of it, reaches the caller."""

    def __init__(self, reader):
        self.reader = reader
        self.error: BaseException | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        try:
            data = self.reader.read(len(target))
        except BaseException as exc:
            self.error = exc
            raise
        target[: len(data)] = data
        return len(data)


def encrypted_save(storage, name: str, plaintext, recipient_text: str, *, chunk: int) -> tuple[str, int, str]:
    """Encrypt `plaintext` (a reader) to the recipient while storing it under `name`.
    Returns (stored name, stored size, SHA-256 of the stored bytes)."""
    recipient = age_recipient(recipient_text)
    read_fd, write_fd = os.pipe()
    sink = PipeReader(read_fd)
    outcome: dict = {}

    def store() -> None:
        try:
            outcome["name"] = storage.save(name, File(io.BufferedReader(sink, buffer_size=chunk), name=name))
        except BaseException as exc:  # handed to the calling thread below
            outcome["error"] = exc
        finally:
            sink.close()

    thread = threading.Thread(target=store, name="archive-store", daemon=True)
    thread.start()
    writer = os.fdopen(write_fd, "wb", buffering=0)
    source = Watched(plaintext)
    try:
        pyrage.encrypt_io(io.BufferedReader(source, buffer_size=chunk), writer, [recipient])
        sink.finished = True
    except pyrage.EncryptError:
        writer.close()
        thread.join()
        # Say what really went wrong: reading the archive's content, or storing it (a full disk).
        if source.error is not None:
            raise source.error from None
        if "error" in outcome:
            raise outcome["error"] from None
        raise
    finally:
        writer.close()  # the storage side sees the end (or, unfinished, an error)
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["name"], sink.total, sink.digest.hexdigest()


AGE_CHUNK = 64 * 1024
HEADER_LIMIT = 64 * 1024


def payload_size(size: int) -> int:
    """What follows age's header for `size` bytes of plaintext: a 16-byte nonce, then chunks of
    64 KiB each with a 16-byte tag (at least one, empty for an empty file)."""
    return 16 + size + 16 * max(1, -(-size // AGE_CHUNK))


class EncryptedReader(io.RawIOBase):
    """The encrypted bytes as they come out of the pipe, with their exact length known before the
    first is sent (`len`, for a Content-Length): age's header varies in length (it carries random
    "grease"), so it is read first; what follows it has a length fixed by the plaintext's."""

    def __init__(self, pipe: PipeReader, plaintext_size: int):
        self.pipe = pipe
        self.pending = b""
        while b"\n--- " not in self.pending or not self.pending.split(b"\n--- ", 1)[1].count(b"\n"):
            data = pipe.read(4096)
            if not data or len(self.pending) > HEADER_LIMIT:
                raise OSError("The archive was not finished: encrypting it failed.")
            self.pending += data
        mac_line = self.pending.index(b"\n--- ") + 1
        header = self.pending.index(b"\n", mac_line) + 1
        self.len = header + payload_size(plaintext_size)

    @property
    def digest(self):
        return self.pipe.digest

    @property
    def total(self) -> int:
        return self.pipe.total

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        if self.pending:
            n = min(len(target), len(self.pending))
            target[:n] = self.pending[:n]
            self.pending = self.pending[n:]
            return n
        return self.pipe.readinto(target)


@contextmanager
def encrypting_reader(plaintext, recipient_text: str, *, size: int, chunk: int) -> Iterator[EncryptedReader]:
    """`plaintext` (a reader of `size` bytes) encrypted to the recipient, as a reader: a helper
    thread encrypts into a pipe while the caller reads the other end (an upload)."""
    recipient = age_recipient(recipient_text)
    read_fd, write_fd = os.pipe()
    pipe = PipeReader(read_fd)
    source = Watched(plaintext)

    def encrypt() -> None:
        writer = os.fdopen(write_fd, "wb", buffering=0)
        try:
            pyrage.encrypt_io(io.BufferedReader(source, buffer_size=chunk), writer, [recipient])
            pipe.finished = True
        except Exception:  # noqa: BLE001 — the reading side sees an unfinished stream; `source.error` says why
            pass
        finally:
            writer.close()

    thread = threading.Thread(target=encrypt, name="archive-encrypt", daemon=True)
    thread.start()
    try:
        yield EncryptedReader(pipe, size)
    except BaseException:
        pipe.close()  # a reader that stopped early: the writer's next write fails, and it ends
        thread.join()
        if source.error is not None:
            raise source.error from None
        raise
    pipe.close()
    thread.join()
