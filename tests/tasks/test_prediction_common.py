"""Tabular preprocessing of the prediction experiments: fitted on training rows only."""

from __future__ import annotations

import numpy as np
import pytest

from tasks._prediction_common import TabularPreprocessor, column, read_table
from tasks.errors import UsageError


def _table(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return read_table(path)


def test_types_missing_values_and_training_only_statistics(tmp_path):
    t = _table(tmp_path, "age,stage,grp\n50,II,a\n,III,b\n70,NA,a\n90,II,c\n1000,IV,b\n")
    assert set(t.numeric) == {"age"} and set(t.categorical) == {"stage", "grp"}
    assert np.isnan(t.numeric["age"][1]) and t.categorical["stage"][2] is None
    train = np.array([0, 1, 2, 3])
    prep = TabularPreprocessor().fit(t, ["age", "stage", "grp"], train)
    # training ages 50, (missing -> median 70), 70, 90: mean 70, std sqrt(200)
    assert prep.numeric == [("age", 70.0, 70.0, pytest.approx(np.sqrt(200)))]
    assert prep.feature_names == ["age", "stage=III", "grp=b", "grp=c"]  # reference levels II and a left out
    x = prep.transform(t, np.array([1, 2, 4]))
    np.testing.assert_allclose(x[:, 0], [0.0, 0.0, 930 / np.sqrt(200)], rtol=1e-6)  # row 4 never shaped the scaling
    # missing stage -> the training mode II (the reference); stage IV was never seen in training -> reference too
    np.testing.assert_array_equal(x[:, 1], [1, 0, 0])
    np.testing.assert_array_equal(x[:, 2:], [[1, 0], [0, 0], [1, 0]])


def test_column_errors_name_file_and_column(tmp_path):
    t = _table(tmp_path, "time,status\n5,1\nsoon,0\n")
    with pytest.raises(UsageError, match="time column 'time' must be numeric, found text 'soon'"):
        column(t, "time", "time")
    with pytest.raises(UsageError, match="no event column 'dead'; columns are time, status"):
        column(t, "dead", "event")
    with pytest.raises(UsageError, match="different number of cells"):
        _table(tmp_path, "a,b\n1,2\n3\n")
