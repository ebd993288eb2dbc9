"""`make bench` keeps working: each benchmark runs once on the CPU and reports every row (times are not judged here)."""

import math

from bench import explain, long_clips, train


def test_explain_bench_reports_ours_and_the_library_defaults_for_the_demo_and_the_paper_model():
    # A short clip keeps the paper-size model's captum runs brief; compiling is tested in test_compiled.
    results, throughput, context = explain.run("cpu", repeats=1, use_compile=False, seconds=0.6, max_clips=2)
    assert [r["name"].split(" (")[0] for r in results] == ["demo cnn-eca", "paper cnn-eca"]
    for r in results:
        for part in ("default", "eager"):
            assert all(r[part][m] > 0 and math.isfinite(r[part][m]) for m in explain.METHODS)
        assert r["plain occlusion"] > 0 and r["plain lime"] > 0 and r["all samples"] > 0 and r["lime_image"] > 0
        assert 0 < r["eager"]["samples"] <= 500 and set(r["floor_ms"]) == {"batch 1", f"batch {r['rows']}"}
    assert throughput["clips"] == 2 and throughput["clips_per_s"] > 0
    text = explain.markdown(results, throughput, context)
    assert text.count("**all three**") == 2 and "clips/s" in text and "0.6 s clip" in text


def test_train_bench_reports_clips_per_second_for_every_model():
    rows, context = train.run("cpu", steps=1, batch=4)
    assert [r["model"] for r in rows] == [f"{name} ({size})" for name, size in train.MODELS]
    assert all(r["off"] > 0 for r in rows) and "batch 4" in context
    assert train.markdown(rows, context).count("\n| ") == len(rows) + 1


def test_long_clip_bench_reports_windowed_and_whole_clip_times():
    rows, context = long_clips.run(lengths=(1.0, 4.0), whole_up_to=4.0, device="cpu")
    assert [r["seconds"] for r in rows] == [1.0, 4.0]
    assert rows[0]["windows"] == 1 and rows[1]["windows"] > 1  # 4 s is over twice the model's 1.7 s
    assert all(r["windowed"] > 0 and r["whole"] > 0 and r["whole_occlusion"] > 0 and r["whole_plain"] > 0
               for r in rows)
    text = long_clips.markdown(rows, context)
    assert "polish-cnn-eca" in text and text.count("\n| ") == 2 * (len(rows) + 1)
