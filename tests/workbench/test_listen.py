"""Listen page with AppTest: curve under the waveform, every version's player, probabilities and download."""

import numpy as np
import pytest
from wb_helpers import DEMO_MODEL, QUICK, arr, charts, demo_clip, model_index, texts, with_demo_clip

from core import checkpoint
from core.audio import load_audio
from core.explain import analyze
from workbench import analyses


@pytest.fixture(scope="module")
def listening():
    return with_demo_clip("listen")


def _chart(at, trace_name):
    return [c for c in charts(at) if any(d.get("name") == trace_name for d in c["data"])][0]


def _versions(at):
    """The probabilities chart of the audio versions: (version names, (versions, emotions) table)."""
    chart = _chart(at, "angry")
    return list(arr(chart["data"][0]["x"])), np.stack([arr(d["y"]) for d in chart["data"]], axis=1)


def test_curve_is_aligned_under_the_waveform(listening):
    chart = _chart(listening, "Grad-CAM curve, smoothed")
    layout = chart["layout"]
    assert layout["yaxis"]["title"]["text"] == "amplitude"
    assert layout["yaxis2"]["title"]["text"] == "activation (normalised)"
    assert layout["xaxis2"]["title"]["text"] == "time (s)"
    assert layout["xaxis"]["matches"] == "x2"  # one shared time axis
    names = {d["name"] for d in chart["data"]}
    assert {"waveform", "focus gate (0–1)", "gradcam (summed over bands)", "occlusion (summed over bands)"} <= names


def test_every_version_has_a_player_a_download_and_probabilities_from_core(listening, demo_model):
    at = listening
    assert not at.exception and not at.error
    assert len(at.get("audio")) == 6  # original, focus, complement, Griffin-Lim, keep, remove
    assert len(at.get("download_button")) == 6
    names, table = _versions(at)
    assert {"original", "focus", "complement", "griffin-lim", "gradcam-keep", "lime-remove"} <= set(names)
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-5)
    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("gradcam",), settings=analyses.part_settings("gradcam", QUICK),
                        device="cpu")
    for name in ("original", "focus", "complement", "gradcam-keep"):
        np.testing.assert_allclose(table[names.index(name)], reference.audio[name].probabilities, atol=1e-5)


def test_smoothing_changes_the_curve_and_other_methods_have_keep_remove(listening):
    at = listening
    before = arr(_chart(at, "Grad-CAM curve, smoothed")["data"][2]["y"]).copy()
    at.slider(key="w:smooth_ms").set_value(30).run()
    assert not at.exception and not at.error
    after = arr(_chart(at, "Grad-CAM curve, smoothed")["data"][2]["y"])
    assert before.shape == after.shape and not np.allclose(before, after)
    at.radio(key="listen_method").set_value("occlusion").run()
    assert "occlusion: keep only (phase kept)" in texts(at)
    assert "occlusion: remove only (phase kept)" in texts(at)


def test_switching_to_the_shipped_cnn_atn_rescores_every_version_with_it():
    at = with_demo_clip("listen")
    earlier_names, earlier = _versions(at)
    at.selectbox(key="model").select_index(model_index(at, "cnn-atn")).run()
    assert not at.exception and not at.error
    names, table = _versions(at)
    assert {"original", "focus", "complement", "gradcam-keep", "gradcam-remove"} <= set(names)
    model, card = checkpoint.load(DEMO_MODEL.parent / "cnn-atn", "cpu")
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("gradcam",), settings=analyses.part_settings("gradcam", QUICK),
                        device="cpu")
    np.testing.assert_allclose(table[names.index("original")], reference.audio["original"].probabilities, atol=1e-5)
    assert not np.allclose(table[names.index("original")], earlier[earlier_names.index("original")])  # not cnn-eca's


def test_the_listening_sliders_recompute_no_map(demo_model):
    """Maps are cached apart from their audio: moving the keep share re-derives every part's audio from its cached
    map, one re-scoring forward per part, where recomputing LIME alone would take dozens of forward batches."""
    import torch

    from core.models import SerModel

    at = with_demo_clip("listen")
    forwards = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: forwards.append(args[0].shape[0]) if isinstance(module, SerModel) else None)
    try:
        at.slider(key="w:keep_fraction").set_value(0.5).run()
        assert not at.exception and not at.error
        rescored = len(forwards)
        forwards.clear()
        at.slider(key="w:smooth_ms").set_value(40).run()  # the focus clip only: Grad-CAM's part
        smoothed = len(forwards)
    finally:
        hook.remove()
    from core.explain import methods as registry

    parts = len(registry.defaults_for(demo_model[0])) + 1  # each default method, and Griffin-Lim
    assert rescored == parts and smoothed == 1, (rescored, smoothed)
    names, table = _versions(at)
    assert "lime-keep" in names and np.allclose(table.sum(axis=1), 1.0, atol=1e-5)
