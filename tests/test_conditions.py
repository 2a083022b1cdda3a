"""Conditions on every kind of column: skewed (log-scaled), integer, discrete, point-mass,
datetime, categorical, constant and empty cells.

The first tests need no training: the decoder's output is stood in for by random logits and
sigmas, and the bound conditions must (a) impose draws that decode into the asked values and
(b) give P(condition | z) equal to the share of unrestricted draws that meet it. The last
ones fit a small model and ask through ``sample(conditions=...)`` and ``--where``.
"""

from __future__ import annotations

import datetime

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from synthvae import Synthesizer
from synthvae.calibration import UNSEEN_OFFSET
from synthvae.conditions import (ConditionalSampler, bind_conditions, parse_where,
                                 truncated_normal)
from synthvae.errors import ConfigError
from synthvae.layout import SpanLayout
from synthvae.schema import detect_schema
from synthvae.transforms.table import TableTransformer

MAX_CATEGORIES = 10
CONDITIONS = {
    "skewed range": {"pay": (50, 500)},  # lognormal, on a log scale: the reported defect
    "skewed open above": {"pay": (200, None)},
    "skewed open below": {"pay": (None, 5)},
    "skewed integer": {"count": (100, 200)},
    "spiky": {"gain": (1000, 5000)},  # 85 % zeros, on a log scale
    "point mass": {"spike": (0, 0)},  # the same, where the zeros are an exact point mass
    "past the point mass": {"spike": (1000, 5000)},
    "point mass or above": {"spike": (0, 100)},
    "discrete range": {"age": (30, 32)},
    "discrete value": {"age": 45},
    "datetime": {"when": ("2020-03-01", "2020-03-31")},
    "category": {"group": "d"},
    "categories": {"group": ["a", "c"]},
    "empty cell": {"pay": None},
    "constant present": {"unit": "EUR"},
    "constant empty": {"unit": None},
    "combined": {"pay": (20, 80), "group": "b", "age": (20, 40)},
}


def spiky_table(n: int = 8000, seed: int = 0) -> pd.DataFrame:
    """Capital-gain-like: 85 % zeros. The mixture makes the zeros an exact point mass only
    when it has this many rows."""
    rng = np.random.default_rng(seed)
    spike = np.where(rng.random(n) < 0.85, 0.0, rng.lognormal(7, 1, n).round())
    return pd.DataFrame({"spike": spike, "group": rng.choice(list("ab"), n)})


def mixed_table(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.choice(list("abcd"), n, p=[0.5, 0.3, 0.15, 0.05])
    pay = rng.lognormal(3, 1.2, n) * np.where(group == "b", 2.0, 1.0)
    frame = pd.DataFrame({
        "pay": pay.round(2),
        "count": rng.lognormal(4, 1, n).round().astype(np.int64),
        "gain": np.where(rng.random(n) < 0.85, 0.0, rng.lognormal(7, 1, n).round()),
        "age": rng.integers(18, 80, n),
        "group": group,
        "code": [f"c{i}" for i in rng.zipf(1.3, n) % 40],
        "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, n), "D"),
        "unit": np.where(rng.random(n) < 0.2, None, "EUR"),
    })
    frame.loc[rng.random(n) < 0.1, "pay"] = np.nan
    return frame


def meets(frame: pd.DataFrame, conditions: dict) -> np.ndarray:
    """Which rows meet ``conditions``, checked here independently of the library."""
    ok = np.ones(len(frame), dtype=bool)
    for name, wanted in conditions.items():
        column = frame[name]
        if wanted is None:
            ok &= column.isna().to_numpy()
        elif isinstance(wanted, tuple):
            values = pd.to_datetime(column) if name == "when" else column
            low, high = (None if w is None else pd.Timestamp(w) if name == "when" else w
                         for w in wanted)
            ok &= ((values >= low) if low is not None else values.notna()).to_numpy()
            ok &= ((values <= high) if high is not None else values.notna()).to_numpy()
        else:
            ok &= column.isin(wanted if isinstance(wanted, list) else [wanted]).to_numpy()
    return ok


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return mixed_table()


@pytest.fixture(scope="module")
def spiky() -> pd.DataFrame:
    return spiky_table()


def fit_transformer(frame: pd.DataFrame) -> TableTransformer:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 'code' is capped: rare values grouped as 'other'
        return TableTransformer(detect_schema(frame), max_categories=MAX_CATEGORIES).fit(frame)


@pytest.fixture(scope="module")
def transformers(table, spiky) -> dict:
    return {"mixed": fit_transformer(table), "spiky": fit_transformer(spiky)}


def transformer_for(transformers: dict, conditions: dict) -> TableTransformer:
    return transformers["spiky" if "spike" in conditions else "mixed"]


def test_the_tables_have_the_column_kinds_the_conditions_are_about(transformers):
    by_name = {t.spec.name: t for table in transformers.values()
               for t in table.transformers_}
    assert by_name["pay"].log_scale_ is not None and by_name["count"].log_scale_ is not None
    assert by_name["count"].spec.integer and not by_name["count"].discrete
    assert by_name["gain"].log_scale_ is not None
    assert by_name["spike"].point_.any() and not by_name["spike"].point_.all()
    assert by_name["spike"].log_scale_ is not None
    assert by_name["age"].discrete
    assert by_name["code"].has_other and not by_name["code"].rare_values_  # none stored
    assert by_name["unit"].spec.kind.value == "constant" and by_name["unit"].width == 2


def stand_in_decoder(transformer, n: int, seed: int):
    """Random logits (n, width) and sigmas (n, n_scalars), as a decoder would give."""
    layout = SpanLayout.from_spans(transformer.spans_)
    generator = torch.Generator().manual_seed(seed)
    logits = 2.0 * torch.randn((n, layout.width), generator=generator)
    sigma = 0.02 + 0.3 * torch.rand((n, layout.n_scalars), generator=generator)
    return layout, logits, sigma, generator


def unrestricted_draw(layout, logits, sigma, generator) -> torch.Tensor:
    """What sampling does with those logits: a Gaussian scalar, one slot per softmax span."""
    out = torch.zeros_like(logits)
    noise = torch.randn(sigma.shape, generator=generator)
    scalars = torch.tanh(logits[:, layout.scalar_index]) + noise * sigma
    out[:, layout.scalar_index] = scalars.clamp(-1.0, 1.0)
    uniform = torch.rand((len(logits), layout.n_groups), generator=generator)
    chosen = layout.group_sample(logits[:, layout.slot_index], uniform)  # (n, n_groups)
    out.scatter_(1, layout.slot_index[chosen], 1.0)
    return out


def decoded(transformer, matrix, bound) -> pd.DataFrame:
    frame = transformer.inverse_transform(matrix.numpy(), np.random.default_rng(0))
    for condition in bound:
        condition.finish(frame)
    return frame


@pytest.mark.parametrize("label", list(CONDITIONS))
def test_imposed_draws_decode_into_the_asked_values(transformers, label):
    conditions = CONDITIONS[label]
    transformer = transformer_for(transformers, conditions)
    layout, logits, sigma, generator = stand_in_decoder(transformer, 2000, seed=1)
    bound = bind_conditions(conditions, transformer, layout)
    possible = torch.isfinite(sum(c.log_prob(logits, sigma) for c in bound)).numpy()
    matrix = unrestricted_draw(layout, logits, sigma, generator)
    for condition in bound:
        condition.impose(matrix, logits, sigma, generator)
    frame = decoded(transformer, matrix, bound)
    ok = meets(frame, conditions)
    assert possible.mean() > 0.3
    assert ok[possible].mean() > 0.995  # the rest: float rounding at a range's very edge
    held = np.ones(len(frame), bool)
    for condition in bound:
        held &= condition.holds(frame)
    assert (held == ok).all()  # the library's own check agrees, in the column's units
    for name, wanted in conditions.items():  # a range is filled, not one value repeated
        if isinstance(wanted, tuple) and wanted[0] != wanted[1]:
            assert frame.loc[ok, name].nunique() >= 3  # (30, 32) on ages: 30, 31, 32


@pytest.mark.parametrize("label", list(CONDITIONS))
def test_condition_probability_is_the_share_of_free_draws_that_meet_it(transformers, label):
    conditions = CONDITIONS[label]
    transformer = transformer_for(transformers, conditions)
    rows, repeats = 6, 3000
    layout, logits, sigma, generator = stand_in_decoder(transformer, rows, seed=2)
    bound = bind_conditions(conditions, transformer, layout)
    log_p = sum(c.log_prob(logits, sigma) for c in bound)
    expected = torch.exp(log_p).numpy()
    many_logits = logits.repeat_interleave(repeats, 0)
    many_sigma = sigma.repeat_interleave(repeats, 0)
    matrix = unrestricted_draw(layout, many_logits, many_sigma, generator)
    frame = transformer.inverse_transform(matrix.numpy(), np.random.default_rng(0))
    observed = meets(frame, conditions).reshape(rows, repeats).mean(axis=1)
    assert np.abs(observed - expected).max() < 0.035, (observed, expected)


@pytest.mark.parametrize("conditions, message", [
    ({"pay": (90000, None)}, r"no training value lies in the asked range 90000\.\.inf; the "
                             r"model knows 0\.\d+\.\.\d{4}\.\d+"),  # in the column's units
    ({"age": (30.2, 30.6)}, "produces no value in the asked range 30.2..30.6"),
    ({"when": ("2021-06-01", None)}, "no training value lies in the asked range 2021-06-01"),
    ({"pay": (500, 50)}, "low end 500 is above its high end 50"),
    ({"pay": (1, 2, 3)}, "a range is \\(low, high\\)"),
    ({"count": "many"}, "'count' holds a number"),
    # values held by fewer than 5 rows are not stored in the model (issue 22): never asked for
    ({"code": "c27"}, "never holds 'c27'"),
    ({"group": "z"}, "never holds 'z'"),
    ({"unit": "USD"}, "constant"),
    ({"age": None}, "no empty cells"),
])
def test_impossible_conditions_are_refused_in_the_columns_units(transformers, conditions,
                                                                message):
    transformer = transformers["mixed"]
    layout = SpanLayout.from_spans(transformer.spans_)
    with pytest.raises(ConfigError, match=message):
        bind_conditions(conditions, transformer, layout)


@pytest.mark.parametrize("sds", [6.0, 30.0])
def test_far_tail_truncated_draws_follow_the_tail_instead_of_piling_on_the_bound(sds):
    # A decoder mean far from the allowed scalar interval: the draws must still spread
    # inside it as the normal's tail does (mean excess ~ 1/sds), not sit on its bound,
    # where the decoded value rounds out of the asked range.
    n, sd = 20_000, 0.01
    generator = torch.Generator().manual_seed(0)
    mean = torch.zeros(n)
    side = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0)  # above and below the mean
    near, far = side * sds * sd, side * (sds + 20) * sd
    lo, hi = torch.minimum(near, far), torch.maximum(near, far)
    x = truncated_normal(mean, torch.full((n,), sd), lo, hi, generator)
    assert bool(((x >= lo) & (x <= hi)).all())
    excess = (x.abs() - sds * sd) / sd  # sds past the near bound
    assert float((excess <= 0).float().mean()) < 0.001
    exact = float(torch.exp(torch.distributions.Normal(0.0, 1.0).log_prob(torch.tensor(sds))
                            - torch.special.log_ndtr(torch.tensor(-sds)))) - sds
    assert abs(float(excess.mean()) - exact) < 0.01


# ---------------------------------------------------------------------------- with a model


@pytest.fixture(scope="module")
def synth(table) -> Synthesizer:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=8, batch_size=300, hidden=(64, 64), latent_dim=8,
                           max_categories=MAX_CATEGORIES, verbose=False, seed=0).fit(table)


@pytest.mark.parametrize("label", ["skewed range", "skewed integer", "spiky",
                                   "discrete range", "datetime",
                                   "constant empty", "combined"])
def test_sample_meets_conditions_on_every_kind_of_column(synth, table, label):
    conditions = CONDITIONS[label]
    out = synth.sample(300, seed=3, conditions=conditions)
    assert len(out) == 300 and meets(out, conditions).all()
    assert out.dtypes.equals(table.dtypes)


def test_a_range_on_a_skewed_column_keeps_the_columns_shape_inside_it(synth, table):
    real = table["pay"][table["pay"].between(50, 500)]
    out = synth.sample(2000, seed=4, conditions={"pay": (50, 500)})["pay"]
    assert out.between(50, 500).all()
    # Most real values in the range are near its low end; so are the conditional rows.
    assert abs(out.median() - real.median()) < 0.25 * real.median()


def test_where_on_a_skewed_column_from_the_command_line(synth, tmp_path):
    model = tmp_path / "model.safetensors"
    synth.save(model)
    out = tmp_path / "rows.csv"
    result = CliRunner().invoke(app, ["sample", "-n", "200", "-m", str(model), "-o", str(out),
                                      "--where", "pay=50..500", "--where", "group=b", "-q"])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(out)
    assert len(rows) == 200 and rows["pay"].between(50, 500).all()
    assert (rows["group"] == "b").all()


# ------------------------------------------------- values as users write them (probe s42)


def odd_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Datetimes with times of day (naive and zoned), a category declared but never used,
    a nullable Float64 column and a constant one."""
    rng = np.random.default_rng(seed)
    minutes = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 30 * 1440, n), "min")
    frame = pd.DataFrame({
        "ts": minutes,
        "zoned": minutes.tz_localize("Europe/Paris"),
        "level": pd.Categorical(rng.choice(["lo", "hi"], n), categories=["lo", "mid", "hi"]),
        "f": pd.array(rng.normal(size=n), dtype="Float64"),
        "color": "yellow",
        "digit": rng.integers(0, 10, n),  # whole numbers modelled as categories
    })
    frame.loc[rng.random(n) < 0.1, "f"] = pd.NA
    frame.loc[rng.random(n) < 0.1, "level"] = np.nan
    return frame


@pytest.fixture(scope="module")
def odd() -> TableTransformer:
    return fit_transformer(odd_table())


def bind(transformer: TableTransformer, conditions: dict) -> list:
    return bind_conditions(conditions, transformer, SpanLayout.from_spans(transformer.spans_))


def held(transformer, conditions: dict, name: str, values) -> list[bool]:
    """Which of ``values`` (of column ``name``) meet the bound ``conditions``."""
    (condition,) = bind(transformer, conditions)
    return condition.holds(pd.DataFrame({name: values})).tolist()


STAMPS = pd.to_datetime(["2020-01-04 23:59", "2020-01-05 00:00", "2020-01-05 13:30",
                         "2020-01-05 23:59", "2020-01-06 00:00"])


@pytest.mark.parametrize("wanted", ["2020-01-05", datetime.date(2020, 1, 5),
                                    ("2020-01-05", "2020-01-05"),
                                    parse_where(["ts=2020-01-05"])["ts"]],
                         ids=["text", "date", "range of one day", "where"])
def test_a_date_without_a_time_is_its_whole_day(odd, wanted):
    # It was midnight: every row at 00:00:00, a value no training row holds.
    assert held(odd, {"ts": wanted}, "ts", STAMPS) == [False, True, True, True, False]


def test_a_date_as_a_ranges_high_end_keeps_that_day(odd):
    # ..2020-01-05 stopped at its midnight and lost the day.
    wanted = parse_where(["ts=2020-01-03..2020-01-05"])["ts"]
    assert held(odd, {"ts": wanted}, "ts", STAMPS) == [True, True, True, True, False]
    open_end = {"ts": (None, datetime.date(2020, 1, 5))}
    assert held(odd, open_end, "ts", STAMPS) == [True, True, True, True, False]


def test_a_timestamp_stays_an_instant_and_a_zoned_column_takes_its_own_days(odd):
    assert held(odd, {"ts": pd.Timestamp("2020-01-05")}, "ts", STAMPS) == \
        [False, True, False, False, False]
    local = STAMPS.tz_localize("Europe/Paris")  # the day in the column's time zone
    assert held(odd, {"zoned": "2020-01-05"}, "zoned", local) == \
        [False, True, True, True, False]


def test_a_day_whose_midnight_a_daylight_saving_switch_repeats_or_skips():
    # Sao Paulo: clocks went back at midnight on 2019-02-17 (23:00-23:59 of the 16th twice)
    # and forward at midnight on 2018-11-04 (no 00:00-00:59); both raised pytz errors.
    zone = "America/Sao_Paulo"
    days = pd.date_range("2018-10-20", "2019-03-01", freq="5h", tz=zone)
    transformer = fit_transformer(pd.DataFrame({"t": days}))
    probe = pd.Series(pd.to_datetime(["2019-02-16 12:00", "2019-02-17 12:00",
                                      "2018-11-04 12:00", "2018-11-03 12:00"])
                      .tz_localize(zone))
    assert held(transformer, {"t": "2019-02-16"}, "t", probe) == [True, False, False, False]
    assert held(transformer, {"t": "2018-11-04"}, "t", probe) == [False, False, True, False]
    with pytest.raises(ConfigError, match="happens twice or not at all in its time zone"):
        bind(transformer, {"t": pd.Timestamp("2018-11-04 00:30")})


def test_a_two_item_list_on_a_number_is_a_range_with_open_ends(odd):
    ages = fit_transformer(pd.DataFrame({"age": np.random.default_rng(0).normal(40, 9, 300)}))
    # [None, 40] was refused as asking for an empty cell on a column that has none
    for wanted in ([None, 40], [np.nan, 40], (None, 40)):
        assert held(ages, {"age": wanted}, "age", [25.0, 40.0, 41.0]) == [True, True, False]
    with pytest.raises(ConfigError, match="no empty cells"):  # categories: any of the list
        bind(odd, {"digit": [None, 4]})


@pytest.mark.parametrize("missing", [np.nan, float("nan"), pd.NA, pd.NaT, None])
def test_nan_na_and_nat_ask_for_an_empty_cell_as_none_does(odd, missing):
    (number,) = bind(odd, {"f": missing})
    assert number.want_null
    (category,) = bind(odd, {"level": ["lo", missing]})
    frame = pd.DataFrame({"level": pd.Categorical(["lo", None, "hi"])})
    assert category.holds(frame).tolist() == [True, True, False]


def test_nan_at_a_ranges_end_leaves_it_open(odd):
    (condition,) = bind(odd, {"f": (np.nan, 0.0)})
    frame = pd.DataFrame({"f": pd.array([-50.0, 1.0], dtype="Float64")})
    assert condition.holds(frame).tolist() == [True, False]


def test_a_list_or_set_on_a_constant_column_takes_its_value(odd):
    for wanted in (["yellow"], {"yellow"}):
        assert bind(odd, {"color": wanted}) == []  # every row holds it: nothing to steer
    with pytest.raises(ConfigError, match=r"constant \('yellow'\); no row has 'purple'"):
        bind(odd, {"color": ["yellow", "purple"]})  # as an unseen category in a list is
    with pytest.raises(ConfigError, match="'color' has no empty cells"):
        bind(odd, {"color": ["yellow", np.nan]})


@pytest.mark.parametrize("conditions, message", [
    ({"level": ("lo", "hi")}, r"'level' is categorical.*\('lo', 'hi'\) asks for a \(low, "
                              r"high\) range, which needs a continuous, datetime or duration "
                              r"column\. .*give a list: \['lo', 'hi'\]"),
    ({"digit": (2, 4)}, r"'digit' is categorical.*column \(this one holds numbers: declare "
                        r"it continuous in the schema for ranges\)"),
    ({"level": []}, "'level': the condition lists no value"),
])
def test_a_tuple_or_an_empty_list_on_categories_is_refused_saying_why(odd, conditions,
                                                                      message):
    with pytest.raises(ConfigError, match=message):
        bind(odd, conditions)


@pytest.mark.parametrize("wanted", ["mid", ["lo", "mid"]])
def test_a_declared_category_no_training_row_holds_is_refused(odd, wanted):
    # Calibration gives such a slot UNSEEN_OFFSET and the sampler never draws it; asked
    # for, it was drawn on every row.
    layout = SpanLayout.from_spans(odd.spans_)
    bound = bind_conditions({"level": wanted}, odd, layout)
    names = [t.spec.name for t in odd.transformers_]
    offsets = torch.zeros(layout.width)
    offsets[odd.slices_[names.index("level")].start + 1] = UNSEEN_OFFSET  # 'mid'
    with pytest.raises(ConfigError, match=r"'level' never holds 'mid' in the training data"
                                          r".*known values include \['lo', 'hi'\]"):
        ConditionalSampler(None, layout, None, bound, torch.device("cpu"), offsets=offsets)
    ConditionalSampler(None, layout, None, bind_conditions({"level": ["lo", "hi"]}, odd,
                                                           layout),
                       torch.device("cpu"), offsets=offsets)  # the used ones are fine


@pytest.fixture(scope="module")
def odd_synth() -> Synthesizer:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=2, hidden=(32,), latent_dim=4, verbose=False,
                           seed=0).fit(odd_table())


def test_sample_reads_days_missing_markers_and_unused_categories(odd_synth):
    out = odd_synth.sample(60, seed=1, conditions={"ts": "2020-01-05", "f": pd.NA})
    assert (out["ts"].dt.date == datetime.date(2020, 1, 5)).all()
    assert out["ts"].nunique() > 10 and out["f"].isna().all()
    with pytest.raises(ConfigError, match="'level' never holds 'mid'"):
        odd_synth.sample(5, conditions={"level": "mid"})


def test_only_pairs_every_allowed_combination_of_which_is_excluded_are_forced():
    """Columns a (positions 0-2), a scalar (3), b (4-5) and c (6-8); the excluded pairs
    (a0, b4), (a1, b4), (a0, c6): a condition pair is forced only where the conditions
    leave no combination of their two columns outside the excluded pairs."""
    from types import SimpleNamespace

    from synthvae.conditions import forced_excluded_pairs

    excluded = torch.tensor([[0, 4, -30], [1, 4, -30], [0, 6, -60]])
    inf = float("-inf")

    def asks(start: int, weights: list) -> SimpleNamespace:
        return SimpleNamespace(slots=slice(start, start + len(weights)),
                               slot_log_weights=torch.tensor(weights))

    def forced(*bound) -> list:
        return sorted(map(tuple, forced_excluded_pairs(list(bound), excluded).tolist()))

    b4 = asks(4, [0.0, inf])
    assert forced(asks(0, [0.0, inf, inf]), b4) == [(0, 4)]
    assert forced(asks(0, [0.0, -1.5, inf]), b4) == [(0, 4), (1, 4)]  # both of a's excluded
    assert forced(asks(0, [0.0, 0.0, 0.0]), b4) == []  # a2 with b4 was seen
    assert forced(asks(0, [0.0, inf, inf]), asks(4, [0.0, 0.0])) == []  # a0 with b5 was seen
    assert forced(asks(0, [0.0, inf, inf]), b4, asks(6, [0.0, inf, inf])) == [(0, 4), (0, 6)]
    assert forced(b4, asks(6, [0.0, inf, inf])) == []  # no pair of theirs is excluded
    assert forced(asks(0, [0.0, inf, inf])) == []  # one condition forces no pair
    assert forced(asks(0, [0.0, inf, inf]), SimpleNamespace(slots=None), b4) == [(0, 4)]
    assert forced_excluded_pairs([asks(0, [0.0, inf, inf]), b4], None).shape == (0, 2)


# ------------------------------------------- periods and constants (blind sweep s48)


@pytest.fixture(scope="module")
def months_synth() -> Synthesizer:
    import warnings

    months = pd.Series(pd.period_range("2000-01", periods=120, freq="M"))
    frame = pd.DataFrame({"month": months.sample(300, replace=True, random_state=0).to_numpy(),
                          "x": np.random.default_rng(0).normal(size=300)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Synthesizer(epochs=2, hidden=(32,), latent_dim=4, verbose=False,
                           seed=0).fit(frame)


@pytest.mark.parametrize("wanted, months", [
    (pd.Period("2005-03", "M"), ["2005-03"]),
    ("2005-03", ["2005-03"]),
    (pd.Timestamp("2005-03-15"), ["2005-03"]),
    ((pd.Timestamp("2005-01-01"), pd.Timestamp("2005-03-31")), ["2005-01", "2005-02", "2005-03"]),
    ((pd.Period("2005-01", "M"), pd.Period("2005-03", "M")), ["2005-01", "2005-02", "2005-03"]),
    (("2005-02", None), None),
    (pd.Period("2005Q1", "Q"), ["2005-01", "2005-02", "2005-03"]),
], ids=["period", "text", "timestamp", "timestamp range", "period range", "open range",
        "a quarter"])
def test_a_period_column_takes_its_periods_their_text_and_timestamps(months_synth, wanted,
                                                                     months):
    """A Period was refused as 'not a datetime'; its text and Timestamp ranges crashed with
    DataError (the sampled rows were checked as Periods). Each value names the whole period
    holding it, whatever day of the month the model draws."""
    out = months_synth.sample(80, seed=1, conditions={"month": wanted})["month"]
    assert out.dtype == "period[M]" and len(out) == 80
    if months is None:
        assert (out >= pd.Period("2005-02", "M")).all()
    else:
        assert set(out.astype(str)) <= set(months) and "2005-03" in set(out.astype(str))


def constant_table(n: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"k": 7, "d": pd.Timestamp("2020-05-05"),
                         "x": np.random.default_rng(0).normal(size=n)})


@pytest.fixture(scope="module")
def constants() -> TableTransformer:
    return fit_transformer(constant_table())


@pytest.mark.parametrize("conditions", [
    {"k": (0, 10)}, {"k": (None, 7)}, {"k": ("0", "10")}, {"k": 7.0},
    {"d": "2020-05-05"}, {"d": datetime.date(2020, 5, 5)}, {"d": ("2020-05-01", "2020-05-31")},
    {"d": (pd.Timestamp("2020-05-05"), None)}, {"d": ["2020-05-05"]},
], ids=["range", "open range", "range as text", "float", "date text", "date",
        "date range", "open timestamp range", "list of date text"])
def test_a_range_or_another_spelling_of_a_constant_keeps_every_row(constants, conditions):
    """A range holding the constant, or the constant as a date or text, was refused with
    "is constant (7); no row has (0, 10)"."""
    assert bind(constants, conditions) == []  # every row holds it: nothing to steer


@pytest.mark.parametrize("conditions, message", [
    ({"k": (0, 5)}, r"'k' is constant \(7\); no row has a value in 0\.\.5\."),
    ({"k": (8, None)}, r"'k' is constant \(7\); no row has a value in 8\.\.\."),
    ({"k": ("a", 9)}, r"'k' is constant \(7\), a number; the condition's value 'a' is not "),
    ({"d": "2020-05-06"}, r"'d' is constant \('2020-05-05 00:00:00'\); no row has a value "
                          r"in 2020-05-06 00:00:00\.\.2020-05-06 23:59:59\.999999\."),
    ({"d": ("2020-06-01", None)}, r"'d' is constant .*; no row has a value in 2020-06-01"),
])
def test_a_range_or_value_that_excludes_a_constant_is_refused_naming_it(constants, conditions,
                                                                       message):
    with pytest.raises(ConfigError, match=message):
        bind(constants, conditions)


def test_where_a_range_on_a_constant_column_from_the_command_line(tmp_path):
    """`--where "k=0..10"` said "no row has ('0', '10')" on a column always 7."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synth = Synthesizer(epochs=1, hidden=(16,), latent_dim=2, verbose=False,
                            seed=0).fit(constant_table())
    model, out = synth.save(tmp_path / "m.safetensors"), tmp_path / "rows.csv"
    runner = CliRunner()
    result = runner.invoke(app, ["sample", "-n", "20", "-m", str(model), "-o", str(out),
                                 "--where", "k=0..10", "--where", "d=2020-05-01..2020-05-31",
                                 "-q"])
    assert result.exit_code == 0, result.output
    assert (pd.read_csv(out)["k"] == 7).all()
    result = runner.invoke(app, ["sample", "-n", "20", "-m", str(model), "--where", "k=0..5"])
    assert result.exit_code == 1
    assert "'k' is constant (7); no row has a value in 0..5" in result.output
