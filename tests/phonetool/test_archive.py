"""The workbook's ZIP writer: what the standard library's reader accepts, ZIP64 included."""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

import pytest

from phonetool.pipeline.writing import archive
from phonetool.pipeline.writing.archive import ZipWriter

WHEN = (2026, 11, 24, 9, 30, 12)


def _write(path: Path, members: dict[str, list[bytes]], large: bool = False) -> None:
    with ZipWriter(path) as out:
        for name, parts in members.items():
            out.add(name, parts, WHEN, large=large)


def _local_header(path: Path, offset: int) -> tuple[int, int, int, bytes]:
    """CRC, sizes and name as the member's own header gives them: zipfile reads the
    central directory, other readers (streaming ones) read this."""
    with path.open("rb") as f:
        f.seek(offset)
        fields = struct.unpack("<4s2B4HL2L2H", f.read(30))
        name = f.read(fields[-2])
        extra = f.read(fields[-1])
    crc, compressed, size = fields[7:10]
    if (compressed, size) == (0xFFFFFFFF, 0xFFFFFFFF):
        tag, length, size, compressed = struct.unpack("<2H2Q", extra[:20])
        assert (tag, length) == (1, 16)
    return crc, compressed, size, name


MEMBERS = {
    "[Content_Types].xml": [b"<Types/>"],
    "xl/worksheets/sheet1.xml": [b"<sheetData>", os.urandom(50_000), b"<row/>" * 20_000, b""],
    "empty.xml": [],
    "xl/名字.xml": ["中文".encode()],
}


@pytest.mark.parametrize(
    ("large", "limit"),
    [(False, 0xFFFFFFFF), (True, 0xFFFFFFFF), (True, 64)],
    ids=["plain", "room for zip64 sizes", "zip64 sizes, offsets and directory"],
)
def test_members_read_back_exactly_with_their_crc_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool, limit: int
) -> None:
    # Lowering the limit sends sizes, offsets and the directory through the ZIP64 records
    # without writing 4 GiB.
    monkeypatch.setattr(archive, "ZIP64_LIMIT", limit)
    path = tmp_path / "book.xlsx"
    _write(path, MEMBERS, large)

    with zipfile.ZipFile(path) as book:
        assert book.testzip() is None  # every member's CRC matches
        assert book.namelist() == list(MEMBERS)
        for name, parts in MEMBERS.items():
            assert book.read(name) == b"".join(parts)
            info = book.getinfo(name)
            assert info.date_time == WHEN
            assert info.compress_type == zipfile.ZIP_DEFLATED
        for info in book.infolist():
            assert _local_header(path, info.header_offset) == (
                info.CRC,
                info.compress_size,
                info.file_size,
                info.filename.encode(),
            )
    sheet = zipfile.ZipFile(path).getinfo("xl/worksheets/sheet1.xml")
    assert sheet.compress_size < sheet.file_size  # it is compressed, not stored


def test_a_member_past_4_gib_without_room_for_zip64_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The local header comes before the data: a member that turns out too big for it must
    # fail loudly rather than write sizes that wrap around.
    monkeypatch.setattr(archive, "ZIP64_LIMIT", 1000)
    with pytest.raises(ValueError, match="4 GiB"), ZipWriter(tmp_path / "big.zip") as out:
        out.add("big.xml", [os.urandom(5000)], WHEN)
