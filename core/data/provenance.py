"""Where each corpus comes from: title, language, kind of speech, licence and citation.

Keyed by the corpus name a ``Manifest`` carries (``core.data.corpora`` layout names, and
"serwb-demo" for the synthetic demo corpus), so a page or a report can say what a model was
trained and explained on. A licence is written out only where the corpus's own release
states it; otherwise the entry points to that release ("see the corpus's own licence").
"""

from __future__ import annotations

from dataclasses import dataclass

REAL = "real (acted)"
SYNTHETIC = "synthetic (espeak-ng)"
SEE_OWN_LICENCE = "see the corpus's own licence"


@dataclass(frozen=True)
class CorpusInfo:
    name: str  # the Manifest's corpus name
    title: str
    language: str
    speech: str  # REAL or SYNTHETIC
    licence: str
    citation: str
    url: str


CORPUS_INFO: dict[str, CorpusInfo] = {
    info.name: info
    for info in (
        # readme.md of the release and its record at mostwiedzy.pl (Most Wiedzy, Gdańsk
        # University of Technology): "License: Creative Commons CC BY Attribution".
        CorpusInfo(
            name="polish",
            title="Emotions in Polish speech recordings",
            language="Polish",
            speech=REAL,
            licence="CC BY (Creative Commons Attribution), https://creativecommons.org/licenses/by/4.0/",
            citation="Mięsikowska, M., & Świsulski, D. (2020). Emotions in Polish speech recordings [Dataset]. "
                     "Gdańsk University of Technology. https://doi.org/10.34808/h46c-hb44",
            url="https://doi.org/10.34808/h46c-hb44",
        ),
        # Zenodo record 1188976: "Creative Commons Attribution Non Commercial Share Alike 4.0".
        CorpusInfo(
            name="ravdess",
            title="The Ryerson Audio-Visual Database of Emotional Speech and Song (RAVDESS)",
            language="English (North American)",
            speech=REAL,
            licence="CC BY-NC-SA 4.0",
            citation="Livingstone, S. R., & Russo, F. A. (2018). The Ryerson Audio-Visual Database of Emotional "
                     "Speech and Song (RAVDESS). PLoS ONE 13(5): e0196391. "
                     "https://doi.org/10.1371/journal.pone.0196391",
            url="https://doi.org/10.5281/zenodo.1188976",
        ),
        CorpusInfo(
            name="emodb",
            title="Berlin Database of Emotional Speech (EMO-DB)",
            language="German",
            speech=REAL,
            licence=SEE_OWN_LICENCE,
            citation="Burkhardt, F., Paeschke, A., Rolfes, M., Sendlmeier, W., & Weiss, B. (2005). A Database of "
                     "German Emotional Speech. Proc. Interspeech 2005, 1517-1520.",
            url="http://emodb.bilderbar.info/",
        ),
        CorpusInfo(
            name="savee",
            title="Surrey Audio-Visual Expressed Emotion (SAVEE)",
            language="English (British)",
            speech=REAL,
            licence=SEE_OWN_LICENCE,
            citation="Haq, S., & Jackson, P. J. B. (2010). Multimodal Emotion Recognition. In W. Wang (Ed.), "
                     "Machine Audition: Principles, Algorithms and Systems (pp. 398-423). IGI Global.",
            url="http://kahlan.eps.surrey.ac.uk/savee/",
        ),
        # The CREMA-D repository's README: Open Database License (contents: Database Contents License).
        CorpusInfo(
            name="crema-d",
            title="Crowd-sourced Emotional Multimodal Actors Dataset (CREMA-D)",
            language="English",
            speech=REAL,
            licence="ODbL (Open Database License); contents under the Database Contents License",
            citation="Cao, H., Cooper, D. G., Keutmann, M. K., Gur, R. C., Nenkova, A., & Verma, R. (2014). "
                     "CREMA-D: Crowd-sourced Emotional Multimodal Actors Dataset. IEEE Transactions on "
                     "Affective Computing 5(4), 377-390.",
            url="https://github.com/CheyneyComputerScience/CREMA-D",
        ),
        # Borealis record doi:10.5683/SP2/E8H2MF: CC BY-NC-ND 4.0.
        CorpusInfo(
            name="tess",
            title="Toronto emotional speech set (TESS)",
            language="English (Canadian)",
            speech=REAL,
            licence="CC BY-NC-ND 4.0",
            citation="Pichora-Fuller, M. K., & Dupuis, K. (2020). Toronto emotional speech set (TESS). "
                     "Borealis. https://doi.org/10.5683/SP2/E8H2MF",
            url="https://doi.org/10.5683/SP2/E8H2MF",
        ),
        # Released to researchers who sign USC SAIL's release form; not redistributable.
        CorpusInfo(
            name="iemocap",
            title="Interactive Emotional Dyadic Motion Capture database (IEMOCAP)",
            language="English",
            speech=REAL,
            licence="by agreement with USC SAIL (release form); not redistributable",
            citation="Busso, C., Bulut, M., Lee, C.-C., Kazemzadeh, A., Mower, E., Kim, S., Chang, J. N., Lee, S., "
                     "& Narayanan, S. S. (2008). IEMOCAP: Interactive emotional dyadic motion capture database. "
                     "Language Resources and Evaluation 42(4), 335-359.",
            url="https://sail.usc.edu/iemocap/",
        ),
        # core.data.synthetic.CORPUS_NAME (not imported: that module pulls in torch).
        CorpusInfo(
            name="serwb-demo",
            title="serwb synthetic demo corpus",
            language="English",
            speech=SYNTHETIC,
            licence="MIT, as the rest of serwb (generated by core.data.synthetic)",
            citation="serwb demo corpus: emotional speech rendered with espeak-ng by core.data.synthetic "
                     "(make demo-corpus); see the README.",
            url="assets/demo (README: 'The demo corpus')",
        ),
    )
}

_ALIASES = {"emo-db": "emodb", "cremad": "crema-d", "demo": "serwb-demo"}


def info(corpus_name: str) -> CorpusInfo | None:
    """Provenance of the corpus a ``Manifest`` names (e.g. ``info(manifest.corpus)``), or
    None for one without an entry ("folder", "csv", a corpus of your own)."""
    key = corpus_name.strip().lower().replace("_", "-")
    return CORPUS_INFO.get(_ALIASES.get(key, key))
