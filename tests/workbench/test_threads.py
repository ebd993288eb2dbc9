"""One cached model, many threads: Grad-CAM's hooks must never see another job's forward passes."""

import numpy as np
from wb_helpers import DEMO_MODEL, demo_clip

from core.audio import load_audio
from core.explain import GradCamSettings, LimeSettings, OcclusionSettings, Settings, analyze
from workbench import analyses, checkpoints
from workbench.jobs import JobRunner


def test_grad_cam_jobs_beside_perturbation_jobs_give_the_results_of_a_lone_run(demo_model, monkeypatch):
    runner = JobRunner(workers=3)
    monkeypatch.setattr(analyses.state, "runner", lambda: runner)
    loaded = checkpoints.load(str(DEMO_MODEL))
    clip = load_audio(demo_clip().read_bytes(), name="clip")
    # many small forward passes: many chances to run while a Grad-CAM hook is registered
    busy = Settings(methods={"lime": LimeSettings(num_samples=60, batch_size=1),
                             "occlusion": OcclusionSettings(stride_ms=200.0, stride_bands=16, perturbations_per_eval=1)},
                    audio=False)
    perturbing = [analyses.submit(clip, loaded, part, busy) for part in ("lime", "occlusion")]
    settings = [Settings(target=t, methods={"gradcam": GradCamSettings(layer=layer)}, audio=False) for t in range(4)
                for layer in (None, "blocks.4", "blocks.3", "blocks.2")]
    cams = [analyses.submit(clip, loaded, "gradcam", s) for s in settings]
    results = [job.future.result(timeout=600) for job in cams]  # a hook mix-up raises inside captum
    for job in perturbing:
        job.future.result(timeout=600)

    model, card = demo_model
    for s, result in zip(settings, results):
        alone = analyze(clip, model, card, methods=("gradcam",), settings=s, device="cpu")
        np.testing.assert_allclose(result.maps["gradcam"].values, alone.maps["gradcam"].values, atol=1e-6)
