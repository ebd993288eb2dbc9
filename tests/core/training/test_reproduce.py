"""``serwb reproduce``: every run of every study is a valid training of its preset with the sweep's value, the
tables set our numbers beside the paper's (the values of the papers' text), FLOPs follow the layer sizes, and a
second call reads finished runs back instead of training them again."""

import dataclasses
import json

import pytest

from core import models, presets
from core.cli import main
from core.data.corpora import load_manifest
from core.errors import ConfigError
from core.reproduce import STUDIES, reproduce, study
from core.reproduce.measure import cost, input_shape
from core.reproduce.runner import RESULT, run_config
from core.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_thread")

ALL_RUNS = [(s.name, r) for s in STUDIES.values() for r in s.runs]


@pytest.mark.parametrize("quick", [False, True])
def test_every_run_is_its_preset_with_the_sweeps_value(quick):
    built = set()
    for paper, run in ALL_RUNS:
        cfg, protocol, record = run_config(run, quick=quick)
        assert isinstance(cfg, TrainConfig) and record["name"] == run.preset in presets.available()
        assert cfg.model in models.available() and set(cfg.model_cfg) <= set(models.default_config(cfg.model))
        key = json.dumps([cfg.model, dict(cfg.model_cfg)], sort_keys=True, default=list)
        if key not in built:  # every configuration builds
            models.build(cfg.model, 4, **dict(cfg.model_cfg))
            built.add(key)
        for key, value in run.overrides.items():
            if key == "model_cfg":
                assert all(cfg.model_cfg[k] == v for k, v in value.items()), run.name
            elif key != "model":
                assert getattr(cfg, key) == value, (run.name, key)
        if quick:
            assert cfg.epochs == 1 and protocol["folds"] <= 2
        else:
            assert cfg.epochs == presets.get(run.preset).epochs


def test_the_s0_sweeps_vary_what_the_paper_varies():
    s0 = {r.name: run_config(r)[0] for r in study("s0").runs}
    assert [s0[f"n-{n}"].model_cfg["n"] for n in range(1, 9)] == list(range(1, 9))
    assert s0["aug-down-3"].augment == ("stft-v8", "stft-v7", "stft-v6", "stft-v5", "stft-v4", "stft-v3")
    assert s0["aug-up-2"].augment == ("stft-v1", "stft-v2")
    ce, focal = s0["ablation-cnn-ce"], s0["ablation-cnn-focal"]
    assert (ce.model, ce.focal_gamma, ce.class_weighted) == ("cnn", 0.0, False)
    assert (focal.model, focal.focal_gamma, focal.class_weighted, focal.augment) == ("cnn", 1.0, True, ())
    assert s0["s0"].augment == presets.get("s0").augment and s0["s0"].model == "cnn-eca"
    assert models.num_parameters(models.build("cnn-eca", 4, **dict(s0["s0"].model_cfg))) == \
        study("s0").runs[[r.name for r in study("s0").runs].index("s0")].paper["IEMOCAP"]["params"]


def test_s0_table_5_swaps_only_the_attention_module_of_the_eca_ablation():
    s0 = {r.name: run_config(r)[0] for r in study("s0").runs}
    eca = s0["ablation-our-eca"]
    assert s0["attention-eca"] == eca
    for name, model in (("attention-head-fusion", "cnn-hf"), ("attention-mha", "cnn-mha"),
                        ("attention-area", "cnn-area")):
        cfg = s0[name]
        assert cfg.model == model and cfg.augment == () and cfg.model_cfg["n"] == eca.model_cfg["n"]
        assert dataclasses.replace(cfg, model=eca.model, model_cfg=eca.model_cfg) == eca
        assert list(models.build(model, 4, **dict(cfg.model_cfg)).spec.cam_layers) == ["blocks.5"]
    table = [r for r in study("s0").runs if r.sweep.startswith("Table 5")]
    assert [r.setting for r in table] == ["Head-fusion", "MHA", "Area Attention", "ECA"]
    assert [r.paper["EMODB"]["UA"] for r in table] == [84.22, 80.87, 84.45, 85.48]  # S0's Table 5, EMODB UA


def test_flops_follow_the_papers_layer_sizes():
    # S2's SDNN: Dense(1 -> 128) and Dense(128 -> 64) on each of the 40 time-averaged MFCCs, flatten 2560 -> classes;
    # 2 FLOPs per multiply-add (torch's counter; BatchNorm and the time average are not matrix products)
    cfg = dict(presets.get("s2-sdnn").model_cfg)
    assert cost("sdnn", cfg, 4, None, 1.0)["flops"] == 2 * (40 * 128 + 40 * 128 * 64 + 40 * 64 * 4)
    assert input_shape(models.build("cnn-eca", 4, n=1), "stft-v8", 6.0) == (1, 64, 601)  # 10 ms hop, centred frames


def test_unknown_paper_and_run_are_refused_with_the_choices(demo):
    with pytest.raises(ConfigError, match="s0, s1, s2, s3"):
        study("s9")
    with pytest.raises(ConfigError, match="no run"):
        reproduce("s2", demo, "unused", only=("s2-nope",))


def test_quick_s2_writes_the_papers_table_beside_ours_and_resumes(demo_root, tmp_path, capsys):
    out = tmp_path / "s2"
    argv = ["reproduce", "s2", "--corpus", str(demo_root), "--out", str(out), "--quick", "--quiet"]
    assert main(argv) == 0
    text = (out / "results.md").read_text()
    assert "paper: SAVEE" in text and "paper: RAVDESS" in text and "Quick smoke run" in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == {"`s2-sdnn`", "`s2-cnn-atn`"}
    assert "WA 74 | WA 77" in rows["`s2-cnn-atn`"] and "WA 69.79 | WA 45.18" in rows["`s2-sdnn`"]  # Table 2
    saved = json.loads((out / "results.json").read_text())
    assert saved["corpus"]["clips"] == len(load_manifest(demo_root)) and saved["quick"] is True
    for run in saved["runs"]:
        assert set(run["scores"]["mean"]) == {"UA", "WA", "ACC", "F1"} and run["cost"]["flops"] > 0
        assert run["training"]["seconds"] > 0 and run["preset"]["overrides"]["quick"] is True
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["confusion-s2-cnn-atn.png", "confusion-s2-sdnn.png"]

    first = {p: p.stat().st_mtime_ns for p in out.glob(f"runs/*/{RESULT}")}
    (out / "runs" / "s2-sdnn" / RESULT).unlink()  # as if stopped before that run finished
    capsys.readouterr()
    assert main(argv) == 0
    log = capsys.readouterr().out
    assert "s2-cnn-atn: finished earlier" in log and "s2-sdnn: finished earlier" not in log
    assert (out / "runs" / "s2-cnn-atn" / RESULT).stat().st_mtime_ns == first[out / "runs" / "s2-cnn-atn" / RESULT]
    assert (out / "runs" / "s2-sdnn" / RESULT).is_file()


def test_quick_s0_draws_the_sweep_and_the_per_emotion_eca_weights(demo, tmp_path):
    done = reproduce("s0", demo, tmp_path, quick=True, only=("ablation-cnn-focal", "s0"), progress=False)
    names = sorted(p.name for p in done["plots"])
    assert names == ["eca-blocks-4-eca.png", "eca-blocks-5-eca.png", "sweep-table-6-ablation-version-8.png"]
    assert "| `s0` | + + our ECA block (the proposed model) |" in done["markdown"]
    assert "UA 80.28 · WA 80.46 · ACC 80.37 · 2,734,482 params · 61.1 GFLOPs" in done["markdown"]  # Tables 4, 6


def test_the_gds_plot_counts_each_files_kept_segments():
    from core.reproduce.plots import gds_figures

    per_file = [{"file": f"c{i}.wav", "kept": kept, "segments": 4} for i, kept in enumerate((4, 3, 3, 1))]
    figures = gds_figures([{"run": "s3", "gds": {"per_file": per_file}}, {"run": "s3-no-gds", "gds": None}])
    assert list(figures) == ["gds-s3"]
    ax = figures["gds-s3"].axes[0]
    assert ax.get_title().endswith("kept 11 of 16 segments")
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 4 and heights[-1] == 1 and heights[7] == 2  # 1.0: one file; 0.75: two files


def test_lstm_flops_are_counted_by_the_gate_formula():
    # S2's LSTM(100) -> LSTM(50) over T MFCC frames: 4 gates x (input + hidden) x hidden per step, 2 per multiply-add;
    # torch's counter sees only the dense head (its fused LSTM kernel has no formula)
    cfg = dict(presets.get("s2-lstm").model_cfg)
    counted = cost("lstm", cfg, 4, None, 1.0)
    steps = counted["input"][2]
    lstm = 2 * 4 * steps * (100 * (40 + 100) + 50 * (100 + 50))
    assert lstm <= counted["flops"] <= lstm + 2 * 50 * 4 + 10_000  # plus the dense head and BatchNorm's few


def test_quick_s1_draws_the_t_sne_of_the_embedding_and_says_the_paper_gives_no_numbers(demo, tmp_path):
    done = reproduce("s1", demo, tmp_path, quick=True, only=("s1",), progress=False)
    assert [p.name for p in done["plots"]] == ["tsne.png"]
    assert "the text we have is the abstract" in done["markdown"].lower()
    assert [r["run"] for r in done["results"]] == ["s1"]
