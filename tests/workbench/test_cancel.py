"""Cancel means cancel: a new clip or model stops the session's unfinished work, and nothing stale stays on screen."""

import pytest
from streamlit.testing.v1 import AppTest
from wb_helpers import TIMEOUT, demo_clip, pick_demo, start, with_demo_clip

from workbench.jobs import Cancelled


def _spinning_session():
    import threading

    import streamlit as st

    from workbench import state

    def spin(progress):  # an endless attribution: reports progress between its batches
        while True:
            progress(0.5, "batch")
            threading.Event().wait(0.01)

    owner = st.session_state.get("owner", ("clip-a", "model-1"))
    job = state.runner().submit(f"test-spin:{owner}", spin)
    state.track(owner, [job])
    st.session_state.setdefault("jobs", {})[owner] = job


@pytest.mark.parametrize("switched", [("clip-b", "model-1"), ("clip-a", "model-2")], ids=["new clip", "new model"])
def test_a_new_clip_or_model_cancels_the_sessions_unfinished_jobs(switched):
    at = AppTest.from_function(_spinning_session, default_timeout=TIMEOUT).run()
    first = at.session_state["jobs"][("clip-a", "model-1")]
    assert not first.done()
    at.session_state["owner"] = switched
    at.run()
    with pytest.raises(Cancelled):
        first.future.result(timeout=5)
    current = at.session_state["jobs"][switched]
    assert not current.cancelled  # the work for what is on screen goes on
    current.cancel()


def test_an_upload_error_is_dropped_once_a_later_clip_comes_in():
    at = start()
    at.file_uploader(key="upload_files").set_value([("broken.wav", b"RIFF\x00\x00\x00\x00WAVEnope" * 10,
                                                     "audio/wav")]).run()
    assert any("broken.wav" in e.value for e in at.error)
    at = pick_demo(at, demo_clip().name)
    assert not any("broken.wav" in e.value for e in at.error)


def test_the_grad_cam_layer_picker_names_the_layer_in_use():
    at = with_demo_clip()
    [layer] = [s for s in at.selectbox if s.label.startswith("Layer")]
    assert layer.value == "blocks.5" and "model default" in layer.format_func(layer.value)
