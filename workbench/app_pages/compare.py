"""Compare: which explanation of the current clip to trust.

Agreement between methods (Spearman rank correlation, top-k% IoU), deletion and insertion
curves with their AUC against a random order, the cascading-randomisation sanity check, and
for the fusion model its VGGish and YAMNet branch maps on one timeline. All numbers come from
``core.explain.evaluate``, run as shared background jobs (``workbench.analyses``); the page holds the widgets.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.explain import evaluate
from core.explain.baselines import BASELINES
from workbench import analyses, checkpoints, state
from workbench.components import compare_figures, guards
from workbench.components.progress import outcome, wait, wait_one

st.title("Compare explanations")
clip, loaded = guards.clip_and_model()
st.caption(f"**{clip.name}** with model **{loaded.name}**, using the method settings chosen on the Explain page.")


@st.fragment
def compare_view(sha: str, path: str) -> None:
    clip, loaded = state.clips()[sha], checkpoints.load(path)
    settings = analyses.fit_to_model(state.settings(), loaded)
    jobs = analyses.submit_all(clip, loaded, settings, analyses.parts_for(loaded, griffin_lim=False))
    slots = {part: st.empty() for part in jobs}
    results = {}

    def on_done(part, job):
        value, error = outcome(job)
        if error is not None:
            slots[part].error(f"**{analyses.TITLES[part]}:** {error}", icon=":material/error:")
        else:
            results[part] = value
            slots[part].empty()

    wait(jobs, slots, on_done, label=lambda part: analyses.TITLES[part])
    if not results:
        return
    merged = analyses.merge(results, settings)
    maps = {n: m for n, m in merged.maps.items() if not n.startswith("gradcam-")}
    st.markdown(f"Maps explain **{merged.labels[merged.target]}**"
                f"{' (the predicted emotion)' if merged.target == merged.predicted else ''}.")

    st.subheader("Agreement between methods")
    if len(maps) < 2:
        st.info("Agreement needs at least two maps.", icon=":material/info:")
    else:
        fraction = st.slider("Top share for IoU", 0.05, 0.5, 0.2, 0.05, key="agreement_fraction")
        pairs, error = wait_one(analyses.submit_agreement(jobs, maps, fraction), "Agreement between methods")
        if error is not None:
            st.error(error, icon=":material/error:")
        else:
            st.plotly_chart(compare_figures.agreement(pairs, list(maps), fraction), width="stretch", key="agreement")
            st.dataframe(pd.DataFrame([{"methods": f"{a} vs {b}", "Spearman ρ": s["rank_correlation"],
                                        f"top {fraction:.0%} IoU": s["top_iou"]} for (a, b), s in pairs.items()]),
                         hide_index=True, width="stretch")

    st.subheader("Deletion and insertion curves")
    a, b, c = st.columns(3)
    unit = a.radio("Units removed / inserted", evaluate.UNITS, index=evaluate.UNITS.index("cells"), horizontal=True,
                   key="faith_unit", help="Time x band cells keep the random reference fair; scattered silent "
                   "frames break a clip more than any one region does.")
    baseline = b.selectbox("Removed means", BASELINES, index=BASELINES.index("mean"), key="faith_baseline")
    steps = c.slider("Steps", 5, 50, 20, key="faith_steps")
    job = analyses.submit_faithfulness(jobs, merged, loaded, maps, unit=unit, baseline=baseline, steps=steps)
    curves, error = wait_one(job, "Deletion and insertion curves")
    if error is not None:
        st.error(error, icon=":material/error:")
    else:
        st.plotly_chart(compare_figures.faithfulness(curves, unit), width="stretch", key="faithfulness")
        st.dataframe(pd.DataFrame([{"method": name, "deletion AUC": per["deletion"].auc,
                                    "insertion AUC": per["insertion"].auc} for name, per in curves.items()]),
                     hide_index=True, width="stretch")

    st.subheader("Randomisation sanity check")
    st.caption("Layers are re-initialised from the output down (Adebayo et al., 2018). A map that explains the "
               "model should change: its rank correlation with the original should fall towards 0.")
    checked = st.selectbox("Method to check", list(maps), format_func=analyses.TITLES.get, key="sanity_method",
                           help="The check re-runs the method once per layer: gradient and CAM methods take "
                                "seconds, perturbation methods (occlusion, LIME, KernelSHAP) minutes.")
    if checked is not None:
        job = analyses.submit_sanity(jobs, merged, loaded, checked, settings)
        steps_done, error = wait_one(job, "Randomisation check")
        if error is not None:
            st.error(error, icon=":material/error:")
        else:
            st.plotly_chart(compare_figures.sanity(steps_done, analyses.TITLES[checked]), width="stretch",
                            key="sanity")

    branch_maps = sorted(n for n in merged.maps if n.startswith("gradcam-"))
    if len(branch_maps) >= 2:
        st.subheader("Fusion model: branch maps on one timeline")
        st.caption("Grad-CAM of each branch's last block for the same logit; both share one colour scale.")
        st.plotly_chart(compare_figures.branches(merged, branch_maps), width="stretch", key="branches")


compare_view(clip.sha256, loaded.path)
