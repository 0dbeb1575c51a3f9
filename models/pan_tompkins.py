"""The Pan-Tompkins QRS detector (Pan & Tompkins, IEEE Trans. Biomed. Eng. 32(3):230-236, 1985).

The classical baseline for R-peak (heartbeat) detection. Each stage has one job:

1. band-pass 5-15 Hz: keeps the QRS energy, rejects baseline wander (< 1 Hz), T waves (mostly < 5 Hz),
   muscle noise and mains hum (> 15 Hz);
2. five-point derivative  y(n) = (2x(n+1) + x(n+2) - x(n-2) - 2x(n-1)) / (8 T): the slope, large on
   the steep QRS flanks;
3. squaring: makes every sample positive and emphasises the large slopes (non-linear amplification);
4. moving-window integration over 150 ms (about the widest normal QRS): one smooth bump per QRS;
5. adaptive thresholds: every local maximum of the integrated signal is a candidate; it is a QRS when
   it exceeds THRESHOLD1 = NPK + 0.25 (SPK - NPK), where SPK and NPK are running estimates of the
   signal-peak and noise-peak levels (SPK = 0.125 peak + 0.875 SPK after a QRS, NPK likewise after a
   noise peak). A 200 ms refractory period follows each beat; a candidate within 360 ms of the last
   beat whose maximal slope is under half that beat's slope is a T wave; when no beat was found for
   1.66 times the mean RR interval, the largest skipped candidate above THRESHOLD2 = THRESHOLD1 / 2
   is taken (search-back).

Differences from the 1985 paper, all stated: the paper's integer filters were designed for 200 Hz;
here the band-pass is a second-order Butterworth run forwards and backwards (zero phase, so no
delay to undo) at the record's own sampling rate; the derivative and window are scaled to it too; the
decision uses the integrated signal's thresholds only (the paper also ran a second set on the
filtered signal); the R peak is located as the maximum of the band-passed signal within the 150 ms
window ending at the integrated signal's peak. The learning phase initialises SPK and NPK from the
first two seconds.

The decision rule is sequential (each threshold depends on the beats before it), so it loops over
candidate peaks: a few per heartbeat, never over samples; every stage before it is array code.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

__all__ = ["PanTompkins", "pan_tompkins_stages"]


def pan_tompkins_stages(ecg, fs: float, band=(5.0, 15.0), window_s: float = 0.150) -> dict:
    """Stages 1-4 of the detector on one lead ``ecg`` (T,): a dict of (T,) float64 arrays
    ``filtered``, ``derivative``, ``squared`` and ``integrated`` (trailing moving average)."""
    x = np.asarray(ecg, dtype=np.float64)
    if x.ndim != 1 or x.size < int(2 * fs):
        raise ValueError(f"pan_tompkins_stages: need one lead (T,) of at least 2 s, got shape {x.shape}")
    if not 0 < band[0] < band[1] < fs / 2:
        raise ValueError(f"pan_tompkins_stages: band {band} Hz must lie inside (0, {fs / 2}) Hz")
    b, a = sps.butter(2, [band[0] / (fs / 2), band[1] / (fs / 2)], btype="band")
    filtered = sps.filtfilt(b, a, x)
    # the five-point derivative is written at 200 Hz (spacing 1 sample); keep its ~10 ms span at fs
    h = max(1, int(round(fs / 200)))
    padded = np.pad(filtered, 2 * h, mode="edge")
    c = slice(2 * h, 2 * h + x.size)
    shift = lambda k: padded[c.start + k * h: c.stop + k * h]  # noqa: E731  x(n + k) at 200 Hz spacing
    derivative = (2 * shift(1) + shift(2) - shift(-2) - 2 * shift(-1)) * (fs / (8.0 * h))
    squared = derivative * derivative
    w = max(1, int(round(window_s * fs)))
    csum = np.cumsum(np.r_[np.zeros(w), squared])
    integrated = (csum[w:] - csum[:-w]) / w  # mean of the last w samples (zeros before the start)
    return {"filtered": filtered, "derivative": derivative, "squared": squared, "integrated": integrated}


class PanTompkins:
    """R-peak detector. ``detect(ecg, fs)`` -> (B,) int64 sample indices of the detected R peaks.

    Parameters (the paper's values): ``band`` 5-15 Hz, ``window_s`` 150 ms integration window,
    ``refractory_s`` 200 ms, ``t_wave_s`` 360 ms, ``searchback`` 1.66 x the mean of the last 8 RR
    intervals. Nothing is fitted to data: the thresholds adapt as the signal is read.
    """

    def __init__(self, band=(5.0, 15.0), window_s: float = 0.150, refractory_s: float = 0.200,
                 t_wave_s: float = 0.360, searchback: float = 1.66):
        self.band, self.window_s = band, window_s
        self.refractory_s, self.t_wave_s, self.searchback = refractory_s, t_wave_s, searchback

    def detect(self, ecg, fs: float) -> np.ndarray:
        st = pan_tompkins_stages(ecg, fs, self.band, self.window_s)
        mwi, filtered, slope = st["integrated"], st["filtered"], np.abs(st["derivative"])
        w = max(1, int(round(self.window_s * fs)))
        refractory = int(round(self.refractory_s * fs))
        # candidates: local maxima of the integrated signal at least the refractory period apart
        peaks, _ = sps.find_peaks(mwi, distance=max(1, refractory))
        heights = mwi[peaks]
        # the steepest slope in the window leading to each candidate (for the T-wave test)
        slope_max = _window_max(slope, peaks, w)

        learn = mwi[: int(2 * fs)]
        spk, npk = 0.25 * learn.max(), 0.5 * learn.mean()
        beats: list[int] = []  # indices into peaks
        beat_slopes: list[float] = []
        rr: list[int] = []
        skipped: list[int] = []  # candidates since the last beat that were judged noise
        for i, (p, hgt) in enumerate(zip(peaks.tolist(), heights.tolist())):
            thr1 = npk + 0.25 * (spk - npk)
            if beats and rr:  # search-back: a beat was missed if the gap is too long
                mean_rr = float(np.mean(rr[-8:]))
                if p - peaks[beats[-1]] > self.searchback * mean_rr and skipped:
                    best = max(skipped, key=lambda j: heights[j])
                    if heights[best] > 0.5 * thr1:
                        rr.append(int(peaks[best] - peaks[beats[-1]]))
                        beats.append(best)
                        beat_slopes.append(float(slope_max[best]))
                        spk = 0.25 * heights[best] + 0.75 * spk  # the paper's search-back update
                        thr1 = npk + 0.25 * (spk - npk)
                    skipped = []
            is_qrs = hgt > thr1
            if is_qrs and beats:
                gap = p - peaks[beats[-1]]
                if gap < refractory:
                    is_qrs = False
                elif gap < self.t_wave_s * fs and slope_max[i] < 0.5 * beat_slopes[-1]:
                    is_qrs = False  # a T wave: rises slowly
            if is_qrs:
                if beats:
                    rr.append(int(p - peaks[beats[-1]]))
                beats.append(i)
                beat_slopes.append(float(slope_max[i]))
                spk = 0.125 * hgt + 0.875 * spk
                skipped = []
            else:
                npk = 0.125 * hgt + 0.875 * npk
                skipped.append(i)
        qrs = peaks[np.asarray(beats, dtype=np.int64)] if beats else np.zeros(0, np.int64)
        return self._locate_r(filtered, qrs, w)

    @staticmethod
    def _locate_r(filtered: np.ndarray, qrs: np.ndarray, w: int) -> np.ndarray:
        """R peak = the band-passed signal's maximum in the window (qrs - w, qrs]: (B,) int64."""
        if qrs.size == 0:
            return qrs.astype(np.int64)
        idx = _trailing_windows(qrs, w, filtered.size)
        return np.sort(idx[np.arange(qrs.size), np.argmax(filtered[idx], axis=1)]).astype(np.int64)


def _trailing_windows(ends: np.ndarray, w: int, n: int) -> np.ndarray:
    """(P, w) sample indices of the windows (end - w, end], clipped to [0, n)."""
    return np.clip(ends[:, None] + np.arange(-w + 1, 1)[None, :], 0, n - 1)


def _window_max(x: np.ndarray, ends: np.ndarray, w: int) -> np.ndarray:
    """max of x over each trailing window (end - w, end]: (P,)."""
    if ends.size == 0:
        return np.zeros(0)
    return x[_trailing_windows(ends, w, x.size)].max(axis=1)
