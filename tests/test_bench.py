"""`make bench` keeps working: each benchmark runs once on the CPU and reports every row (times are not judged here)."""

import math

from bench import explain, long_clips, train


def test_explain_bench_reports_ours_the_library_default_and_the_floor_per_method():
    rows, context = explain.run("cpu", repeats=1)
    by_method = {r["method"]: r for r in rows}
    assert list(by_method) == ["gradcam", "occlusion", "lime", "focus audio", "all three"]
    assert all(r["ours"] > 0 and math.isfinite(r["ours"]) for r in rows)
    assert by_method["occlusion"]["default"] > 0 and by_method["lime"]["default"] > 0
    assert by_method["all three"]["ours"] == sum(by_method[m]["ours"] for m in ("gradcam", "occlusion", "lime"))
    text = explain.markdown(rows, context)
    assert "shipped demo cnn-eca" in text and text.count("\n| ") == len(rows) + 1


def test_train_bench_reports_clips_per_second_for_every_model():
    rows, context = train.run("cpu", steps=1, batch=4)
    assert [r["model"] for r in rows] == [f"{name} ({size})" for name, size in train.MODELS]
    assert all(r["off"] > 0 for r in rows) and "batch 4" in context
    assert train.markdown(rows, context).count("\n| ") == len(rows) + 1


def test_long_clip_bench_reports_windowed_and_whole_clip_times():
    rows, context = long_clips.run(lengths=(1.0, 4.0), whole_up_to=4.0, device="cpu")
    assert [r["seconds"] for r in rows] == [1.0, 4.0]
    assert rows[0]["windows"] == 1 and rows[1]["windows"] > 1  # 4 s is over twice the model's 1.7 s
    assert all(r["windowed"] > 0 and r["whole"] > 0 for r in rows)
    text = long_clips.markdown(rows, context)
    assert "polish-cnn-eca" in text and text.count("\n| ") == len(rows) + 1
