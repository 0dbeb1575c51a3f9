"""Readers for real electrocardiogram data: PhysioNet WFDB records and the UCR ECG200 text files.

WFDB (WaveForm DataBase, Moody & Mark) stores a record as

* ``<record>.hea`` - a text header. First line: ``name n_signals fs[/counter] [n_samples ...]``.
  Then one line per signal: ``file format gain[(baseline)][/units] adc_bits adc_zero first_value
  checksum block_size description``. Physical value = (digital - baseline) / gain, in the units
  (mV by default); the baseline defaults to ``adc_zero``, a gain of 0 means the default 200 per mV.
* ``<record>.dat`` - the samples, frame after frame (all signals of sample 0, then of sample 1, ...).
  Format 212 packs two 12-bit two's-complement samples into three bytes::

      byte 0 = low 8 bits of sample A
      byte 1 = high 4 bits of A (low nibble) | high 4 bits of B (high nibble)
      byte 2 = low 8 bits of sample B

  Format 16 is plain little-endian int16.
* ``<record>.atr`` - reference annotations in the MIT format: a stream of little-endian 16-bit words,
  each ``code << 10 | interval`` (6-bit annotation code, 10-bit sample interval since the previous
  annotation). Codes 59-63 are pseudo-codes: SKIP (the next two words carry a 32-bit interval,
  high word first), NUM/SUB/CHN (set the annotation's number/subtype/channel to the 10-bit field),
  AUX (the field is a byte count; a string of that many bytes, padded to even length, follows).
  NUM, SUB, CHN and AUX modify the annotation word before them. A zero word ends the file.

References: WFDB Programmer's Guide and the ``header(5)``, ``signal(5)``, ``annot(5)`` manual pages,
https://physionet.org/physiotools/wag/ ; annotation codes from ``ecgcodes.h`` (WFDB library).
Cite the MIT-BIH Arrhythmia Database as Moody G.B., Mark R.G., "The impact of the MIT-BIH Arrhythmia
Database", IEEE Eng. Med. Biol. 20(3):45-50 (2001), and PhysioNet as Goldberger A. et al.,
Circulation 101(23):e215-e220 (2000).

The UCR archive (Dau H.A. et al., "The UCR time series archive", 2019) stores ECG200 as text, one
heartbeat per line: the class (-1 abnormal, 1 normal) then 96 samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "ANNOTATION_SYMBOLS",
    "Annotations",
    "SignalSpec",
    "WFDBHeader",
    "WFDBRecord",
    "decode_212",
    "encode_212",
    "load_ecg200",
    "read_annotations",
    "read_header",
    "read_record",
    "read_ucr",
    "write_wfdb",
]

# Annotation code -> mnemonic symbol, as in the WFDB library (ecgcodes.h / annot(5)).
ANNOTATION_SYMBOLS: dict[int, str] = {
    0: " ", 1: "N", 2: "L", 3: "R", 4: "a", 5: "V", 6: "F", 7: "J", 8: "A", 9: "S", 10: "E", 11: "j",
    12: "/", 13: "Q", 14: "~", 16: "|", 18: "s", 19: "T", 20: "*", 21: "D", 22: '"', 23: "=", 24: "p",
    25: "B", 26: "^", 27: "t", 28: "+", 29: "u", 30: "?", 31: "!", 32: "[", 33: "]", 34: "e", 35: "n",
    36: "@", 37: "x", 38: "f", 39: "(", 40: ")", 41: "r",
}
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63
_DEFAULT_GAIN = 200.0  # WFDB: a gain of 0 (or none) means 200 ADC units per physical unit


# --------------------------------------------------------------------------------------------------
# Header
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a WFDB header."""

    file_name: str
    fmt: int
    gain: float
    baseline: int
    units: str
    adc_bits: int
    adc_zero: int
    initial_value: int | None
    checksum: int | None
    description: str


@dataclass(frozen=True)
class WFDBHeader:
    """A parsed ``.hea`` file."""

    record_name: str
    n_signals: int
    fs: float
    n_samples: int | None
    signals: tuple[SignalSpec, ...]
    comments: tuple[str, ...] = field(default=())


def _parse_signal_line(line: str, path: Path) -> SignalSpec:
    parts = line.split(maxsplit=8)
    if len(parts) < 2:
        raise ValueError(f"read_header: {path}: signal line {line!r} needs at least a file name and a format")
    file_name, fmt_field = parts[0], parts[1]
    # Plain "212" or "16"; the extensions "212x2" (samples per frame), "212:5" (skew) and "212+10"
    # (byte offset) are not implemented, so refuse them rather than misread the file.
    if not fmt_field.isdigit():
        raise ValueError(f"read_header: {path}: format {fmt_field!r} (with samples-per-frame, skew or "
                         f"offset) is not supported; only plain format 212 and 16 are")
    fmt = int(fmt_field)

    gain, baseline, units = _DEFAULT_GAIN, None, "mV"
    if len(parts) > 2:
        gain_field = parts[2]
        if "/" in gain_field:
            gain_field, units = gain_field.split("/", 1)
        if "(" in gain_field:
            gain_field, base_text = gain_field.split("(", 1)
            baseline = int(base_text.rstrip(")"))
        gain = float(gain_field) or _DEFAULT_GAIN
    adc_bits = int(parts[3]) if len(parts) > 3 else 12
    adc_zero = int(parts[4]) if len(parts) > 4 else 0
    initial_value = int(parts[5]) if len(parts) > 5 else None
    checksum = int(parts[6]) if len(parts) > 6 else None
    description = parts[8].strip() if len(parts) > 8 else ""
    return SignalSpec(file_name=file_name, fmt=fmt, gain=gain,
                      baseline=adc_zero if baseline is None else baseline, units=units, adc_bits=adc_bits,
                      adc_zero=adc_zero, initial_value=initial_value, checksum=checksum,
                      description=description)


def read_header(path: str | os.PathLike) -> WFDBHeader:
    """Parse a WFDB ``.hea`` header (single-segment records)."""
    path = Path(path)
    if path.suffix != ".hea":
        path = path.with_name(path.name + ".hea")
    if not path.is_file():
        raise FileNotFoundError(f"read_header: no WFDB header at {path}")
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    comments = tuple(line[1:].strip() for line in lines if line.startswith("#"))
    body = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not body:
        raise ValueError(f"read_header: {path} has no record line")
    record = body[0].split()
    if "/" in record[0]:
        raise ValueError(f"read_header: {path} describes a multi-segment record, which is not supported")
    if len(record) < 2:
        raise ValueError(f"read_header: {path}: record line {body[0]!r} needs a name and a signal count")
    n_signals = int(record[1])
    fs = float(record[2].split("/")[0].split("(")[0]) if len(record) > 2 else 250.0
    n_samples = int(record[3]) if len(record) > 3 else None
    signals = tuple(_parse_signal_line(line, path) for line in body[1:1 + n_signals])
    if len(signals) != n_signals:
        raise ValueError(f"read_header: {path} announces {n_signals} signals but has {len(signals)} "
                         f"signal lines")
    return WFDBHeader(record_name=record[0], n_signals=n_signals, fs=fs, n_samples=n_samples,
                      signals=signals, comments=comments)


# --------------------------------------------------------------------------------------------------
# Format 212
# --------------------------------------------------------------------------------------------------

def decode_212(data: bytes | np.ndarray, n_values: int | None = None) -> np.ndarray:
    """Unpack format-212 bytes into int16 values (flat, in file order).

    Every 3 bytes give 2 values (see the module docstring). A trailing group of 2 bytes holds a last,
    unpaired value. ``n_values`` trims the result (and checks there is enough data).
    """
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes | bytearray | memoryview) else data
    raw = np.asarray(raw, dtype=np.uint8).ravel()
    n_groups = -(-raw.size // 3)
    padded = np.zeros(n_groups * 3, dtype=np.uint8)
    padded[:raw.size] = raw
    groups = padded.reshape(n_groups, 3).astype(np.int16)
    first = groups[:, 0] | ((groups[:, 1] & 0x0F) << 8)
    second = groups[:, 2] | ((groups[:, 1] & 0xF0) << 4)
    values = np.stack([first, second], axis=1).reshape(-1)
    values = np.where(values > 2047, values - 4096, values).astype(np.int16)  # 12-bit two's complement
    available = (raw.size * 2) // 3
    if n_values is None:
        n_values = available
    elif n_values > available:
        raise ValueError(f"decode_212: asked for {n_values} values but {raw.size} bytes hold only "
                         f"{available}")
    return values[:n_values]


def encode_212(values: np.ndarray) -> bytes:
    """Pack integers in [-2048, 2047] into format-212 bytes (inverse of ``decode_212``).

    An odd count leaves a final group of 2 bytes, as the WFDB library writes it.
    """
    values = np.asarray(values).ravel()
    in_range = values.size == 0 or (values.min() >= -2048 and values.max() <= 2047)
    if not np.issubdtype(values.dtype, np.integer) or not in_range:
        raise ValueError("encode_212: values must be integers in [-2048, 2047] (12-bit two's complement)")
    n = values.size
    unsigned = (values.astype(np.int32) & 0xFFF).astype(np.uint16)
    if n % 2:
        unsigned = np.append(unsigned, np.uint16(0))
    pairs = unsigned.reshape(-1, 2)
    out = np.empty((pairs.shape[0], 3), dtype=np.uint8)
    out[:, 0] = pairs[:, 0] & 0xFF
    out[:, 1] = ((pairs[:, 0] >> 8) & 0x0F) | (((pairs[:, 1] >> 8) & 0x0F) << 4)
    out[:, 2] = pairs[:, 1] & 0xFF
    flat = out.reshape(-1)
    return flat[: flat.size - 1].tobytes() if n % 2 else flat.tobytes()


def _checksum16(values: np.ndarray) -> int:
    """WFDB signal checksum: the sum of the samples as a signed 16-bit number."""
    total = int(values.astype(np.int64).sum()) & 0xFFFF
    return total - 0x10000 if total >= 0x8000 else total


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class WFDBRecord:
    """A WFDB record's samples.

    Attributes:
        digital: (T, C) int16 ADC values, T samples of C signals.
        signal: (T, C) float32 physical values, (digital - baseline) / gain (in ``units``).
        fs: sampling frequency in Hz.
        names: signal descriptions (lead names), length C.
        units: physical units per signal.
        header: the parsed header.
    """

    digital: np.ndarray
    signal: np.ndarray
    fs: float
    names: tuple[str, ...]
    units: tuple[str, ...]
    header: WFDBHeader

    @property
    def n_samples(self) -> int:
        return int(self.digital.shape[0])


def read_record(path: str | os.PathLike, check: bool = True) -> WFDBRecord:
    """Read a WFDB record (``.hea`` + format 212 or 16 ``.dat``); ``path`` may omit the extension.

    All signals of a record must share one data file (the usual layout). With ``check``, the first
    sample and the 16-bit checksum of every signal are compared with the header's values.
    """
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".hea", ".dat", ".atr") else path
    header = read_header(stem.with_name(stem.name + ".hea"))
    files = {s.file_name for s in header.signals}
    formats = {s.fmt for s in header.signals}
    if len(files) != 1 or len(formats) != 1:
        raise ValueError(f"read_record: {stem}: signals spread over files {sorted(files)} / formats "
                         f"{sorted(formats)}; only one data file with one format is supported")
    data_path = stem.parent / files.pop()
    fmt = formats.pop()
    if not data_path.is_file():
        raise FileNotFoundError(f"read_record: data file {data_path} (named in {stem}.hea) is missing")
    c = header.n_signals
    raw = np.fromfile(data_path, dtype=np.uint8)
    if fmt == 212:
        flat = decode_212(raw)
    elif fmt == 16:
        flat = raw[: raw.size - raw.size % 2].view("<i2").astype(np.int16)
    else:
        raise ValueError(f"read_record: {data_path}: format {fmt} is not supported (only 212 and 16)")
    n_samples = header.n_samples if header.n_samples is not None else flat.size // c
    if flat.size < n_samples * c:
        raise ValueError(f"read_record: {data_path} holds {flat.size} values, the header announces "
                         f"{n_samples} samples x {c} signals: the file is truncated")
    digital = flat[: n_samples * c].reshape(n_samples, c)  # frames are interleaved: one row per sample

    if check:
        for j, spec in enumerate(header.signals):
            if spec.initial_value is not None and n_samples and digital[0, j] != spec.initial_value:
                raise ValueError(f"read_record: {data_path}: signal {j} starts at {digital[0, j]}, the "
                                 f"header says {spec.initial_value}: wrong format or corrupt file")
            checksum = _checksum16(digital[:, j])
            if spec.checksum is not None and checksum != spec.checksum:
                raise ValueError(f"read_record: {data_path}: checksum of signal {j} is {checksum}, the "
                                 f"header says {spec.checksum}: corrupt file")

    gain = np.array([s.gain for s in header.signals], dtype=np.float32)
    baseline = np.array([s.baseline for s in header.signals], dtype=np.float32)
    signal = (digital.astype(np.float32) - baseline) / gain
    return WFDBRecord(digital=digital, signal=signal, fs=header.fs,
                      names=tuple(s.description for s in header.signals),
                      units=tuple(s.units for s in header.signals), header=header)


def write_wfdb(path: str | os.PathLike, digital: np.ndarray, fs: float, gain: float | list[float] = 200.0,
               baseline: int | list[int] = 0, names: list[str] | None = None, units: str = "mV",
               fmt: int = 212) -> Path:
    """Write ``digital`` (T, C) integer samples as a WFDB record ``<path>.hea`` + ``<path>.dat``.

    A minimal writer (for tests and small exports): one data file, format 212 (12-bit) or 16.
    Returns the header path.
    """
    digital = np.asarray(digital)
    if digital.ndim != 2 or not np.issubdtype(digital.dtype, np.integer):
        raise ValueError(f"write_wfdb: digital must be a (T, C) integer array, got {digital.shape} "
                         f"{digital.dtype}")
    path = Path(path)
    stem = path.with_suffix("") if path.suffix in (".hea", ".dat") else path
    t, c = digital.shape
    gains = [gain] * c if np.isscalar(gain) else list(gain)
    baselines = [baseline] * c if np.isscalar(baseline) else list(baseline)
    names = names or [f"signal{j}" for j in range(c)]
    if len(gains) != c or len(baselines) != c or len(names) != c:
        raise ValueError(f"write_wfdb: need one gain, baseline and name per signal ({c})")
    if fmt == 212:
        payload = encode_212(digital.reshape(-1))
        bits = 12
    elif fmt == 16:
        if digital.min(initial=0) < -32768 or digital.max(initial=0) > 32767:
            raise ValueError("write_wfdb: format 16 needs values in the int16 range")
        payload = digital.astype("<i2").tobytes()
        bits = 16
    else:
        raise ValueError(f"write_wfdb: format {fmt} is not supported (only 212 and 16)")
    dat = stem.with_name(stem.name + ".dat")
    dat.write_bytes(payload)
    lines = [f"{stem.name} {c} {fs:g} {t}"]
    for j in range(c):
        first = int(digital[0, j]) if t else 0
        lines.append(f"{dat.name} {fmt} {gains[j]:g}({int(baselines[j])})/{units} {bits} 0 {first} "
                     f"{_checksum16(digital[:, j])} 0 {names[j]}")
    hea = stem.with_name(stem.name + ".hea")
    hea.write_text("\n".join(lines) + "\n", encoding="ascii")
    return hea


# --------------------------------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)  # holds arrays: compare by identity
class Annotations:
    """Annotations of a record.

    Attributes:
        sample: (K,) int64 sample index of each annotation.
        code: (K,) int16 annotation code (1 = normal beat, ...; see ``ANNOTATION_SYMBOLS``).
        symbol: (K,) str mnemonic (``"N"``, ``"A"``, ``"V"``, ``"+"`` ...).
        subtype, chan, num: (K,) int16 modifier fields.
        aux: (K,) object array of aux strings ("" when absent), e.g. ``"(N"`` for a rhythm change.
    """

    sample: np.ndarray
    code: np.ndarray
    symbol: np.ndarray
    subtype: np.ndarray
    chan: np.ndarray
    num: np.ndarray
    aux: np.ndarray

    def __len__(self) -> int:
        return int(self.sample.size)

    def counts(self) -> dict[str, int]:
        """Number of annotations per symbol."""
        symbols, counts = np.unique(self.symbol, return_counts=True)
        return {str(s): int(n) for s, n in zip(symbols, counts)}


def read_annotations(path: str | os.PathLike) -> Annotations:
    """Read an MIT-format annotation file (e.g. ``100.atr``).

    The words are split into code and interval with array operations; one Python pass over the
    annotation stream is unavoidable because SKIP and AUX entries have variable lengths, but it runs
    once per annotation (a few thousand per half-hour record), never per signal sample.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_annotations: no annotation file at {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 2:
        raise ValueError(f"read_annotations: {path} has an odd number of bytes: not an MIT annotation file")
    words = raw.view("<u2")
    codes = (words >> 10).tolist()
    fields = (words & 0x3FF).tolist()
    word_list = words.tolist()

    intervals: list[int] = []
    ann_codes: list[int] = []
    subtype: list[int] = []
    chan: list[int] = []
    num: list[int] = []
    aux: list[str] = []
    pending_skip = 0
    cur_chan = cur_num = 0
    i, n = 0, len(word_list)
    while i < n:
        a, f = codes[i], fields[i]
        if a == 0 and f == 0:  # end of file
            break
        if a == _SKIP:
            if i + 2 >= n:
                raise ValueError(f"read_annotations: {path}: truncated SKIP at word {i}")
            hi, lo = word_list[i + 1], word_list[i + 2]
            skip = (hi << 16) | lo
            pending_skip += skip - (1 << 32) if skip >= (1 << 31) else skip
            i += 3
            continue
        if a in (_NUM, _SUB, _CHN, _AUX):
            if not ann_codes:
                raise ValueError(f"read_annotations: {path}: modifier code {a} before any annotation")
            if a == _NUM:
                cur_num = num[-1] = f
            elif a == _SUB:
                subtype[-1] = f
            elif a == _CHN:
                cur_chan = chan[-1] = f
            else:
                n_words = (f + 1) // 2
                text = raw[2 * (i + 1): 2 * (i + 1) + f].tobytes()
                aux[-1] = text.split(b"\0", 1)[0].decode("latin-1")
                i += n_words
            i += 1
            continue
        intervals.append(pending_skip + f)
        pending_skip = 0
        ann_codes.append(a)
        subtype.append(0)
        chan.append(cur_chan)
        num.append(cur_num)
        aux.append("")
        i += 1

    code_arr = np.asarray(ann_codes, dtype=np.int16)
    lookup = np.array([ANNOTATION_SYMBOLS.get(k, "?") for k in range(64)])
    return Annotations(
        sample=np.cumsum(np.asarray(intervals, dtype=np.int64)),  # intervals are relative: accumulate
        code=code_arr,
        symbol=lookup[code_arr] if code_arr.size else np.array([], dtype="<U1"),
        subtype=np.asarray(subtype, dtype=np.int16),
        chan=np.asarray(chan, dtype=np.int16),
        num=np.asarray(num, dtype=np.int16),
        aux=np.asarray(aux, dtype=object),
    )


# --------------------------------------------------------------------------------------------------
# UCR text files
# --------------------------------------------------------------------------------------------------

def read_ucr(path: str | os.PathLike, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Read a UCR-archive text file: returns ``(x, raw_labels)``, x (N, T), raw labels (N,) as stored.

    One series per line: the class label, then the T samples, separated by white space (the 2015
    archive), tabs (2018) or commas. Every line must have the same number of values, all numbers.
    A malformed file raises ValueError naming the file and the first bad line, e.g.
    ``read_ucr: X.txt line 3 has 95 values, line 1 has 97 (every series must have the same length)``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_ucr: no file at {path}")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError:
        raise ValueError(f"read_ucr: {path} is not a UCR text file (it holds non-text bytes); expected one "
                         f"series per line: label, then the samples") from None
    rows, first = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.replace(",", " ").split()
        if not fields:
            continue  # blank lines (a trailing newline) carry nothing
        try:
            values = [float(f) for f in fields]
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise ValueError(f"read_ucr: {path} line {number}: {bad!r} is not a number") from None
        if not np.all(np.isfinite(values)):
            raise ValueError(f"read_ucr: {path} line {number} has missing or infinite values (NaN/inf); "
                             f"variable-length series must be cut or resampled to one length first")
        if first is None:
            first = (number, len(values))
        elif len(values) != first[1]:
            raise ValueError(f"read_ucr: {path} line {number} has {len(values)} values, line {first[0]} has "
                             f"{first[1]} (every series must have the same length)")
        rows.append(values)
    if first is None:
        raise ValueError(f"read_ucr: {path} is empty")
    if first[1] < 2:
        raise ValueError(f"read_ucr: {path} has {first[1]} column(s); expected a label and samples")
    table = np.asarray(rows, dtype=np.float64)
    return table[:, 1:].astype(dtype), table[:, 0]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_ecg200(folder: str | os.PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """ECG200 from the UCR archive: ``x`` (N, 96) float32 and ``y`` (N,) int64 with 1 = normal, 0 = abnormal.

    The files label classes -1 (abnormal, myocardial infarction) and 1 (normal); we map them to 0/1.
    ``folder`` holds ``ECG200_TRAIN.txt`` and ``ECG200_TEST.txt``; split is ``"train"`` or ``"test"``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"load_ecg200: split must be 'train' or 'test', got {split!r}")
    x, raw = read_ucr(Path(folder) / f"ECG200_{split.upper()}.txt")
    if not np.isin(raw, (-1.0, 1.0)).all():
        raise ValueError(f"load_ecg200: labels must be -1 or 1, found {np.unique(raw)}")
    return x, (raw > 0).astype(np.int64)
