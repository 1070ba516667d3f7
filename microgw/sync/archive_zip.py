"""Reading and writing the zip container of an asset archive, defensively.

Archives come from other machines (a parent gateway, a file a user was sent), so reading one never
trusts it: member names that are absolute or climb out with ``..`` are refused (even though nothing
is ever extracted to disk, such a name means the archive was built to attack someone), the total
uncompressed size is capped before anything is inflated (zip bombs), encrypted members and
duplicate names are refused, and every text member must be UTF-8 and every JSON member valid JSON.
Each error names the member inside the archive. Writing is deterministic (sorted members, a fixed
timestamp), so the same APIs always give the same bytes.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MAX_BYTES = 64 << 20  # total uncompressed bytes an archive may hold
MAX_MEMBERS = 20_000
MAX_DIRECTORY_BYTES = 4 << 20  # central directory: room for MAX_MEMBERS entries with long names
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """The archive cannot be used; carries every problem found (messages never hold secrets)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def unsafe_name(name: str) -> bool:
    """Absolute, drive-qualified, NUL-bearing or ``..``-climbing member names (either slash)."""
    path = name.replace("\\", "/")
    return "\x00" in name or path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def _shown(name: str) -> str:
    return repr(name if len(name) <= 160 else name[:160] + "...")


class SafeZip:
    """The members of one archive, checked up front; reads stay within the size budget."""

    def __init__(self, source: bytes | bytearray | memoryview | str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> None:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            self.label = path.name
            try:
                if path.stat().st_size > max_bytes:
                    raise ArchiveError(f"{self.label}: the archive is larger than {max_bytes} bytes")
                data = path.read_bytes()
            except OSError as exc:
                raise ArchiveError(f"{self.label}: cannot read the archive ({exc.strerror or exc.__class__.__name__})") from None
        else:
            self.label = ""
            data = bytes(source)
            if len(data) > max_bytes:
                raise ArchiveError(f"the archive is larger than {max_bytes} bytes")
        self._check_directory(data)
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, EOFError):
            raise ArchiveError(self._where("", "not a zip archive")) from None
        self._budget = max_bytes
        self.members: dict[str, zipfile.ZipInfo] = {}
        self._check(self._zip.infolist(), max_bytes)

    def _check_directory(self, data: bytes) -> None:
        """Read the member count and central-directory size from the end record before parsing:
        ``zipfile`` builds an object per entry of the whole directory, so a small archive declaring
        a million entries must be refused before that, not after."""
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - (_EOCD.size + 0xFFFF)))
        if end < 0 or end + _EOCD.size > len(data):
            return  # not a zip: zipfile says so
        _sig, _disk, _cd_disk, _here, entries, cd_size, _cd_offset, _comment = _EOCD.unpack_from(data, end)
        locator = end - _ZIP64_LOCATOR.size
        if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and locator >= 0 and data[locator:locator + 4] == b"PK\x06\x07":
            offset = _ZIP64_LOCATOR.unpack_from(data, locator)[2]
            if 0 <= offset <= len(data) - _ZIP64_END.size and data[offset:offset + 4] == b"PK\x06\x06":
                fields = _ZIP64_END.unpack_from(data, offset)
                entries, cd_size = fields[7], fields[8]
        if entries > MAX_MEMBERS:
            raise ArchiveError(self._where("", f"too many members ({entries}, at most {MAX_MEMBERS})"))
        if cd_size > MAX_DIRECTORY_BYTES:
            raise ArchiveError(self._where("", f"the archive's directory is {cd_size} bytes, more than the limit of {MAX_DIRECTORY_BYTES}"))

    def _where(self, member: str, message: str) -> str:
        parts = [p for p in (self.label, member) if p]
        return ": ".join([*parts, message])

    def _check(self, infos: list[zipfile.ZipInfo], max_bytes: int) -> None:
        if len(infos) > MAX_MEMBERS:
            raise ArchiveError(self._where("", f"too many members ({len(infos)}, at most {MAX_MEMBERS})"))
        unsafe = [info.filename for info in infos if unsafe_name(info.filename)]
        if unsafe:
            raise ArchiveError([self._where("", f"unsafe member name {_shown(n)} (absolute or climbing out with '..')") for n in unsafe])
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            raise ArchiveError(self._where("", f"the archive would inflate to {total} bytes, more than the limit of {max_bytes}"))
        for info in infos:
            if info.flag_bits & 0x1:
                raise ArchiveError(self._where(info.filename, "encrypted members are not supported"))
            if info.is_dir():
                continue
            if info.filename in self.members:
                raise ArchiveError(self._where(info.filename, "appears twice in the archive"))
            self.members[info.filename] = info

    def read(self, member: str) -> bytes:
        info = self.members[member]
        if info.file_size > self._budget:
            raise ArchiveError(self._where(member, "the archive inflates to more than the size limit"))
        try:
            with self._zip.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
            raise ArchiveError(self._where(member, f"cannot be read ({exc.__class__.__name__})")) from None
        if len(data) > info.file_size:
            raise ArchiveError(self._where(member, "is larger than its header says"))
        self._budget -= len(data)
        return data

    def text(self, member: str) -> str:
        data = self.read(member)
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ArchiveError(self._where(member, f"is not UTF-8 text (bad byte at offset {exc.start})")) from None

    def json(self, member: str) -> Any:
        text = self.text(member)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchiveError(self._where(member, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")) from None
        except RecursionError:
            raise ArchiveError(self._where(member, "is nested too deeply")) from None

    def xml(self, member: str) -> ElementTree.Element:
        """XML without a DOCTYPE: entity declarations are the classic expansion bomb, and the vendor's manifest has none."""
        text = self.text(member)
        if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
            raise ArchiveError(self._where(member, "declares a DOCTYPE or entities, which are refused"))
        try:
            return ElementTree.fromstring(text)
        except ElementTree.ParseError as exc:
            line, column = exc.position
            raise ArchiveError(self._where(member, f"is not well-formed XML (line {line}, column {column})")) from None

    def error(self, member: str, message: str) -> str:
        """A problem message naming the archive and the member."""
        return self._where(member, message)


def write_zip(files: dict[str, bytes]) -> bytes:
    """A deflated zip of ``files``, members sorted and stamped with a fixed time (stable bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            out.writestr(info, files[name])
    return buffer.getvalue()


def json_bytes(document: Any) -> bytes:
    """Pretty JSON like the vendor's exports; ASCII escapes keep any string writable."""
    return json.dumps(document, indent=2, ensure_ascii=True).encode("ascii") + b"\n"
