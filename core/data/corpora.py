"""Read emotion corpora into one ``Manifest``: a sorted list of (path, label, speaker) rows.

Each real corpus encodes its labels in its own file naming; this module turns them into
one shared vocabulary (``EMOTIONS``) with one mapping table per corpus, kept as data next
to the documentation it comes from. Nothing here decodes audio (that is ``core.audio``'s
job), so listing a 10k-clip corpus takes a directory walk and a regex per file.

Layouts: RAVDESS, EMO-DB, SAVEE, CREMA-D, TESS, Polish emotional speech, IEMOCAP, one
folder per label, and a CSV
manifest (``manifest.csv`` with columns ``path,label[,speaker,corpus,...]``).
``load_manifest(root)`` detects which one ``root`` holds.

Paths in a manifest are absolute and always inside its root: the walk does not follow
symbolic links inside the root (the root itself may be one), and a CSV row that points
outside its folder is refused.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence, Union

from core.errors import CorpusError

# --------------------------------------------------------------------------- vocabulary

#: The shared emotion vocabulary: every corpus's labels map onto these names.
EMOTIONS: tuple[str, ...] = (
    "neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised", "boredom",
)
#: IEMOCAP categories with no counterpart in ``EMOTIONS``. They are kept as labels of
#: their own rather than folded into a neighbour (excited is not happy, frustrated is not
#: angry); ``four_class=True`` merges excited into happy, as the IEMOCAP literature does.
IEMOCAP_ONLY_LABELS: tuple[str, ...] = ("excited", "frustrated", "other")
#: Every label a ``Row`` can carry.
LABELS: tuple[str, ...] = EMOTIONS + IEMOCAP_ONLY_LABELS

#: Spellings accepted for folder names and CSV labels (lowercase; "-" and " " read as "_").
LABEL_SYNONYMS: dict[str, str] = {
    **{label: label for label in LABELS},
    "neu": "neutral",
    "happiness": "happy", "joy": "happy", "hap": "happy",
    "sadness": "sad",
    "anger": "angry", "ang": "angry",
    "fear": "fearful", "afraid": "fearful", "fea": "fearful",
    "disgusted": "disgust", "dis": "disgust",
    "surprise": "surprised", "sur": "surprised", "ps": "surprised",
    "pleasant_surprise": "surprised", "pleasant_surprised": "surprised",
    "bored": "boredom",
    "exc": "excited", "frustration": "frustrated", "fru": "frustrated", "oth": "other",
}

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3"})


def normalize_label(name: str) -> str | None:
    """The vocabulary label for a spelling such as "Anger" or "pleasant-surprise", else None."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    return LABEL_SYNONYMS.get(key)


# --------------------------------------------------------------------------- tables
# RAVDESS: Livingstone & Russo (2018), PLoS ONE 13(5) e0196391, and the "File naming
# convention" section of the dataset's Zenodo record (doi:10.5281/zenodo.1188976).
RAVDESS_MODALITY = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
RAVDESS_CHANNEL = {"01": "speech", "02": "song"}
RAVDESS_EMOTION = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
RAVDESS_INTENSITY = {"01": "normal", "02": "strong"}
RAVDESS_STATEMENT = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}

# EMO-DB: Burkhardt et al. (2005), "A Database of German Emotional Speech", Interspeech,
# and the corpus's web page (emodb.bilderbar.info, "Documentation"): the letter is the
# German emotion name. A (Angst) is fear, E (Ekel) is disgust, F (Freude) is happiness.
EMODB_EMOTION = {
    "W": "angry",     # Wut / Ärger
    "L": "boredom",   # Langeweile
    "E": "disgust",   # Ekel
    "A": "fearful",   # Angst
    "F": "happy",     # Freude
    "T": "sad",       # Trauer
    "N": "neutral",
}
EMODB_GENDER = {
    "03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
    "08": "female", "09": "female", "13": "female", "14": "female", "16": "female",
}

# SAVEE: Haq & Jackson (2010), "Multimodal Emotion Recognition", in Machine Audition,
# and the database page (kahlan.eps.surrey.ac.uk/savee/Database.html). Four male speakers.
SAVEE_EMOTION = {
    "sa": "sad", "su": "surprised",  # two-letter codes: matched before the one-letter ones
    "a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral",
}
SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")

# CREMA-D: Cao et al. (2014), IEEE Trans. Affective Computing 5(4), and the README of
# github.com/CheyneyComputerScience/CREMA-D ("Filename labeling conventions").
CREMAD_EMOTION = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fearful",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}
CREMAD_LEVEL = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}

# TESS: Pichora-Fuller & Dupuis (2020), Toronto emotional speech set, Borealis
# (doi:10.5683/SP2/E8H2MF): two actresses, OAF (aged 64) and YAF (aged 26); "ps" is
# pleasant surprise. Folder names in the release are inconsistent, so only file names count.
TESS_EMOTION = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
    "neutral": "neutral", "ps": "surprised", "sad": "sad",
}
TESS_AGE = {"OAF": "older", "YAF": "younger"}

# Polish emotional speech: Mięsikowska & Świsulski (2020), "Emotions in Polish speech
# recordings", Gdańsk University of Technology (doi:10.34808/h46c-hb44), and the readme.md
# shipped with it: "anger (a), fear (s), neutral emotion (n)"; "m1.a_nie_2.wav" is speaker
# m1, anger ("aggression"), the word "nie", repetition 2. Five male speakers aged 21-23.
POLISH_EMOTION = {"a": "angry", "s": "fearful", "n": "neutral"}
POLISH_WORDS = ("nie", "oddaj", "podaj", "stop", "tak", "trzymaj")  # no, give back, pass, stop, yes, hold

# IEMOCAP: Busso et al. (2008), Language Resources & Evaluation 42(4), and the release's
# Documentation: categorical labels in Session*/dialog/EmoEvaluation/*.txt. "xxx" means
# the evaluators did not agree on a category; those turns are skipped.
IEMOCAP_EMOTION = {
    "neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry",
    "fru": "frustrated", "fea": "fearful", "sur": "surprised", "dis": "disgust",
    "oth": "other", "xxx": None,
}
#: ``four_class=True``: the usual IEMOCAP 4-class setup, excited merged into happy.
IEMOCAP_FOUR_CLASS = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class Row:
    """One clip: where it is and what its corpus says about it."""

    path: Path  # absolute, resolved, inside the manifest's root
    label: str  # one of LABELS
    speaker: str  # corpus-qualified (e.g. "ravdess-07"); "unknown" when the layout has none
    corpus: str
    extra: Mapping[str, str] = field(default_factory=dict)  # the rest the naming tells

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


@dataclass(frozen=True)
class Manifest:
    """The clips of one corpus, sorted by path, plus what was left out and why."""

    root: Path
    corpus: str
    rows: tuple[Row, ...]
    #: reason -> number of files left out for it (not the corpus's naming, video files, ...)
    skip_reasons: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", tuple(self.rows))
        object.__setattr__(self, "skip_reasons", MappingProxyType(dict(self.skip_reasons)))

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    @property
    def skipped(self) -> int:
        """How many files under the root were left out (see ``skip_reasons``)."""
        return sum(self.skip_reasons.values())

    def labels(self) -> list[str]:
        """Sorted unique labels present."""
        return sorted({r.label for r in self.rows})

    def speakers(self) -> list[str]:
        """Sorted unique speakers present."""
        return sorted({r.speaker for r in self.rows})

    def counts(self, by: str = "label") -> dict[str, int]:
        """Clips per value of ``by``: "label", "speaker", "corpus" or an ``extra`` key."""
        self._check_keys([by])
        return dict(sorted(Counter(_value(r, by) for r in self.rows).items()))

    def filter(self, **where: Union[str, Iterable[str]]) -> "Manifest":
        """Rows whose fields match, e.g. ``filter(split="train")``, ``filter(label=["sad", "happy"])``.

        Keys are "label", "speaker", "corpus" or ``extra`` keys; a value is one string or a
        collection of accepted strings.
        """
        self._check_keys(where)
        wanted = {k: {v} if isinstance(v, str) else set(v) for k, v in where.items()}
        rows = [r for r in self.rows if all(_value(r, k) in vs for k, vs in wanted.items())]
        return replace(self, rows=tuple(rows))

    def take(self, indices: Iterable[int]) -> "Manifest":
        """The rows at ``indices`` (e.g. one fold from ``core.data.splits``), in that order."""
        return replace(self, rows=tuple(self.rows[int(i)] for i in indices))

    def summary(self) -> str:
        """Human-readable overview: corpus, root, clip count, skipped files, per-label and
        per-speaker counts (what ``serwb corpus inspect ROOT`` prints)."""
        lines = [f"corpus:   {self.corpus}", f"root:     {self.root}", f"clips:    {len(self)}"]
        if self.skipped:
            lines.append(f"skipped:  {self.skipped} file(s)")
            lines += [f"  {n:>6}  {reason}" for reason, n in sorted(self.skip_reasons.items())]
        for by in ("label", "speaker"):
            counts = self.counts(by)
            lines.append(f"{by}s ({len(counts)}):")
            shown = list(counts.items())[:40]
            lines += [f"  {name:<24} {n}" for name, n in shown]
            if len(counts) > len(shown):
                lines.append(f"  ... and {len(counts) - len(shown)} more")
        return "\n".join(lines)

    def _check_keys(self, keys: Iterable[str]) -> None:
        known = {"label", "speaker", "corpus"} | {k for r in self.rows for k in r.extra}
        unknown = sorted(set(keys) - known)
        if unknown and self.rows:
            raise CorpusError(
                f"This {self.corpus} manifest has no field {', '.join(map(repr, unknown))}. "
                f"Use one of: {', '.join(sorted(known))}."
            )


def _value(row: Row, key: str) -> str | None:
    if key in ("label", "speaker", "corpus"):
        return getattr(row, key)
    return row.extra.get(key)


# --------------------------------------------------------------------------- parsers
# One function per file-naming corpus. Each takes the path relative to the root and
# returns Parsed, a str (named like this corpus but left out, and why), or None (not
# this corpus's naming).


class Parsed(NamedTuple):
    label: str
    speaker: str
    extra: dict[str, str]


ParseResult = Union[Parsed, str, None]

_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_EMODB = re.compile(r"^(\d\d)([a-z]\d\d)([A-Z])([a-z])$")
_SAVEE_CODE = r"(sa|su|a|d|f|h|n)(\d\d)"
_SAVEE_NESTED = re.compile(rf"^{_SAVEE_CODE}$", re.IGNORECASE)
_SAVEE_FLAT = re.compile(rf"^(DC|JE|JK|KL)_{_SAVEE_CODE}$", re.IGNORECASE)
_CREMAD = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")
_TESS = re.compile(r"^(OAF|YAF)_(.+)_([a-z]+)$", re.IGNORECASE)
# Any letter is matched, so that an unknown one is left out with its reason, not ignored.
_POLISH = re.compile(r"^m(\d+)\.([a-z])_([a-z]+)_(\d+)$")


def parse_ravdess(rel: PurePosixPath) -> ParseResult:
    """``MM-VV-EE-II-SS-RR-AA``: modality, vocal channel, emotion, intensity, statement,
    repetition, actor (odd male, even female)."""
    m = _RAVDESS.match(rel.stem)
    if not m:
        return None
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if modality != "03":
        kind = RAVDESS_MODALITY.get(modality, "unknown")
        return f"RAVDESS {kind} modality {modality} (only 03, audio-only, is used)"
    if emotion not in RAVDESS_EMOTION:
        return f"unknown RAVDESS emotion code {emotion}"
    if not 1 <= int(actor) <= 24 or channel not in RAVDESS_CHANNEL or intensity not in RAVDESS_INTENSITY:
        return "RAVDESS name with an out-of-range actor, channel or intensity code"
    extra = {
        "channel": RAVDESS_CHANNEL[channel],
        "intensity": RAVDESS_INTENSITY[intensity],
        "statement": statement,
        "repetition": repetition,
        "actor": actor,
        "gender": "male" if int(actor) % 2 else "female",
    }
    return Parsed(RAVDESS_EMOTION[emotion], f"ravdess-{actor}", extra)


def parse_emodb(rel: PurePosixPath) -> ParseResult:
    """``SSTTTEV``: speaker (2 digits), text code (3), German emotion letter, version."""
    m = _EMODB.match(rel.stem)
    if not m:
        return None
    speaker, text, emotion, version = m.groups()
    if emotion not in EMODB_EMOTION:
        return f"unknown EMO-DB emotion letter {emotion}"
    if speaker not in EMODB_GENDER:
        return f"unknown EMO-DB speaker {speaker}"
    extra = {"text": text, "version": version, "gender": EMODB_GENDER[speaker]}
    return Parsed(EMODB_EMOTION[emotion], f"emodb-{speaker}", extra)


def parse_savee(rel: PurePosixPath) -> ParseResult:
    """``AudioData/<speaker>/<code><NN>`` or flat ``<speaker>_<code><NN>``."""
    if m := _SAVEE_FLAT.match(rel.stem):
        speaker, code, take = m.groups()
    elif (m := _SAVEE_NESTED.match(rel.stem)) and rel.parent.name.upper() in SAVEE_SPEAKERS:
        (code, take), speaker = m.groups(), rel.parent.name
    else:
        return None
    speaker = speaker.upper()
    return Parsed(SAVEE_EMOTION[code.lower()], f"savee-{speaker}", {"take": take, "gender": "male"})


def parse_cremad(rel: PurePosixPath) -> ParseResult:
    """``AAAA_SSS_EEE_LL``: actor, sentence, emotion, level."""
    m = _CREMAD.match(rel.stem)
    if not m:
        return None
    actor, sentence, emotion, level = m.groups()
    if emotion not in CREMAD_EMOTION:
        return f"unknown CREMA-D emotion code {emotion}"
    if level not in CREMAD_LEVEL:
        return f"unknown CREMA-D level code {level}"
    extra = {"sentence": sentence, "level": level, "intensity": CREMAD_LEVEL[level], "actor": actor}
    return Parsed(CREMAD_EMOTION[emotion], f"crema-d-{actor}", extra)


def parse_tess(rel: PurePosixPath) -> ParseResult:
    """``{OAF|YAF}_<word>_<emotion>``, any case; the folder name is ignored."""
    m = _TESS.match(rel.stem)
    if not m:
        return None
    speaker, word, emotion = m.group(1).upper(), m.group(2).lower(), m.group(3).lower()
    if emotion not in TESS_EMOTION:
        return f"unknown TESS emotion {emotion!r}"
    extra = {"word": word, "age": TESS_AGE[speaker], "gender": "female"}
    return Parsed(TESS_EMOTION[emotion], f"tess-{speaker}", extra)


def parse_polish(rel: PurePosixPath) -> ParseResult:
    """``m<k>.<emotion>_<word>_<repetition>``: speaker, emotion letter, Polish word, take."""
    m = _POLISH.match(rel.stem)
    if not m:
        return None
    speaker, emotion, word, repetition = m.groups()
    if emotion not in POLISH_EMOTION:
        return f"unknown Polish emotion letter {emotion!r} (only a, s, n)"
    extra = {"word": word, "repetition": repetition, "gender": "male"}
    return Parsed(POLISH_EMOTION[emotion], f"polish-m{speaker}", extra)


def parse_folder(rel: PurePosixPath) -> ParseResult:
    """``<label>/.../<name>``: the top folder names the emotion; speakers are unknown."""
    if len(rel.parts) < 2:
        return None
    label = normalize_label(rel.parts[0])
    if label is None:
        return None
    return Parsed(label, "unknown", {"folder": rel.parts[0]})


@dataclass(frozen=True)
class NamingLayout:
    name: str
    title: str
    example: str
    parse: Callable[[PurePosixPath], ParseResult]


#: File-naming layouts, in the order auto-detection prefers them on a tie.
NAMING_LAYOUTS: dict[str, NamingLayout] = {
    "ravdess": NamingLayout("ravdess", "RAVDESS", "Actor_07/03-01-05-01-02-01-07.wav", parse_ravdess),
    "emodb": NamingLayout("emodb", "EMO-DB", "wav/03a01Fa.wav", parse_emodb),
    "savee": NamingLayout("savee", "SAVEE", "AudioData/DC/sa01.wav or DC_sa01.wav", parse_savee),
    "crema-d": NamingLayout("crema-d", "CREMA-D", "AudioWAV/1001_DFA_ANG_XX.wav", parse_cremad),
    "tess": NamingLayout("tess", "TESS", "OAF_Fear/OAF_back_fear.wav", parse_tess),
    "polish": NamingLayout("polish", "Polish emotional speech (Mięsikowska & Świsulski 2020)",
                           "POLISH/m1.a_nie_2.wav", parse_polish),
}
FOLDER_LAYOUT = NamingLayout("folder", "folder per label", "angry/clip1.wav, sad/clip2.wav", parse_folder)

CORPORA: tuple[str, ...] = (*NAMING_LAYOUTS, "iemocap", "folder", "csv")

_EXPECTED_LAYOUTS = "\n".join(
    [f"  - {lay.title}: {lay.example}" for lay in NAMING_LAYOUTS.values()]
    + [
        "  - IEMOCAP: Session1/sentences/wav/<dialog>/<utt>.wav + Session1/dialog/EmoEvaluation/<dialog>.txt",
        f"  - {FOLDER_LAYOUT.title}: {FOLDER_LAYOUT.example}",
        "  - CSV manifest: manifest.csv with columns path,label[,speaker,corpus,...]",
    ]
)

# --------------------------------------------------------------------------- loading


def load_manifest(
    root: Union[str, Path],
    corpus: str = "auto",
    *,
    improvised_only: bool = False,
    four_class: bool = False,
) -> Manifest:
    """List the clips of the corpus at ``root`` (a folder, or a .csv manifest file).

    ``corpus`` is "auto" or one of ``CORPORA``. ``improvised_only`` and ``four_class``
    apply to IEMOCAP only. Raises ``CorpusError`` for a missing, empty or unrecognised root.
    """
    name = _corpus_name(corpus)
    root = Path(root).expanduser()
    if not root.exists():
        raise CorpusError(
            f"Corpus folder {root} does not exist. Check the path (a relative one is read from {Path.cwd()})."
        )
    if root.is_file():
        if root.suffix.lower() == ".csv" and name in ("auto", "csv"):
            manifest = load_csv(root)
        else:
            raise CorpusError(
                f"{root} is a file. Pass a corpus folder, or a .csv manifest with columns path,label."
            )
    elif name == "csv" or (name == "auto" and (root / "manifest.csv").is_file()):
        manifest = load_csv(root / "manifest.csv")
    elif name == "iemocap" or (name == "auto" and _iemocap_sessions(root)):
        return load_iemocap(root, improvised_only=improvised_only, four_class=four_class)
    else:
        manifest = _load_named(root.resolve(), name)
    if improvised_only or four_class:
        raise CorpusError(
            f"improvised_only and four_class apply to IEMOCAP only, but {root} holds a "
            f"{manifest.corpus} corpus. Leave them off, or use Manifest.filter(label=[...]) to pick labels."
        )
    return manifest


def _corpus_name(corpus: str) -> str:
    key = corpus.strip().lower().replace("_", "-")
    key = {"emo-db": "emodb", "cremad": "crema-d", "csv-manifest": "csv", "folders": "folder"}.get(key, key)
    if key != "auto" and key not in CORPORA:
        raise CorpusError(f"Unknown corpus {corpus!r}. Use 'auto' or one of: {', '.join(CORPORA)}.")
    return key


def _scan(root: Path) -> tuple[list[PurePosixPath], Counter]:
    """Audio files under ``root`` as sorted relative paths, plus files left out and why.

    Hidden folders (".git", ...) are not entered; hidden files (macOS "._x.wav") and
    symbolic links are left out so that every path stays inside ``root``.
    """
    found: list[PurePosixPath] = []
    skipped: Counter = Counter()
    stack = [(root, PurePosixPath())]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as e:
            raise CorpusError(f"Cannot list {folder}: {e.strerror}. Check its permissions.") from e
        for entry in entries:
            if entry.is_symlink():
                skipped["symbolic link (not followed)"] += 1
            elif entry.is_dir():
                if not entry.name.startswith("."):
                    stack.append((Path(entry.path), rel / entry.name))
            elif os.path.splitext(entry.name)[1].lower() in AUDIO_EXTENSIONS:
                if entry.name.startswith("."):
                    skipped["hidden file"] += 1
                else:
                    found.append(rel / entry.name)
    return sorted(found), skipped


def _load_named(root: Path, name: str) -> Manifest:
    """Load a file-naming corpus (or folder per label); ``name == "auto"`` detects which."""
    files, skipped = _scan(root)
    if not files:
        raise CorpusError(
            f"No audio files ({', '.join(sorted(AUDIO_EXTENSIONS))}) under {root}. "
            f"Point to the corpus folder itself; expected one of these layouts:\n{_EXPECTED_LAYOUTS}"
        )
    candidates = [*NAMING_LAYOUTS.values(), FOLDER_LAYOUT]
    if name != "auto":
        candidates = [lay for lay in candidates if lay.name == name]
    results = {lay.name: [lay.parse(f) for f in files] for lay in candidates}
    matched = {n: sum(r is not None for r in rs) for n, rs in results.items()}
    if name == "auto":
        # The file naming that covers most files wins (ties: table order), if it covers at
        # least half; it beats folder-per-label because names say more (speaker, ...).
        best = max(NAMING_LAYOUTS.values(), key=lambda lay: matched[lay.name])
        if matched[best.name] * 2 < len(files):
            best = FOLDER_LAYOUT
            if matched[best.name] * 2 < len(files):
                raise CorpusError(_unrecognised(root, files, matched))
    else:
        best = candidates[0]
        if not matched[best.name]:
            raise CorpusError(
                f"None of the {len(files)} audio files under {root} is named like {best.title} "
                f"({best.example}); e.g. {_examples(files)}. Check the folder, or use corpus='auto'."
            )
    rows = []
    for rel, res in zip(files, results[best.name]):
        if isinstance(res, Parsed):
            rows.append(Row(root.joinpath(*rel.parts), res.label, res.speaker, best.name, res.extra))
        else:
            skipped[res or f"not named like {best.title} ({best.example})"] += 1
    if not rows:
        raise CorpusError(
            f"{root} looks like {best.title}, but every file was left out: "
            + "; ".join(f"{n} {reason}" for reason, n in skipped.items())
            + ". Check that the folder holds the audio-only release."
        )
    return Manifest(root, best.name, tuple(rows), skipped)


def _examples(files: Sequence[PurePosixPath], n: int = 3) -> str:
    return ", ".join(str(f) for f in files[:n]) + (", ..." if len(files) > n else "")


def _unrecognised(root: Path, files: Sequence[PurePosixPath], matched: Mapping[str, int]) -> str:
    scores = ", ".join(f"{n} {k}" for k, n in matched.items() if n)
    why = (f"no layout names at least half of them (matches: {scores})" if scores
           else "none is named like a known corpus")
    return (
        f"Unrecognised corpus layout in {root}: {len(files)} audio files (e.g. {_examples(files)}), but {why}. "
        f"Expected one of these layouts:\n{_EXPECTED_LAYOUTS}\n"
        "Rename or sort the files into one of them, or write a manifest.csv (columns path,label[,speaker]) "
        "next to them."
    )


# --------------------------------------------------------------------------- IEMOCAP

_IEMOCAP_LINE = re.compile(
    r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\w+)\s+\[\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*\]"
)


def _iemocap_sessions(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("Session*") if (p / "dialog" / "EmoEvaluation").is_dir())


def parse_emo_evaluation(text: str) -> dict[str, dict[str, str]]:
    """Utterance -> {category, start, end, valence, arousal, dominance} from one
    EmoEvaluation file. Headers, evaluator lines ("C-E1:", "A-E2:") and blanks are ignored."""
    out = {}
    for line in text.splitlines():
        m = _IEMOCAP_LINE.match(line)
        if m:
            start, end, utt, cat, val, aro, dom = m.groups()
            out[utt] = {"category": cat.lower(), "start": start, "end": end,
                        "valence": val, "arousal": aro, "dominance": dom}
    return out


def _iemocap_speaker(utt: str) -> tuple[str, str]:
    """``Ses01F_impro01_M012`` -> ("Ses01M", "male"): the LAST token's letter is who speaks;
    the dialog's F/M only says who wore the motion-capture markers."""
    tokens = utt.split("_")
    letter = tokens[-1][:1].upper()
    return tokens[0][:5] + letter, {"F": "female", "M": "male"}.get(letter, "unknown")


def load_iemocap(root: Union[str, Path], *, improvised_only: bool = False, four_class: bool = False) -> Manifest:
    """IEMOCAP sentence clips labelled from ``Session*/dialog/EmoEvaluation/*.txt``."""
    root = Path(root).resolve()
    sessions = _iemocap_sessions(root)
    if not sessions:
        raise CorpusError(
            f"No IEMOCAP sessions under {root}: expected Session1..Session5, each with "
            "dialog/EmoEvaluation/*.txt and sentences/wav/<dialog>/*.wav. Point to the "
            "IEMOCAP_full_release folder."
        )
    table = IEMOCAP_FOUR_CLASS if four_class else IEMOCAP_EMOTION
    rows, skipped = [], Counter()
    for session in sessions:
        labels: dict[str, dict[str, str]] = {}
        for txt in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            labels.update(parse_emo_evaluation(txt.read_text(encoding="utf-8", errors="replace")))
        wav_dir = session / "sentences" / "wav"
        if wav_dir.is_dir() and wav_dir.resolve() != wav_dir:
            skipped["symbolic link (not followed)"] += 1
            continue
        files, skip = _scan(wav_dir) if wav_dir.is_dir() else ([], Counter())
        skipped.update(skip)
        for rel in files:
            utt, dialog = rel.stem, (rel.parent.name or rel.stem.rsplit("_", 1)[0])
            info = labels.get(utt)
            if info is None:
                skipped["IEMOCAP clip without a label in EmoEvaluation"] += 1
                continue
            cat = info["category"]
            if improvised_only and "impro" not in dialog:
                skipped["IEMOCAP scripted dialog (improvised_only)"] += 1
                continue
            if table.get(cat) is None:
                reason = ("IEMOCAP 'xxx' (evaluators did not agree)" if cat == "xxx"
                          else f"IEMOCAP '{cat}' (not in four_class)" if four_class
                          else f"unknown IEMOCAP category {cat!r}")
                skipped[reason] += 1
                continue
            speaker, gender = _iemocap_speaker(utt)
            extra = {**info, "iemocap_label": cat, "dialog": dialog, "session": session.name, "gender": gender}
            del extra["category"]
            rows.append(Row(wav_dir.joinpath(*rel.parts), table[cat], speaker, "iemocap", extra))
    if not rows:
        raise CorpusError(
            f"No labelled IEMOCAP clips under {root}"
            + (": " + "; ".join(f"{n} {r}" for r, n in skipped.items()) if skipped else "")
            + ". Check that Session*/sentences/wav/<dialog>/<utt>.wav are present next to dialog/EmoEvaluation."
        )
    rows.sort(key=lambda r: r.path)
    return Manifest(root, "iemocap", tuple(rows), skipped)


# --------------------------------------------------------------------------- CSV

_CSV_FIELDS = ("path", "label", "speaker", "corpus")


def load_csv(csv_path: Union[str, Path]) -> Manifest:
    """A CSV manifest: columns path,label (required), speaker, corpus (optional), others
    -> ``extra``. Paths are relative to the CSV's folder and must stay inside it."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise CorpusError(f"No CSV manifest at {csv_path}. Write one with columns path,label[,speaker].")
    root = csv_path.parent.resolve()
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as f:
            table = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as e:
        raise CorpusError(f"Cannot read {csv_path} as a UTF-8 CSV file ({e}). Save it as UTF-8 CSV.") from e
    if not table:
        raise CorpusError(f"{csv_path} is empty. Its first line must name the columns: path,label[,speaker,...].")
    header = [h.strip().lower() for h in table[0]]
    missing = [c for c in ("path", "label") if c not in header]
    if missing or len(set(header)) != len(header) or "" in header:
        raise CorpusError(
            f"{csv_path} has columns {table[0]}: it needs distinct, named columns including "
            f"'path' and 'label' (missing: {', '.join(missing) or 'none'})."
        )
    rows, problems, seen = [], [], set()
    for line_no, values in enumerate(table[1:], start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append(f"line {line_no}: {len(values)} fields, header has {len(header)}")
            continue
        rec = {k: v.strip() for k, v in zip(header, values)}
        try:
            path = _csv_clip_path(root, rec["path"])
        except CorpusError as e:
            problems.append(f"line {line_no}: {e}")
            continue
        label = normalize_label(rec["label"])
        if label is None:
            problems.append(f"line {line_no}: unknown label {rec['label']!r}")
            continue
        if path in seen:
            problems.append(f"line {line_no}: {rec['path']!r} is listed twice")
            continue
        seen.add(path)
        extra = {k: v for k, v in rec.items() if k not in _CSV_FIELDS}
        rows.append(Row(path, label, rec.get("speaker") or "unknown", rec.get("corpus") or "csv", extra))
    if problems:
        shown = "\n  ".join(problems[:8]) + (f"\n  ... and {len(problems) - 8} more" if len(problems) > 8 else "")
        raise CorpusError(
            f"{csv_path}: {len(problems)} row(s) cannot be used:\n  {shown}\n"
            f"Paths must be relative to {root}, stay inside it and name existing audio files "
            f"({', '.join(sorted(AUDIO_EXTENSIONS))}); labels must be one of: {', '.join(LABELS)}."
        )
    if not rows:
        raise CorpusError(f"{csv_path} lists no clips. Add one row per clip: path,label[,speaker].")
    rows.sort(key=lambda r: r.path)
    corpora = {r.corpus for r in rows}
    return Manifest(root, corpora.pop() if len(corpora) == 1 else "csv", tuple(rows))


def write_manifest(path: Path, columns: Sequence[str], rows: Sequence[Mapping]) -> None:
    """Write a manifest CSV atomically (a temporary file renamed into place): a killed build never leaves half a one."""
    tmp = path.with_name(path.name + ".part")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _csv_clip_path(root: Path, raw: str) -> Path:
    """Resolve a CSV path entry, refusing anything that is not an audio file inside ``root``."""
    if not raw:
        raise CorpusError("empty path")
    win = PureWindowsPath(raw)
    if raw.startswith("\\") or PurePosixPath(raw).is_absolute() or win.is_absolute() or win.drive:
        raise CorpusError(f"absolute path {raw!r} (write it relative to the CSV's folder)")
    path = root.joinpath(*win.parts).resolve()  # accepts "/" and "\" as separators
    if not path.is_relative_to(root):
        raise CorpusError(f"path {raw!r} leads outside the CSV's folder")
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        raise CorpusError(f"{raw!r} is not an audio file")
    if not path.is_file():
        raise CorpusError(f"file {raw!r} does not exist")
    return path
