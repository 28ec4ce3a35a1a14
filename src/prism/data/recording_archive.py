"""A recording as one zip file (to download, mail or import), and back.

The zip holds a recording directory (:mod:`prism.data.recording`: ``meta.json``,
``imu.csv``, ``audio.wav``, ``labels.csv``), either at its root or in one folder. Writing
goes through :func:`~prism.data.recording.write_recording` and reading through
:func:`~prism.data.recording.read_recording`: the format lives in one place.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from prism.data.recording import Recording, read_recording, write_recording
from prism.errors import DataError

__all__ = ["MAX_ARCHIVE_BYTES", "RECORDING_FILES", "read_recording_archive", "recording_archive"]

RECORDING_FILES = ("meta.json", "imu.csv", "audio.wav", "labels.csv")
"""The files a recording directory may hold (``meta.json`` is required)."""
MAX_ARCHIVE_BYTES = 4 * 2**30
"""Most bytes the files of an archive may unpack to (4 GiB: about 35 hours of 16 kHz audio)."""


def recording_archive(recording: Recording) -> bytes:
    """``recording`` as a zip: its files in a folder named after its session id."""
    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_recording(recording, Path(scratch) / "recording")
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in RECORDING_FILES:
                if (folder / name).exists():
                    archive.write(folder / name, f"{recording.session_id}/{name}")
    return buffer.getvalue()


def read_recording_archive(path: Path | str, *, max_gap_s: float = 1.0) -> Recording:
    """A recording from a zip (:func:`recording_archive`) or a recording directory,
    validated by :func:`~prism.data.recording.read_recording`.

    Raises
    ------
    DataError
        Naming what is wrong: a missing path, a file that is not a zip, a zip without
        ``meta.json`` (or with the files of more than one recording), files unpacking to
        more than :data:`MAX_ARCHIVE_BYTES`, or what :func:`read_recording` finds (a
        malformed file, with its name inside the zip and its line).
    """
    source = Path(path)
    if source.is_dir():
        return read_recording(source, max_gap_s=max_gap_s)
    if not source.exists():
        raise DataError(f"{source}: no such file or directory")
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(f"{source}: not a zip file ({error})") from None
    with archive, tempfile.TemporaryDirectory() as scratch:
        members = _recording_members(archive, source)
        for name, member in members.items():
            try:
                (Path(scratch) / name).write_bytes(archive.read(member))
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                raise DataError(f"{source}: cannot unpack {member.filename} ({error})") from None
        try:
            return read_recording(scratch, max_gap_s=max_gap_s)
        except DataError as error:
            inside = str(error).replace(scratch + "/", "").replace(scratch, "the zip")
            raise DataError(f"{source}: {inside}") from None


def _recording_members(archive: zipfile.ZipFile, source: Path) -> dict[str, zipfile.ZipInfo]:
    """The archive's recording files by name (at its root or in one folder)."""
    found: dict[str, zipfile.ZipInfo] = {}
    folders: set[PurePosixPath] = set()
    for member in archive.infolist():
        name = PurePosixPath(member.filename)
        if member.is_dir() or name.name not in RECORDING_FILES:
            continue
        folders.add(name.parent)
        found[name.name] = member
    if len(folders) > 1:
        names = ", ".join(sorted(str(folder) for folder in folders))
        raise DataError(f"{source}: holds the files of more than one recording ({names})")
    if "meta.json" not in found:
        raise DataError(
            f"{source}: no meta.json in the zip (a recording holds {', '.join(RECORDING_FILES)})"
        )
    size = sum(member.file_size for member in found.values())
    if size > MAX_ARCHIVE_BYTES:
        raise DataError(f"{source}: unpacks to {size} bytes, at most {MAX_ARCHIVE_BYTES}")
    return found
