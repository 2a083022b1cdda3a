"""In a notebook, a Synthesizer and a Report display as readable, escaped HTML (issue 17.6)."""

import numpy as np
import pandas as pd

from synthvae import Synthesizer
from synthvae.reports.report import Report


def test_an_unfitted_synthesizer_shows_its_parameters_and_says_it_is_not_fitted():
    page = Synthesizer(epochs=7, beta=0.25)._repr_html_()
    assert "Not fitted" in page and "fit(df)" in page
    assert "<td" in page and ">epochs<" in page and ">7<" in page and ">0.25<" in page


def test_a_fitted_synthesizer_shows_columns_kinds_and_training_summary():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"<script>alert(1)</script>": rng.normal(size=120),
                       "grade & class": rng.choice(["A", "B"], 120)})
    synth = Synthesizer(epochs=2, verbose=False).fit(df)
    page = synth._repr_html_()
    assert "Not fitted" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "grade &amp; class" in page
    assert ">continuous<" in page and ">categorical<" in page
    assert ">epochs_run<" in page and ">fit_seconds<" in page and ">120<" in page


def test_a_report_shows_its_headline_scores_escaped():
    report = Report(data={}, summary={"column_shapes": 0.9876, "exact_copies": 3,
                                      "dcr_train_share": None},
                    fidelity={}, privacy={}, notes=["target <y> & more"])
    page = report._repr_html_()
    assert "Column Shapes" in page and ">0.988<" in page
    assert "Exact copies" in page and ">3<" in page
    assert "DCR train share" not in page  # not computed: not shown
    assert "target &lt;y&gt; &amp; more" in page and "<y>" not in page
