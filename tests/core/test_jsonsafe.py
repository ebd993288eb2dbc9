"""The one JSON conversion: what cards, configs, reports and exports write must read back as plain JSON."""

import json
from pathlib import Path

import numpy as np

from core import jsonsafe
from core.models import build


def test_containers_and_numpy_values_become_plain_json():
    value = {1: (np.float32(0.5), np.int64(3)), "array": np.arange(3), "nested": [{"t": (True, None)}],
             "flag": np.bool_(True)}
    plain = jsonsafe.plain(value)
    assert plain == {"1": [0.5, 3], "array": [0, 1, 2], "nested": [{"t": [True, None]}], "flag": True}
    assert type(plain["1"][0]) is float and type(plain["1"][1]) is int and type(plain["flag"]) is bool
    assert json.loads(jsonsafe.dumps(value)) == plain


def test_leaves_json_does_not_know_are_written_as_text():
    assert json.loads(jsonsafe.dumps({"path": Path("/data/a.wav"), "x": np.float64(2.0)})) == {
        "path": "/data/a.wav", "x": 2.0}


def test_a_model_config_round_trips_through_json():
    model = build("cnn-eca", 3, n=1, eca_blocks=(5, 6))
    assert model.config["eca_blocks"] == [5, 6]  # tuples stored as JSON lists: the card holds the same value
    assert json.loads(json.dumps(model.config)) == model.config
