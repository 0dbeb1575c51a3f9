"""tasks.data.ecg: WFDB format 212 + MIT annotations (MIT-BIH record 100) and UCR ECG200."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.data.ecg import (
    decode_212,
    encode_212,
    load_ecg200,
    read_annotations,
    read_header,
    read_record,
    write_wfdb,
)

ECG = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "ecg"
needs_mitdb = pytest.mark.skipif(not (ECG / "mitdb_100" / "100.dat").is_file(),
                                 reason=f"MIT-BIH record 100 not found in {ECG / 'mitdb_100'}")
needs_ucr = pytest.mark.skipif(not (ECG / "ucr" / "ECG200_TRAIN.txt").is_file(),
                               reason=f"UCR ECG200 not found in {ECG / 'ucr'}")


# ------------------------------------------------------------------------------------------------
# Format 212
# ------------------------------------------------------------------------------------------------

def test_212_packs_two_12_bit_values_into_three_bytes():
    # 1 = 0x001 and -1 = 0xFFF: low byte of A, then high nibbles (A low, B high), then low byte of B.
    assert encode_212(np.array([1, -1])) == b"\x01\xf0\xff"
    np.testing.assert_array_equal(decode_212(b"\x01\xf0\xff"), [1, -1])
    np.testing.assert_array_equal(decode_212(b"\xff\x07\x00"), [2047, 0])
    np.testing.assert_array_equal(decode_212(b"\x00\x08\x00"), [-2048, 0])


@pytest.mark.parametrize("n", [1, 2, 7, 1000])
def test_212_round_trip(n):
    values = np.random.default_rng(n).integers(-2048, 2048, n)
    packed = encode_212(values)
    assert len(packed) == (3 * n + 1) // 2  # an odd count ends with a 2-byte group
    np.testing.assert_array_equal(decode_212(packed, n), values)


def test_212_rejects_out_of_range_values():
    with pytest.raises(ValueError, match="-2048, 2047"):
        encode_212(np.array([2048]))
    with pytest.raises(ValueError, match="asked for 5"):
        decode_212(b"\x00\x00\x00", 5)


def test_write_then_read_record_recovers_digital_and_physical_values(tmp_path):
    digital = np.random.default_rng(0).integers(-2000, 2000, (501, 3))
    hea = write_wfdb(tmp_path / "rec", digital, fs=250, gain=[200, 100, 50], baseline=[0, 10, -5],
                     names=["I", "II", "V1"])
    assert hea.name == "rec.hea"
    header = read_header(hea)
    assert header.n_signals == 3 and header.fs == 250 and header.n_samples == 501
    assert [s.gain for s in header.signals] == [200, 100, 50]
    assert [s.baseline for s in header.signals] == [0, 10, -5]
    rec = read_record(tmp_path / "rec")
    np.testing.assert_array_equal(rec.digital, digital)
    expected = (digital - np.array([0, 10, -5])) / np.array([200, 100, 50])
    np.testing.assert_allclose(rec.signal, expected, rtol=1e-6)
    assert rec.signal.dtype == np.float32 and rec.names == ("I", "II", "V1") and rec.units == ("mV",) * 3


def test_corrupt_data_fails_the_header_checksum(tmp_path):
    write_wfdb(tmp_path / "rec", np.arange(40).reshape(20, 2), fs=100)
    dat = tmp_path / "rec.dat"
    data = bytearray(dat.read_bytes())
    data[9] ^= 0x11
    dat.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checksum"):
        read_record(tmp_path / "rec")


def test_truncated_data_file_is_reported(tmp_path):
    write_wfdb(tmp_path / "rec", np.zeros((100, 2), dtype=int), fs=100)
    dat = tmp_path / "rec.dat"
    dat.write_bytes(dat.read_bytes()[:90])
    with pytest.raises(ValueError, match="truncated"):
        read_record(tmp_path / "rec")


# ------------------------------------------------------------------------------------------------
# MIT annotation format
# ------------------------------------------------------------------------------------------------

def _word(code: int, field: int) -> int:
    return (code << 10) | field


def test_annotation_stream_with_skip_aux_and_modifiers(tmp_path):
    words = [
        _word(1, 100),                      # N at 100
        _word(59, 0), 0x0001, 0x1170,       # SKIP 70000 (high word first: 0x0001_1170)
        _word(5, 10),                       # V at 100 + 70000 + 10
        _word(61, 3),                       # ... with subtype 3
        _word(28, 2),                       # + at 70112
        _word(63, 3), 0x4E28, 0x0000,       # ... with aux "(N" (3 bytes incl. NUL, padded to 4)
        _word(62, 1),                       # ... channel 1
        _word(8, 5),                        # A at 70117 (inherits channel 1)
        0,                                  # end of file
    ]
    path = tmp_path / "x.atr"
    np.asarray(words, dtype="<u2").tofile(path)
    ann = read_annotations(path)
    np.testing.assert_array_equal(ann.sample, [100, 70110, 70112, 70117])
    assert list(ann.symbol) == ["N", "V", "+", "A"]
    assert list(ann.subtype) == [0, 3, 0, 0]
    assert list(ann.aux) == ["", "", "(N", ""]
    assert list(ann.chan) == [0, 0, 1, 1]


def test_odd_sized_annotation_file_is_rejected(tmp_path):
    path = tmp_path / "bad.atr"
    path.write_bytes(b"\x00\x00\x00")
    with pytest.raises(ValueError, match="odd number of bytes"):
        read_annotations(path)


# ------------------------------------------------------------------------------------------------
# Real data
# ------------------------------------------------------------------------------------------------

@needs_mitdb
def test_mitdb_record_100_signals():
    rec = read_record(ECG / "mitdb_100" / "100")  # checks first values and checksums from the header
    assert rec.digital.shape == (650_000, 2) and rec.digital.dtype == np.int16
    assert rec.fs == 360 and rec.names == ("MLII", "V5")
    assert rec.digital[0].tolist() == [995, 1011]
    # gain 200 ADC units/mV, baseline = ADC zero 1024
    np.testing.assert_allclose(rec.signal[0], [(995 - 1024) / 200, (1011 - 1024) / 200], rtol=1e-6)
    assert -5 < rec.signal.min() and rec.signal.max() < 5  # millivolts


@needs_mitdb
def test_mitdb_record_100_annotations():
    ann = read_annotations(ECG / "mitdb_100" / "100.atr")
    assert len(ann) == 2274
    assert ann.counts() == {"N": 2239, "A": 33, "V": 1, "+": 1}
    assert np.all(np.diff(ann.sample) > 0) and ann.sample[-1] < 650_000
    assert ann.aux[ann.symbol == "+"].tolist() == ["(N"]  # the record starts in normal sinus rhythm


@needs_ucr
def test_ecg200_splits_and_labels():
    x_train, y_train = load_ecg200(ECG / "ucr", "train")
    x_test, y_test = load_ecg200(ECG / "ucr", "test")
    assert x_train.shape == (100, 96) and x_test.shape == (100, 96) and x_train.dtype == np.float32
    assert y_train.dtype == np.int64 and set(np.unique(y_train)) == {0, 1}
    assert (y_train == 0).sum() == 31 and (y_test == 0).sum() == 36  # -1 (abnormal) -> 0


def test_ecg200_label_mapping_on_a_tiny_file(tmp_path):
    (tmp_path / "ECG200_TRAIN.txt").write_text(" -1 0.5 0.25\n 1 1.0 -2.0\n")
    x, y = load_ecg200(tmp_path, "train")
    np.testing.assert_array_equal(y, [0, 1])
    np.testing.assert_allclose(x, [[0.5, 0.25], [1.0, -2.0]])
    with pytest.raises(ValueError, match="split"):
        load_ecg200(tmp_path, "val")
