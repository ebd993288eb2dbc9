"""`serwb train` and `serwb evaluate`: files written, metrics consistent, user errors as one line."""

import csv
import json
import pickle
import shutil

import torch

from core import checkpoint
from core.cli import build_parser, main
from core.figures import confusion_figure
from core.data.corpora import load_manifest

FAST = ["--epochs", "1", "--batch-size", "8", "--seconds", "1.0", "--device", "cpu", "--quiet"]


def test_train_and_evaluate_on_the_demo_corpus(demo_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(out), "--model-cfg",
                 "hidden=[32,16]", *FAST]) == 0
    printed = capsys.readouterr().out
    assert "held-out (4 clips)" in printed and f"wrote {out / 'model'}" in printed
    model, card = checkpoint.load(out / "model", device="cpu")
    assert card.model == "sdnn" and card.model_config["hidden"] == [32, 16] and card.features.name == "mfcc40"
    assert card.metrics["protocol"].startswith("split column") and card.metrics["held_out"]["n"] == 4
    assert card.training["epochs"] == 1 and card.data["clips"] == 8  # the 8 train clips, never test or cue
    # what a bit-for-bit rerun must match: this torch build, the CPU and its thread count
    assert card.training["compute"] == {"torch": torch.__version__, "device": "cpu",
                                        "threads": torch.get_num_threads(), "gpu": None}
    report = json.loads((out / "metrics.json").read_text())
    assert report["held_out"] == card.metrics["held_out"]

    ev = tmp_path / "eval"
    assert main(["evaluate", str(out / "model"), "--corpus", str(demo_root), "--out", str(ev), "--quiet"]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    for key in ("UA", "WA", "ACC", "confusion", "per_class_recall"):
        assert metrics[key] == card.metrics["held_out"][key]  # same model, same test split
    assert metrics["split"] == "test" and metrics["weights_sha256"] == card.weights_sha256
    png = (ev / "confusion.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000


def test_evaluate_a_corpus_without_a_split_column_needs_no_options(demo_root, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(run), *FAST]) == 0
    by_label = tmp_path / "by-label"  # a folder-per-label corpus, as users bring them: no split column
    clips = load_manifest(demo_root).filter(split="test").rows
    for row in clips:
        (by_label / row.label).mkdir(parents=True, exist_ok=True)
        shutil.copy(row.path, by_label / row.label / row.path.name)
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", str(run / "model"), "--corpus", str(by_label), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "evaluation" / "model-by-label-all" / "metrics.json").read_text())
    assert metrics["split"] == "all" and metrics["n"] == len(clips)
    assert "wrote evaluation/model-by-label-all" in capsys.readouterr().out


def test_k_fold_cross_validation_then_the_final_model(demo_root, tmp_path, capsys):
    out = tmp_path / "cv"
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(out), "--folds", "2",
                 "--grouped", *FAST]) == 0
    assert "2-fold CV (speaker-independent): UA" in capsys.readouterr().out
    card = checkpoint.read_card(out / "model")
    cv = card.metrics["cv"]
    assert cv["k"] == 2 and cv["grouped"] and len(cv["folds"]) == 2 and set(cv["mean"]) == {"UA", "WA", "ACC"}
    assert (out / "cv" / "fold-2" / "model" / "model.safetensors").is_file()
    assert "held_out" in card.metrics


def test_a_corpus_without_a_split_column_gets_a_speaker_holdout(demo, tmp_path):
    root = tmp_path / "plain"
    root.mkdir()
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker"])
        for i, row in enumerate(demo.rows):
            if row.extra["split"] != "cue":
                shutil.copyfile(row.path, root / f"clip{i:02d}.wav")
                writer.writerow([f"clip{i:02d}.wav", row.label, row.speaker])
    out = tmp_path / "run"
    assert main(["train", "--model", "sdnn", "--corpus", str(root), "--out", str(out), *FAST]) == 0
    card = checkpoint.read_card(out / "model")
    assert card.metrics["protocol"].startswith("speaker holdout")
    assert card.metrics["held_out"]["n"] + card.data["clips"] == 12


def test_confusion_figure_has_labelled_axes():
    fig = confusion_figure([[3, 1], [0, 4]], ["angry", "sad"], "demo")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted emotion" and ax.get_ylabel() == "true emotion"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["angry", "sad"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["angry", "sad"]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "3", "4"]


def _one_line_error(capsys, argv, *needles):
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("serwb: ") and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[-1], lines[-1]


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_user_errors_are_one_line(demo_root, tmp_path, capsys):
    corpus = ["--corpus", str(demo_root), "--out", str(tmp_path / "x")]
    _one_line_error(capsys, ["train", "--model", "resnet", *corpus, *FAST], "Unknown model 'resnet'", "cnn-eca")
    _one_line_error(capsys, ["train", "--model", "sdnn", "--model-cfg", "hidden", *corpus, *FAST], "KEY=VALUE")
    _one_line_error(capsys, ["train", "--model", "sdnn", "--model-cfg", "depth=3", *corpus, *FAST], "depth")
    _one_line_error(capsys, ["train", "--model", "sdnn", "--features", "stft-v9", *corpus, *FAST], "stft-v9")
    _one_line_error(capsys, ["train", "--model", "sdnn", "--corpus", str(tmp_path / "none"), "--out",
                             str(tmp_path / "y"), *FAST], "none")
    _one_line_error(capsys, ["evaluate", str(tmp_path / "missing"), "--corpus", str(demo_root), "--out",
                             str(tmp_path / "e")], "No checkpoint")
    marker = tmp_path / "unpickled"
    (tmp_path / "model.pt").write_bytes(pickle.dumps(_Payload(marker)))
    _one_line_error(capsys, ["evaluate", str(tmp_path / "model.pt"), "--corpus", str(demo_root), "--out",
                             str(tmp_path / "e")], "never unpickles")
    assert not marker.exists()
    run = tmp_path / "run"
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(run), *FAST]) == 0
    _one_line_error(capsys, ["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(run), *FAST],
                    "--resume")
    _one_line_error(capsys, ["evaluate", str(run / "model"), "--corpus", str(demo_root), "--split", "val",
                             "--out", str(tmp_path / "e")], "split == 'val'")


def test_the_parser_knows_train_and_evaluate():
    help_text = build_parser().format_help()
    for command in ("train", "evaluate", "corpus", "app"):
        assert command in help_text


def test_repeated_list_options_add_up_instead_of_replacing_each_other():
    """``--set a=1 --set b=2`` means both, as every CLI user expects; argparse's plain nargs kept only the last."""
    parser = build_parser()
    found = parser.parse_args(["explain", "clip.wav", "--model", "m", "--out", "o",
                               "--set", "gradcam.layer=blocks.4", "--set", "hirescam.layer=blocks.4", "lime.seed=1"])
    assert found.set == ["gradcam.layer=blocks.4", "hirescam.layer=blocks.4", "lime.seed=1"]
    found = parser.parse_args(["evaluate-explanations", "ckpt", "--corpus", "c", "--out", "o",
                               "--set", "occlusion.window_ms=300", "--set", "lime.seed=1"])
    assert found.set == ["occlusion.window_ms=300", "lime.seed=1"]
    found = parser.parse_args(["reproduce", "s2", "--corpus", "c", "--only", "s2-cnn", "--only", "s2-sdnn"])
    assert found.only == ["s2-cnn", "s2-sdnn"]
    assert parser.parse_args(["reproduce", "s2", "--corpus", "c"]).only == []


def test_repeated_model_cfg_options_all_reach_the_trained_model(demo_root, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "sdnn", "--corpus", str(demo_root), "--out", str(out),
                 "--model-cfg", "hidden=[32,16]", "--model-cfg", "dropout=0.3", *FAST]) == 0
    config = checkpoint.read_card(out / "model").model_config
    assert config["hidden"] == [32, 16] and config["dropout"] == 0.3


def test_gaussian_data_selection_reports_what_it_dropped(demo_root, tmp_path, capsys):
    out = tmp_path / "gds"
    assert main(["train", "--model", "vggish", "--corpus", str(demo_root), "--out", str(out), "--model-cfg",
                 "width=0.25", "embeddings=false", "hidden=16", "--gds-threshold", "0.3", *FAST, "--seconds", "2.0"]) == 0
    gds = json.loads((out / "metrics.json").read_text())["gds"]
    assert gds["kept"] + gds["dropped"] == gds["segments"] > 0
    assert f"kept {gds['kept']} of {gds['segments']} training segments, dropped {gds['dropped']}" in capsys.readouterr().out


def _three_speaker_corpus(demo, root):
    """The 12 demo train and test clips as a plain corpus of three speakers (s0..s2), each with all four emotions."""
    root.mkdir()
    seen: dict[str, int] = {}
    with open(root / "manifest.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "speaker"])
        for i, row in enumerate(r for r in demo.rows if r.extra["split"] != "cue"):
            shutil.copyfile(row.path, root / f"clip{i:02d}.wav")
            seen[row.label] = seen.get(row.label, -1) + 1
            writer.writerow([f"clip{i:02d}.wav", row.label, f"s{seen[row.label]}"])
    return root


def test_early_stopping_watches_a_training_speaker_and_sizes_the_final_model(demo, tmp_path, capsys):
    root = _three_speaker_corpus(demo, tmp_path / "three")
    out = tmp_path / "cv"
    assert main(["train", "--model", "sdnn", "--corpus", str(root), "--out", str(out), "--folds", "3", "--grouped",
                 *FAST, "--epochs", "4", "--patience", "1"]) == 0
    report = json.loads((out / "metrics.json").read_text())
    best = sorted(f["early_stopping"]["best_epoch"] for f in report["cv"]["folds"])
    card = checkpoint.read_card(out / "model")
    assert card.training["epochs"] == report["final_epochs"]["epochs"] == best[1]  # the median of three
    assert card.training["patience"] == 0 and len(card.metrics["history"]) == card.training["epochs"]
    assert f"final model: {card.training['epochs']} epochs" in capsys.readouterr().out

    out = tmp_path / "holdout"
    assert main(["train", "--model", "sdnn", "--corpus", str(root), "--out", str(out), *FAST, "--epochs", "3",
                 "--patience", "1"]) == 0
    card = checkpoint.read_card(out / "model")
    watched = card.metrics["early_stopping"]["val_speakers"]
    assert len(watched) == 1 and watched[0] not in card.data["speakers"]
    assert card.metrics["held_out"]["n"] + card.data["clips"] + card.metrics["early_stopping"]["val_clips"] == 12
