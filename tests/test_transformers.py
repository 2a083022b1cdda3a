"""One contract battery for every column transformer, on real columns and random frames."""

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from synthvae.schema import ColumnKind, detect_column, detect_schema
from synthvae.transforms.base import ColumnTransformer
from synthvae.transforms.continuous import DISCRETE_THRESHOLD, DISCRETE_VALUE_ROWS
from synthvae.transforms.table import TRANSFORMERS, TableTransformer, make_column_transformer

from conftest import dataset

# (dataset, column): continuous, integer, nullable, categorical, datetime, identifier, constant
REAL_COLUMNS = [
    ("adult_train", "age"), ("adult_train", "fnlwgt"), ("adult_train", "capital-gain"),
    ("adult_train", "workclass"), ("adult_train", "native-country"),
    ("titanic", "age"), ("titanic", "deck"), ("titanic", "alone"),
    ("taxis", "pickup"), ("taxis", "fare"), ("flights", "time_hour"), ("flights", "year"),
    ("beijing", "No"), ("beijing", "pm2.5"), ("magic", "fAlpha"), ("shoppers", "Weekend"),
]


def made_column(name: str, seed: int = 0) -> pd.Series:
    """A column of each shape the transformers handle; no shared dataset needed."""
    n = 6000 if name == "spike" else 2000  # the mixture finds a point mass from ~5,000 rows
    rng = np.random.default_rng(seed)
    gaps = rng.random(n) < 0.1
    columns = {
        "symmetric": rng.normal(50, 10, n).round(3),
        "skewed": rng.lognormal(3, 1.2, n).round(2),  # on a log scale
        "skewed_with_gaps": np.where(gaps, np.nan, rng.lognormal(3, 1.2, n).round(2)),
        "counts": rng.integers(0, 60, n),  # discrete: one point mass per value
        "spike": np.where(rng.random(n) < 0.9, 0.0, rng.lognormal(8, 1, n)).round(),
        "stamps": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 10**7, n), "s"),
        "dates_as_text": (pd.Timestamp("2021-01-01")
                          + pd.to_timedelta(rng.integers(0, 700, n), "D")).strftime("%Y-%m-%d"),
        "letters": np.where(gaps, None, rng.choice(list("abcde"), n)),
        "flags": rng.random(n) < 0.3,
        "row_id": np.arange(n) + 1000,
        "text_id": [f"u{i:06d}" for i in range(n)],
        "constant": np.full(n, "EUR"),
        "constant_with_gaps": np.where(gaps, None, "EUR"),
    }
    return pd.Series(columns[name], name=name)


MADE_COLUMNS = ["symmetric", "skewed", "skewed_with_gaps", "counts", "spike", "stamps",
                "dates_as_text", "letters", "flags", "row_id", "text_id", "constant",
                "constant_with_gaps"]


def fitted(series: pd.Series, seed: int = 0):
    spec = detect_column(series)
    return make_column_transformer(spec).fit(series, seed=seed), spec


def assert_same_column(original: pd.Series, restored: pd.Series, numeric_tol: float) -> None:
    assert restored.dtype == original.dtype
    assert (restored.isna().to_numpy() == original.isna().to_numpy()).all()
    keep = original.notna().to_numpy()
    if pd.api.types.is_float_dtype(original.dtype) or pd.api.types.is_integer_dtype(original.dtype):
        a = original.to_numpy(dtype=float)[keep]
        b = restored.to_numpy(dtype=float)[keep]
        close = np.isclose(a, b, rtol=numeric_tol, atol=numeric_tol * np.std(a) + 1e-9)
        assert close.mean() >= 0.999, f"{original.name}: {1 - close.mean():.4%} rows differ"
    else:
        assert (original[keep].astype(str).to_numpy() == restored[keep].astype(str).to_numpy()).all()


def check_round_trip(series: pd.Series) -> None:
    col = series.name
    transformer, _ = fitted(series)
    block = transformer.transform(series, np.random.default_rng(0))
    assert block.dtype == np.float32
    assert block.shape == (len(series), sum(s.width for s in transformer.spans()))
    restored = transformer.inverse_transform(block, np.random.default_rng(0))
    assert_same_column(series, restored.reset_index(drop=True) if restored.name == col
                       else restored, numeric_tol=1e-3) if transformer.spans() else None
    if not transformer.spans():  # identifiers are regenerated, constants reproduced
        assert len(restored) == len(series) and restored.dtype == series.dtype


def check_widths(series: pd.Series) -> None:
    transformer, _ = fitted(series)
    spans = transformer.spans()
    width = transformer.transform(series, np.random.default_rng(0)).shape[1]
    assert width == sum(s.width for s in spans)
    assert transformer.width == width
    for span in spans:
        assert span.column == series.name


def check_refit(series: pd.Series) -> None:
    other = series.sample(frac=1.0, random_state=1).reset_index(drop=True).head(300)
    spec = detect_column(series)
    fresh = make_column_transformer(spec).fit(series, seed=3)
    refit = make_column_transformer(spec).fit(other, seed=3).fit(series, seed=3)
    assert fresh.get_state() == refit.get_state()


def check_state_round_trip(series: pd.Series) -> None:
    """Through JSON, as in a model file: the same state, encoding and decoding."""
    transformer, spec = fitted(series)
    state = json.loads(json.dumps(transformer.get_state()))
    restored = make_column_transformer(spec).set_state(state)
    assert restored.get_state() == transformer.get_state()
    assert restored.spans() == transformer.spans()
    block = transformer.transform(series, np.random.default_rng(0))
    assert np.array_equal(restored.transform(series, np.random.default_rng(0)), block)
    pd.testing.assert_series_equal(
        restored.inverse_transform(block, np.random.default_rng(1)).reset_index(drop=True),
        transformer.inverse_transform(block, np.random.default_rng(1)).reset_index(drop=True))


CHECKS = [check_round_trip, check_widths, check_refit, check_state_round_trip]


@pytest.mark.parametrize("name,col", REAL_COLUMNS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_contract_on_real_columns(name, col, check):
    check(dataset(name, rows=1500)[col])


@pytest.mark.parametrize("name", MADE_COLUMNS)
@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_contract_on_made_columns(name, check):
    check(made_column(name))


def test_the_made_columns_reach_every_transformer_and_its_variants():
    made = {name: fitted(made_column(name))[0] for name in MADE_COLUMNS}
    assert {t.spec.kind for t in made.values()} == set(ColumnKind) == set(TRANSFORMERS)
    assert all(isinstance(t, ColumnTransformer) for t in made.values())
    assert made["skewed"].log_scale_ is not None and made["symmetric"].log_scale_ is None
    assert made["counts"].discrete and made["spike"].point_.any()
    assert made["letters"].has_null_ and made["constant_with_gaps"].width == 2


def test_unseen_category_is_handled_explicitly():
    from synthvae.transforms.categorical import CategoricalWarning

    series = pd.Series(["a", "b", "a", "c"] * 10, name="letter")
    transformer, _ = fitted(series)
    with pytest.warns(CategoricalWarning, match="'letter'.*unseen"):
        block = transformer.transform(pd.Series(["a", "zzz"], name="letter"))
    assert block[1].sum() == 0 and block[0].sum() == 1


def test_many_categories_are_capped_with_a_warning_naming_the_column():
    from synthvae.transforms.categorical import CategoricalWarning, OneHotEncoder

    series = pd.Series([f"v{i % 500}" for i in range(5000)], name="code")
    with pytest.warns(CategoricalWarning, match="'code' has 500 distinct values; the 49 most "
                                                "frequent are modelled and the rest grouped"):
        encoder = OneHotEncoder(detect_column(series), max_categories=50).fit(series)
    assert encoder.width == 50
    rare = pd.Series([f"r{i % 300}" for i in range(600)], name="rare")  # 2 rows a value
    with pytest.warns(CategoricalWarning, match="'rare' has 300 distinct values; none is held "
                                                "by 5 rows, so all are grouped as 'other'"):
        OneHotEncoder(detect_column(rare), max_categories=50).fit(rare)  # not 'the 0 most'
    assert encoder.rare_values_ == [] and "v499" not in json.dumps(encoder.get_state())
    restored = encoder.inverse_transform(encoder.transform(series), np.random.default_rng(0))
    kept = restored.isin(encoder.categories_)
    assert kept.mean() > 0.05 and set(restored[kept]) <= set(series)
    # 'other' becomes new values of the same form, never a training value (issue 22)
    others = restored[~kept]
    assert others.str.fullmatch(r"v\d{4}").all() and not set(others) & set(series)


def test_continuous_inverse_clips_to_observed_range_and_keeps_integers():
    series = pd.Series(np.arange(1000) % 97 + 3, name="n")
    transformer, _ = fitted(series)
    block = transformer.transform(series, np.random.default_rng(0))
    block[:, 0] = np.linspace(-1, 1, len(block))  # push scalars to the extremes
    restored = transformer.inverse_transform(block)
    assert restored.min() >= 3 and restored.max() <= 99 and restored.dtype == np.int64


def test_mixture_on_adult_finds_modes_and_matches_scikit_learn_weights():
    from sklearn.mixture import BayesianGaussianMixture

    df = dataset("adult_train")
    table = TableTransformer(detect_schema(df), discrete_threshold=0).fit(df)
    modes = {t.spec.name: len(t.means_) for t in table.transformers_ if hasattr(t, "means_")}
    assert modes["capital-gain"] >= 2 and modes["hours-per-week"] >= 3
    # The dominant mode of a spiky column agrees with scikit-learn's estimator.
    x = df[["capital-loss"]].to_numpy(float)
    ref = BayesianGaussianMixture(n_components=10, weight_concentration_prior=1e-3,
                                  weight_concentration_prior_type="dirichlet_process",
                                  random_state=0, max_iter=200).fit(x)
    ours = next(t for t in table.transformers_ if t.spec.name == "capital-loss")
    assert abs(ours.weights_.max() - ref.weights_.max()) < 0.01
    assert abs(ours.means_[ours.weights_.argmax()] - ref.means_[ref.weights_.argmax(), 0]) < 5


def test_a_spiky_column_alone_finds_its_spike_as_scikit_learn_does():
    # 95 % zeros: the bound sits on a plateau for the first iterations; stopping there left
    # ten equal modes (weights 0.12) where scikit-learn finds one of weight 0.95.
    from synthvae.transforms.mixture import fit_mixtures

    rng = np.random.default_rng(0)
    x = np.where(rng.random(20_000) < 0.95, 0.0, rng.normal(1900, 300, 20_000))
    fit = fit_mixtures(x[:, None], seed=0)
    assert fit.weights[0].max() > 0.9


def test_wide_tables_fit_their_mixtures_in_column_blocks_with_the_same_result(monkeypatch):
    from synthvae.transforms import mixture

    rng = np.random.default_rng(1)
    x = rng.normal(rng.uniform(-5, 5, 12), 1.0, (400, 12))
    whole = mixture.fit_mixtures(x, seed=0)
    monkeypatch.setattr(mixture, "MAX_BLOCK_CELLS", 400 * 10 * 5)  # blocks of 5 columns
    blocks = mixture.fit_mixtures(x, seed=0)
    assert blocks.means.shape == whole.means.shape == (12, 10)
    assert np.allclose(blocks.means, whole.means, atol=1e-3)


def three_clusters(sizes=(400, 60, 40), seed: int = 0) -> pd.Series:
    """Well-separated clusters of ``sizes`` values: a 400-row bulk between two small ones."""
    rng = np.random.default_rng(seed)
    parts = [rng.normal(center, 1.0, size) for center, size in zip((0.0, -40.0, 40.0), sizes)]
    return pd.Series(rng.permutation(np.concatenate(parts)), name="x")


def test_a_small_column_keeps_only_modes_its_rows_can_fill_and_still_round_trips():
    series = three_clusters()
    spec = detect_column(series)
    every = make_column_transformer(spec, discrete_threshold=0, min_mode_rows=0).fit(series)
    full = make_column_transformer(spec, discrete_threshold=0, min_mode_rows=100).fit(series)
    assert every.n_modes >= 3  # a mode per cluster: 60 and 40 values are above 0.5 %
    assert full.n_modes == 1  # only the 400-value bulk holds 100 values
    # The light clusters are folded into the kept mode by moment matching: it sits where the
    # column's values are (mean and spread of the whole column), not on the bulk alone.
    values = series.to_numpy()
    assert full.means_[0] == pytest.approx(values.mean(), abs=0.05 * values.std())
    assert full.stds_[0] == pytest.approx(values.std(), rel=0.1)
    # ...and every value encodes without clipping: the round trip is exact.
    block = full.transform(series, np.random.default_rng(0))
    assert np.allclose(full.inverse_transform(block).to_numpy(), values, atol=1e-6)


def test_folded_modes_keep_the_spread_of_large_values_with_small_spread():
    """The folding pooled the variance as E[x^2] - E[x]^2: on 1e9 + clusters of spread 1
    that lost every digit (a std of 16 for values of spread ~4), and decoded rows piled up
    at the column's bounds. Pooled about the pooled mean, it is the column's spread."""
    series = three_clusters() / 10 + 1e9  # clusters of std 0.1 at 1e9 - 4, 1e9, 1e9 + 4
    full = make_column_transformer(detect_column(series), discrete_threshold=0,
                                   min_mode_rows=100).fit(series)
    assert full.n_modes == 1
    assert full.stds_[0] == pytest.approx(series.std(), rel=0.1)


def test_min_mode_rows_counts_values_so_large_columns_keep_their_modes():
    big = three_clusters((40_000, 6_000, 4_000))  # every cluster far above 100 values
    spec = detect_column(big)
    assert make_column_transformer(spec, discrete_threshold=0).fit(big).n_modes >= 3


def test_a_mode_kept_between_dropped_ones_is_widened_to_reach_their_values():
    # Two heavy clusters and a light one between them: the light one's values take the
    # closest kept mode, which must reach them.
    rng = np.random.default_rng(2)
    values = np.concatenate([rng.normal(-50, 1, 300), rng.normal(50, 1, 300),
                             rng.normal(12, 0.5, 30)])
    series = pd.Series(rng.permutation(values), name="x")
    transformer = make_column_transformer(detect_column(series), discrete_threshold=0,
                                          min_mode_rows=100).fit(series)
    assert transformer.n_modes == 2
    block = transformer.transform(series, np.random.default_rng(0))
    assert np.allclose(transformer.inverse_transform(block).to_numpy(), series.to_numpy(),
                       atol=1e-6)


@pytest.mark.parametrize("zeros, payments, min_mode_rows", [
    (2000, 60, 100),  # every payment mode is under 100 rows: the heaviest stays, as spread
    (5000, 10, 0),  # the payments' modes are under TVAE's 0.5 %: dropped, then re-added
])
def test_values_off_a_spike_keep_a_mode_of_their_own(zeros, payments, min_mode_rows):
    # Once every payment decoded as a zero: the spike was the only mode left.
    rng = np.random.default_rng(4)
    values = np.concatenate([np.zeros(zeros), rng.uniform(1000, 20000, payments).round(2)])
    series = pd.Series(rng.permutation(values), name="capital_gain")
    spec = detect_column(series)
    assert spec.kind is ColumnKind.CONTINUOUS
    transformer = make_column_transformer(spec, discrete_threshold=0,
                                          min_mode_rows=min_mode_rows).fit(series)
    assert transformer.point_.tolist() == [True, False]  # the spike stays an exact value
    block = transformer.transform(series, np.random.default_rng(0))
    assert np.array_equal(transformer.inverse_transform(block).to_numpy(), series.to_numpy())


def test_min_mode_rows_is_part_of_the_table_state():
    df = pd.DataFrame({"x": three_clusters()})
    table = TableTransformer(detect_schema(df), discrete_threshold=0, min_mode_rows=50).fit(df)
    state = json.loads(json.dumps(table.get_state()))
    restored = TableTransformer.from_state(detect_schema(df), state)
    assert restored.min_mode_rows == 50
    assert np.array_equal(restored.transform(df, seed=0), table.transform(df, seed=0))
    del state["min_mode_rows"]  # a model saved before it kept modes by weight alone
    assert TableTransformer.from_state(detect_schema(df), state).min_mode_rows == 0


def test_subnormal_values_beside_an_ordinary_one_encode_finite_and_come_back():
    """Found by the property test below: the signed log scale's s (1 % of the median
    magnitude) was 2.2e-311 here, and 1.0 / s overflowed to inf, encoded as NaN."""
    df = pd.DataFrame({"x": [1.0] + [2.225074e-309] * 6, "k": list("abababa")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = TableTransformer(detect_schema(df)).fit(df)
        matrix = table.transform(df)
        restored = table.inverse_transform(matrix, np.random.default_rng(0))
    assert np.isfinite(matrix).all()
    assert restored["x"].between(0, 1).all() and restored["x"].max() == 1.0


# ----------------------------------------------------------------------------- property tests

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data_frames(columns=[
    column("x", elements=st.one_of(st.floats(-1e6, 1e6), st.just(float("nan")))),
    column("k", elements=st.sampled_from(["a", "b", "c", None])),
    column("i", elements=st.integers(-5, 5)),
    column("f", elements=st.booleans()),
], index=range_indexes(min_size=1, max_size=60)))
def test_random_frames_round_trip_schema_and_nulls(df):
    schema = detect_schema(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = TableTransformer(schema).fit(df)
        matrix = table.transform(df)
        restored = table.inverse_transform(matrix, np.random.default_rng(0))
    assert matrix.shape == (len(df), table.output_width_)
    assert np.isfinite(matrix).all()
    assert list(restored.columns) == list(df.columns)
    assert (restored.dtypes == df.dtypes).all()
    for name in df.columns:
        assert (restored[name].isna() == df[name].isna()).all()
    assert (restored["k"].fillna("-") == df["k"].fillna("-")).all()
    assert (restored["f"] == df["f"]).all()


def test_frequent_exact_values_become_point_masses():
    rng = np.random.default_rng(0)
    values = np.where(rng.random(5000) < 0.9, 0.0, rng.lognormal(8, 1, 5000)).round()
    series = pd.Series(values, name="gain")
    transformer, _ = fitted(series)
    assert transformer.point_.sum() == 1
    block = transformer.transform(series, np.random.default_rng(0))
    block[:, 0] += np.random.default_rng(1).normal(0, 0.3, len(block))  # decoder noise
    restored = transformer.inverse_transform(block)
    zero_rows = values == 0
    assert (restored[zero_rows] == 0).all()  # the spike stays exact under noise
    assert (restored[~zero_rows] > 0).mean() > 0.9


# ----------------------------------------------------------------------------- discrete numbers

def test_columns_with_few_values_are_encoded_value_by_value():
    rng = np.random.default_rng(0)
    ages = pd.Series(rng.integers(17, 91, 3000), name="age")  # 74 integers
    days = pd.Series(rng.choice([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], 3000), name="special_day")
    for series in (ages, days):
        transformer, spec = fitted(series)
        assert spec.kind.value == "continuous" and transformer.discrete
        assert transformer.n_modes == series.nunique()
        block = transformer.transform(series, np.random.default_rng(0))
        block[:, 0] = rng.uniform(-1, 1, len(block))  # the scalar carries nothing: ignored
        restored = transformer.inverse_transform(block)
        assert restored.dtype == series.dtype and (restored == series).all()


def test_a_small_tables_measurements_are_not_encoded_value_by_value():
    # 125 measurements to two decimals: 89 distinct values, few only because the rows are
    # few (the wine table's alcohol levels). Value by value, each would be a category of one
    # or two rows.
    alcohol = pd.Series(np.random.default_rng(0).normal(13, 0.5, 125).round(2), name="alcohol")
    assert alcohol.nunique() <= DISCRETE_THRESHOLD
    transformer, _ = fitted(alcohol)
    assert not transformer.discrete and transformer.n_modes <= 2  # a mixture, min_mode_rows
    # Codes repeat: 16 values in 300 rows stay exact values.
    codes = pd.Series(np.random.default_rng(1).integers(1, 17, 300) * 1.5, name="grade")
    assert fitted(codes)[0].discrete


@pytest.mark.parametrize("rows, discrete", [(150, True), (149, False)])
def test_a_column_is_discrete_from_discrete_value_rows_values_per_distinct_value(rows, discrete):
    values = pd.Series((np.arange(rows) % 30) * 0.7, name="x")  # 30 distinct values
    assert DISCRETE_VALUE_ROWS == 5
    assert fitted(values)[0].discrete is discrete


def test_a_discrete_column_decodes_only_values_seen_and_maps_unseen_ones_to_the_nearest():
    series = pd.Series(np.repeat([1.0, 2.5, 7.0], 100), name="x")
    transformer, _ = fitted(series)
    unseen = pd.Series([2.4, 6.0, 100.0, -3.0], name="x")
    block = transformer.transform(unseen, np.random.default_rng(0))
    assert transformer.inverse_transform(block).tolist() == [2.5, 7.0, 7.0, 1.0]
    noisy = np.random.default_rng(1).normal(size=(500, transformer.width)).astype(np.float32)
    assert set(transformer.inverse_transform(noisy)) <= {1.0, 2.5, 7.0}


def test_discrete_threshold_decides_which_columns_are_discrete_and_round_trips_state():
    df = pd.DataFrame({"hours": np.arange(3000) % 60, "income": np.linspace(0, 1, 3000)})
    schema = detect_schema(df)
    table = TableTransformer(schema, discrete_threshold=60).fit(df)
    assert [t.discrete for t in table.transformers_] == [True, False]
    assert not TableTransformer(schema, discrete_threshold=59).fit(df).transformers_[0].discrete
    restored = TableTransformer.from_state(schema, table.get_state())
    matrix = table.transform(df, seed=0)
    assert np.array_equal(restored.transform(df, seed=0), matrix)
    assert restored.inverse_transform(matrix)["hours"].equals(df["hours"])


# ----------------------------------------------------------------------------- heavy tails

def heavy_tailed(n: int = 5000, seed: int = 0, name: str = "payment") -> pd.Series:
    """A bill-like column: 20 % zeros, a lognormal bulk, a few negative refunds."""
    rng = np.random.default_rng(seed)
    values = rng.lognormal(7, 1.5, n).round()
    values[rng.random(n) < 0.2] = 0.0
    values[rng.random(n) < 0.02] *= -0.1
    return pd.Series(values.round(), name=name)


def test_skewed_columns_get_a_unit_free_log_scale_and_symmetric_ones_do_not():
    skewed, symmetric = heavy_tailed(), pd.Series(np.random.default_rng(0).normal(0, 1, 5000))
    transformer, _ = fitted(skewed)
    assert transformer.log_scale_ is not None
    assert fitted(symmetric.rename("x"))[0].log_scale_ is None
    in_thousands, _ = fitted(skewed / 1000)  # the same column in another unit
    assert in_thousands.log_scale_ == pytest.approx(transformer.log_scale_ / 1000)
    assert np.allclose(in_thousands.means_, transformer.means_)


@pytest.mark.parametrize("centre", [1e141, -1e141, 0.0])
def test_a_symmetric_column_spread_past_1e102_is_not_log_scaled_nor_warns(centre):
    """Cubing its deviations overflowed: RuntimeWarnings, and the NaN skewness log-scaled it."""
    rng = np.random.default_rng(0)
    huge = pd.Series(rng.normal(centre, 1e140, 300), name="x")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert fitted(huge)[0].log_scale_ is None
        assert fitted(pd.Series(rng.lognormal(0, 1.5, 300) * 1e140))[0].log_scale_ is not None


def test_log_scaled_columns_round_trip_zeros_negatives_and_state():
    series = heavy_tailed()
    transformer, spec = fitted(series)
    block = transformer.transform(series, np.random.default_rng(0))
    assert transformer.inverse_transform(block).equals(series)
    state = transformer.get_state()
    restored = make_column_transformer(spec).set_state(state)
    assert restored.log_scale_ == transformer.log_scale_
    assert restored.inverse_transform(block).equals(series)
    del state["log_scale"]  # a model saved before the log scale existed
    assert make_column_transformer(spec).set_state(state).log_scale_ is None


def test_the_log_scale_keeps_a_heavy_tail_faithful_under_decoder_noise():
    """What the scale is for: with the same noise on the decoded scalar, the bulk of a heavy
    tailed column comes back closer to the real distribution than on the linear scale."""
    from scipy.stats import ks_2samp

    series = heavy_tailed(8000, seed=1)
    spec = detect_column(series)
    distances = []
    for threshold in (2.0, None):
        transformer = make_column_transformer(spec, skew_threshold=threshold).fit(series)
        block = transformer.transform(series, np.random.default_rng(0))
        block[:, 0] += np.random.default_rng(1).normal(0, 0.05, len(block)).astype(np.float32)
        distances.append(ks_2samp(series, transformer.inverse_transform(block)).statistic)
    assert distances[0] < distances[1]


def test_public_bounds_are_kept_in_the_column_units_on_the_log_scale():
    series = heavy_tailed()
    spec = detect_column(series)
    spec = dataclasses.replace(spec, min=-500.0, max=50_000.0)
    transformer = make_column_transformer(spec).fit(series)
    noisy = np.random.default_rng(0).normal(0, 3, (2000, transformer.width)).astype(np.float32)
    decoded = transformer.inverse_transform(noisy)
    assert decoded.min() >= -500 and decoded.max() <= 50_000


def test_skew_threshold_none_turns_the_log_scale_off_for_the_table():
    df = pd.DataFrame({"payment": heavy_tailed(), "x": np.linspace(0, 1, 5000)})
    schema = detect_schema(df)
    on = TableTransformer(schema).fit(df)
    off = TableTransformer(schema, skew_threshold=None).fit(df)
    assert on.transformers_[0].log_scale_ is not None
    assert off.transformers_[0].log_scale_ is None
    restored = TableTransformer.from_state(schema, on.get_state())
    matrix = on.transform(df, seed=0)
    assert np.array_equal(restored.transform(df, seed=0), matrix)


def test_declared_bounds_hold_for_a_column_encoded_value_by_value():
    rng = np.random.default_rng(0)
    ages = pd.Series(rng.integers(17, 88, 3000), name="age")
    spec = dataclasses.replace(detect_column(ages), min=20, max=60)
    column = make_column_transformer(spec).fit(ages)
    assert column.discrete
    # values beyond a bound are that bound: neither sampled nor kept in the model's state
    assert column.means_.min() == 20 and column.means_.max() == 60
    assert column.weights_[0] == pytest.approx((ages <= 20).mean())
    block = np.zeros((500, column.width), dtype=np.float32)
    block[np.arange(500), 1 + rng.integers(0, column.n_modes, 500)] = 1.0
    back = column.inverse_transform(block, rng)
    assert back.between(20, 60).all()


# ----------------------------------------------------------------------------- tail modes

def tail_intervals(transformer) -> list[tuple[int, float, float]]:
    """(mode, low, high) of each tail mode, on the modelling scale."""
    return [(int(k), float(transformer.mode_low_[k]), float(transformer.mode_high_[k]))
            for k in np.flatnonzero(transformer._tail_modes)]


def test_a_heavy_tailed_columns_extremes_are_modes_of_their_own_and_round_trip():
    series = heavy_tailed(20_000, seed=3)
    transformer, spec = fitted(series)
    tails = tail_intervals(transformer)
    assert len(tails) == 2  # the largest payments and the largest refunds
    numbers = transformer.to_numbers(series)
    block = transformer.transform(series, np.random.default_rng(0))
    modes = block[:, 1:1 + transformer.n_modes].argmax(1)
    for mode, low, high in tails:
        inside = (numbers >= low) & (numbers < high)
        # every value in the interval takes the tail mode, and no other value does
        assert np.array_equal(modes == mode, inside)
    spread = numbers[numbers != 0]  # the zeros are a point mass, outside the tails
    upper = max(tails, key=lambda t: t[1])
    assert (modes == upper[0]).sum() == pytest.approx(0.01 * len(spread), rel=0.05)
    assert transformer.inverse_transform(block).equals(series)
    # decoded from a tail mode, a value stays in its interval (up to the column's rounding
    # to whole numbers) whatever the scalar
    noisy = block.copy()
    noisy[:, 0] = np.random.default_rng(1).uniform(-1, 1, len(block))
    decoded = transformer.inverse_transform(noisy).to_numpy()
    half = transformer.rounding_half_width()
    for mode, low, high in tails:
        at = modes == mode
        low, high = (transformer._unscaled(v) if np.isfinite(v) else v for v in (low, high))
        assert (decoded[at] >= low - half).all() and (decoded[at] <= high + half).all()


def test_tail_modes_need_a_log_scale_and_enough_rows_and_tail_share_turns_them_off():
    symmetric = pd.Series(np.random.default_rng(0).normal(50, 10, 20_000), name="x")
    assert tail_intervals(fitted(symmetric)[0]) == []  # not heavy-tailed
    assert tail_intervals(fitted(heavy_tailed(5000))[0]) == []  # 1 % is under 100 rows
    series = heavy_tailed(20_000, seed=3)
    spec = detect_column(series)
    off = make_column_transformer(spec, tail_share=0).fit(series)
    assert tail_intervals(off) == []
    assert off.n_modes == fitted(series)[0].n_modes - 2
    wider = make_column_transformer(spec, tail_share=0.05).fit(series)
    assert len(tail_intervals(wider)) == 2
    assert wider.weights_[wider._tail_modes].sum() > \
        fitted(series)[0].weights_[fitted(series)[0]._tail_modes].sum()


def test_tail_modes_are_part_of_the_state_and_older_or_broken_states_are_handled():
    series = heavy_tailed(20_000, seed=3)
    transformer, spec = fitted(series)
    state = json.loads(json.dumps(transformer.get_state()))  # infinite ends travel as null
    restored = make_column_transformer(spec).set_state(state)
    assert tail_intervals(restored) == tail_intervals(transformer)
    block = transformer.transform(series, np.random.default_rng(0))
    assert np.array_equal(restored.transform(series, np.random.default_rng(0)), block)
    older = {k: v for k, v in state.items() if k not in ("mode_low", "mode_high")}
    assert tail_intervals(make_column_transformer(spec).set_state(older)) == []
    with pytest.raises(ValueError, match="'payment': mode_low must list"):
        make_column_transformer(spec).set_state(dict(state, mode_low=state["mode_low"][:-1]))
    with pytest.raises(ValueError, match="'payment': the tail modes' intervals must be"):
        make_column_transformer(spec).set_state(dict(state, mode_low=[  # [high, high)
            low if high is None else high for low, high in zip(state["mode_low"],
                                                                state["mode_high"])]))
    point = int(np.flatnonzero(transformer.point_)[0])  # the zeros
    for broken in (dict(state, mode_high=[5.0 if k == point else v  # a point mass as a tail
                                          for k, v in enumerate(state["mode_high"])]),
                   dict(state, mode_low=[None if v is None else -1e9  # overlapping tails
                                         for v in state["mode_low"]]),
                   dict(state, mode_low=[10 ** 400] + state["mode_low"][1:]),  # no float
                   dict(state, log_scale=10 ** 400)):  # raised OverflowError before
        with pytest.raises(ValueError, match="'payment': "):
            make_column_transformer(spec).set_state(broken)


def test_tail_share_is_part_of_the_table_state():
    df = pd.DataFrame({"payment": heavy_tailed(20_000, seed=3)})
    table = TableTransformer(detect_schema(df), tail_share=0.02).fit(df)
    state = json.loads(json.dumps(table.get_state()))
    restored = TableTransformer.from_state(detect_schema(df), state)
    assert restored.tail_share == 0.02
    assert np.array_equal(restored.transform(df, seed=0), table.transform(df, seed=0))
    del state["tail_share"]  # a model saved before tail modes
    assert TableTransformer.from_state(detect_schema(df), state).tail_share == 0


def test_declared_bounds_hold_for_tail_modes():
    """The tails were cut from the raw values: with a declared ``min`` above the lower
    tail's edge, every value decoded from that tail came out at the edge, below the min."""
    series = heavy_tailed(20_000, seed=3)  # 2 % negative refunds below a declared 0
    spec = dataclasses.replace(detect_column(series), min=0.0,
                               max=float(np.floor(series.quantile(0.999))))
    transformer = make_column_transformer(spec).fit(series)
    assert transformer._tail_modes.any()
    noisy = np.random.default_rng(0).normal(0, 3, (4000, transformer.width)).astype(np.float32)
    decoded = transformer.inverse_transform(noisy)
    assert decoded.min() >= 0 and decoded.max() <= spec.max


def test_a_range_condition_below_the_upper_tail_never_draws_it():
    series = heavy_tailed(20_000, seed=3)
    transformer, _ = fitted(series)
    mode, low, _ = max(tail_intervals(transformer), key=lambda t: t[1])
    edge = float(transformer.from_numbers(np.array([low])).iloc[0])
    below = transformer.encode_condition((0, edge * 0.9))
    assert below.slot_log_weights[mode] == -np.inf
    assert np.isfinite(below.slot_log_weights).any()
    above = transformer.encode_condition((edge * 1.1, None))
    assert above.slot_log_weights[mode] == 0.0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 40), st.integers(1, 9), st.integers(0, 2**32 - 1),
       st.sampled_from([np.float32, np.float64]), st.booleans())
def test_span_argmax_of_a_column_major_block_is_numpys_argmax(n, k, seed, dtype, with_nan):
    # the sampler's blocks are column-major: there the index is read off column reductions
    from synthvae.transforms.spans import span_argmax

    rng = np.random.default_rng(seed)
    scores = rng.integers(-1, 3, (n, k)).astype(dtype)  # few values: many ties
    scores[rng.random((n, k)) < 0.1] = -np.inf
    if with_nan and n:
        scores[rng.integers(n), rng.integers(k)] = np.nan
    wide = np.asfortranarray(np.hstack([scores, scores]))
    for block in (scores, np.asfortranarray(scores), wide[:, :k]):
        assert np.array_equal(span_argmax(block), np.argmax(scores, axis=1))


@pytest.mark.parametrize("k", [255, 256, 32_767, 32_768])
def test_span_argmax_of_many_slots_keeps_the_last_and_first_slot_apart(k):
    # the weights' integer type widens with the span (uint8, int16, int32)
    from synthvae.transforms.spans import span_argmax

    scores = np.zeros((4, k), dtype=np.float32, order="F")
    scores[0, k - 1] = scores[1, 0] = 1.0
    scores[2, [3, k - 1]] = 2.0  # a tie: the first
    scores[3, 0] = np.nan
    assert span_argmax(scores).tolist() == np.argmax(np.ascontiguousarray(scores), 1).tolist() \
        == [k - 1, 0, 3, 0]
