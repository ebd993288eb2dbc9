"""Explain page with AppTest: clips in, overlays and probabilities out, errors in place, model switch."""

import numpy as np
import pytest
from wb_helpers import (QUICK, arr, charts, demo_clip, model_index, overlays, pick_demo, probabilities_chart, start,
                        TIMEOUT, texts, wav_bytes, with_demo_clip)

from core import checkpoint
from core.audio import load_audio
from core.explain import Settings, analyze, normalise


@pytest.fixture(scope="module")
def explained():
    """The app after picking one demo clip (shared by the read-only checks below)."""
    return with_demo_clip()


def test_app_opens_on_explain_with_no_errors():
    at = start(model=None)
    assert at.title[0].value == "Explain a clip"
    assert not at.error
    assert any("Add a clip" in i.value for i in at.info)
    assert at.selectbox(key="model").value.endswith("polish-cnn-eca")  # real speech by default


def test_three_overlays_on_seconds_and_hz_axes_with_colour_bars(explained):
    at = explained
    assert not at.error and not at.exception
    found = {c["data"][1]["name"]: c for c in overlays(at)}
    assert len(found) == 3, list(found)
    for chart in found.values():
        layout = chart["layout"]
        assert layout["xaxis"]["title"]["text"] == "time (s)"
        assert "Hz" in layout["yaxis"]["title"]["text"]
        assert "attribution" in chart["data"][1]["colorbar"]["title"]["text"]
        assert chart["data"][1]["colorscale"] and chart["data"][0]["colorscale"]
    markdown = [m.value for m in at.markdown]
    assert [m for m in markdown if m in ("**Grad-CAM**", "**Occlusion**", "**LIME**")][-3:] == [
        "**Grad-CAM**", "**Occlusion**", "**LIME**"]


def test_probabilities_sum_to_one_and_match_core(explained, demo_model):
    model, card = demo_model
    shown = probabilities_chart(explained)
    assert sum(shown.values()) == pytest.approx(1.0, abs=1e-5)
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("gradcam",), settings=Settings(audio=False), device="cpu")
    assert shown == pytest.approx(dict(zip(card.labels, map(float, reference.probabilities))), abs=1e-5)


def test_gradcam_overlay_draws_the_core_map(explained, demo_model):
    model, card = demo_model
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("gradcam",), settings=Settings(audio=False), device="cpu")
    [gradcam] = [c for c in overlays(explained) if c["data"][1]["name"] == "gradcam"]
    window, times = reference.on_clip(reference.frame_times)  # the clip's own frames: padding cropped
    assert reference.clip_offset > 0 and window.stop - window.start < len(reference.frame_times)
    np.testing.assert_allclose(arr(gradcam["data"][1]["z"]), normalise(reference.maps["gradcam"].values)[:, window],
                               atol=1e-5)
    np.testing.assert_allclose(arr(gradcam["data"][1]["x"]), times, atol=1e-6)
    assert gradcam["layout"]["xaxis"]["range"] == pytest.approx([0.0, clip.duration])


def test_focus_players_model_card_and_export_are_there(explained):
    at = explained
    assert len(at.get("audio")) >= 4  # the clip, then original / focus / complement
    assert "Grad-CAM focus clip" in texts(at)
    assert "**Classes:** `angry`, `happy`, `neutral`, `sad`" in texts(at)
    assert "held out" in texts(at)  # training metrics in the model card
    assert any(b.proto.label.startswith("Export") for b in at.get("download_button"))


def test_colour_scale_and_target_controls_rerun_with_new_figures(explained):
    at = explained
    own = [c["data"][1] for c in overlays(at)]
    assert all("÷ map max" in layer["colorbar"]["title"]["text"] for layer in own)
    at.radio(key="w:scale").set_value("rank within map").run()
    assert not at.exception
    assert len(overlays(at)) == 3
    ranked = [c["data"][1] for c in overlays(at)]
    assert all("rank in map" in layer["colorbar"]["title"]["text"] for layer in ranked)
    for layer in ranked:  # maps in different units on one footing: the brightest tenth is a tenth of every map
        z = np.abs(arr(layer["z"]))
        assert np.mean(z > 0.9) == pytest.approx(0.1, abs=0.03)
    [target] = [s for s in at.selectbox if s.label == "Target emotion"]
    target.select("sad").run()
    assert not at.exception and not at.error
    assert "explaining **sad**" in texts(at)
    assert len(overlays(at)) == 3
    assert all("for 'sad'" in c["layout"]["title"]["text"] for c in overlays(at))


def test_bad_uploads_show_their_message_and_keep_earlier_results():
    at = with_demo_clip()
    before = len(overlays(at))
    assert before == 3
    at.file_uploader(key="upload_files").set_value([
        ("corrupt.wav", b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 10, "audio/wav"),
        ("notes.mp3", b"this is text, not sound", "audio/mpeg"),
        ("long.wav", wav_bytes(np.zeros(16_000 * 61, dtype=np.float32) + 0.01), "audio/wav"),
    ]).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "'corrupt.wav' could not be decoded" in errors
    assert "'notes.mp3' could not be decoded" in errors
    assert "long.wav" in errors and "60" in errors
    assert "Traceback" not in texts(at)
    assert len(overlays(at)) == before  # the earlier results stay
    assert at.selectbox(key="clip").value is not None


def test_a_clip_too_short_to_analyse_is_refused_in_place_and_the_page_keeps_working():
    at = with_demo_clip()
    current = at.selectbox(key="clip").value
    before = overlays(at)
    assert len(before) == 3
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(160) / 16_000)  # 0.01 s
    at.file_uploader(key="upload_files").set_value(("blip.wav", wav_bytes(tone.astype(np.float32)), "audio/wav")).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "'blip.wav' is 10.0 ms long" in errors and "at least 300 ms" in errors
    assert "Traceback" not in texts(at)
    assert at.selectbox(key="clip").value == current  # the short clip never became the current one
    assert len(at.selectbox(key="clip").options) == 1
    assert [c["data"][1]["z"] for c in overlays(at)] == [c["data"][1]["z"] for c in before]

    at.slider(key="w:opacity").set_value(0.25).run()  # the earlier clip's controls still drive its maps
    assert not at.exception
    assert len(overlays(at)) == 3
    assert all(c["data"][1]["opacity"] == pytest.approx(0.25) for c in overlays(at))
    assert "at least 300 ms" in " ".join(e.value for e in at.error)  # the message stays by the uploader
    at.slider(key="w:opacity").set_value(0.8).run()
    assert all(c["data"][1]["opacity"] == pytest.approx(0.8) for c in overlays(at))


def test_a_recording_becomes_the_current_clip_and_is_explained():
    at = start()
    data = demo_clip(index=1).read_bytes()
    at.audio_input(key="record_clip").set_value(("recording.wav", data, "audio/wav")).run()
    assert not at.exception and not at.error
    assert at.selectbox(key="clip").value == load_audio(data).sha256
    assert at.subheader[0].value.startswith("recording ")
    assert len(overlays(at)) == 3


def test_a_silent_clip_says_so_and_the_earlier_clip_comes_back():
    at = with_demo_clip()
    first = at.selectbox(key="clip").index
    at.file_uploader(key="upload_files").set_value(("quiet.wav", wav_bytes(np.zeros(16_000)), "audio/wav")).run()
    assert not at.exception
    assert any("'quiet.wav' is silent" in w.value for w in at.warning)
    assert not overlays(at)
    at.selectbox(key="clip").select_index(first).run()
    assert len(overlays(at)) == 3


def test_switching_models_reexplains_and_a_broken_checkpoint_errors_in_place(extra_models):
    at = start()
    plain, broken, shipped = (model_index(at, p) for p in ("plain-cnn", "broken", "cnn-eca (synthetic demo)"))
    at.selectbox(key="model").select_index(shipped).run()
    pick_demo(at, demo_clip().name)
    demo_probabilities = probabilities_chart(at)

    at.selectbox(key="model").select_index(plain).run()
    assert not at.exception and not at.error
    model, card = checkpoint.load(extra_models / "plain-cnn", "cpu")
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("gradcam",), settings=Settings(audio=False), device="cpu")
    expected = dict(zip(card.labels, map(float, reference.probabilities)))
    assert probabilities_chart(at) == pytest.approx(expected, abs=1e-5)
    assert probabilities_chart(at) != pytest.approx(demo_probabilities, abs=1e-3)

    at.selectbox(key="model").select_index(broken).run()
    assert not at.exception
    assert any("is not valid JSON" in e.value for e in at.error)
    assert at.title[0].value == "Explain a clip" and charts(at)  # the page and the clip's charts stay

    at.selectbox(key="model").select_index(shipped).run()
    assert probabilities_chart(at) == pytest.approx(demo_probabilities, abs=1e-6)


def test_quick_settings_reach_the_method_controls(explained):
    assert explained.number_input(key="w:lime_num_samples").value == QUICK.of("lime").num_samples


def test_a_yes_no_setting_is_a_toggle_and_the_page_reruns_with_it():
    at = with_demo_clip()
    stop = at.toggle(key="w:lime_stop_when_converged")
    assert stop.label == "Stop when converged" and stop.value is True
    stop.set_value(False).run(timeout=TIMEOUT)
    assert not at.exception and at.toggle(key="w:lime_stop_when_converged").value is False
    assert [c["data"][1]["name"] for c in overlays(at)] == ["gradcam", "occlusion", "lime"]


def test_an_attention_model_on_mfccs_adds_its_attention_map(attention_model):
    at = start()
    at.selectbox(key="model").select_index(model_index(at, "cnn-atn")).run()
    pick_demo(at, demo_clip().name)
    assert not at.error
    found = {c["data"][1]["name"]: c for c in overlays(at)}
    assert list(found) == ["gradcam", "occlusion", "lime", "attention"]
    assert all(c["layout"]["yaxis"]["title"]["text"] == "MFCC index" for c in found.values())
    assert sum(probabilities_chart(at).values()) == pytest.approx(1.0, abs=1e-5)


def test_methods_picked_from_the_registry_draw_their_maps_and_settings(demo_model):
    model, card = demo_model
    at = pick_demo(start(), demo_clip().name)
    [picker] = [m for m in at.multiselect if m.label == "Methods"]
    assert picker.value == ["gradcam", "occlusion", "lime"]  # the registry's defaults for this model
    assert {"HiResCAM", "Integrated Gradients", "SmoothGrad", "KernelSHAP"} <= set(picker.options)  # titles shown
    picker.set_value(["gradcam", "integrated-gradients"]).run()
    [picker] = [m for m in at.multiselect if m.label == "Methods"]
    assert picker.value == ["gradcam", "integrated-gradients"]
    assert not at.error and not at.exception
    found = {c["data"][1]["name"]: c for c in overlays(at)}
    assert list(found) == ["gradcam", "integrated-gradients"]
    assert at.number_input(key="w:integrated-gradients_n_steps").value == 32  # its declared default
    at.number_input(key="w:integrated-gradients_n_steps").set_value(8).run()
    clip = load_audio(demo_clip().read_bytes(), name=demo_clip().name)
    reference = analyze(clip, model, card, methods=("integrated-gradients",), device="cpu",
                        settings=Settings(methods={"integrated-gradients": at.session_state["settings"].of(
                            "integrated-gradients")}, audio=False))
    assert reference.maps["integrated-gradients"].settings["n_steps"] == 8
    [drawn] = [c for c in overlays(at) if c["data"][1]["name"] == "integrated-gradients"]
    window, _ = reference.on_clip(reference.frame_times)
    np.testing.assert_allclose(arr(drawn["data"][1]["z"]),
                               normalise(reference.maps["integrated-gradients"].values)[:, window], atol=1e-5)
