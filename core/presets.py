"""The four papers' training setups as published: one frozen ``Preset`` per paper configuration, by name.

``serwb train --preset s2-cnn-atn`` trains exactly what the paper describes; explicit flags override single
values, and the run's report records the preset, the overrides and every value used. Each value below stands
beside the phrase of the paper it comes from (``Preset.sources``); where the paper is silent the note says
"paper silent: we choose X because Y". The papers' text is in ``shared/papers`` (S0-S3, see DESIGN.md).

    from core import presets
    presets.available()                    # ['s0', 's1', 's2-cnn', ...]
    p = presets.get("s2-cnn-atn")
    cfg = p.train_config(epochs=1)         # a core.training.TrainConfig
    train(manifest, cfg, out, **p.protocol())
    print(presets.describe("s0"))

The model settings are those of the registered builders (``core.models``); our tuned demo settings stay the
builders' defaults and the TrainConfig defaults. These presets are the papers' values, not ours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from core.errors import ConfigError
from core.jsonsafe import plain

LOSSES = ("focal", "cross-entropy")
SPLITS = ("folds", "speaker-folds", "random", "speaker-holdout")
# Preset fields that are TrainConfig fields of the same name
TRAIN_FIELDS = ("model", "features", "augment", "epochs", "batch_size", "optimiser", "lr", "lr_schedule", "lr_end", "lr_decay",
                "lr_step", "focal_gamma", "class_weighted", "seconds", "padding", "segment_training", "gds_threshold")


@dataclass(frozen=True)
class Preset:
    """One paper configuration: model, features, loss, optimiser and schedule, batch, epochs, split, clips, metrics.

    ``loss`` "cross-entropy" means ``focal_gamma == 0``; ``class_weighted`` adds S0's inverse-frequency weights.
    ``lr_schedule`` is a ``core.training.LR_SCHEDULES`` kind. ``split``: "folds" (stratified k-fold on every
    clip), "speaker-folds" (speaker-independent k-fold), "random" (``test_size`` of the clips, stratified by
    emotion), "speaker-holdout" (``test_size`` of the speakers). ``seconds`` None: full sequences (every clip
    padded to the longest training clip). ``sources``: field -> the paper's phrase, or why we chose.
    """

    name: str
    paper: str  # "S0".."S3"
    title: str
    model: str
    model_cfg: Mapping[str, Any]
    features: str
    loss: str
    focal_gamma: float
    class_weighted: bool
    optimiser: str
    lr: float
    lr_schedule: str
    batch_size: int
    epochs: int
    split: str
    metrics: tuple[str, ...]
    folds: int = 1
    test_size: float = 0.2
    lr_end: float | None = None
    lr_decay: float = 1.0
    lr_step: int = 1
    augment: tuple[str, ...] = ()
    seconds: float | None = 3.0
    padding: str = "zeros"
    segment_training: bool | None = None
    gds_threshold: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_cfg", MappingProxyType(dict(self.model_cfg)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        checks = [
            (self.loss in LOSSES, f"loss {self.loss!r}: use one of {', '.join(LOSSES)}"),
            ((self.loss == "cross-entropy") == (self.focal_gamma == 0), "cross-entropy is focal_gamma 0"),
            (self.optimiser in ("adam", "sgd"), "the trainer runs Adam (every paper's) or plain SGD"),
            (self.split in SPLITS, f"split {self.split!r}: use one of {', '.join(SPLITS)}"),
            ((self.folds > 1) == self.split.endswith("folds"), "folds > 1 exactly for the fold splits"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"preset {self.name!r}: {message}.")

    def train_config(self, **overrides: Any):
        """The ``TrainConfig`` of this preset; ``overrides`` replace single values (``model_cfg`` is merged)."""
        from core.training import TrainConfig

        values = {name: getattr(self, name) for name in TRAIN_FIELDS}
        values["model_cfg"] = dict(self.model_cfg) | dict(overrides.pop("model_cfg", None) or {})
        if overrides.get("lr_schedule") == "step" and "lr_end" not in overrides:
            values["lr_end"] = None  # a step schedule overriding a decay to lr_end: the preset's lr_end goes too
        if overrides.get("model", self.model) != self.model:
            raise ConfigError(f"Preset '{self.name}' trains model '{self.model}', not '{overrides['model']}'; "
                              "drop --model, or train that model without the preset.")
        return TrainConfig(**values | overrides)

    def protocol(self) -> dict:
        """The keyword arguments of ``core.training.train`` that choose the split: folds, grouped, holdout."""
        return {"folds": self.folds, "grouped": self.split == "speaker-folds",
                "holdout": "random" if self.split == "random" else "speaker", "test_size": self.test_size}

    def to_dict(self) -> dict:
        """Every value and its source, JSON-able (what ``describe`` prints and a run's report records)."""
        return plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _preset(name: str, paper: str, title: str, **cited: Any) -> Preset:
    """A ``Preset`` from ``field=(value, source)`` pairs, each value written beside the phrase it comes from; a bare
    value (a number, a string, None: one that follows from a cited neighbour) has no source of its own."""
    values, sources = {}, {}
    for key, item in cited.items():
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[1], str):
                raise TypeError(f"preset {name!r}: write {key} as (value, source)")
            item, sources[key] = item
        values[key] = item
    return Preset(name=name, paper=paper, title=title, sources=sources, **values)


_SILENT = "paper silent: "

# ----------------------------------------------------------------------------- S0: Kim & Kwon, CNN + ECA

S0 = _preset(
    "s0", "S0", "Kim & Kwon: CNN with ECA after blocks 5 and 6, STFT augmentation, weighted focal loss",
    model=("cnn-eca", '"a CNN-based model with the ECA blocks on the fifth and sixth convolution layers"'),
    model_cfg=({"n": 4, "eca_kernel": 7, "eca_blocks": (5, 6)},
               '"the ECA blocks on the fifth and sixth convolution layers"; n and k were lost in extraction: '
               "n = 4, k = 7 is the only pair that gives Table 4's 2,734,482 parameters"),
    features=("stft-v8", '"we selected dataset version 8 as the test set" (Table 1: 50 ms window, 40 ms overlap)'),
    augment=(tuple(f"stft-v{i}" for i in range(8, 2, -1)),
             '"collected the training data samples in descending order from version 8 to version 1" ... '
             '"improved ... when versions 8 to 3 were used" (EMODB; the IEMOCAP count was lost in extraction)'),
    loss=("focal", '"we used weighted focal loss"'),
    focal_gamma=(1.0, '"the focal loss parameter was set to 1"'),
    class_weighted=(True, '"The learning rate weight was obtained as the reciprocal ratio of the number of data '
                          'for each label"'),
    optimiser=("adam", '"we use the Adam optimizer"'),
    lr=(1e-3, '"with initial learning rates and decay rates" (the values were lost in extraction): we choose '
              "Adam's usual 1e-3"),
    lr_schedule=("step", "decay kind lost in extraction: we choose x0.95 per epoch, our tuned default"),
    lr_decay=(0.95, "lost in extraction: our tuned default"),
    batch_size=(36, '"The batch size was set to 36"'),
    epochs=(100, '"the models were trained for 100 epochs"'),
    split=("folds", '"We use 5-fold cross-validation for the entire dataset ... Samples from all the sets were '
                    'randomly selected" (not speaker-independent); stratification is our choice'),
    folds=(5, '"5-fold cross-validation"'),
    seconds=(6.0, '"the lengths of the speech samples were consistent at 6s" (IEMOCAP; EMODB: "at 3s", use '
                  "--seconds 3)"),
    padding=("zeros", '"zero padding was performed at the beginning and end of the signal ... in the center"'),
    metrics=(("UA", "WA", "ACC"), '"we used the unweighted average accuracy (UA) and weighted average accuracy '
                                  '(WA) ... the average accuracy of WA and UA, called ACC"'),
)

# S0's "original ECA" baseline (Fig. 7, Table 6's "+ Original ECA block"): ECA-Net's ECA after every block, its k from
# each block's channels; trained as S0 but on version 8 alone, as Table 6's row. Every other value is S0's.
S0_ORIGINAL_ECA = dataclasses.replace(
    S0, name="s0-original-eca",
    title="Kim & Kwon's baseline: the original ECA after all six blocks, k by ECA-Net's rule per block",
    model_cfg={"n": 4, "eca_kernel": "adaptive", "eca_blocks": (1, 2, 3, 4, 5, 6)},
    augment=(),
    sources=dict(S0.sources) | {
        "model": '"To follow the original ECA adaptation manner, the original ECA is positioned after all convolution '
                 'layers" (Table 6: "+ Original ECA block")',
        "model_cfg": '"Specifically, six ECA blocks were added to the CNN-based model. Next, the ECA\'s kernel sizes '
                     '(k) were set with respect to the channel size of each layer": eca_kernel "adaptive", ECA-Net\'s '
                     "k = |log2(C) / 2 + 1 / 2|_odd (3, 5, 5, 5, 5, 5 for n = 4); n was lost in extraction: we keep "
                     "S0's n = 4. S0 names \"the omission of batch normalization\" as its change to the original "
                     "ECA; ECA-Net's module has no BatchNorm of its own (the one it follows is the block's, as here), "
                     "so this baseline keeps S0's module",
        "augment": '"With dataset version 8, Table 6 lists performance depending on whether or not the ECA block and '
                   'STFT data augmentation were used": its "+ Original ECA block" row has no STFT augmentation',
    },
)

# ----------------------------------------------------------------------------- S1: Kim et al., 3D CNN

S1 = _preset(
    "s1", "S1", "Kim, Truong, Englebienne, Evers: 3D CNN over spectro-temporal volumes, speaker-independent",
    model=("cnn3d", '"deep 3-dimensional convolutional networks (3D CNNs)"'),
    model_cfg=({}, '"shallow temporal and moderately deep spectral kernels"; the text we have is the abstract '
                   "only: the kernel table is ours (core.models.cnn3d)"),
    features=("stft-v3", _SILENT + "we choose the 25 ms / 10 ms log-mel (64 bands), the usual SER front end"),
    loss=("cross-entropy", _SILENT + "we choose cross-entropy, the default loss of a softmax classifier"),
    focal_gamma=0.0,
    class_weighted=(False, _SILENT + "plain cross-entropy, no class weights"),
    optimiser=("adam", _SILENT + "we choose Adam, as the other three papers"),
    lr=(1e-3, _SILENT + "we choose Adam's usual 1e-3"),
    lr_schedule=("step", _SILENT + "we choose x0.95 per epoch, our tuned default"),
    lr_decay=0.95,
    batch_size=(36, _SILENT + "we choose 36, as S0"),
    epochs=(30, _SILENT + "we choose 30, our tuned default"),
    split=("speaker-folds", '"We evaluated our proposed and other state-of-the-art methods in a speaker-independent '
                            'manner"'),
    folds=(5, _SILENT + "we choose 5 speaker-independent folds, as S0's k, because one model per speaker is too "
                        "many on aggregated corpora"),
    seconds=(3.0, _SILENT + "3 s fills the volume's 10 segments x 30 frames at a 10 ms hop"),
    metrics=(("UA", "WA"), _SILENT + "we report UA and WA, the usual pair; the paper plots a t-SNE of the embedding"),
)

# S1's finding as a configuration: every block the same kernel. The text we have is the abstract: the depths are ours.
S1_HOMOGENEOUS = dataclasses.replace(
    S1, name="s1-homogeneous",
    title="Kim et al.: 3D CNN, homogeneous architecture (every block one shallow-temporal, deeper-spectral kernel)",
    model_cfg={"temporal_depth": 2, "frame_depth": 3, "spectral_depth": 5},
    sources=dict(S1.sources) | {
        "model_cfg": '"shallow temporal and moderately deep spectral kernels of a homogeneous architecture are optimal"; '
                     "the text we have is the abstract only, so the kernel table is ours: every block 2 segments x 3 "
                     "frames x 5 bands, temporal 2 the shallowest depth that mixes neighbouring segments, spectral 5 "
                     "deeper than the temporal and frame ones (frames 3, the usual 3x3 of a spectrogram CNN). The "
                     "kernel study is a sweep over --model-cfg temporal_depth=... spectral_depth=...",
    },
)

# S1's baseline, trained as S1 on the same log-mel and clips, so that the comparison is of the models alone.
S1_CNN_LSTM = dataclasses.replace(
    S1, name="s1-cnn-lstm", title="Kim et al.'s baseline: CNN-LSTM, 2D conv blocks over the log-mel then an LSTM",
    model="cnn-lstm",
    model_cfg={},
    sources=dict(S1.sources) | {
        "model": '"Compared to a hybrid of Convolutional Neural Network and Long-Short-Term-Memory (CNN-LSTM)"',
        "model_cfg": _SILENT + "the text we have (the abstract) gives none of its layers: we choose the standard 2D "
                     "CNN-LSTM as Zhao et al. (2019) published it, four conv blocks (64, 64, 128, 128; BN, ELU, "
                     "max-pool) then an LSTM and its last state (core.models.cnn_lstm), the builder's defaults",
        "features": "as s1: the 3D CNN's log-mel (stft-v3), so the two models see the same input",
        "seconds": "as s1: the 3D CNN's 3 s clips",
    },
)

# ----------------------------------------------------------------------------- S2: Mountzouris et al., MFCCs

# What the five S2 models share (section 3.7 and 4).
_S2_TRAINING = dict(
    features=("mfcc40", '"the sequence of the first 40 MFCCs" (librosa); its framing is not stated: ours is '
                        "25 ms / 10 ms at 16 kHz (228 frames for RAVDESS match librosa's defaults, hop 512 at "
                        "22.05 kHz, on its longest 5.3 s clip)"),
    loss=("cross-entropy", '"sparse categorical crossentropy" as our loss function'),
    focal_gamma=0.0,
    class_weighted=(False, '"sparse categorical crossentropy": no class weights'),
    optimiser=("adam", '"we used the Adam optimizer"'),
    lr=(1e-3, '"the rest of the models ... utilized a learning rate of 1e-3, which becomes 1e-4 in 100 epochs"'),
    lr_schedule=("exponential", "paper silent on the decay kind: we choose exponential (x0.977 per epoch), as Keras' "
                                "ExponentialDecay from 1e-3 to 1e-4 over 100 epochs"),
    lr_end=(1e-4, '"which becomes 1e-4 in 100 epochs"'),
    batch_size=(32, '"the batch size we used for neural network training for all the models, except DBN, is 32"'),
    epochs=(100, "paper silent on the epoch count (its curves run past epoch 200 for SAVEE): we choose 100, where "
                 "its learning rate reaches 1e-4"),
    split=("random", '"splitting both databases into a training set and a validation (test) set at a rate of 80% - '
                     '20%"; stratification by emotion is our choice'),
    test_size=(0.2, '"80% - 20%"'),
    seconds=(None, '"we enter the sequence of the different MFCCs in the file duration" ... "(228, 40) for the '
                   'RAVDESS, and (308, 40) for the SAVEE": full sequences, every clip padded to the longest'),
    padding=("zeros", "paper silent on how shorter clips are padded: we choose zeros about the centre, as S0"),
    metrics=(("WA", "confusion"), '"Prediction results of the models ... (weighted accuracy)" and "the confusion '
                                  'matrices"'),
)
# Input norm: the paper says nothing of scaling the MFCCs; c0 (log energy) is orders of magnitude larger than
# the rest, so each preset keeps our per-coefficient BatchNorm of the input (input_norm) on.
_NORM = "; input_norm: paper silent, we keep our per-coefficient BatchNorm of the MFCCs (c0 is 100x the rest)"
# The CNNs' kernels. The text states 9, 9, 7, 7, 5 but also every layer's output, (228, 40) -> (220, 64) ->
# (214, 64) -> (210, 32) -> (206, 32) -> (204, 16), and the 3264 (= 204 x 16) elements flattened, which valid
# convolutions give only with kernels 9, 7, 5, 5, 3. We follow the sizes: six numbers that agree with each other
# (and read like Keras' model summary of Figs. 7-8) against a prose list that agrees with none of them. The
# stated list is one flag away: --model-cfg kernel=[9,9,7,7,5].
_S2_CONV = {"channels": (64, 64, 32, 32, 16), "kernel": (9, 7, 5, 5, 3), "padding": "valid", "input_norm": True}
_S2_KERNELS = ('"(228, 40)" -> "(220, 64)" -> "(214, 64)" -> "(210, 32)" -> "(206, 32)" -> "(204, 16)", "the tensor '
               'contains 3264 elements": valid convolutions with kernels 9, 7, 5, 5, 3 (the prose says 9, 9, 7, 7, 5, '
               "which gives none of these sizes; see core.presets)")

S2_SDNN = _preset(
    "s2-sdnn", "S2", "Mountzouris et al.: simple DNN on the time-averaged MFCCs",
    model=("sdnn", '"a deep neural network model that receives the average time of the 40 MFCCs as input"'),
    model_cfg=({"hidden": (128, 64), "per_coefficient": True, "dropout": 0.1, "input_norm": True},
               '"a tensor of dimensions (40, 1) ... an output tensor of dimensions (40, 128)" -> "(40, 64)" -> "the '
               'number of elements included in the tensor is 2560", "with 10% dropout rate"' + _NORM),
    **_S2_TRAINING | dict(
        lr=(1e-4, '"the simple DNN model utilized a learning rate of 1e-4 (0.0001)"'),
        lr_schedule=("step", '"a learning rate of 1e-4": constant (no decay is stated for the DNN)'),
        lr_end=None,
        seconds=(None, "full clips, as the sequence models: the time average needs no fixed length"),
    ),
)

S2_DBN = _preset(
    "s2-dbn", "S2", "Mountzouris et al.: DBN, three RBMs of 128 pre-trained with CD-1, then fine-tuned",
    model=("dbn", '"We created a DBN with three hidden layers ... with a size of 128 nodes each, which receives as input '
                  'the time average of the 40 MFCCs"'),
    model_cfg=({"hidden": (128, 128, 128), "activation": "relu", "dropout": 0.2, "pretrain_epochs": 50,
                "pretrain_lr": 0.005, "input_norm": True},
               '"three hidden layers ... 128 nodes each", "as well as the ReLU activation function" (RBMs of noisy '
               'rectified units, first one Gaussian: see core.models.dbn), "Dropout ... (which in our case is 20%)", '
               '"50 for the number of epochs of the RBM hidden layers", "0.005 for the learning rate of the RBM '
               'hidden layers"; CD-1: paper silent, we choose the package\'s default contrastive_divergence_iter=1'
               + _NORM),
    **_S2_TRAINING | dict(
        optimiser=("sgd", '"the number of iterations for the backpropagation algorithm, used by the neural '
                          'network\'s stochastic gradient descent algorithm" (section 3.1; the deep-belief-network '
                          "package fine-tunes with plain SGD, no momentum; section 3.7's Adam is the other models')"),
        lr=(0.05, '"0.05 for the learning rate of the neural network output", "The BDN model utilized a learning '
                  'rate of 0.05"'),
        lr_schedule=("step", '"a learning rate of 0.05": constant (no decay is stated for the DBN)'),
        lr_end=None,
        batch_size=(32, '"32 for the batch size" (section 3.1; pre-training uses the same batches, as the package '
                        "does; section 3.7's \"all the models, except DBN, is 32\" names no other size)"),
        epochs=(1000, '"the value 1000 for the number of iterations for the backpropagation algorithm" (the '
                      "package's n_iter_backprop: passes over the training set)"),
        seconds=(None, "full clips, as the SDNN: the time average needs no fixed length"),
    ),
)

S2_LSTM = _preset(
    "s2-lstm", "S2", "Mountzouris et al.: LSTM(100) -> LSTM(50) over the MFCC sequence",
    model=("lstm", '"we use an LSTM layer"'),
    model_cfg=({"hidden": (100, 50), "layers": 1, "dense": 0, "dropout": 0.5, "input_norm": True},
               '"an output tensor (228, 100)" ... "its output tensor of dimension 50" ... "dropout normalization '
               'technique to reset 50% of the connections, and then the flatten" then "a dense layer" to the '
               'classes' + _NORM),
    **_S2_TRAINING,
)

S2_LSTM_ATN = _preset(
    "s2-lstm-atn", "S2", "Mountzouris et al.: LSTM(100) -> LSTM(50) + Luong dot-product attention",
    model=("lstm-atn", '"the attention layer, which applies the dot-product attention mechanism, as it is referred '
                       'to in Luong"'),
    model_cfg=({"hidden": (100, 50), "layers": 1, "attn_dim": 128, "dropout": 0.5, "input_norm": True},
               '"a same LSTM layer as in the previous model, but without using dropout" ... "tanh(w_c[c_t; h_t])" '
               '... "dropout ... 50%" ... "the number of elements in the tensor is 128"' + _NORM),
    **_S2_TRAINING,
)

S2_CNN = _preset(
    "s2-cnn", "S2", "Mountzouris et al.: plain CNN, five valid Conv1D blocks, flatten, dense",
    model=("cnn1d", '"Our next model is a convolutional network" (section 3.5)'),
    model_cfg=(_S2_CONV | {"frames": 228, "dropout": 0.0, "block_dropout": (0.5, 0.5, 0.5, 0.5, 0.0)},
               _S2_KERNELS + '; "dropout normalization technique at a rate of 50%" on layers 1-3 and "The fourth '
               'layer of the network is the same as the third one"; none on the fifth; "receives as input a tensor '
               'of the dimensions (228, 40) for the RAVDESS" (frames=308 for SAVEE; at our 10 ms hop set frames to '
               "the corpus' longest clip in frames: longer inputs are cut to their first `frames`)" + _NORM),
    **_S2_TRAINING,
)

S2_CNN_ATN = _preset(
    "s2-cnn-atn", "S2", "Mountzouris et al.: CNN-ATN, five valid Conv1D blocks + Luong attention (their best)",
    model=("cnn-atn", '"a deep convolution network with the addition of an attention mechanism"'),
    model_cfg=(_S2_CONV | {"pool": 1, "attn_dim": 128, "dropout": 0.0, "block_dropout": (0.5, 0.5, 0.5, 0.0, 0.0),
                           "query": "last", "scaled": False},
               _S2_KERNELS + '; "The 1st, 2nd and 3rd convolution layers also use the dropout normalization '
               'technique to reset 50% of the connections"; the attention: "the dot-product attention mechanism, in '
               'the same way as in section 3.4" (last state as query, unscaled) "(128 in our case)", then the dense '
               "layer, with no dropout named" + _NORM),
    **_S2_TRAINING,
)

# ----------------------------------------------------------------------------- S3: Kim & Kwak, VGGish + YAMNet

S3 = _preset(
    "s3", "S3", "Kim & Kwak: VGGish + YAMNet late fusion on 0.96 s log-mel patches",
    model=("fusion", '"a depth-combining method is used to combine the features extracted using the two models"'),
    model_cfg=({"patch_hop": 48}, '"divided according to the model input size, with an overlap of a certain size"; '
                                  "paper silent on the overlap: we choose 48 frames (50 %), YAMNet's own patch hop; "
                                  "every fused map globally pooled is our head (s3-paper: the paper's, VGGish's maps "
                                  "not pooled)"),
    features=("vggish", "the paper's front end (48 kHz, window 1200, overlap 720, FFT 1200, periodic Hann, 64 mel "
                        "bands: Tables 2-3) is preset s3-48k, which s3-paper uses; here VGGish's 16 kHz one, which "
                        "the public converted weights need"),
    loss=("cross-entropy", _SILENT + "we choose cross-entropy, the default loss of a softmax classifier"),
    focal_gamma=0.0,
    class_weighted=(False, _SILENT + "plain cross-entropy, no class weights"),
    optimiser=("adam", '"The optimization function uses adaptive moment estimation (Adam)"'),
    lr=(0.01, 'Table 4: "Training Rate 0.01"'),
    lr_schedule=("step", _SILENT + "no schedule is named: we keep 0.01 constant"),
    lr_decay=1.0,
    batch_size=(128, 'Table 4: "Batch Size 128"'),
    epochs=(20, 'Table 4: "Epoch 20"'),
    split=("random", '"mixing data from the entire dataset and dividing it into 85:15 ratios"; stratification by '
                     "emotion is our choice"),
    test_size=(0.15, '"85:15 ratios"'),
    seconds=(3.0, "paper silent on the clip length: we choose 3 s (about three 0.96 s patches), our default"),
    segment_training=(True, '"Classification was performed on the sequence segmentation sections ... the average '
                            'value was used to define the class"'),
    gds_threshold=(-1.0, 'Algorithm 1: "Score_i = normalize(C_i)", "Score_ij > T, T = Threshold", within each data '
                         "item, and \"test data in which the same data selection was applied\" (gds_scope 'item', "
                         "the default). Paper silent on T and on the normalisation: its notation is MATLAB's "
                         "(Dim=1, Tables 2-4), whose normalize() is a z-score, so we choose T = -1 (one standard "
                         "deviation below the clip's mean score) because it drops 15.9 % of normally spread "
                         "scores, close to the paper's 15 % (24,385 of 165,240 segments, Section 6.4)"),
    metrics=(("WA", "UA", "F1", "training time"), 'Table 5: "Accuracy Recall F1 Score Training Time" (recall: UA; '
                                                   "serwb reproduce s3 reports all four)"),
)

# S3 as published: the paper's front end and head; every other value (and its source) is S3's. It does not fit the
# public converted VGGish/YAMNet weights (16 kHz front end): train it from scratch.
S3_PAPER = dataclasses.replace(
    S3, name="s3-paper", title="Kim & Kwak as published: 48 kHz log-mel, VGGish maps unpooled in the fusion head",
    model_cfg={"patch_hop": 48, "vggish_pool": "none"},
    features="s3-48k",
    sources=dict(S3.sources) | {
        "model_cfg": 'VGGish: "A global pooling layer is not applied to preserve the spatial feature information in '
                     'the time-frequency domain"; YAMNet: "Using a global pooling layer before the classification '
                     'layer": vggish_pool "none" (VGGish maps flattened, YAMNet maps pooled); paper silent on the '
                     "patch overlap: we choose 48 frames (50 %), YAMNet's own patch hop, and on the fully connected "
                     "layer's size: we keep the builder's 256",
        "features": 'Table 2: "Window Size 1200", "Overlapping Size 720", "Hann \'periodic\'", "One-way"; '
                    'Table 3: "64 channels", "Sampling Rate 48,000", "Mel", "FFT Length 1200" (preset s3-48k; '
                    "clips are resampled to 48 kHz)",
    },
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (S0, S0_ORIGINAL_ECA, S1, S1_HOMOGENEOUS, S1_CNN_LSTM,
                         S2_CNN, S2_CNN_ATN, S2_SDNN, S2_DBN, S2_LSTM, S2_LSTM_ATN, S3, S3_PAPER)})


def available() -> list[str]:
    """Names of every preset, in paper order."""
    return list(PRESETS)


def get(name: str) -> Preset:
    """The named preset, or a ``ConfigError`` listing the known names."""
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"Unknown preset '{name}'. Known presets: {', '.join(PRESETS)}.") from None


def listing() -> str:
    """One line per preset: name, paper, model and title (``serwb presets``)."""
    return "\n".join(f"{p.name:<16} {p.paper}  {p.model:<9} {p.title}" for p in PRESETS.values())


def describe(name: str) -> str:
    """Every value of the preset with the paper's phrase (or our reason) beside it (``serwb presets NAME``)."""
    p = get(name)
    data = p.to_dict()
    lines = [f"{p.name} ({p.paper}): {p.title}"]
    for key, value in data.items():
        if key in ("name", "paper", "title", "sources"):
            continue
        source = p.sources.get(key)
        lines.append(f"  {key} = {value!r}" + (f"\n      <- {source}" if source else ""))
    return "\n".join(lines)


__all__ = ["Preset", "PRESETS", "available", "get", "listing", "describe"]
