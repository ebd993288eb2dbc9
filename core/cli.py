"""The `serwb` command line. Each subcommand is a thin call into core; user errors print one line."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from core import __version__, jsonsafe
from core.errors import ConfigError, SerwbError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _corpus_demo(args: argparse.Namespace) -> None:
    from core.data.synthetic import generate

    manifest = generate(Path(args.out), seed=args.seed, size=args.size)
    print(f"wrote {manifest}")


def _corpus_inspect(args: argparse.Namespace) -> None:

    print(_corpus(args.root, args, corpus=args.corpus).summary())


def _corpus(path: str, args: argparse.Namespace, **kwargs):
    """The manifest at ``path`` with the IEMOCAP options the command line gave (``--iemocap-*``)."""
    from core.data.corpora import load_manifest

    return load_manifest(Path(path), improvised_only=getattr(args, "iemocap_improvised", False),
                         four_class=getattr(args, "iemocap_four_class", False), **kwargs)


def _corpus_options(parser: argparse.ArgumentParser) -> None:
    """``--iemocap-improvised`` and ``--iemocap-four-class`` (IEMOCAP only; another corpus refuses them)."""
    parser.add_argument("--iemocap-improvised", action="store_true",
                        help="IEMOCAP: the improvised dialogues only (a usual protocol; S0 evaluates on IEMOCAP)")
    parser.add_argument("--iemocap-four-class", action="store_true",
                        help="IEMOCAP: angry, happy (excited merged in), neutral, sad; other labels left out")


def _model_cfg(pairs: list[str]) -> dict:
    """``["n=4", "k=7", "dropout=0.1", "name=x"]`` -> kwargs; values are read as JSON when they parse."""
    import json


    cfg = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--model-cfg expects KEY=VALUE pairs such as n=4; got '{pair}'.")
        try:
            cfg[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            cfg[key.strip()] = raw
    return cfg


# train flags (argparse dests) that are TrainConfig fields of the same name and value
_TRAIN_FLAGS = ("model", "features", "epochs", "batch_size", "lr", "lr_decay", "lr_schedule", "lr_end", "weight_decay",
                "focal_gamma", "padding", "gds_threshold", "gds_scope", "workers", "seed", "device", "amp", "patience", "speed",
                "reverb", "noise_snr", "gain_db", "vtlp", "freq_mask", "time_mask", "masks",
                "speaker_batches")
_PROTOCOL_FLAGS = ("folds", "grouped", "holdout", "test_size")


def seconds_or_full(text: str) -> float | str:
    """``--seconds``: a clip length, or "full" (every clip padded to the longest training clip)."""
    return "full" if text == "full" else float(text)


def _given(args: argparse.Namespace) -> tuple[dict, dict]:
    """The TrainConfig values and the protocol values the user gave on the command line (flags left out: None)."""
    given = {flag: getattr(args, flag) for flag in _TRAIN_FLAGS if getattr(args, flag) is not None}
    if args.augment is not None:
        given["augment"] = tuple(v.strip() for v in args.augment.split(",") if v.strip())
    if args.seconds is not None:
        given["seconds"] = None if args.seconds == "full" else args.seconds
    if args.unweighted:
        given["class_weighted"] = False
    if args.segments is not None:
        given["segment_training"] = {"auto": None, "on": True, "off": False}[args.segments]
    if args.model_cfg:
        given["model_cfg"] = _model_cfg(args.model_cfg)
    from core.models.fusion import BRANCHES

    pretrained = []
    for item in args.pretrained:
        branch, sep, path = item.partition("=")
        if not sep or branch.strip() not in BRANCHES or not path.strip():
            raise ConfigError(f"--pretrained expects BRANCH=PATH with BRANCH vggish or yamnet, e.g. "
                              f"vggish=vggish.safetensors; got '{item}'.")
        pretrained.append((branch.strip(), path.strip()))
    if pretrained:
        given["pretrained"] = tuple(pretrained)
    protocol = {flag: getattr(args, flag) for flag in _PROTOCOL_FLAGS if getattr(args, flag) is not None}
    return given, protocol


def _train(args: argparse.Namespace) -> None:
    """``serwb train``: a paper preset (``--preset``) and/or the flags as a ``TrainConfig``, then
    ``core.training.train`` (the protocol). A flag the user gives overrides the preset's value."""
    from core import models, presets
    from core.training import TrainConfig, distributed, train

    given, protocol = _given(args)
    if args.preset:
        preset = presets.get(args.preset)
        cfg = preset.train_config(**given)
        overrides = {k: v for k, v in given.items() if k in presets.TRAIN_FIELDS + ("model_cfg",)} | protocol
        record = {"name": preset.name, "paper": preset.paper, "title": preset.title, "overrides": overrides}
        protocol = preset.protocol() | protocol
    elif args.model is None:
        raise ConfigError("serwb train needs --model NAME or --preset NAME (serwb presets lists the papers' presets).")
    else:
        cfg, record = TrainConfig(**given), None
    folds, grouped = protocol.get("folds", 1), protocol.get("grouped", False)
    if folds < 1:
        raise ConfigError(f"--folds {folds}: use 1 (one train/test split) or k >= 2 for k-fold cross-validation.")
    if args.baseline and folds < 2:
        raise ConfigError("--baseline is scored on the cross-validation folds; use it with --folds k >= 2.")
    if cfg.model not in models.available():
        raise ConfigError(f"Unknown model '{cfg.model}'. Known models: {', '.join(models.available())}.")
    if record:
        print(f"preset {record['name']} ({record['paper']}): {record['title']}"
              + (f"; overridden: {', '.join(sorted(record['overrides']))}" if record["overrides"] else ""))
    try:
        train(_corpus(args.corpus, args), cfg, Path(args.out), folds=folds, grouped=grouped,
              holdout=protocol.get("holdout", "speaker"), test_size=protocol.get("test_size", 0.2),
              baseline=args.baseline, resume=args.resume, progress=not args.quiet, log=print, preset=record)
    finally:
        distributed.shutdown()


def _presets(args: argparse.Namespace) -> None:
    """``serwb presets [NAME]``: the papers' presets, or one preset's values with their sources."""
    from core import presets

    print(presets.describe(args.name) if args.name else presets.listing())


def _reproduce(args: argparse.Namespace) -> None:
    """``serwb reproduce PAPER --corpus ROOT``: the paper's runs, then results.md / results.json / plots in --out."""
    from core.reproduce import reproduce
    from core.training import distributed

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs {args.epochs}: train each run for at least one epoch.")
    out = Path(args.out or f"build/reproduce/{args.paper}" + ("-quick" if args.quick else ""))
    try:
        done = reproduce(args.paper, _corpus(args.corpus, args), out, quick=args.quick, epochs=args.epochs,
                         only=tuple(args.only), progress=not args.quiet, log=print)
    finally:
        distributed.shutdown()
    print(done["markdown"])
    print(f"wrote {out / 'results.md'}, {out / 'results.json'} and {len(done['plots'])} plots in {out / 'plots'}")


def _evaluate(args: argparse.Namespace) -> None:
    """Metrics of a checkpoint on a corpus: metrics.json and a confusion-matrix PNG."""
    from core import checkpoint
    from core.data.splits import has_split
    from core.errors import CorpusError
    from core.training import evaluate

    model, card = checkpoint.load(args.checkpoint, args.device)
    manifest = _corpus(args.corpus, args)
    split = args.split
    if split == "auto":
        split = "test" if has_split(manifest) else "all"
    if split != "all":
        if not has_split(manifest):
            raise CorpusError(
                f"The corpus at {args.corpus} has no split column, so --split {split} selects nothing; use --split all."
            )
        manifest = manifest.filter(split=split)
        if not len(manifest):
            raise CorpusError(f"No clips with split == '{split}' in {args.corpus}.")
    result = evaluate(model, manifest, card=card, batch_size=args.batch_size, device=args.device, workers=args.workers,
                      progress=not args.quiet, adapt_speakers=args.adapt_speakers)
    result |= {"checkpoint": str(Path(args.checkpoint).resolve()), "model": card.model,
               "weights_sha256": card.weights_sha256, "corpus": str(Path(args.corpus).resolve()), "split": split}
    out = Path(args.out) if args.out else Path("evaluation") / _slug(Path(args.checkpoint), Path(args.corpus), split)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(jsonsafe.dumps(result) + "\n", encoding="utf-8")
    from core.figures import confusion_figure

    confusion_figure(result["confusion"], result["labels"],
                     f"{card.model} on {split}: UA {result['UA']:.3f} (chance {result['chance_UA']:.3f}), "
                     f"WA {result['WA']:.3f}").savefig(out / "confusion.png", dpi=120)
    print(f"UA {result['UA']:.3f} (chance {result['chance_UA']:.3f}), WA {result['WA']:.3f}, ACC {result['ACC']:.3f} "
          f"on {result['n']} clips; wrote {out}")
    if "adaptation" in result:
        found = result["adaptation"]
        left = ", ".join(f"{s} ({n} clips)" for s, n in found["unadapted"].items())
        print(f"each speaker's clips predicted with BatchNorm statistics of that speaker's clips (AdaBN): "
              f"{len(found['speakers']) - len(found['unadapted'])} of {len(found['speakers'])} speakers"
              + (f"; as trained: {left}" if left else ""))
    if result["n_unknown"]:
        counts = ", ".join(f"{label}: {n}" for label, n in result["unknown_labels"].items())
        print(f"{result['n_unknown']} clips with labels the model does not know ({counts}) were not scored")
    if result["trained_speakers"]:
        heard = result["trained_speakers"]
        print(f"warning: {sum(heard.values())} of the {result['n']} clips are by speakers the model was trained on "
              f"({', '.join(heard)}), perhaps the very clips it learnt: these scores are not speaker-independent "
              f"(the model card's cross-validation is)")


def _baseline_egemaps(args: argparse.Namespace) -> None:
    """The eGeMAPS + SVM peer baseline on the folds of ``serwb train --folds K [--grouped]``: metrics.json."""
    import time

    from core.baseline import cue_ranking, egemaps_features, evaluate_baseline

    if args.folds < 2:
        raise ConfigError(f"--folds {args.folds}: the baseline is cross-validated; use k >= 2 (5 is the usual choice).")
    corpus = Path(args.corpus)
    manifest = _corpus(args.corpus, args)
    kept = [i for i, r in enumerate(manifest.rows) if r.extra.get("split", "").strip().lower() != "cue"]
    cue = len(manifest) - len(kept)  # planted-cue clips are for explanation checks, never for training
    manifest = manifest.take(kept)
    start = time.perf_counter()
    cues = _corpus(args.cue, args) if args.cue else None  # read first: a wrong folder fails before the extraction
    features = egemaps_features(manifest, progress=not args.quiet)
    result = evaluate_baseline(manifest, args.folds, args.grouped, args.seed, progress=not args.quiet,
                               features=features, speaker_norm=args.speaker_norm)
    if cues is not None:
        result["cue_ranking"] = cue_ranking(manifest, cues, speaker_norm=args.speaker_norm, features=features,
                                            progress=not args.quiet) | {"corpus": str(Path(args.cue).resolve())}
    result |= {"corpus": str(corpus.resolve()), "clips": len(manifest), "cue_clips_dropped": cue,
               "seconds": round(time.perf_counter() - start, 2)}
    for fold in result["folds"]:
        print(f"fold {fold['fold']} (test {', '.join(fold['test_speakers'])}; {fold['test_clips']} clips): "
              f"UA {fold['UA']:.3f}")
    mean, std = result["mean"], result["std"]
    print(f"{result['protocol']}, {args.folds} folds, {len(manifest)} clips: "
          + ", ".join(f"{k} {mean[k]:.3f} +- {std[k]:.3f}" for k in ("UA", "WA", "ACC"))
          + f" (chance UA {result['chance_UA']:.3f})")
    if cues is not None:
        ranking = result["cue_ranking"]
        print(f"ranks the planted word first in {ranking['ranks_first']:.3f} of {ranking['clips']} cue clips "
              f"(guessing {ranking['guessing']:.3f}; "
              + ", ".join(f"{label} {part['ranks_first']:.3f}" for label, part in ranking["by_emotion"].items())
              + "), hearing each word alone and trained on the other speakers")
    name = corpus.resolve().name if corpus.is_dir() else corpus.resolve().parent.name
    out = Path(args.out) if args.out else Path("evaluation") / f"baseline-egemaps-{name}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(jsonsafe.dumps(result) + "\n", encoding="utf-8")
    print(f"wrote {out / 'metrics.json'}")


def _slug(checkpoint: Path, corpus: Path, split: str) -> str:
    """A folder name for one checkpoint, corpus and split, e.g. ``cnn-eca-demo-test``."""
    name = corpus.resolve().name if corpus.is_dir() else corpus.resolve().parent.name
    return f"{checkpoint.resolve().name}-{name}-{split}"


def _explain(args: argparse.Namespace) -> None:
    """Explain one clip: overlay PNGs, maps.npz, audio versions as WAVs and analysis.json."""
    from dataclasses import replace

    from tqdm import tqdm

    from core import checkpoint
    from core.audio import load_audio
    from core.explain import Settings, analyze, report, tables

    model, card = checkpoint.load(args.model, args.device)
    clip = load_audio(Path(args.clip))
    settings = Settings()
    if args.target:
        if args.target not in card.labels:
            raise ConfigError(f"--target {args.target}: this model knows {', '.join(card.labels)}.")
        settings = replace(settings, target=card.labels.index(args.target))
    if args.lime_samples:
        settings = settings.with_method("lime", num_samples=args.lime_samples)
    settings = _method_settings(settings, args.set)
    methods = _methods(args.methods)
    with tqdm(total=len(methods), desc="explain", unit="method", disable=args.quiet) as bar:
        def progress(step: str, fraction: float) -> None:
            bar.set_postfix_str(step)
            if fraction >= 1.0:
                bar.update(1)

        analysis = analyze(clip, model, card, methods=methods, settings=settings, device=args.device,
                           progress=progress)
    metrics = tables.clip_metrics(model, analysis)
    written = report.write(analysis, Path(args.out), extra={"clip": str(Path(args.clip).resolve()),
                                                            "checkpoint": str(Path(args.model).resolve()),
                                                            "metrics": metrics})
    probs = ", ".join(f"{label} {p:.2f}" for label, p in zip(analysis.labels, analysis.probabilities))
    print(f"predicted {analysis.predicted_label} ({probs}); " +
          ", ".join(f"{m} {analysis.timings[m]:.2f} s" for m in methods if m in analysis.timings))
    if analysis.clip_offset > 0:
        print(f"the {analysis.clip_seconds:.2f} s clip was padded to the model's training length: the overlays show "
              f"the clip itself; maps.npz holds the whole model input, the clip starting {analysis.clip_offset:.2f} s "
              "into it (clip_offset and clip_duration in analysis.json and maps.npz)")
    for method, message in analysis.errors.items():
        print(f"{method}: {message}", file=sys.stderr)
    print(f"wrote {len(written)} files to {args.out}")


def _methods(text: str) -> tuple[str, ...]:
    from core.explain import methods as registry

    methods = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in methods if m not in registry.available()]
    if unknown or not methods:
        raise ConfigError(f"--methods {text!r}: choose from {', '.join(registry.available())} (comma-separated).")
    return methods


def _method_settings(settings, pairs: list[str]):
    """``--set lime.num_samples=200 occlusion.window_ms=300`` applied to an analysis's ``Settings``."""
    from core.explain import methods as registry

    by_method: dict[str, dict[str, str]] = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        method, dot, name = key.strip().partition(".")
        if not sep or not dot or method not in registry.available():
            raise ConfigError(f"--set expects METHOD.SETTING=VALUE with METHOD one of {', '.join(registry.available())}, "
                              f"e.g. lime.num_samples=200; got '{item}'.")
        by_method.setdefault(method, {})[name.strip()] = value.strip()
    for method, values in by_method.items():
        settings = settings.with_method(method, registry.parse_settings(method, values, settings.of(method)))
    return settings


def _evaluate_explanations(args: argparse.Namespace) -> None:
    """Localisation (planted cues), faithfulness and sanity tables for a checkpoint on a corpus."""
    from tqdm import tqdm

    from core import checkpoint
    from core.data.splits import has_split
    from core.explain import tables
    from core.explain.baselines import BASELINES, REMOVALS
    from core.explain.evaluate import UNITS

    if args.unit not in UNITS or args.baseline not in BASELINES or args.removed not in REMOVALS:
        raise ConfigError(f"--unit must be one of {', '.join(UNITS)}, --baseline one of {', '.join(BASELINES)} "
                          f"and --removed one of {', '.join(REMOVALS)}.")
    manifest = _corpus(args.corpus, args)
    methods = _methods(args.methods)
    settings = _method_settings(_removed_as(args.removed), args.set)
    folds = sorted(p.parent for p in Path(args.checkpoint).glob("fold-*/model/card.json"))
    if folds:  # a cross-validation folder: each fold model judged on the speakers it never heard
        return _localisation_over_folds(args, folds, manifest, methods, settings)
    if args.adapt_to:
        raise ConfigError("--adapt-to adapts fold models to the speakers held out from them; pass a cross-validation "
                          "folder (OUT/cv of serwb train --folds), not one checkpoint.")
    model, card = checkpoint.load(args.checkpoint, args.device)
    plain = manifest.filter(split=args.split) if args.split != "all" and has_split(manifest) else manifest
    results = {}
    jobs = [("localisation", lambda p: tables.localisation_tables(tables.localisation_results(
                model, card, manifest, methods, settings, device=args.device, progress=p))),
            ("faithfulness", lambda p: {"faithfulness": tables.faithfulness_table(
                model, card, plain, methods, settings, device=args.device, max_clips=args.max_clips, unit=args.unit,
                baseline_kind=args.baseline, progress=p)}),
            ("sanity", lambda p: {"sanity": tables.sanity_table(model, card, plain, methods, settings,
                                                                device=args.device, max_clips=min(5, args.max_clips),
                                                                progress=p)})]
    for name, job in jobs:  # each job: its tables, by name
        with tqdm(total=100, desc=name, unit="%", disable=args.quiet) as bar:
            results |= job(lambda f, bar=bar: bar.update(round(100 * f) - bar.n))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    provenance = {"checkpoint": str(Path(args.checkpoint).resolve()), "model": card.model,
                  "weights_sha256": card.weights_sha256, "corpus": str(Path(args.corpus).resolve()),
                  "removed": args.removed}
    (out / "explanations.json").write_text(jsonsafe.dumps(results | provenance) + "\n", encoding="utf-8")
    text = tables.markdown(results)
    (out / "explanations.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / 'explanations.json'} and {out / 'explanations.md'}")


def _removed_as(kind: str):
    """Analysis settings whose removal methods (occlusion, LIME, ...) put ``kind`` (``core.explain.baselines``) in
    the cells they remove."""
    from core.explain import methods as registry
    from core.explain.analysis import Settings
    from core.explain.baselines import REMOVALS

    settings = Settings()
    for name in registry.available():
        infos = {info.name: info for info in registry.method_spec(name).setting_infos()}
        if "baseline" in infos and infos["baseline"].choices == REMOVALS:
            settings = settings.with_method(name, baseline=kind)
    return settings


def _localisation_over_folds(args: argparse.Namespace, folds: list[Path], manifest, methods, settings) -> None:
    """The localisation table pooled over cross-validation fold models, each on the cue clips of the speakers
    held out from it, so that a model trained on every speaker can still be judged on voices it never heard."""
    from tqdm import tqdm

    from core import checkpoint
    from core.explain import tables

    pooled: dict[str, list] = {}
    speakers = _corpus(args.adapt_to, args) if args.adapt_to else None
    adapted_to: dict[str, int] = {}
    for fold in tqdm(folds, desc="localisation per fold", unit="fold", disable=args.quiet):
        model, card = checkpoint.load(fold, args.device)
        for chosen, cues in _fold_models(model, card, manifest, speakers, args.device, adapted_to):
            for name, rows in tables.localisation_results(chosen, card, cues, methods, settings,
                                                          device=args.device).items():
                pooled.setdefault(name, []).extend(rows)
    if not pooled:
        raise ConfigError(f"No cue clip in {args.corpus} is of a speaker held out from the fold models in "
                          f"{args.checkpoint} (or of an emotion they know).")
    results = tables.localisation_tables(pooled)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    provenance = {"folds": [str(f.resolve()) for f in folds], "corpus": str(Path(args.corpus).resolve()),
                  "removed": args.removed,
                  "protocol": "each fold model on the planted-cue clips of the speakers held out from its training"}
    if speakers is not None:
        from core.training.adapt import METHOD

        provenance |= {"adaptation": {"method": METHOD, "corpus": str(Path(args.adapt_to).resolve()),
                                      "speakers": adapted_to}}
    (out / "explanations.json").write_text(jsonsafe.dumps(results | provenance) + "\n", encoding="utf-8")
    text = tables.markdown(results)
    (out / "explanations.md").write_text(text, encoding="utf-8")
    print(text)
    print(f"wrote {out / 'explanations.json'} and {out / 'explanations.md'}")


def _fold_models(model, card, cues, speakers, device, adapted_to: dict):
    """(model, cue clips) pairs for one fold: the fold model on every cue clip, or (``speakers``: a corpus) a copy
    adapted (AdaBN) to each held-out speaker's clips there, on that speaker's cue clips; ``adapted_to`` collects
    {speaker: clips adapted to}. Held-out speakers with too few clips there are refused, not silently unadapted."""
    from dataclasses import replace

    from core.devices import resolve
    from core.errors import CorpusError
    from core.explain.dataset import adapted_models
    from core.training.adapt import MIN_CLIPS

    if speakers is None:
        return [(model, cues)]
    held = {r.speaker for r in cues.rows} - card.trained_speakers - {"unknown"}
    own = replace(speakers, rows=tuple(r for r in speakers.rows if r.speaker in held))
    models, report = adapted_models(model, card, own, resolve(device)) if own.rows else ({}, {})
    missing = sorted(held - set(models))
    if missing:
        raise CorpusError(f"--adapt-to {speakers.root}: speaker(s) {', '.join(missing)} held out from {card.model} "
                          f"have fewer than {MIN_CLIPS} clips there to adapt to; point --adapt-to at the corpus their "
                          "cue clips were cut from.")
    adapted_to.update(report["speakers"])
    return [(models[s], replace(cues, rows=tuple(r for r in cues.rows if r.speaker == s))) for s in sorted(models)]


def _app(args: argparse.Namespace) -> None:
    """Start the Streamlit workbench from the repository root (it reads .streamlit/config.toml there)."""
    import os

    command = [sys.executable, "-m", "streamlit", "run", str(REPO_ROOT / "workbench" / "app.py")]
    if args.port:
        command += ["--server.port", str(args.port)]
    env = dict(os.environ)
    for flag, variable in (("models", "SERWB_MODELS"), ("data_root", "SERWB_DATA_ROOTS")):
        folders = [str(Path(p).resolve()) for p in getattr(args, flag)]
        missing = [p for p in folders if not Path(p).is_dir()]
        if missing:
            raise ConfigError(f"--{flag.replace('_', '-')}: no such folder: {', '.join(missing)}.")
        if folders:
            env[variable] = os.pathsep.join(folders + [v for v in [env.get(variable)] if v])
    raise SystemExit(subprocess.call(command, cwd=REPO_ROOT, env=env))


def _list_methods(args: argparse.Namespace) -> None:
    """Every registered attribution method: what it is, what it needs, its settings (for --methods and --set)."""
    from core.explain import methods as registry

    for name in registry.available():
        spec = registry.method_spec(name)
        needs = f"; needs {', '.join(spec.needs)}" if spec.needs else ""
        print(f"{name} ({spec.title}{', default' if spec.default else ''}{needs}): {spec.description} [{spec.reference}]")
        for info in spec.setting_infos():
            span = f" one of {', '.join(info.choices)}" if info.choices else \
                f" {info.low}..{info.high}" if info.low is not None and info.high is not None else ""
            print(f"    {name}.{info.name}={info.default}{span}  {info.help}")


def _doctor(args: argparse.Namespace) -> None:
    from core.environment import report

    text, ok = report()
    print(text)
    if not ok:
        raise SystemExit(1)


def _version() -> str:
    """``serwb 0.1.0 (torch 2.11.0, torchaudio 2.11.0)``, read from metadata: works even when torch cannot load."""
    from importlib.metadata import PackageNotFoundError, version

    def found(name: str) -> str:
        try:
            return f"{name} {version(name)}"
        except PackageNotFoundError:
            return f"{name} not installed"

    return f"serwb {__version__} ({found('torch')}, {found('torchaudio')}; `serwb doctor` checks they load)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="serwb", description="Explain speech-emotion-recognition models.")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    listing = commands.add_parser("methods", help="the attribution methods, their settings and what they need")
    listing.set_defaults(run=_list_methods)

    papers = commands.add_parser("presets", help="the four papers' training setups (serwb train --preset NAME)")
    papers.add_argument("name", nargs="?", default=None, help="one preset: every value with the paper's phrase")
    papers.set_defaults(run=_presets)

    doctor = commands.add_parser("doctor", help="torch, torchaudio, the device and the lock: is this install sound?")
    doctor.set_defaults(run=_doctor)

    corpus = commands.add_parser("corpus", help="make or inspect a corpus").add_subparsers(
        dest="corpus_command", required=True, metavar="ACTION"
    )
    demo = corpus.add_parser("demo", help="generate the synthetic demo corpus with espeak-ng")
    demo.add_argument("--out", required=True, help="folder to write WAVs and manifest.csv into")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--size", choices=["small", "full"], default="full")
    demo.set_defaults(run=_corpus_demo)
    inspect = corpus.add_parser("inspect", help="detect a corpus and count clips per label and speaker")
    inspect.add_argument("root", help="corpus folder or manifest CSV")
    inspect.add_argument("--corpus", default="auto", help="force a layout instead of detecting it")
    inspect.set_defaults(run=_corpus_inspect)
    _corpus_options(inspect)

    train = commands.add_parser("train", help="train a model (k-fold CV and/or held-out test) and write a checkpoint",
                                description="Flags left out take the preset's value (--preset) or else the default "
                                "shown; a flag given overrides the preset, and the run records both.")
    train.add_argument("--preset", default=None,
                       help="a paper's setup by name, e.g. s2-cnn-atn (serwb presets lists them)")
    train.add_argument("--model", default=None, help="registry name, e.g. cnn-eca (see core.models.available())")
    train.add_argument("--corpus", required=True, help="corpus folder or manifest CSV")
    _corpus_options(train)
    train.add_argument("--out", required=True, help="output folder (checkpoints/, model/, metrics.json)")
    train.add_argument("--features", default=None, help="test-time feature preset (default: the model's)")
    train.add_argument("--augment", default=None, help="STFT augmentation: presets to train on, e.g. stft-v1,stft-v4,stft-v8")
    train.add_argument("--folds", type=int, default=None, help="k > 1: k-fold cross-validation report, then the final "
                       "model (default 1)")
    train.add_argument("--grouped", action="store_const", const=True, default=None,
                       help="speaker-independent folds (with --folds > 1)")
    train.add_argument("--holdout", choices=["speaker", "random"], default=None,
                       help="with --folds 1 and no split column: hold out speakers (default) or clips at random, "
                       "stratified by emotion")
    train.add_argument("--test-size", type=float, default=None, help="share held out (default 0.2)")
    train.add_argument("--epochs", type=int, default=None, help="default 30")
    train.add_argument("--batch-size", type=int, default=None, help="default 36")
    train.add_argument("--lr", type=float, default=None, help="default 1e-3")
    train.add_argument("--lr-schedule", choices=["step", "exponential", "linear"], default=None,
                       help="step (default): --lr-decay per epoch; exponential / linear: from --lr to --lr-end at the "
                       "last epoch")
    train.add_argument("--lr-decay", type=float, default=None, help="learning rate factor per epoch (default 0.95)")
    train.add_argument("--lr-end", type=float, default=None, help="final learning rate of the exponential / linear "
                       "schedules, e.g. 1e-4")
    train.add_argument("--weight-decay", type=float, default=None, help="Adam weight decay (L2; default 0)")
    train.add_argument("--focal-gamma", type=float, default=None,
                       help="default 2 (ours; S0 sets 1: --preset s0); 0 with --unweighted is cross-entropy")
    train.add_argument("--unweighted", action="store_true", help="no inverse-frequency class weights")
    train.add_argument("--seconds", type=seconds_or_full, default=None,
                       help="clip length (crop/pad about the centre; default 3), or 'full': pad every clip to the "
                       "longest training clip")
    train.add_argument("--padding", choices=["zeros", "noise-floor"], default=None,
                       help="how shorter clips are filled: zeros (S0), or noise at the clip's own background level with "
                       "each training clip at a random offset (for corpora of short words)")
    train.add_argument("--segments", choices=["auto", "on", "off"], default=None,
                       help="segment training on 96-frame patches (auto, the default: for patch models)")
    train.add_argument("--gds-threshold", type=float, default=None,
                       help="Gaussian data selection (S3): keep segments scoring above this; a z-score within each "
                       "clip (--gds-scope item, the paper's: e.g. -1) or a score in [0, 1) (emotion: e.g. 0.2)")
    train.add_argument("--gds-scope", choices=["item", "emotion"], default=None,
                       help="item (default): score each clip's segments against each other, on test clips too "
                       "(S3's Algorithm 1); emotion: against every segment of the same emotion, training only")
    train.add_argument("--speed", type=float, default=None,
                       help="augmentation: speed perturbation 1 +- SPEED on a 0.05 grid, e.g. 0.1 (0: off)")
    train.add_argument("--reverb", type=float, default=None,
                       help="augmentation: share of clips put in a synthetic room, e.g. 0.3 (0: off)")
    train.add_argument("--noise-snr", type=float, default=None,
                       help="augmentation: white noise at SNR in [N, N+20] dB, e.g. 15 (0: off)")
    train.add_argument("--gain-db", type=float, default=None, help="augmentation: random gain in +-dB (0: off)")
    train.add_argument("--vtlp", type=float, default=None,
                       help="augmentation: vocal-tract-length perturbation, warp factors 1 +- VTLP (e.g. 0.1; 0: off)")
    train.add_argument("--freq-mask", type=int, default=None, help="augmentation: SpecAugment frequency mask width < F bands (0: off)")
    train.add_argument("--time-mask", type=int, default=None, help="augmentation: SpecAugment time mask width < T frames (0: off)")
    train.add_argument("--masks", type=int, default=None,
                       help="SpecAugment masks of each kind per training item (default 2)")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default=None, help="default auto")
    train.add_argument("--amp", choices=["auto", "off", "bf16", "fp16"], default=None)
    train.add_argument("--workers", type=int, default=None, help="decoding processes")
    train.add_argument("--resume", action="store_true", help="continue from the last epoch checkpoint in --out")
    train.add_argument("--model-cfg", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                       help="model settings, e.g. n=4 k=7 (merged into a preset's)")
    train.add_argument("--pretrained", action="append", default=[], metavar="BRANCH=PATH",
                       help="start from public VGGish/YAMNet weights converted to .safetensors (width 1), e.g. "
                       "vggish=vggish.safetensors; repeatable (fusion takes both branches)")
    train.add_argument("--baseline", choices=["egemaps"], default=None,
                       help="also score the eGeMAPS + SVM peer baseline on the same folds (needs opensmile)")
    train.add_argument("--patience", type=int, default=None,
                       help="early stopping: stop when the UA of a held-out *training* speaker has not improved for "
                            "N epochs, keep the best epoch (with --folds: each fold watches another training speaker, "
                            "and the final model trains for the folds' median best epoch); 0: off")
    train.add_argument("--speaker-batches", action="store_true", default=None,
                       help="one speaker's clips per training batch, so BatchNorm normalises by speaker; evaluation "
                            "then adapts BatchNorm to each test speaker's own clips (AdaBN; labels unused)")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="metrics and a confusion matrix of a checkpoint on a corpus")
    evaluate.add_argument("checkpoint", help="checkpoint folder (model.safetensors + card.json)")
    evaluate.add_argument("--corpus", required=True, help="corpus folder or manifest CSV")
    _corpus_options(evaluate)
    evaluate.add_argument("--split", default="auto",
                          help="rows with this split value, 'all', or 'auto': 'test' when the corpus has a split column, "
                          "else every clip")
    evaluate.add_argument("--out", default=None,
                          help="folder for metrics.json and confusion.png (default: ./evaluation/MODEL-CORPUS-SPLIT)")
    evaluate.add_argument("--batch-size", type=int, default=36)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--workers", type=int, default=0)
    evaluate.add_argument("--adapt-speakers", action=argparse.BooleanOptionalAction, default=None,
                          help="predict each speaker's clips with BatchNorm statistics of that speaker's clips (AdaBN); "
                               "default: when the model trained with --speaker-batches")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(run=_evaluate)

    baseline = commands.add_parser("baseline", help="peer baselines on the folds serwb train uses").add_subparsers(
        dest="baseline_command", required=True, metavar="BASELINE"
    )
    egemaps = baseline.add_parser("egemaps", help="eGeMAPSv02 functionals (openSMILE) + RBF SVM, cross-validated")
    egemaps.add_argument("--corpus", required=True, help="corpus folder or manifest CSV")
    _corpus_options(egemaps)
    egemaps.add_argument("--folds", type=int, default=5)
    egemaps.add_argument("--grouped", action="store_true", help="speaker-independent folds (as serwb train --grouped)")
    egemaps.add_argument("--seed", type=int, default=0, help="fold shuffling (as serwb train --seed)")
    egemaps.add_argument("--speaker-norm", action="store_true",
                         help="standardise each speaker's features by that speaker's own clips (labels unused)")
    egemaps.add_argument("--cue", default=None, metavar="CUE_ROOT",
                         help="a real planted-cue set (make real-cue): also how often the peer, hearing each word "
                              "of a clip alone, ranks the planted word first (the models' figure in "
                              "evaluate-explanations)")
    egemaps.add_argument("--out", default=None,
                         help="folder for metrics.json (default: ./evaluation/baseline-egemaps-CORPUS)")
    egemaps.add_argument("--quiet", action="store_true", help="no progress bar")
    egemaps.set_defaults(run=_baseline_egemaps)

    explain = commands.add_parser("explain", help="explain one clip: overlays, maps, focus audio and scores")
    explain.add_argument("clip", help="audio file (WAV, FLAC, OGG, MP3)")
    explain.add_argument("--model", required=True, help="checkpoint folder (model.safetensors + card.json)")
    explain.add_argument("--methods", default="gradcam,lime,occlusion",
                         help="comma-separated methods of core.explain.methods (serwb methods lists them)")
    explain.add_argument("--target", default=None, help="emotion to explain (default: the predicted one)")
    explain.add_argument("--lime-samples", type=int, default=None, help="LIME perturbations (default: the engine's)")
    explain.add_argument("--set", nargs="*", action="extend", default=[], metavar="METHOD.SETTING=VALUE",
                         help="method settings, e.g. occlusion.window_ms=300 lime.seed=1 gradcam.layer=blocks.4")
    explain.add_argument("--out", required=True, help="folder for overlay-*.png, maps.npz, audio-*.wav, analysis.json")
    explain.add_argument("--device", default="auto")
    explain.add_argument("--quiet", action="store_true")
    explain.set_defaults(run=_explain)

    trust = commands.add_parser("evaluate-explanations",
                                help="localisation, faithfulness and sanity tables of a checkpoint on a corpus")
    trust.add_argument("checkpoint", help="checkpoint folder (model.safetensors + card.json), or a cross-validation "
                       "folder (fold-*/model, as serwb train --folds writes under OUT/cv): localisation per fold "
                       "model on the cue clips of its held-out speakers")
    trust.add_argument("--corpus", required=True, help="corpus with planted-cue clips (e.g. assets/demo)")
    trust.add_argument("--methods", default="gradcam,occlusion,lime")
    trust.add_argument("--set", nargs="*", action="extend", default=[], metavar="METHOD.SETTING=VALUE",
                       help="method settings, e.g. occlusion.window_ms=300 lime.num_samples=1000")
    trust.add_argument("--split", default="test", help="clips for faithfulness and sanity ('all' for every clip)")
    trust.add_argument("--max-clips", type=int, default=20, help="clips for the faithfulness table")
    trust.add_argument("--unit", default="cells",
                       help="what deletion/insertion removes or adds: time x band cells, frames or bands")
    trust.add_argument("--baseline", default="mean", help="what a removed unit becomes: mean (of its band), "
                       "silence or noise")
    trust.add_argument("--removed", default="auto", help="what occlusion and LIME put in the cells they remove: "
                       "auto (floor for noise-floor models, silence for zero-padded ones), silence, mean, noise, "
                       "or floor (the clip's own background)")
    trust.add_argument("--adapt-to", default=None, metavar="CORPUS",
                       help="with a cross-validation folder: adapt each fold model (AdaBN) to its held-out speakers' "
                       "unlabelled clips in CORPUS (e.g. assets/polish) before explaining their cue clips")
    trust.add_argument("--out", required=True, help="folder for explanations.json and explanations.md")
    trust.add_argument("--device", default="auto")
    trust.add_argument("--quiet", action="store_true")
    trust.set_defaults(run=_evaluate_explanations)

    again = commands.add_parser("reproduce", help="a paper's protocol and sweeps on your corpus, beside the paper's "
                                "numbers (Markdown + JSON tables, plots); resumable")
    again.add_argument("paper", choices=["s0", "s1", "s2", "s3"], help="which paper (serwb presets lists their setups)")
    again.add_argument("--corpus", required=True, help="corpus folder or manifest CSV")
    _corpus_options(again)
    again.add_argument("--out", default=None, help="output folder (default build/reproduce/PAPER); run again with the "
                       "same folder to resume")
    again.add_argument("--quick", action="store_true", help="smoke run: a few runs, one epoch, demo-sized models")
    again.add_argument("--epochs", type=int, default=None, help="train every run this many epochs (a budget; the "
                       "tables say so)")
    again.add_argument("--only", nargs="*", action="extend", default=[], metavar="RUN",
                       help="only these runs (names as in the tables)")
    again.add_argument("--quiet", action="store_true", help="no progress bars")
    again.set_defaults(run=_reproduce)

    app = commands.add_parser("app", help="start the workbench in the browser")
    app.add_argument("--port", type=int, default=None)
    app.add_argument("--models", action="append", default=[], metavar="DIR",
                     help="extra checkpoint folder (or folder of checkpoint folders); repeatable")
    app.add_argument("--data-root", action="append", default=[], metavar="DIR",
                     help="folder the Dataset page may read corpora from (besides assets/demo); repeatable")
    app.set_defaults(run=_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except SerwbError as e:
        print(f"serwb: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
