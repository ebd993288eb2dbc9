"""core.data.corpora: every corpus's naming, auto-detection, CSV safety and error messages.

Expected labels are written out here from each corpus's own documentation, not read from
the module's tables, so a wrong entry in a table fails a test.
"""

import os

import pytest
import soundfile as sf

from core.data.corpora import CORPORA, EMOTIONS, LABELS, Manifest, Row, load_manifest, normalize_label
from core.errors import CorpusError


def by_name(manifest):
    return {row.path.name: row for row in manifest.rows}


def labels_by_name(manifest):
    return {row.path.name: row.label for row in manifest.rows}


def assert_rows_inside_root(manifest):
    paths = [row.path for row in manifest.rows]
    assert paths == sorted(paths)
    for path in paths:
        assert path.is_absolute() and path == path.resolve()
        assert path.is_relative_to(manifest.root) and path.is_file()
        assert path.suffix.lower() in {".wav", ".flac", ".ogg", ".mp3"}
    assert {row.label for row in manifest.rows} <= set(LABELS)


def test_vocabulary_and_fixture():
    assert EMOTIONS == ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised", "boredom")
    assert set(LABELS) - set(EMOTIONS) == {"excited", "frustrated", "other"}
    assert normalize_label(" Anger ") == "angry"
    assert normalize_label("pleasant-surprise") == "surprised"
    assert normalize_label("confused") is None


def test_fixture_writes_decodable_wavs(make_tree):
    root = make_tree(["a/x.wav"])
    info = sf.info(root / "a" / "x.wav")
    assert (info.samplerate, info.frames, info.channels) == (16_000, 1600, 1)


# --------------------------------------------------------------------------- RAVDESS

RAVDESS_FILES = {  # Zenodo record 1188976, "File naming convention"
    "Actor_07/03-01-01-01-01-01-07.wav": "neutral",
    "Actor_07/03-01-02-01-01-01-07.wav": "calm",
    "Actor_07/03-01-03-01-01-01-07.wav": "happy",
    "Actor_07/03-01-04-01-01-01-07.wav": "sad",
    "Actor_07/03-01-05-01-02-01-07.wav": "angry",
    "Actor_07/03-01-06-01-01-01-07.wav": "fearful",
    "Actor_07/03-01-07-01-01-01-07.wav": "disgust",
    "Actor_07/03-01-08-01-01-01-07.wav": "surprised",
    "Actor_08/03-02-03-02-02-02-08.wav": "happy",
}
RAVDESS_NOISE = [
    "Actor_07/01-01-05-01-02-01-07.wav",  # full AV: video
    "Actor_07/02-01-05-01-02-01-07.wav",  # video-only
    "Actor_07/notes.wav",
    "Actor_07/readme.txt",  # not audio: not even counted
]


@pytest.fixture
def ravdess_root(make_tree):
    return make_tree([*RAVDESS_FILES, *RAVDESS_NOISE])


def test_ravdess_every_emotion_code(ravdess_root):
    m = load_manifest(ravdess_root)
    assert m.corpus == "ravdess" and all(r.corpus == "ravdess" for r in m.rows)
    assert labels_by_name(m) == {k.split("/")[1]: v for k, v in RAVDESS_FILES.items()}
    assert_rows_inside_root(m)


def test_ravdess_fields_speaker_and_skips(ravdess_root):
    m = load_manifest(ravdess_root, corpus="ravdess")
    rows = by_name(m)
    angry, song = rows["03-01-05-01-02-01-07.wav"], rows["03-02-03-02-02-02-08.wav"]
    assert (angry.speaker, angry.extra["gender"], angry.extra["channel"]) == ("ravdess-07", "male", "speech")
    assert (angry.extra["intensity"], angry.extra["statement"], angry.extra["repetition"]) == ("normal", "02", "01")
    assert (song.speaker, song.extra["gender"], song.extra["channel"]) == ("ravdess-08", "female", "song")
    assert (song.extra["intensity"], song.extra["statement"], song.extra["repetition"]) == ("strong", "02", "02")
    assert m.skipped == 3  # two video modalities and notes.wav; readme.txt is not audio
    assert sum(n for reason, n in m.skip_reasons.items() if "modality" in reason) == 2
    assert "3 file(s)" in m.summary()


def test_ravdess_unknown_codes_are_skipped_not_guessed(make_tree):
    root = make_tree([*RAVDESS_FILES, "Actor_07/03-01-09-01-01-01-07.wav", "Actor_25/03-01-01-01-01-01-25.wav"])
    m = load_manifest(root)
    assert len(m) == len(RAVDESS_FILES) and m.skipped == 2
    assert any("emotion code 09" in reason for reason in m.skip_reasons)


def test_audio_is_not_decoded(ravdess_root):
    (ravdess_root / "Actor_07" / "03-01-01-02-01-01-07.wav").write_bytes(b"garbage, not a RIFF header")
    m = load_manifest(ravdess_root)
    assert by_name(m)["03-01-01-02-01-01-07.wav"].extra["intensity"] == "strong"


# --------------------------------------------------------------------------- EMO-DB

EMODB_FILES = {  # emodb.bilderbar.info documentation: German emotion initials
    "wav/03a01Wa.wav": "angry",  # Wut
    "wav/03a01La.wav": "boredom",  # Langeweile
    "wav/03a01Ea.wav": "disgust",  # Ekel
    "wav/03a01Aa.wav": "fearful",  # Angst
    "wav/03a01Fa.wav": "happy",  # Freude
    "wav/03a01Ta.wav": "sad",  # Trauer
    "wav/03a01Nc.wav": "neutral",
}
EMODB_GENDERS = {"03": "male", "10": "male", "11": "male", "12": "male", "15": "male",
                 "08": "female", "09": "female", "13": "female", "14": "female", "16": "female"}


def test_emodb_letters_speakers_and_genders(make_tree):
    speakers = [f"wav/{s}b02Nd.wav" for s in EMODB_GENDERS]
    root = make_tree([*EMODB_FILES, *speakers, "lablaut/03a01Fa.lab"])
    m = load_manifest(root)
    assert m.corpus == "emodb" and m.skipped == 0
    names = labels_by_name(m)
    assert {k: names[k.split("/")[1]] for k in EMODB_FILES} == EMODB_FILES
    assert (names["03a01Aa.wav"], names["03a01Ea.wav"], names["03a01Fa.wav"]) == ("fearful", "disgust", "happy")
    rows = by_name(m)
    for spk, gender in EMODB_GENDERS.items():
        row = rows[f"{spk}b02Nd.wav"]
        assert (row.speaker, row.extra["gender"], row.extra["text"], row.extra["version"]) == (
            f"emodb-{spk}", gender, "b02", "d")
    assert rows["03a01Fa.wav"].extra["text"] == "a01"
    assert_rows_inside_root(m)


# --------------------------------------------------------------------------- SAVEE

SAVEE_CODES = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy",
               "n": "neutral", "sa": "sad", "su": "surprised"}  # Surrey SAVEE database page


def test_savee_nested_layout(make_tree):
    files = [f"AudioData/DC/{code}01.wav" for code in SAVEE_CODES]
    files += ["AudioData/JE/sa02.wav", "AudioData/JK/su15.wav", "AudioData/KL/n30.wav", "AudioData/KL/x01.wav"]
    m = load_manifest(make_tree(files))
    assert m.corpus == "savee" and m.skipped == 1
    dc = {r.path.stem: r.label for r in m.rows if r.speaker == "savee-DC"}
    assert dc == {f"{code}01": label for code, label in SAVEE_CODES.items()}
    others = {(r.speaker, r.path.stem): r.label for r in m.rows if r.speaker != "savee-DC"}
    assert others == {("savee-JE", "sa02"): "sad", ("savee-JK", "su15"): "surprised", ("savee-KL", "n30"): "neutral"}
    assert all(r.extra["gender"] == "male" for r in m.rows)
    assert_rows_inside_root(m)


def test_savee_flat_layout(make_tree):
    files = [f"DC_{code}01.wav" for code in SAVEE_CODES] + ["JE_sa02.wav", "KL_su03.wav", "JK_a15.wav"]
    m = load_manifest(make_tree(files))
    assert m.corpus == "savee" and len(m) == 10
    got = {r.path.stem: (r.label, r.speaker) for r in m.rows}
    assert got == {
        **{f"DC_{code}01": (label, "savee-DC") for code, label in SAVEE_CODES.items()},
        "JE_sa02": ("sad", "savee-JE"), "KL_su03": ("surprised", "savee-KL"), "JK_a15": ("angry", "savee-JK"),
    }
    assert by_name(m)["DC_sa01.wav"].extra["take"] == "01"


# --------------------------------------------------------------------------- CREMA-D

CREMAD_FILES = {  # CREMA-D README, "Filename labeling conventions"
    "AudioWAV/1001_DFA_ANG_XX.wav": "angry",
    "AudioWAV/1001_DFA_DIS_XX.wav": "disgust",
    "AudioWAV/1001_DFA_FEA_XX.wav": "fearful",
    "AudioWAV/1001_DFA_HAP_XX.wav": "happy",
    "AudioWAV/1001_DFA_NEU_XX.wav": "neutral",
    "AudioWAV/1001_DFA_SAD_XX.wav": "sad",
    "AudioWAV/1091_IEO_HAP_LO.wav": "happy",
    "AudioWAV/1091_IEO_SAD_MD.wav": "sad",
    "AudioWAV/1091_IEO_ANG_HI.wav": "angry",
}


def test_cremad_codes_speaker_sentence_level(make_tree):
    m = load_manifest(make_tree([*CREMAD_FILES, "AudioWAV/1001_DFA_XYZ_XX.wav"]))
    assert m.corpus == "crema-d" and m.skipped == 1
    assert labels_by_name(m) == {k.split("/")[1]: v for k, v in CREMAD_FILES.items()}
    rows = by_name(m)
    first, low = rows["1001_DFA_ANG_XX.wav"], rows["1091_IEO_HAP_LO.wav"]
    assert (first.speaker, first.extra["sentence"], first.extra["level"]) == ("crema-d-1001", "DFA", "XX")
    assert (low.speaker, low.extra["sentence"], low.extra["level"]) == ("crema-d-1091", "IEO", "LO")
    assert rows["1091_IEO_SAD_MD.wav"].extra["level"] == "MD" and rows["1091_IEO_ANG_HI.wav"].extra["level"] == "HI"


# --------------------------------------------------------------------------- TESS

TESS_FILES = {  # folder names as inconsistent as in the release; file names decide
    "OAF_angry/OAF_back_angry.wav": ("angry", "tess-OAF"),
    "OAF_disgust/OAF_back_disgust.wav": ("disgust", "tess-OAF"),
    "OAF_Fear/OAF_back_fear.wav": ("fearful", "tess-OAF"),
    "OAF_happy/OAF_back_happy.wav": ("happy", "tess-OAF"),
    "OAF_neutral/OAF_back_neutral.wav": ("neutral", "tess-OAF"),
    "OAF_Pleasant_surprise/OAF_back_ps.wav": ("surprised", "tess-OAF"),
    "OAF_Sad/OAF_back_sad.wav": ("sad", "tess-OAF"),
    "YAF_pleasant_surprised/YAF_date_ps.wav": ("surprised", "tess-YAF"),
    "YAF_neutral/YAF_date_neutral.wav": ("neutral", "tess-YAF"),
    # misleading folders: the file name wins
    "YAF_pleasant_surprised/YAF_dog_fear.wav": ("fearful", "tess-YAF"),
    "OAF_Sad/OAF_misfiled_happy.wav": ("happy", "tess-OAF"),
    # case variants
    "YAF_fear/yaf_chair_PS.WAV": ("surprised", "tess-YAF"),
    "OAF_angry/OAF_Bean_ANGRY.wav": ("angry", "tess-OAF"),
}


def test_tess_reads_file_names_not_folders(make_tree):
    m = load_manifest(make_tree(TESS_FILES))
    assert m.corpus == "tess" and m.skipped == 0
    assert {r.path.name: (r.label, r.speaker) for r in m.rows} == {k.split("/")[1]: v for k, v in TESS_FILES.items()}
    rows = by_name(m)
    assert rows["OAF_back_ps.wav"].extra["word"] == "back"
    assert (rows["OAF_back_ps.wav"].extra["age"], rows["YAF_date_ps.wav"].extra["age"]) == ("older", "younger")
    assert_rows_inside_root(m)


# --------------------------------------------------------------------------- Polish

POLISH_FILES = {  # readme.md of doi:10.34808/h46c-hb44: anger (a), fear (s), neutral (n)
    "POLISH/m1.a_nie_2.wav": ("angry", "polish-m1", "nie", "2"),
    "POLISH/m1.s_nie_2.wav": ("fearful", "polish-m1", "nie", "2"),
    "POLISH/m1.n_nie_2.wav": ("neutral", "polish-m1", "nie", "2"),
    "POLISH/m2.a_oddaj_1.wav": ("angry", "polish-m2", "oddaj", "1"),
    "POLISH/m3.s_podaj_5.wav": ("fearful", "polish-m3", "podaj", "5"),
    "POLISH/m4.n_stop_3.flac": ("neutral", "polish-m4", "stop", "3"),  # the shipped copy is FLAC
    "POLISH/m5.a_tak_4.flac": ("angry", "polish-m5", "tak", "4"),
    "POLISH/m5.s_trzymaj_1.flac": ("fearful", "polish-m5", "trzymaj", "1"),
}


def test_polish_letters_speakers_words_and_repetitions(make_tree):
    m = load_manifest(make_tree([*POLISH_FILES, "POLISH/m2.h_tak_1.wav", "POLISH/readme.md"]))
    assert m.corpus == "polish" and all(r.corpus == "polish" for r in m.rows)
    got = {r.path.name: (r.label, r.speaker, r.extra["word"], r.extra["repetition"]) for r in m.rows}
    assert got == {k.split("/")[1]: v for k, v in POLISH_FILES.items()}
    assert all(r.extra["gender"] == "male" for r in m.rows)
    # "h" is no emotion of this corpus: left out with a reason that names it, not guessed
    assert m.skipped == 1 and any("'h'" in reason and "Polish" in reason for reason in m.skip_reasons)
    assert m.counts("word")["nie"] == 3 and m.speakers() == [f"polish-m{k}" for k in range(1, 6)]
    assert_rows_inside_root(m)


def test_polish_naming_is_not_mistaken_for_other_layouts(make_tree):
    root = make_tree(POLISH_FILES)
    for other in ("ravdess", "emodb", "savee", "crema-d", "tess", "folder"):
        with pytest.raises(CorpusError, match="None of the|every file was left out|No IEMOCAP"):
            load_manifest(root, corpus=other)
    # ... and no other corpus's example reads as Polish
    for i, files in enumerate((RAVDESS_FILES, EMODB_FILES, CREMAD_FILES, TESS_FILES)):
        with pytest.raises(CorpusError, match="named like Polish"):
            load_manifest(make_tree(files, name=f"other{i}"), corpus="polish")


# --------------------------------------------------------------------------- IEMOCAP

IMPRO01 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
C-F1:\tNeutral;\t(curious)
A-E3:\tval 3; act 2; dom  2;\t()
A-F1:\tval 3; act 2; dom  1;\t()

[10.0100 - 11.3925]\tSes01F_impro01_F001\txxx\t[2.5000, 2.0000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tAnger;\t()

[14.8872 - 18.0175]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]
C-E2:\tExcited;\t()

[19.2901 - 20.8000]\tSes01F_impro01_M002\tfru\t[2.0000, 3.5000, 3.5000]
C-E3:\tFrustration;\t()

[21.0000 - 23.5000]\tSes01F_impro01_F002\thap\t[4.0000, 3.0000, 3.0000]
C-E2:\tHappiness;\t()
"""
SCRIPT01 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[1.0000 - 2.0000]\tSes01F_script01_1_F000\tsad\t[1.5000, 2.0000, 2.0000]
C-E1:\tSadness;\t()

[3.0000 - 4.0000]\tSes01F_script01_1_M000\tang\t[1.5000, 4.0000, 4.0000]
C-E1:\tAnger;\t()
"""
IMPRO03 = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[1.0000 - 2.0000]\tSes02M_impro03_F000\toth\t[3.0000, 3.0000, 3.0000]
[3.0000 - 4.0000]\tSes02M_impro03_M000\tsur\t[3.0000, 4.0000, 3.0000]
[5.0000 - 6.0000]\tSes02M_impro03_F001\tfea\t[2.0000, 4.0000, 2.0000]
[7.0000 - 8.0000]\tSes02M_impro03_M001\tdis\t[2.0000, 3.0000, 3.0000]
"""


@pytest.fixture
def iemocap_root(make_tree):
    wavs = {
        "Session1/sentences/wav/Ses01F_impro01": ["F000", "F001", "M001", "M002", "F002"],
        "Session1/sentences/wav/Ses01F_script01_1": ["F000", "M000"],
        "Session2/sentences/wav/Ses02M_impro03": ["F000", "M000", "F001", "M001", "F099"],  # F099: no label
    }
    files = [f"{folder}/{folder.rsplit('/', 1)[1]}_{utt}.wav" for folder, utts in wavs.items() for utt in utts]
    files += [
        "Session1/sentences/wav/Ses01F_impro01/._Ses01F_impro01_F000.wav",  # macOS metadata
        "Session1/dialog/wav/Ses01F_impro01.wav",  # whole-dialog audio: not a sentence clip
    ]
    root = make_tree(files, name="IEMOCAP_full_release")
    for session, dialog, text in [(1, "Ses01F_impro01", IMPRO01), (1, "Ses01F_script01_1", SCRIPT01),
                                  (2, "Ses02M_impro03", IMPRO03)]:
        folder = root / f"Session{session}" / "dialog" / "EmoEvaluation"
        (folder / "Categorical").mkdir(parents=True, exist_ok=True)
        (folder / f"{dialog}.txt").write_text(text)
        (folder / "Categorical" / f"{dialog}_e1_cat.txt").write_text(f"{dialog}_F000 :Anger; ()\n")
    return root


def test_iemocap_labels_speakers_and_fields(iemocap_root):
    m = load_manifest(iemocap_root)
    assert m.corpus == "iemocap"
    got = {r.path.stem: (r.label, r.speaker) for r in m.rows}
    assert got == {
        "Ses01F_impro01_F000": ("neutral", "Ses01F"),
        "Ses01F_impro01_M001": ("excited", "Ses01M"),
        "Ses01F_impro01_M002": ("frustrated", "Ses01M"),
        "Ses01F_impro01_F002": ("happy", "Ses01F"),
        "Ses01F_script01_1_F000": ("sad", "Ses01F"),
        "Ses01F_script01_1_M000": ("angry", "Ses01M"),
        # the dialog is "Ses02M" but the speaker is the LAST token's letter
        "Ses02M_impro03_F000": ("other", "Ses02F"),
        "Ses02M_impro03_M000": ("surprised", "Ses02M"),
        "Ses02M_impro03_F001": ("fearful", "Ses02F"),
        "Ses02M_impro03_M001": ("disgust", "Ses02M"),
    }
    assert m.skipped == 3  # F001 (xxx), F099 (no label), the hidden ._ file
    assert any("xxx" in reason for reason in m.skip_reasons)
    first = by_name(m)["Ses01F_impro01_F000.wav"]
    assert {k: first.extra[k] for k in ("valence", "arousal", "dominance", "dialog", "start", "end")} == {
        "valence": "2.5000", "arousal": "2.5000", "dominance": "2.5000",
        "dialog": "Ses01F_impro01", "start": "6.2901", "end": "8.2357"}
    assert by_name(m)["Ses02M_impro03_F001.wav"].extra["gender"] == "female"
    assert_rows_inside_root(m)


def test_iemocap_four_class_merges_excited_and_drops_the_rest(iemocap_root):
    m = load_manifest(iemocap_root, four_class=True)
    assert {r.path.stem: r.label for r in m.rows} == {
        "Ses01F_impro01_F000": "neutral",
        "Ses01F_impro01_M001": "happy",  # exc merged into hap
        "Ses01F_impro01_F002": "happy",
        "Ses01F_script01_1_F000": "sad",
        "Ses01F_script01_1_M000": "angry",
    }
    assert by_name(m)["Ses01F_impro01_M001.wav"].extra["iemocap_label"] == "exc"
    assert m.labels() == ["angry", "happy", "neutral", "sad"]


def test_iemocap_improvised_only(iemocap_root):
    m = load_manifest(iemocap_root, corpus="iemocap", improvised_only=True)
    assert len(m) == 8 and all("impro" in r.extra["dialog"] for r in m.rows)
    both = load_manifest(iemocap_root, improvised_only=True, four_class=True)
    assert sorted(r.path.stem for r in both.rows) == [
        "Ses01F_impro01_F000", "Ses01F_impro01_F002", "Ses01F_impro01_M001"]


def test_the_command_line_passes_the_iemocap_options(iemocap_root, ravdess_root, capsys):
    from core.cli import main

    assert main(["corpus", "inspect", str(iemocap_root), "--iemocap-improvised", "--iemocap-four-class"]) == 0
    out = capsys.readouterr().out
    assert "clips:    3" in out and "excited" not in out and "sad" not in out  # the scripted sad clip is left out
    assert main(["corpus", "inspect", str(ravdess_root), "--iemocap-four-class"]) == 1
    assert "IEMOCAP only" in capsys.readouterr().err


def test_iemocap_options_are_refused_for_other_corpora(ravdess_root):
    with pytest.raises(CorpusError, match="IEMOCAP only"):
        load_manifest(ravdess_root, four_class=True)


# --------------------------------------------------------------------------- folder per label


def test_folder_per_label_with_synonyms(make_tree):
    files = ["anger/a.wav", "Happiness/b.wav", "sadness/c.flac", "fear/d.ogg", "surprise/e.mp3",
             "disgusted/f.WAV", "neutral/g.wav", "calm/sub/h.wav", "bored/i.wav", "misc/j.wav", "k.wav"]
    m = load_manifest(make_tree(files))
    assert m.corpus == "folder" and m.skipped == 2
    assert labels_by_name(m) == {"a.wav": "angry", "b.wav": "happy", "c.flac": "sad", "d.ogg": "fearful",
                                 "e.mp3": "surprised", "f.WAV": "disgust", "g.wav": "neutral",
                                 "h.wav": "calm", "i.wav": "boredom"}
    assert {r.speaker for r in m.rows} == {"unknown"}
    assert_rows_inside_root(m)


# --------------------------------------------------------------------------- CSV manifest

DEMO_HEADER = "path,label,speaker,corpus,sentence,split,cue_start,cue_end\n"


def test_csv_manifest_like_the_demo_corpus(make_tree):
    root = make_tree(["train/spk01/a.wav", "train/spk01/b.wav", "test/spk09/c.wav", "test/spk09/d.wav"])
    (root / "manifest.csv").write_text(
        DEMO_HEADER
        + "train/spk01/b.wav,sad,spk01,serwb-demo,Hello there,train,,\n"
        + "train/spk01/a.wav,angry,spk01,serwb-demo,Hello there,train,,\n"
        + "test/spk09/c.wav,happy,spk09,serwb-demo,Good night,test,,\n"
        + "test/spk09/d.wav,neutral,spk09,serwb-demo,Good night,cue,0.50,1.25\n"
    )
    m = load_manifest(root)
    assert (m.corpus, m.root, len(m)) == ("serwb-demo", root.resolve(), 4)
    assert [r.path.name for r in m.rows] == ["c.wav", "d.wav", "a.wav", "b.wav"]  # sorted by path
    d = by_name(m)["d.wav"]
    assert (d.label, d.speaker, d.corpus) == ("neutral", "spk09", "serwb-demo")
    assert dict(d.extra) == {"sentence": "Good night", "split": "cue", "cue_start": "0.50", "cue_end": "1.25"}
    assert [r.path.name for r in m.filter(split="train").rows] == ["a.wav", "b.wav"]
    assert_rows_inside_root(m)


def test_csv_file_as_root_synonyms_and_defaults(make_tree):
    root = make_tree(["clips/a.wav", "clips/b.wav"])
    csv_path = root / "my list.csv"
    csv_path.write_text("\ufeffPath,Label\nclips/a.wav,Anger\nclips\\b.wav,pleasant surprise\n")  # BOM, Windows path
    m = load_manifest(csv_path)
    assert m.corpus == "csv"
    assert {(r.path.name, r.label, r.speaker, r.corpus) for r in m.rows} == {
        ("a.wav", "angry", "unknown", "csv"), ("b.wav", "surprised", "unknown", "csv")}


@pytest.mark.parametrize(
    "entry, message",
    [
        ("../outside.wav", "outside the CSV's folder"),
        ("clips/../../outside.wav", "outside the CSV's folder"),
        ("ABSOLUTE", "absolute path"),
        ("clips/missing.wav", "does not exist"),
        ("clips/notes.txt", "not an audio file"),
    ],
)
def test_csv_refuses_paths_outside_root_absolute_or_missing(make_tree, tmp_path, entry, message):
    root = make_tree(["clips/a.wav", "clips/notes.txt"])
    (tmp_path / "outside.wav").write_bytes((root / "clips" / "a.wav").read_bytes())
    entry = str((root / "clips" / "a.wav").resolve()) if entry == "ABSOLUTE" else entry
    (root / "manifest.csv").write_text(f"path,label\nclips/a.wav,sad\n{entry},sad\n")
    with pytest.raises(CorpusError, match=message) as err:
        load_manifest(root)
    assert "line 3" in str(err.value)


def test_csv_refuses_a_symlink_leading_outside(make_tree, tmp_path):
    root = make_tree(["clips/a.wav"])
    (tmp_path / "secret.wav").write_bytes(b"RIFF")
    os.symlink(tmp_path / "secret.wav", root / "clips" / "link.wav")
    (root / "manifest.csv").write_text("path,label\nclips/link.wav,sad\n")
    with pytest.raises(CorpusError, match="outside the CSV's folder"):
        load_manifest(root)


def test_csv_unknown_label_names_the_vocabulary(make_tree):
    root = make_tree(["a.wav"])
    (root / "manifest.csv").write_text("path,label\na.wav,confused\n")
    with pytest.raises(CorpusError, match="unknown label 'confused'") as err:
        load_manifest(root)
    assert all(label in str(err.value) for label in EMOTIONS)


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,emotion\na.wav,sad\n", "'path' and 'label'"),
        ("", "is empty"),
        ("path,label\n", "lists no clips"),
        ("path,label\na.wav,sad\na.wav,sad\n", "listed twice"),
        ("path,label\na.wav,sad,extra\n", "3 fields"),
    ],
)
def test_csv_structure_errors(make_tree, text, message):
    root = make_tree(["a.wav"])
    (root / "manifest.csv").write_text(text)
    with pytest.raises(CorpusError, match=message):
        load_manifest(root)


# --------------------------------------------------------------------------- detection & errors


@pytest.mark.parametrize(
    "files, corpus",
    [
        (list(RAVDESS_FILES), "ravdess"),
        (list(EMODB_FILES), "emodb"),
        (["AudioData/DC/sa01.wav", "AudioData/JE/a02.wav"], "savee"),
        (["DC_su01.wav", "KL_h03.wav"], "savee"),
        (list(CREMAD_FILES), "crema-d"),
        (list(TESS_FILES), "tess"),
        (list(POLISH_FILES), "polish"),
        (["m1.a_nie_1.wav", "m2.n_tak_5.wav"], "polish"),  # flat, without the POLISH folder
        (["angry/x.wav", "sad/y.wav"], "folder"),
        # naming beats folders: a RAVDESS tree sorted into label folders keeps its speakers
        (["angry/03-01-05-01-01-01-03.wav", "sad/03-01-04-01-01-01-04.wav"], "ravdess"),
    ],
)
def test_auto_detection_and_explicit_corpus_agree(make_tree, files, corpus):
    root = make_tree(files)
    auto, explicit = load_manifest(root), load_manifest(root, corpus=corpus)
    assert auto.corpus == explicit.corpus == corpus
    assert auto.rows == explicit.rows and len(auto) == len(files)


def test_explicit_corpus_aliases_and_mismatch(ravdess_root, make_tree):
    emodb = make_tree(EMODB_FILES, name="emodb")
    assert load_manifest(emodb, corpus="EMO-DB").corpus == "emodb"
    with pytest.raises(CorpusError, match="named like EMO-DB") as err:
        load_manifest(ravdess_root, corpus="emodb")
    assert "03-01-01-01-01-01-07.wav" in str(err.value)
    with pytest.raises(CorpusError, match="No IEMOCAP sessions"):
        load_manifest(ravdess_root, corpus="iemocap")
    with pytest.raises(CorpusError, match="No CSV manifest"):
        load_manifest(ravdess_root, corpus="csv")


def test_unknown_corpus_name_lists_the_known_ones(ravdess_root):
    with pytest.raises(CorpusError, match="Unknown corpus 'voxceleb'") as err:
        load_manifest(ravdess_root, corpus="voxceleb")
    assert all(name in str(err.value) for name in CORPORA)


def test_unknown_layout_names_the_expected_layouts(make_tree):
    root = make_tree(["takes/take1.wav", "takes/take2.wav", "takes/03-01-05-01-01-01-03.wav"])
    with pytest.raises(CorpusError, match="Unrecognised corpus layout") as err:
        load_manifest(root)
    text = str(err.value)
    for layout in ("RAVDESS", "EMO-DB", "SAVEE", "CREMA-D", "TESS", "Polish", "IEMOCAP", "folder per label",
                   "manifest.csv"):
        assert layout in text
    assert "3 audio files" in text and "1 ravdess" in text


@pytest.mark.parametrize("files", [[], ["notes.txt", "sub/readme.md"]])
def test_folder_without_audio(make_tree, files):
    with pytest.raises(CorpusError, match="No audio files") as err:
        load_manifest(make_tree(files))
    assert "RAVDESS" in str(err.value)


def test_missing_root_and_file_root(tmp_path, make_tree):
    with pytest.raises(CorpusError, match="does not exist"):
        load_manifest(tmp_path / "nowhere")
    root = make_tree(["a.wav"])
    with pytest.raises(CorpusError, match="is a file"):
        load_manifest(root / "a.wav")


def test_hidden_files_and_symlinks_stay_out(ravdess_root, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "03-01-01-01-01-01-09.wav").write_bytes(b"x")
    name = "03-01-01-01-01-01-09.wav"
    os.symlink(tmp_path / "elsewhere" / name, ravdess_root / "Actor_07" / name)
    os.symlink(tmp_path / "elsewhere", ravdess_root / "Actor_09")
    (ravdess_root / "Actor_07" / "._03-01-01-01-01-01-07.wav").write_bytes(b"x")
    (ravdess_root / ".cache").mkdir()
    (ravdess_root / ".cache" / "03-01-01-01-01-01-11.wav").write_bytes(b"x")
    m = load_manifest(ravdess_root)
    assert len(m) == len(RAVDESS_FILES)
    assert m.skip_reasons["symbolic link (not followed)"] == 2 and m.skip_reasons["hidden file"] == 1
    assert_rows_inside_root(m)
    # the root itself may be a link
    os.symlink(ravdess_root, tmp_path / "link_to_corpus")
    assert load_manifest(tmp_path / "link_to_corpus").rows == m.rows


# --------------------------------------------------------------------------- Manifest API


def test_manifest_queries(ravdess_root):
    m = load_manifest(ravdess_root)
    assert len(m) == 9 and isinstance(m, Manifest) and isinstance(m.rows[0], Row)
    assert m.labels() == ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
    assert m.counts() == {"angry": 1, "calm": 1, "disgust": 1, "fearful": 1, "happy": 2,
                          "neutral": 1, "sad": 1, "surprised": 1}
    assert m.counts("speaker") == {"ravdess-07": 8, "ravdess-08": 1}
    assert m.counts("channel") == {"song": 1, "speech": 8}
    assert [r.path.name for r in m.filter(channel="song").rows] == ["03-02-03-02-02-02-08.wav"]
    assert len(m.filter(label=["sad", "happy"])) == 3
    assert len(m.filter(label="happy", speaker="ravdess-07")) == 1
    assert m.take([2, 0]).rows == (m.rows[2], m.rows[0])
    with pytest.raises(CorpusError, match="no field 'mood'"):
        m.filter(mood="sad")
    with pytest.raises(TypeError):
        m.rows[0].extra["gender"] = "x"


def test_summary_tells_corpus_root_counts_and_skips(ravdess_root):
    text = load_manifest(ravdess_root).summary()
    for needle in ("ravdess", str(ravdess_root.resolve()), "clips:    9", "skipped:  3", "video-only",
                   "labels (8):", "speakers (2):"):
        assert needle in text
    assert any(line.split() == ["ravdess-07", "8"] for line in text.splitlines())
    assert any(line.split() == ["happy", "2"] for line in text.splitlines())
