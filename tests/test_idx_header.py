"""IDX reader: impossible headers are refused with one short line naming the file."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from adcgan.data import DataError
from adcgan.data.readers import read_idx


def header(type_code: int, dims: tuple[int, ...]) -> bytes:
    """An IDX header with the given type code and dimensions."""
    return bytes([0, 0, type_code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


GOOD = header(0x08, (2, 3, 3)) + bytes(18)
CASES = {
    "unknown-type": (header(0x07, (2, 3, 3)) + bytes(18), "unknown IDX type code 0x07"),
    "five-dims": (header(0x08, (1, 1, 1, 1, 2)) + bytes(2), "5 dimensions (expected 1 to 4)"),
    "zero-dims": (bytes([0, 0, 8, 0]), "0 dimensions"),
    "too-short": (header(0x08, (2, 3, 3)) + bytes(17), "IDX shape 2x3x3 needs 18 data bytes, file has 17"),
    "too-long": (header(0x0B, (2, 3)) + bytes(13), "IDX shape 2x3 needs 12 data bytes, file has 13"),
    "huge-shape": (header(0x0E, (65535, 65535, 65535, 65535)) + bytes(8), "needs"),
    "cut-header.gz": (gzip.compress(header(0x08, (2, 3, 3))[:9]), "truncated IDX header"),
    "bad-magic": (b"\x01\x02" + GOOD[2:], "not an IDX file"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_header_is_one_short_line(tmp_path, name):
    data, expected = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert expected in message and name in message
    assert "\n" not in message and len(message) < 200


def test_long_path_still_short_and_named(tmp_path):
    deep = tmp_path / ("d" * 120)
    deep.mkdir()
    path = deep / "images-idx3-ubyte"
    path.write_bytes(header(0x08, (2, 3, 3)) + bytes(5))
    with pytest.raises(DataError, match="images-idx3-ubyte") as info:
        read_idx(path)
    assert len(str(info.value)) < 200


def test_valid_four_dim_and_float_files_still_read(tmp_path):
    arr = np.arange(24, dtype=">f4").reshape(1, 2, 3, 4)
    path = tmp_path / "ok"
    path.write_bytes(header(0x0D, arr.shape) + arr.tobytes())
    out = read_idx(path)
    assert out.shape == (1, 2, 3, 4) and out.dtype == np.float32 and out[0, 1, 2, 3] == 23.0
