"""Helpers for the AppTest page tests: start the app with quick settings, read charts back."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from streamlit.testing.v1 import AppTest

from core.explain import LimeSettings, OcclusionSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "workbench" / "app.py")
PAGES = ROOT / "workbench" / "app_pages"
DEMO_MODEL = ROOT / "assets" / "models" / "cnn-eca"
#: The shipped real-speech S0 model (trained on assets/polish), the workbench's default.
REAL_MODEL = ROOT / "assets" / "models" / "polish-cnn-eca"
REAL_CORPUS = ROOT / "assets" / "polish"
#: Generous: the machine running the suite may be shared; a run normally takes seconds.
TIMEOUT = 240

#: Real methods with fewer perturbations, so that page tests stay quick on two CPU cores.
QUICK = Settings(
    methods={"lime": LimeSettings(num_samples=60),
             "occlusion": OcclusionSettings(window_ms=400.0, window_bands=32, stride_ms=200.0, stride_bands=16)},
    griffin_lim_iters=32,
)


def start(settings: Settings = QUICK, model: Path | None = DEMO_MODEL) -> AppTest:
    """The app with quick settings and ``model`` picked in the sidebar (the synthetic demo cnn-eca, which most
    page tests check against; None: the app's own default, a real-speech model)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["settings"] = settings
    if model is not None:
        at.session_state["model"] = str(Path(model).resolve())
    at.run()
    assert not at.exception, at.exception
    return at


def demo_clip(split: str = "test", index: int = 0) -> Path:
    return sorted((ROOT / "assets" / "demo" / split).rglob("*.wav"))[index]


def clip_set_of(name: str) -> str:
    """The key of the Explain page's example-clip set that holds the file ``name``."""
    from workbench import state

    sets, _ = state.clip_sets()
    return next(key for key, found in sets.items() if any(r.path.name == name for r in found.rows))


def pick_demo(at: AppTest, name: str) -> AppTest:
    """Pick the shipped example clip ``name`` (real, synthetic demo or planted cue) on the Explain page."""
    clip_set = clip_set_of(name)
    if at.selectbox(key="demo_set").value != clip_set:
        at.selectbox(key="demo_set").select(clip_set).run()
    at.selectbox(key="demo_clip").select(name).run()
    assert not at.exception, at.exception
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(str(PAGES / f"{page}.py")).run()
    assert not at.exception, at.exception
    return at


def with_demo_clip(page: str | None = None) -> AppTest:
    """The app with the first demo test clip explained, on ``page`` (default: Explain)."""
    at = pick_demo(start(), demo_clip().name)
    return go(at, page) if page else at


def arr(value) -> np.ndarray:
    """A figure's data array: plotly 6 writes numpy arrays as base64 ``{"dtype", "bdata", "shape"}``."""
    if isinstance(value, dict) and "bdata" in value:
        data = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        shape = value.get("shape")
        if isinstance(shape, str):
            shape = tuple(int(n) for n in shape.split(","))
        return data.reshape(shape) if shape else data
    return np.asarray(value)


def charts(at: AppTest) -> list[dict]:
    """Every plotly chart on the page, as its figure JSON."""
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def overlays(at: AppTest) -> list[dict]:
    """The attribution overlays: a grey spectrogram heatmap plus a map heatmap with a colour bar."""
    return [c for c in charts(at) if [d["type"] for d in c["data"]] == ["heatmap", "heatmap"]
            and c["data"][1].get("colorbar")]


def probabilities_chart(at: AppTest) -> dict[str, float]:
    """The Explain page's probability bars as {emotion: probability}."""
    for c in charts(at):
        names = [d.get("name") for d in c["data"]]
        if names == ["predicted", "other classes"]:
            return {y.split(" ◀")[0]: float(x) for d in c["data"] for x, y in zip(arr(d["x"]), d["y"])}
    raise AssertionError("no probability chart on the page")


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("markdown", "caption", "error", "warning", "info") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def wav_bytes(samples: np.ndarray, sr: int = 16_000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def model_index(at: AppTest, prefix: str) -> int:
    """Index of the sidebar model option whose label starts with ``prefix``."""
    return [i for i, o in enumerate(at.selectbox(key="model").options) if o.startswith(prefix)][0]
