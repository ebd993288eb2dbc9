"""ECA page with AppTest: S0's per-emotion channel-weight lines per block, the current clip's gates on top."""

import numpy as np
import torch
from wb_helpers import QUICK, arr, charts, demo_clip, go, model_index, start, with_demo_clip

from core.audio import load_audio
from core.explain import analyze
from core.explain.eca import eca_gates


def _eca_chart(at):
    [chart] = [c for c in charts(at) if "ECA after conv block" in str(c["layout"])]
    return chart


def test_demo_profiles_per_block_with_the_current_clip_overlaid(demo_model):
    at = with_demo_clip("eca")
    assert not at.error
    chart = _eca_chart(at)
    titles = [a["text"] for a in chart["layout"]["annotations"]]
    assert titles == ["ECA after conv block 5 (blocks.4.eca)", "ECA after conv block 6 (blocks.5.eca)"]
    means = [d for d in chart["data"] if d.get("mode") == "lines" and "(n=" in d.get("name", "")]
    assert {d["name"] for d in means} == {f"{label} (n=12)" for label in ("angry", "happy", "neutral", "sad")}
    assert any(d.get("fill") == "toself" for d in chart["data"])  # the spread
    assert chart["layout"]["yaxis"]["title"]["text"] == "ECA weight (0–1)"

    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    features = torch.as_tensor(analyze(clip, model, card, methods=(), settings=QUICK, device="cpu").spectrogram)
    gates = eca_gates(model, features[None])
    current = [d for d in chart["data"] if d.get("name") == "current clip"]
    assert len(current) == 2
    for trace, tap in zip(current, ("blocks.4.eca", "blocks.5.eca")):
        np.testing.assert_allclose(arr(trace["y"]), gates[tap][0], atol=1e-5)

    at.radio(key="eca_source").set_value("session").run()
    assert not at.exception and not at.error
    session = [d["name"] for d in _eca_chart(at)["data"] if "(n=" in d.get("name", "")]
    assert len(session) == 2 and all(name.endswith("(n=1)") for name in session)  # one clip, both blocks


def test_a_model_without_eca_says_so(extra_models):
    at = start()
    at.selectbox(key="model").select_index(model_index(at, "plain-cnn")).run()
    go(at, "eca")
    assert any("has no efficient-channel-attention blocks" in i.value for i in at.info)
