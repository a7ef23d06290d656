from __future__ import annotations

import numpy as np
import pytest

from subsel import Selection


def test_defaults_and_mask():
    s = Selection(indices=[3, 0, 5])
    assert len(s) == 3 and s.indices.dtype == np.int64
    assert np.array_equal(s.weights, np.ones(3))
    assert s.mask(6).tolist() == [True, False, False, True, False, True]
    assert s.to_dict()["indices"] == [3, 0, 5]


def test_rejects_inconsistent_fields():
    with pytest.raises(ValueError, match="one entry per selected index"):
        Selection(indices=[1, 2], weights=[1.0])
    with pytest.raises(ValueError, match=">= 0"):
        Selection(indices=[-1])
    with pytest.raises(TypeError):
        Selection(indices=np.array([0.5]))
    with pytest.raises(ValueError, match="out of range"):
        Selection(indices=[7]).mask(5)


def test_to_dict_is_json_serializable_with_numpy_extras():
    import json

    s = Selection(indices=[1], extra={"a": np.arange(2), "b": [{"c": np.float64(1.5)}]})
    assert json.loads(json.dumps(s.to_dict()))["b"] == [{"c": 1.5}]
