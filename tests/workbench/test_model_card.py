"""The model card (workbench.components.model_card): text built from every shipped card, and its training chart."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from wb_helpers import ROOT, TIMEOUT

from core import checkpoint, models
from workbench.components import model_card

SHIPPED = ROOT / "assets" / "models"
CARDS = sorted(p.name for p in SHIPPED.iterdir() if (p / "card.json").is_file())
POLISH = ("polish-cnn-eca", "polish-cnn-atn")


def card_of(name):
    return checkpoint.read_card(SHIPPED / name)


def with_validation(history):
    """The history as a run with a validation set writes it (``core.training.loop._epoch``)."""
    return [h | {"val_UA": h["train_UA"] * 0.9, "val_WA": h["train_WA"] * 0.92, "val_ACC": h["train_UA"] * 0.91}
            for h in history]


# ----------------------------------------------------------------------------- text


def test_the_cards_cover_what_this_file_checks():
    assert set(POLISH) <= set(CARDS) and {"cnn-eca", "cnn-atn", "fusion"} <= set(CARDS)


@pytest.mark.parametrize("name", POLISH)
def test_polish_augmentations_name_vtlp_and_specaugment_from_the_training_fields(name):
    card = card_of(name)
    t = card.training
    assert t["augment"] == [] and t["vtlp"] == 0.1 and t["freq_mask"] == 8 and t["time_mask"] == 20
    text = model_card.augmentation_text(t, card.features)
    assert text.startswith("**Augmentation:** ")
    assert "VTLP (vocal-tract-length warp factors 0.9-1.1)" in text
    assert "SpecAugment: 2 frequency masks narrower than 8 mel bands and 2 time masks narrower than 20 frames " \
           "(200 ms) per clip" in text
    assert "random gain ±6 dB" in text
    assert "[]" not in text and "none" not in text
    if name == "polish-cnn-atn":  # --speed 0.1 --reverb 0.3 (Makefile)
        assert "speed perturbation (factors 0.9-1.1 in steps of 0.05)" in text
        assert "synthetic rooms on 30% of clips (RT60 0.2-0.8 s)" in text
    else:  # speed and reverb off (or, on older cards, absent: TrainConfig's defaults)
        assert not t.get("speed") and not t.get("reverb") and "speed" not in text and "rooms" not in text


def test_augmentations_follow_each_field_and_say_none_when_none_is_on():
    card = card_of("polish-cnn-eca")
    off = dict(card.training) | {"vtlp": 0.0, "freq_mask": 0, "time_mask": 0, "gain_db": 0.0}
    assert model_card.augmentation_text(off, card.features) == "**Augmentation:** none"
    assert model_card.augmentation_text(card_of("cnn-eca").training) == "**Augmentation:** none"  # the demo S0 model
    only_time = model_card.augmentations(off | {"time_mask": 30, "masks": 1}, card.features)
    assert only_time == ["SpecAugment: 1 time mask narrower than 30 frames (300 ms) per clip"]
    stft = model_card.augmentations(off | {"augment": ["stft-v1", "stft-v8"]}, card.features)
    assert stft == ["STFT augmentation (Kim & Kwon, S0): every clip seen through 2 feature versions per epoch (stft-v1, stft-v8)"]
    assert model_card.augmentations(off | {"noise_snr": 10.0}) == ["white noise at 10-30 dB SNR"]


@pytest.mark.parametrize("name", CARDS)
def test_the_system_is_named_with_its_paper_once(name):
    spec = models.spec(card_of(name).model)
    text = model_card.system_text(spec)
    citation = model_card.citation_of(spec)
    assert citation.startswith(f"{spec.paper} (") and text.count(citation) == 1
    assert f"{spec.paper}: {spec.paper}" not in text and text.count(f"{spec.paper} ") <= 1


def test_a_description_without_the_paper_gets_it_once():
    spec = replace(models.spec("cnn-eca"), description="six conv blocks")
    assert model_card.system_text(spec) == "S0: six conv blocks"


def test_the_feature_source_does_not_cite_the_paper_twice():
    card = card_of("polish-cnn-eca")
    spec = models.spec(card.model)
    source = model_card.source_text(card.features.source, model_card.citation_of(spec), spec.paper)
    assert source == "S0 Table 1: STFT version 8, 50 ms window, 40 ms overlap, 64 log-mel bands"
    assert model_card.features_text(card.features, spec) == \
        "64 log-mel bands from a 50 ms window every 10 ms, 16 kHz audio (preset `stft-v8`)"


def test_the_polish_corpus_its_language_licence_and_speakers():
    line, provenance = model_card.corpus_lines(card_of("polish-cnn-eca"))
    assert line == ("**Trained on:** Emotions in Polish speech recordings — Polish, real (acted) speech · 450 clips "
                    "(angry 150, fearful 150, neutral 150) from 5 speakers")
    assert "CC BY" in provenance and "Mięsikowska" in provenance and "10.34808/h46c-hb44" in provenance


def test_the_protocol_reads_as_a_sentence():
    demo = model_card.evaluation_text(card_of("cnn-eca").metrics)
    assert demo == ("**Evaluation:** the corpus's own split: trained on the clips marked *train*, scored on those "
                    "marked *test*, held out from training.")
    real = model_card.evaluation_text(card_of("polish-cnn-eca").metrics)
    assert real.startswith("**Evaluation:** leave-one-speaker-out (5 speakers) cross-validation: each fold's model "
                           "is scored on speakers it was not trained on; the model shipped here was then trained on "
                           "every clip")
    assert real.count("leave-one-speaker-out") == 1
    both = dict(card_of("polish-cnn-eca").metrics) | {"protocol": "split column: train on split == train, report "
                                                      "split == test", "held_out": {"UA": 0.5, "n": 40}}
    assert model_card.evaluation_text(both).endswith("; the final model, trained on all the training clips, is scored "
                                                     "on the held-out test set below.")
    holdout = model_card.evaluation_text({"protocol": "speaker holdout (about 20% of the speakers held out)"})
    assert holdout == ("**Evaluation:** a speaker holdout: about 20% of the speakers were held out from training and "
                       "their clips scored.")


def test_the_recipe_and_the_clip_length_in_words():
    card = card_of("polish-cnn-atn")
    assert model_card.recipe_text(card.training, card.metrics) == (
        "**Training:** 40 epochs, batch 36, Adam at learning rate 0.003 (×0.95 every epoch), class-weighted focal "
        "loss (γ = 2), seed 0")
    assert model_card.input_text(card.training, card.features) == (
        "**Clip length:** 1 s: longer clips cropped about their centre, shorter ones padded with noise at the clip's "
        "own background level, placed at a random offset every epoch")
    demo = card_of("cnn-eca")  # a card older than the padding setting: zeros
    assert "padded with silence on both sides" in model_card.input_text(demo.training, demo.features)


# ----------------------------------------------------------------------------- the chart


def names(fig):
    return [t.name for t in fig.data]


def trace(fig, name):
    [found] = [t for t in fig.data if t.name == name]
    return found


def test_the_chart_has_a_validation_curve_exactly_when_the_history_has_one():
    history = [dict(h) for h in card_of("polish-cnn-eca").metrics["history"]]
    plain = model_card.training_figure(history, classes=3)
    assert names(plain) == ["train loss", "train UA", "train WA", "chance UA (33%)"]
    assert not model_card.has_validation(history)
    validated = model_card.training_figure(with_validation(history), classes=3)
    assert names(validated) == ["train loss", "train UA", "train WA", "validation UA", "validation WA",
                                "chance UA (33%)"]
    assert list(trace(validated, "validation UA").y) == [h["train_UA"] * 0.9 for h in history]
    assert model_card.has_validation(with_validation(history))


def test_loss_and_scores_have_their_own_axes_and_train_ua_and_wa_are_both_visible():
    history = [dict(h) for h in card_of("cnn-eca").metrics["history"]]
    fig = model_card.training_figure(with_validation(history), classes=4, loss="focal loss")
    loss, ua, wa = trace(fig, "train loss"), trace(fig, "train UA"), trace(fig, "train WA")
    assert loss.yaxis != ua.yaxis and ua.yaxis == wa.yaxis
    lines = [(t.line.color, t.line.dash) for t in fig.data if t.name != "chance UA (25%)"]
    assert len(set(lines)) == len(lines)  # no two curves drawn alike
    assert ua.line.dash == "solid" and wa.line.dash == "dot" and wa.line.width < ua.line.width  # WA shows over UA
    order = names(fig)
    assert order.index("train WA") > order.index("train UA")
    score_axis = fig.layout["yaxis" + ua.yaxis[1:]]
    assert tuple(score_axis.range) == (0, 1.02) and score_axis.tickformat == ".0%"


def test_axis_titles_are_complete_and_have_room():
    card = card_of("polish-cnn-eca")
    fig = model_card.training_figure(card.metrics["history"], classes=3, loss=model_card.loss_name(card.training))
    layout = fig.layout
    titles = {axis: layout[axis].title.text for axis in ("yaxis", "yaxis2", "xaxis2")}
    assert titles == {"yaxis": "focal loss", "yaxis2": "UA / WA (%)", "xaxis2": "epoch"}
    assert layout.height >= 320 and layout.margin.l >= 60 and layout.margin.b >= 40
    assert layout.yaxis.automargin and layout.yaxis2.automargin
    plot_height = layout.height - layout.margin.t - layout.margin.b
    for axis in ("yaxis", "yaxis2"):  # a rotated title fits its panel (about 8 px a character at 14 px)
        bottom, top = layout[axis].domain
        assert 8 * len(layout[axis].title.text) < (top - bottom) * plot_height, axis
    assert layout.legend.orientation == "h" and layout.legend.y >= 1 and layout.legend.yanchor == "bottom"
    assert model_card.loss_name({"focal_gamma": 0.0}) == "cross-entropy"


def test_no_chart_without_a_history():
    assert model_card.training_figure(None) is None and model_card.training_figure([]) is None


# ----------------------------------------------------------------------------- the rendered card


def _render(path: str) -> None:
    from workbench import checkpoints
    from workbench.components import model_card

    model_card.render(checkpoints.load(path))


def rendered(path: Path) -> AppTest:
    at = AppTest.from_function(_render, args=(str(path),), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def shown(at: AppTest) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption") for e in getattr(at, kind))


@pytest.mark.parametrize("name", CARDS)
def test_every_shipped_card_reads_without_glitches(name):
    at = rendered(SHIPPED / name)
    text = shown(at)
    card = card_of(name)
    spec = models.spec(card.model)
    for glitch in (f"{spec.paper}: {spec.paper}", "augment []", "split column", "split ==", "batch_size", "[]"):
        assert glitch not in text, glitch
    assert text.count(model_card.citation_of(spec)) == 1
    assert "**Augmentation:** " in text and "**Trained on:** " in text and "Licence: " in text
    assert "parameters" in text and "Chance UA" in [m.label for m in at.metric]
    [chart] = at.get("plotly_chart")
    layout = json.loads(chart.proto.spec)["layout"]
    assert layout["yaxis2"]["title"]["text"] == "UA / WA (%)" and layout["height"] >= 320
    assert "No validation curve" in text  # no shipped run had a validation set


def test_a_card_with_a_validation_history_draws_it_and_says_so(tmp_path):
    folder = tmp_path / "validated"
    data = json.loads((SHIPPED / "cnn-eca" / "card.json").read_text())
    data["metrics"]["history"] = with_validation(data["metrics"]["history"])
    data["metrics"]["early_stopping"] = {"monitor": "val_UA", "patience": 5, "best_epoch": 12, "best_val_UA": 0.8,
                                         "epochs_run": 30, "val_speakers": ["spk7"], "val_clips": 16}
    folder.mkdir()
    (folder / "card.json").write_text(json.dumps(data))
    (folder / "model.safetensors").write_bytes((SHIPPED / "cnn-eca" / "model.safetensors").read_bytes())
    at = rendered(folder)
    [chart] = at.get("plotly_chart")
    traces = [t.get("name") for t in json.loads(chart.proto.spec)["data"]]
    assert "validation UA" in traces and "validation WA" in traces
    text = shown(at)
    assert "No validation curve" not in text and "the weights of epoch 12" in text and "spk7" in text


def test_the_chart_caption_says_only_what_the_run_did():
    plain = model_card.history_caption(card_of("cnn-eca"))  # no augmentation, dropout 0
    assert plain.startswith("Train curves: measured on the training batches during each epoch. ")
    assert "augmented" not in plain and "dropout" not in plain
    assert "Train UA and WA coincide (every class has the same number of training clips)" in plain
    real = model_card.history_caption(card_of("polish-cnn-atn"))  # augmented, dropout 0.2
    assert "during each epoch (augmented, dropout on), so they can sit below the scores on unseen clips." in real
    assert real.endswith("No validation curve: this run had no validation set (its scores on unseen clips are above).")
