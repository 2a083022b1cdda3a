"""Value pairs the sampler never draws together (``unseen_pairs``): two values no training
row holds together, although independence would put many rows there or one column
determines the other, stay apart in every sampled row (plain, conditional, decoded, after a
reload), and the marginals stay calibrated."""

import numpy as np
import pandas as pd
import pytest
import torch

from synthvae import Synthesizer
from synthvae.errors import ConfigError, ModelFileError
from synthvae.exclusions import DEPENDENCY_LOGIT, EXCLUDED_LOGIT, StepExclusions, unseen_pairs
from synthvae.layout import SpanLayout
from synthvae.sampling import column_steps
from synthvae.transforms.spans import Span, SpanKind

from conftest import rewrite_model_file

EXCLUDED_KEY = "sampler.excluded_pairs"


YEARS = {"Preschool": 1, "HS-grad": 9, "Bachelors": 13, "Masters": 14, "Doctorate": 16}


def _household_table(rows: int = 2000, seed: int = 0) -> pd.DataFrame:
    """``role`` and ``sex`` as in Adult: no Husband is Female and no Wife is Male;
    ``education`` maps 1:1 onto the integer code ``years`` (categorical by detection), whose
    rarest value has too few rows for independence alone to rule out its other pairs; ``y``
    is noise."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Male", "Female"], rows, p=[0.6, 0.4])
    other = rng.choice(["Own-child", "Unmarried", "Not-in-family"], rows)
    married = rng.random(rows) < 0.5
    role = np.where(married, np.where(sex == "Male", "Husband", "Wife"), other)
    education = rng.choice(list(YEARS), rows, p=[0.01, 0.4, 0.3, 0.2, 0.09])
    return pd.DataFrame({"sex": sex, "education": education, "age": rng.normal(40, 10, rows
                                                                            ).round(),
                         "role": role, "years": pd.Series(education).map(YEARS),
                         "y": rng.normal(size=rows)})


def _impossible_share(df: pd.DataFrame) -> float:
    return float((((df["role"] == "Husband") & (df["sex"] == "Female"))
                  | ((df["role"] == "Wife") & (df["sex"] == "Male"))).mean())


def _broken_code_share(df: pd.DataFrame) -> float:
    return float((df["years"] != df["education"].map(YEARS)).mean())


def _encoded(codes_a, codes_b, width_a=2, width_b=3):
    """Two one-hot categorical columns (and a scalar between them), as encoded rows."""
    spans = [Span("a", SpanKind.SOFTMAX, width_a, "category"),
             Span("v", SpanKind.SCALAR, 1, "value"),
             Span("b", SpanKind.SOFTMAX, width_b, "category")]
    data = torch.zeros((len(codes_a), width_a + 1 + width_b))
    data[torch.arange(len(codes_a)), torch.as_tensor(codes_a)] = 1.0
    data[torch.arange(len(codes_b)), width_a + 1 + torch.as_tensor(codes_b)] = 1.0
    return data, spans


def test_an_unseen_pair_with_large_expected_support_is_found_and_a_thin_one_is_not():
    # a=0 never meets b=2; a=1 meets every b. 600 rows: independence expects 600 * 0.5 *
    # (1/3) = 100 rows of (a=0, b=2)
    codes_a = [0] * 300 + [1] * 300
    codes_b = [0, 1] * 150 + [0, 1, 2] * 100
    data, spans = _encoded(codes_a, codes_b)
    pairs = unseen_pairs(data, spans)
    # position of a=0, position of b=2 (after the scalar), the logit the sampler adds
    assert pairs.tolist() == [[0, 5, EXCLUDED_LOGIT]]
    assert unseen_pairs(data, spans, min_expected=101).shape == (0, 3)  # 100 expected: thin
    assert unseen_pairs(data, spans, min_expected=0).shape == (0, 3)  # 0: off
    # too few rows for any expectation of 10: nothing is excluded by chance
    few = unseen_pairs(data[::20], spans)
    assert few.shape == (0, 3)
    # b as a number's modes: taking part only when its column is encoded value by value
    modes = spans[:2] + [Span("b", SpanKind.SOFTMAX, 3, "mode")]
    assert unseen_pairs(data, modes).shape == (0, 3)
    assert unseen_pairs(data, modes, code_columns={"b"}).tolist() == [[0, 5, EXCLUDED_LOGIT]]


def test_when_a_column_determines_another_every_unseen_pair_is_excluded_however_thin():
    # ten zones of 6 rows each, each in one of three boroughs: (zone, other borough) expects
    # 6 * 0.3 = 1.8 rows under independence, far under 10, but the zone determines the borough
    zones = np.repeat(np.arange(10), 6)
    borough = zones % 3
    data, spans = _encoded(zones, borough, width_a=10, width_b=3)
    pairs = unseen_pairs(data, spans).tolist()
    assert len(pairs) == 20  # each zone's two other boroughs, ruled out by the dependency
    assert all(b - 11 != a % 3 and logit == DEPENDENCY_LOGIT for a, b, logit in pairs)
    # the last zone grouped into an "other" slot of many values: its boroughs are free
    grouped = unseen_pairs(data, spans, grouped={9}).tolist()
    assert len(grouped) == 18 and all(a != 9 for a, _, _ in grouped)
    # one zone seen in two boroughs: no longer a dependency, and nothing thin is excluded
    borough[0] = 1
    data, spans = _encoded(zones, borough, width_a=10, width_b=3)
    assert unseen_pairs(data, spans).shape == (0, 3)


def test_a_rule_on_a_determined_value_excludes_the_values_that_determine_it():
    # pickups (x) 0 never go to borough 2, so they never go to its ten zones either, though
    # each zone is too thin (10 rows) for independence alone to rule out its pair with x=0
    rng = np.random.default_rng(0)
    x = np.repeat([0, 1], 300)
    zone = np.where(x == 0, rng.choice(20, 600), rng.choice(30, 600))  # zones 20-29: borough 2
    borough = np.where(zone >= 20, 2, zone % 2)
    spans = [Span("x", SpanKind.SOFTMAX, 2, "category"),
             Span("zone", SpanKind.SOFTMAX, 30, "category"),
             Span("borough", SpanKind.SOFTMAX, 3, "category")]
    data = torch.zeros((600, 35))
    for offset, codes in ((0, x), (2, zone), (32, borough)):
        data[np.arange(600), offset + codes] = 1.0
    pairs = {(a, b): logit for a, b, logit in unseen_pairs(data, spans).tolist()}
    assert pairs[(0, 34)] == EXCLUDED_LOGIT  # x=0 & borough 2: 50 rows expected, none seen
    implied = {b - 2 for (a, b) in pairs if a == 0 and 2 <= b < 32}
    assert implied == set(range(20, 30))  # every zone of borough 2, none other
    assert all(pairs[(0, 2 + z)] == EXCLUDED_LOGIT for z in implied)
    assert not any(a == 1 and b < 32 for a, b in pairs)  # x=1 goes anywhere


def test_the_drawer_lowers_only_the_excluded_later_categories_of_the_drawn_one():
    data, spans = _encoded([0, 1], [0, 1])
    layout = SpanLayout.from_spans(spans)
    steps = column_steps(layout, torch.tensor([0, 0, 1, 2, 2, 2]))
    exclusions = StepExclusions(torch.tensor([[0, 5, -30], [1, 3, -60]]), steps, "cpu")
    block = torch.zeros((2, 6))
    block[0, 0] = block[1, 1] = 1.0  # row 0 drew a=0, row 1 drew a=1
    logits = torch.zeros((2, 6))
    exclusions.apply(0, steps[0], block, logits)
    assert logits[0].tolist() == [0, 0, 0, 0, 0, -30.0]
    assert logits[1].tolist() == [0, 0, 0, -60.0, 0, 0]
    before = logits.clone()
    exclusions.apply(1, steps[1], block, logits)  # the scalar's step excludes nothing
    assert torch.equal(logits, before)


def test_sampled_rows_keep_the_tables_impossible_pairs_and_its_marginals():
    df = _household_table()
    params = dict(epochs=3, seed=0, verbose=False, min_lift=0)
    free = Synthesizer(unseen_pairs=0, **params).fit(df)
    kept = Synthesizer(**params).fit(df)
    assert free.generator_.excluded is None
    free_rows = free.sample(20_000, seed=1)
    assert _impossible_share(free_rows) > 0.01  # a short fit leaks
    assert _broken_code_share(free_rows) > 0.01
    assert kept.training_summary_["excluded_pairs"] == len(kept.generator_.excluded) > 2
    rows = kept.sample(20_000, seed=1)
    assert _impossible_share(rows) == 0.0
    assert _broken_code_share(rows) == 0.0  # Preschool's 20 rows keep their 1 year
    for column in ("sex", "role", "years"):  # calibrated on the rows drawn so
        real = df[column].value_counts(normalize=True)
        synthetic = rows[column].value_counts(normalize=True).reindex(real.index)
        assert (synthetic - real).abs().max() < 0.03


def test_conditions_and_reloaded_models_keep_the_exclusions(tmp_path):
    synth = Synthesizer(epochs=3, seed=0, verbose=False).fit(_household_table())
    women = synth.sample(2000, seed=2, conditions={"sex": "Female"})
    assert (women["sex"] == "Female").all() and not (women["role"] == "Husband").any()
    free = Synthesizer(epochs=3, seed=0, verbose=False, unseen_pairs=0).fit(_household_table())
    assert (free.sample(2000, seed=2, conditions={"sex": "Female"})["role"] == "Husband").any()
    husbands = synth.sample(2000, seed=2, conditions={"role": "Husband"})
    assert (husbands["sex"] == "Male").all()  # the earlier column gives way, by weight
    decoded = synth.decode(np.random.default_rng(0).normal(size=(2000, 128)) * 3)
    assert _impossible_share(decoded) == 0.0 and _broken_code_share(decoded) == 0.0
    path = synth.save(tmp_path / "m.safetensors")
    loaded = Synthesizer.load(path)
    assert torch.equal(loaded.generator_.excluded, synth.generator_.excluded)
    pd.testing.assert_frame_equal(loaded.sample(500, seed=3), synth.sample(500, seed=3))


@pytest.mark.parametrize("edit, message", [
    (lambda t: t[EXCLUDED_KEY] + 10_000, "position 100.. outside 0"),
    (lambda t: t[EXCLUDED_KEY].index_fill(1, torch.tensor([1]), 7),  # age's scalar
     "position 7 \\(drawing step 3\\) holds no category"),
    (lambda t: t[EXCLUDED_KEY][:, [1, 0, 2]].contiguous(), "not in an earlier column"),
    (lambda t: t[EXCLUDED_KEY].float(), "int64"),
    (lambda t: t[EXCLUDED_KEY] * torch.tensor([1, 1, -1]), "logit 30, where -30 or -60"),
    (lambda t: t[EXCLUDED_KEY].index_fill(1, torch.tensor([1]), t["model.decoder.out.bias"]
                                          .numel() - 1),  # y's last mode
     "position -1 \\(drawing step 6\\) holds no category"),
])
def test_tampered_exclusions_are_refused_on_load(tmp_path, edit, message):
    synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(_household_table(600))
    y = synth.transformer_.slices_[-1]  # y: a mixture's modes, not values one by one
    message = message.replace("-1", str(y.stop - 1))
    path = synth.save(tmp_path / "m.safetensors")
    rewrite_model_file(path, lambda meta, t: t.update({EXCLUDED_KEY: edit(t)}))
    with pytest.raises(ModelFileError, match=f"excluded value pairs.*{message}"):
        Synthesizer.load(path)


def test_no_exclusions_for_the_factorized_decoder_or_under_differential_privacy():
    df = _household_table(600)
    assert Synthesizer(epochs=1, verbose=False, decoder="factorized"
                       ).fit(df).generator_.excluded is None
    # the autoregressive decoder, which would use them, and a budget that releases the rows'
    # categories: still none (finding them would read the private rows)
    private = Synthesizer(epochs=1, verbose=False, epsilon=10.0, decoder="autoregressive"
                          ).fit(_household_table())
    assert private.generator_.model.decoder.autoregression is not None
    assert private.generator_.excluded is None


def test_grouped_slots_and_code_columns_come_from_the_fitted_transformer():
    from synthvae import detect_schema
    from synthvae.transforms.table import TableTransformer

    df = _household_table(1500)
    df["city"] = [f"c{i % 300}" for i in range(len(df))]  # 300 values: rare ones grouped
    with pytest.warns(UserWarning, match="city"):
        table = TableTransformer(detect_schema(df), max_categories=50).fit(df)
    city = next(cols for t, cols in zip(table.transformers_, table.slices_)
                if t.spec.name == "city")
    assert table.grouped_positions() == {city.start + 49}  # 49 kept, then "other"
    assert table.code_columns() == {"age"}  # value by value (years: a categorical code)


def test_a_negative_unseen_pairs_is_refused_naming_the_parameter():
    with pytest.raises(ConfigError, match="'unseen_pairs' parameter of Synthesizer"):
        Synthesizer(epochs=1, verbose=False, unseen_pairs=-1).fit(_household_table(200))


def test_the_excluded_pairs_are_listed_by_column_value_and_rule():
    df = _household_table()
    df["years"] = df["years"].astype(float) + 0.5  # a number, value by value
    synth = Synthesizer(epochs=1, seed=0, verbose=False).fit(df)
    listed = synth.excluded_pairs()
    assert list(listed.columns) == ["column_1", "value_1", "column_2", "value_2", "rule"]
    assert len(listed) == len(synth.generator_.excluded)
    rows = set(map(tuple, listed.to_numpy().tolist()))
    assert ("sex", "Female", "role", "Husband", "zero support") in rows
    assert ("education", "Doctorate", "years", 9.5, "dependency") in rows  # 16.5 it is
    assert not any(v1 == "Male" and v2 == "Husband" for _, v1, _, v2, _ in rows)
    assert Synthesizer(epochs=1, verbose=False, unseen_pairs=0).fit(df).excluded_pairs().empty


def test_listing_the_excluded_pairs_before_fit_says_to_fit_first():
    from synthvae.errors import NotFittedError

    with pytest.raises(NotFittedError, match="fit"):
        Synthesizer().excluded_pairs()


# ---------------------------------------------------------------------------- conditions
# asking for an excluded pair: honoured, with one warning naming it

@pytest.fixture(scope="module")
def household():
    return Synthesizer(epochs=3, seed=0, verbose=False).fit(_household_table())


def _unseen_warnings(record) -> list[str]:
    from synthvae.errors import UnseenCombinationWarning

    return [str(w.message) for w in record if issubclass(w.category, UnseenCombinationWarning)]


@pytest.mark.parametrize("conditions, named", [
    ({"role": "Husband", "sex": "Female"}, "sex='Female' with role='Husband'"),
    ({"role": {"Husband"}, "sex": ["Female"]}, "sex='Female' with role='Husband'"),
    ({"education": "Doctorate", "years": 9}, "education='Doctorate' with years=9"),
])
def test_conditions_forcing_an_excluded_pair_are_honoured_with_one_warning_naming_it(
        household, conditions, named):
    import warnings

    from synthvae.errors import SynthvaeWarning, UnseenCombinationWarning

    assert issubclass(UnseenCombinationWarning, SynthvaeWarning)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rows = household.sample(5000, seed=2, conditions=conditions)  # two batches
        chunks = list(household.iter_sample(300, chunk_size=50, seed=2, conditions=conditions))
    assert len(rows) == 5000 and sum(map(len, chunks)) == 300
    for column, value in conditions.items():  # the values asked, in every row
        wanted = next(iter(value)) if isinstance(value, (set, list)) else value
        assert (rows[column] == wanted).all()
    messages = _unseen_warnings(record)
    assert len(messages) == 2  # once per call, not per batch or chunk
    assert named in messages[0] and "no row" in messages[0] and "never saw" in messages[0]
    assert "5,000 rows" in messages[0] and "\n" not in messages[0]


@pytest.mark.parametrize("conditions", [
    {"sex": "Female"},
    {"role": "Husband"},
    {"role": ["Husband", "Wife"], "sex": "Female"},  # Wife & Female is a real pair
    {"role": "Husband", "sex": "Male"},
    {"education": "Doctorate", "years": 16},
    {"age": (30, 40), "sex": "Female", "y": (0, None)},
])
def test_ordinary_conditions_do_not_warn_of_unseen_combinations(household, conditions):
    import warnings

    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        household.sample(200, seed=2, conditions=conditions)
    assert _unseen_warnings(record) == []


def test_the_cli_prints_the_unseen_combination_warning_as_one_line(household, tmp_path,
                                                                    monkeypatch):
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.chdir(tmp_path)
    household.save("model.safetensors")
    result = CliRunner().invoke(app, ["sample", "-m", "model.safetensors", "-n", "40", "-q",
                                      "--where", "role=Husband", "--where", "sex=Female",
                                      "-o", "rows.csv"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "role='Husband'" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: The conditions ask for "
                                                   "sex='Female' with role='Husband'")
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert len(rows) == 40 and (rows["role"] == "Husband").all() and \
        (rows["sex"] == "Female").all()
