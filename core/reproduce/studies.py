"""What each paper ran and reported: one ``Study`` per paper, its runs (a preset plus the values a sweep changes)
and, beside each run the paper reports, the paper's own numbers on the paper's corpora (from the text in
``shared/papers``, in the paper's units: percent, or 0-1 where the paper writes 0.8681).

A run's ``overrides`` are ``TrainConfig`` values replacing the preset's (``model_cfg`` is merged; ``model`` may
name another registered model, keeping only the settings that model has). ``quick`` marks the runs
``serwb reproduce --quick`` keeps: one point of each kind of study, enough to exercise every table and plot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from core.errors import ConfigError


@dataclass(frozen=True)
class Run:
    """One training of a study: ``preset`` with ``overrides``, one point (``setting``) of one ``sweep``."""

    name: str  # unique within its study and file-safe: the run's folder
    preset: str
    sweep: str  # which of the paper's tables or figures the run belongs to
    setting: str  # the value the sweep varies, as the paper writes it
    overrides: Mapping[str, Any] = field(default_factory=dict)
    paper: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # corpus -> metric -> value
    source: str = ""  # where the paper states those values
    quick: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "overrides", MappingProxyType(dict(self.overrides)))
        object.__setattr__(self, "paper", MappingProxyType({k: MappingProxyType(dict(v)) for k, v in self.paper.items()}))


@dataclass(frozen=True)
class Study:
    """One paper's protocol: its runs, the plots it draws, and what a reader must know about its numbers."""

    name: str  # "s0".."s3"
    title: str
    corpora: str  # the paper's corpora, for the table's label
    runs: tuple[Run, ...]
    plots: tuple[str, ...]  # of core.reproduce.plots.PLOTS
    main: str  # the run whose final model the plots explain
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [r.name for r in self.runs]
        if len(set(names)) != len(names) or self.main not in names:
            raise ValueError(f"study {self.name}: run names must be unique and include main {self.main!r}")

    def selected(self, quick: bool) -> tuple[Run, ...]:
        return tuple(r for r in self.runs if r.quick) if quick else self.runs


def _uwa(ua: float, wa: float, acc: float) -> dict:
    return {"UA": ua, "WA": wa, "ACC": acc}


# ----------------------------------------------------------------------------- S0

_V = [f"stft-v{i}" for i in range(1, 9)]
_CNN = {"model": "cnn", "augment": ()}  # Table 6's "CNN-based model": no ECA, no STFT augmentation
_ECA = {"augment": ()}  # "+ Our ECA block" without augmentation (the ECA sweeps, Figs 8-9)

_S0_RUNS = [
    Run("ablation-cnn-ce", "s0", "Table 6: ablation (version 8)", "CNN, cross entropy",
        _CNN | {"focal_gamma": 0.0, "class_weighted": False},
        {"IEMOCAP": _uwa(78.62, 78.70, 78.66), "EMODB": _uwa(83.54, 84.67, 84.11)}, "Table 6"),
    Run("ablation-cnn-focal", "s0", "Table 6: ablation (version 8)", "CNN, weighted focal", _CNN,
        {"IEMOCAP": _uwa(78.94, 78.80, 78.87), "EMODB": _uwa(84.01, 85.05, 84.52)}, "Table 6", quick=True),
    Run("ablation-original-eca", "s0-original-eca", "Table 6: ablation (version 8)", "+ original ECA block", _ECA,
        {"IEMOCAP": _uwa(78.71, 78.80, 78.76), "EMODB": _uwa(78.86, 80.19, 79.44)}, "Table 6"),
    Run("ablation-our-eca", "s0", "Table 6: ablation (version 8)", "+ our ECA block", _ECA,
        {"IEMOCAP": _uwa(79.37, 79.68, 79.53), "EMODB": _uwa(85.48, 86.17, 85.83)}, "Table 6; Table 5 (ECA)"),
    Run("ablation-stft-aug", "s0", "Table 6: ablation (version 8)", "+ STFT augmentation", {"model": "cnn"},
        {"IEMOCAP": _uwa(79.66, 80.50, 80.08), "EMODB": _uwa(84.71, 85.61, 85.16)}, "Table 6"),
    Run("s0", "s0", "Table 6: ablation (version 8)", "+ + our ECA block (the proposed model)", {},
        {"IEMOCAP": _uwa(80.28, 80.46, 80.37) | {"params": 2_734_482, "GFLOPs": 61.10},
         "EMODB": _uwa(87.67, 88.04, 87.85)}, "Table 6; Table 4 (parameters, FLOPs); abstract", quick=True),
    *[Run(f"attention-{key}", "s0", "Table 5: attention methods in the same CNN (blocks 5 and 6, version 8)", setting,
          overrides, {"IEMOCAP": _uwa(*iemocap), "EMODB": _uwa(*emodb)}, "Table 5", quick=key == "mha")
      for key, setting, overrides, iemocap, emodb in (
          ("head-fusion", "Head-fusion", _ECA | {"model": "cnn-hf"}, (78.59, 78.86, 78.73), (84.22, 84.67, 84.45)),
          ("mha", "MHA", _ECA | {"model": "cnn-mha"}, (73.96, 73.63, 73.79), (80.87, 81.12, 81.00)),
          ("area", "Area Attention", _ECA | {"model": "cnn-area"}, (74.85, 75.60, 75.09), (84.45, 84.67, 84.56)),
          ("eca", "ECA", _ECA, (79.37, 79.68, 79.53), (85.48, 86.17, 85.83)))],
    *[Run(f"n-{n}", "s0", "Fig. 6: channel multiplier n (CNN, version 8)", f"n = {n}", _CNN | {"model_cfg": {"n": n}},
          quick=n == 1) for n in range(1, 9)],
    *[Run(f"stft-{v}", "s0", "Figs. 6-7: STFT version (CNN, n = 4)", v, _CNN | {"features": v},
          {"IEMOCAP": _uwa(79.16, 79.27, 79.22)} if v == "stft-v6" else
          {"EMODB": _uwa(84.01, 85.05, 84.52)} if v == "stft-v8" else {},
          "section 'CNN-based model' (the best version per corpus)" if v in ("stft-v6", "stft-v8") else "")
      for v in _V],
    *[Run(f"eca-k-{k}", "s0", "Fig. 8: ECA kernel size k (blocks 5-6, version 8)", f"k = {k}",
          _ECA | {"model_cfg": {"eca_kernel": k}}, quick=k == 3) for k in (3, 5, 7, 9)],
    *[Run(f"eca-blocks-{'-'.join(map(str, blocks))}", "s0", "Fig. 9: ECA positions (k = 7, version 8)",
          "blocks " + ", ".join(map(str, blocks)), _ECA | {"model_cfg": {"eca_blocks": blocks}},
          {"IEMOCAP": _uwa(79.37, 79.68, 79.53), "EMODB": _uwa(85.48, 86.17, 85.83)} if blocks == (5, 6) else {},
          "section 'ECA' (blocks 5 and 6)" if blocks == (5, 6) else "")
      for blocks in ((6,), (5, 6), (4, 5, 6), (3, 4, 5, 6), (1, 2, 3, 4, 5, 6))],
    *[Run(f"aug-up-{k}", "s0", "Fig. 10: STFT augmentation, ascending (ECA)", f"versions 1-{k}",
          {"augment": tuple(_V[:k])},
          {"IEMOCAP": _uwa(79.69, 79.51, 79.60), "EMODB": _uwa(84.28, 84.49, 84.38)} if k == 2 else {},
          "section 'STFT augmentation' (ECA, ascending: best at versions 1-2)" if k == 2 else "")
      for k in range(2, 9)],
    *[Run(f"aug-down-{k}", "s0", "Fig. 11: STFT augmentation, descending (ECA)", f"versions 8-{k}",
          {"augment": tuple(reversed(_V[k - 1:]))},
          {"EMODB": _uwa(87.67, 88.04, 87.85)} if k == 3 else {},
          "section 'STFT augmentation' (ECA, descending, EMODB: best at versions 8-3)" if k == 3 else "")
      for k in range(7, 0, -1)],
]

S0 = Study(
    "s0", "Kim & Kwon: CNN + ECA, STFT augmentation (Tables 4-6, Figs. 6-11)", "IEMOCAP (4 emotions) and EMODB",
    tuple(_S0_RUNS), plots=("sweeps", "eca"), main="s0",
    notes=("The paper's numbers are 5-fold cross-validation on every clip (not speaker-independent), percent.",
           "Fig. 6 crosses n with the eight STFT versions; the text states only each corpus' best cell, so the two "
           "sweeps here vary one factor each (n on version 8, versions at n = 4).",
           "Table 4's FLOPs (61.10 G) do not say whether a multiply-add counts once or twice, nor the input "
           "length; ours are torch's flop counter (2 per multiply-add) on one clip of the preset's length.",
           "Table 5 names its attention methods but not their settings: Head-fusion, MHA and Area Attention sit "
           "where ECA does (after blocks 5 and 6), residual, 4 heads, areas up to 3 x 3 (core.models.map_attention). "
           "Its STC row is not reproduced: the text does not define it (ref. 33)."),
)

# ----------------------------------------------------------------------------- S1

S1 = Study(
    "s1", "Kim et al.: 3D CNN vs CNN-LSTM, speaker-independent", "aggregated corpora (unnamed in the abstract)",
    (Run("s1", "s1", "3D CNN vs CNN-LSTM", "3D CNN (our kernel table)", quick=True),
     Run("s1-homogeneous", "s1-homogeneous", "3D CNN vs CNN-LSTM", "3D CNN, homogeneous (2 x 3 x 5 kernels)"),
     Run("s1-cnn-lstm", "s1-cnn-lstm", "3D CNN vs CNN-LSTM", "CNN-LSTM", quick=True),
     *[Run(f"temporal-{t}", "s1-homogeneous", "the kernel study: temporal depth (segments; spectral 5)",
           f"temporal {t}", {"model_cfg": {"temporal_depth": t}}) for t in (1, 2, 3, 4)],
     *[Run(f"spectral-{f}", "s1-homogeneous", "the kernel study: spectral depth (bands; temporal 2)",
           f"spectral {f}", {"model_cfg": {"spectral_depth": f}}) for f in (3, 5, 7, 9)]),
    plots=("sweeps", "tsne"), main="s1",
    notes=("The text we have is the abstract: it reports no numbers, so the paper column is empty.",),
)

# ----------------------------------------------------------------------------- S2

_S2_TABLE = {"s2-dbn": (47.92, 32.64), "s2-sdnn": (69.79, 45.18), "s2-lstm": (67.0, 70.0),
             "s2-lstm-atn": (69.79, 66.0), "s2-cnn": (55.2, 70.5), "s2-cnn-atn": (74.0, 77.0)}
_S2_NAMES = {"s2-dbn": "DBN", "s2-sdnn": "SDNN", "s2-lstm": "LSTM", "s2-lstm-atn": "LSTM-ATN", "s2-cnn": "CNN",
             "s2-cnn-atn": "CNN-ATN"}

S2 = Study(
    "s2", "Mountzouris et al.: six networks on 40 MFCCs (Table 2)", "SAVEE and RAVDESS",
    tuple(Run(name, name, "Table 2: the six models", _S2_NAMES[name],
              paper={"SAVEE": {"WA": savee}, "RAVDESS": {"WA": ravdess}}, source="Table 2 (weighted accuracy)",
              quick=name in ("s2-sdnn", "s2-cnn-atn"))
          for name, (savee, ravdess) in _S2_TABLE.items()),
    plots=("confusions",), main="s2-cnn-atn",
    notes=("The paper's numbers are accuracy on a random 80/20 split of the clips (speakers on both sides), percent.",),
)

# ----------------------------------------------------------------------------- S3

S3 = Study(
    "s3", "Kim & Kwak: VGGish + YAMNet fusion, before and after GDS (Table 5, Fig. 23)",
    "CSU 2021/2022 and AI-Hub Korean emotional speech",
    (Run("s3-no-gds", "s3", "Table 5: Gaussian data selection", "before GDS", {"gds_threshold": None},
         {"CSU+AI-Hub": {"WA": 86.54, "UA": 0.8681, "F1": 0.8653, "train_min": 89.87}}, "Table 5", quick=True),
     Run("s3", "s3", "Table 5: Gaussian data selection", "after GDS", {},
         {"CSU+AI-Hub": {"WA": 85.82, "UA": 0.8614, "F1": 0.8583, "train_min": 70.62}}, "Table 5", quick=True),
     Run("s3-paper", "s3-paper", "Table 5: Gaussian data selection", "after GDS, the paper's 48 kHz front end and "
         "unpooled VGGish head", {},
         {"CSU+AI-Hub": {"WA": 85.82, "UA": 0.8614, "F1": 0.8583, "train_min": 70.62}}, "Table 5"),
     Run("vggish", "s3", "Fig. 23: the branches alone", "VGGish", {"model": "vggish"}),
     Run("yamnet", "s3", "Fig. 23: the branches alone", "YAMNet", {"model": "yamnet"})),
    plots=("gds", "profiles"), main="s3",
    notes=("The paper's accuracy is percent, its recall (our UA) and F1 are 0-1, on an 85/15 random split.",
           "Fig. 23 plots the single branches without numbers in the text.",
           "The paper starts from VGGish and YAMNet pre-trained on AudioSet; without network access ours start "
           "from random weights unless --pretrained is given."),
)

STUDIES: Mapping[str, Study] = MappingProxyType({s.name: s for s in (S0, S1, S2, S3)})


def study(name: str) -> Study:
    """The named study, or a ``ConfigError`` listing the four."""
    try:
        return STUDIES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown paper '{name}'. serwb reproduce knows: {', '.join(STUDIES)}.") from None
