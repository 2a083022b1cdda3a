"""The rules section of the report: dependencies, impossible combinations and inequalities of
the real table are found, and synthetic rows that break them are counted in the right share."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthvae import Schema, detect_schema
from synthvae.reports import Report, evaluate
from synthvae.reports import rules
from synthvae.reports.encoding import canonical_frame
from synthvae.reports.rules import discover_rules, rules_section

GRADE_RATE = {"A": 5, "B": 7, "C": 9, "D": 11, "E": 13}


def ruled_table(n: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """grade -> rate is 1:1; a Husband is never Female, a Wife never Male; low <= high."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(list(GRADE_RATE), n)
    sex = rng.choice(["Male", "Female"], n)
    role = np.where(rng.random(n) < 0.3, "Other", np.where(sex == "Male", "Husband", "Wife"))
    low = rng.normal(50, 10, n)
    return pd.DataFrame({"grade": grade, "rate": pd.Series(grade).map(GRADE_RATE).to_numpy(),
                         "sex": sex, "role": role, "low": low,
                         "high": low + rng.exponential(5, n), "noise": rng.normal(0, 1, n)})


def section(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    schema = detect_schema(real)
    return rules_section(canonical_frame(real, schema), canonical_frame(synthetic, schema),
                         schema)


def listed(found: dict, kind: str, **match) -> dict:
    return next(rule for rule in found[kind] if all(rule[k] == v for k, v in match.items()))


def test_the_rules_of_a_constructed_table_are_found():
    found = section(ruled_table(), ruled_table(seed=1))
    pairs = {(d["determinant"], d["dependent"]) for d in found["functional_dependencies"]}
    assert pairs == {("grade", "rate"), ("rate", "grade")}
    combos = {tuple(z["values"]) for z in found["zero_support_pairs"]}
    assert combos == {("Female", "Husband"), ("Male", "Wife")}
    inequalities = {(q["smaller"], q["larger"]) for q in found["inequalities"]}
    assert inequalities == {("low", "high")}


def test_synthetic_rows_that_keep_the_rules_break_none():
    found = section(ruled_table(), ruled_table(seed=1))
    totals = found["totals"]
    assert totals["functional_dependency_violation_share"] == 0.0
    assert totals["zero_support_share"] == 0.0
    assert totals["inequality_violation_share"] == 0.0


def test_rows_that_break_the_rules_are_counted_in_their_share():
    real, synthetic = ruled_table(), ruled_table(n=1_000, seed=1)
    synthetic.loc[:99, "rate"] = synthetic.loc[:99, "rate"] + 2  # 10 %: another grade's rate
    husbands = synthetic.index[(synthetic["role"] == "Husband")][:50]
    synthetic.loc[husbands, "sex"] = "Female"  # 5 %: a Husband who is Female
    swapped = synthetic.index[200:230]
    synthetic.loc[swapped, ["low", "high"]] = synthetic.loc[swapped, ["high", "low"]].to_numpy()
    found = section(real, synthetic)
    assert listed(found, "functional_dependencies", determinant="grade")[
        "synthetic_violation_share"] == pytest.approx(0.10)
    assert listed(found, "zero_support_pairs", values=["Female", "Husband"])[
        "synthetic_share"] == pytest.approx(0.05)
    assert found["totals"]["inequality_violation_share"] == pytest.approx(0.03)
    # the rows also break "rate -> grade"; a row breaking both counts once in the total
    assert found["totals"]["functional_dependency_violation_share"] == pytest.approx(0.10)


def test_a_value_the_real_table_never_holds_breaks_the_dependency_only_as_the_dependent():
    real, synthetic = ruled_table(), ruled_table(n=1_000, seed=1)
    synthetic.loc[:9, "grade"] = "Z"  # unknown determinant: no rule to break
    synthetic.loc[10:29, "rate"] = 99  # unknown dependent: breaks grade -> rate
    found = section(real, synthetic)
    assert listed(found, "functional_dependencies", determinant="grade")[
        "synthetic_violation_share"] == pytest.approx(0.02)


def test_a_table_without_dependencies_reports_none():
    rng = np.random.default_rng(0)
    n = 3_000
    real = pd.DataFrame({"a": rng.choice(list("abcdef"), n), "b": rng.choice(list("xyz"), n),
                         "k": rng.integers(0, 20, n), "u": rng.normal(0, 1, n),
                         "v": rng.normal(0, 1, n), "id_like": rng.permutation(n) * 1.5})
    found = section(real, real)
    assert found["functional_dependencies"] == [] and found["zero_support_pairs"] == []
    assert found["inequalities"] == []
    assert found["totals"]["functional_dependency_violation_share"] is None


def test_a_near_constant_column_is_determined_by_nothing():
    rng = np.random.default_rng(0)
    n = 2_000
    real = pd.DataFrame({"rare": np.where(np.arange(n) < 4, "y", "n"),  # 99.8 % one value
                         "c": rng.choice(list("abc"), n)})
    schema = detect_schema(real)
    assert discover_rules(canonical_frame(real, schema), schema).functional_dependencies == ()


def test_a_near_unique_column_determines_nothing():
    rng = np.random.default_rng(0)
    n = 600
    real = pd.DataFrame({"code": [f"k{min(i, n - 3)}" for i in range(n)],  # 598 values
                         "c": rng.choice(list("abc"), n)})
    # detection calls such a column an identifier (issue 22); declared categorical, the
    # guard in discovery must still keep it from "determining" the other columns
    partial = Schema.from_dict({"columns": [{"name": "code", "kind": "categorical"}]})
    schema = detect_schema(real, overrides=partial)
    assert schema["code"].kind.value == "categorical"
    assert discover_rules(canonical_frame(real, schema), schema).functional_dependencies == ()


def test_a_clock_time_of_hundreds_of_values_determines_its_hour():
    rng = np.random.default_rng(0)
    n = 6_000
    hhmm = rng.choice([h * 100 + m for h in range(5, 23) for m in range(0, 60, 2)], n)
    real = pd.DataFrame({"sched": hhmm, "hour": hhmm // 100, "late": rng.normal(0, 9, n)})
    assert real["sched"].nunique() > 500
    broken = real.assign(hour=np.where(np.arange(n) < 600, (real["hour"] + 1) % 24,
                                       real["hour"]))
    found = section(real, broken)
    rule = listed(found, "functional_dependencies", determinant="sched", dependent="hour")
    assert rule["synthetic_violation_share"] == pytest.approx(0.1)


def test_a_code_of_thousands_of_values_determines_its_city():
    rng = np.random.default_rng(0)
    n = 12_000
    zips = rng.integers(10_000, 12_200, n)  # ~2,200 values: ~5.5 rows each
    real = pd.DataFrame({"zip": zips.astype(str), "city": (zips // 20).astype(str),
                         "amount": np.round(rng.gamma(2, 50, n))})
    assert real["zip"].nunique() > 2_000
    broken = real.assign(city=np.where(np.arange(n) < 1_200, "Nowhere", real["city"]))
    found = section(real, broken)
    rule = listed(found, "functional_dependencies", determinant="zip", dependent="city")
    assert rule["synthetic_violation_share"] == pytest.approx(0.1)
    assert not any(d["determinant"] == "amount" for d in found["functional_dependencies"])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n_a=st.integers(1, 600), n_b=st.integers(1, 40),
       exceptions=st.floats(0, 0.02), head_first=st.booleans())
def test_the_sparse_pair_count_finds_what_the_dense_table_finds(seed, n_a, n_b, exceptions,
                                                                head_first):
    rng = np.random.default_rng(seed)
    n = 3_000
    a = (n_a * rng.random(n) ** 3).astype(int)  # skewed: rare A values, ties among their Bs
    b = np.where(rng.random(n) < exceptions, rng.integers(0, n_b, n), a % n_b)
    if head_first:  # every exception in the first rows, where the sparse count screens
        order = np.argsort(b == a % n_b, kind="stable")
        a, b = a[order], b[order]
    columns = (rules.CodedColumn.of(pd.Series(a, name="a")),
               rules.CodedColumn.of(pd.Series(b, name="b")))
    dense = [rules._dependency(x, y, n) for x, y in (columns, columns[::-1])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rules, "DENSE_PAIR_CELLS", 0)
        sparse = [rules._dependency(x, y, n) for x, y in (columns, columns[::-1])]
    assert sparse == dense


def test_adult_slice_education_determines_education_num_and_husbands_are_male(adult_small):
    found = section(adult_small, adult_small)
    pairs = {(d["determinant"], d["dependent"]) for d in found["functional_dependencies"]}
    assert ("education", "education-num") in pairs
    zero = {(tuple(z["columns"]), tuple(z["values"])) for z in found["zero_support_pairs"]}
    assert (("relationship", "sex"), ("Husband", "Female")) in zero


def test_wide_tables_examine_a_bounded_number_of_columns():
    rng = np.random.default_rng(0)
    wide = pd.DataFrame({f"c{i}": rng.choice(list("abc"), 300) for i in range(60)})
    rules = discover_rules(canonical_frame(wide, detect_schema(wide)), detect_schema(wide),
                           max_columns=10)
    assert len(rules.columns_examined["functional_dependencies"]) == 10
    assert len(rules.columns_skipped["functional_dependencies"]) == 50


def test_the_report_has_a_rules_section_in_json_html_and_summary():
    real, synthetic = ruled_table(), ruled_table(n=1_000, seed=1)
    synthetic.loc[:99, "rate"] = synthetic.loc[:99, "rate"] + 2
    report = evaluate(real, synthetic)
    assert report.summary["fd_violation_share"] == pytest.approx(0.10)
    assert report.summary["zero_support_share"] == 0.0
    assert report.rules["totals"]["functional_dependencies"] == 2
    assert Report.from_json(report.to_json()) == report
    page = report.to_html()
    assert "Rules of the real table" in page and "grade → rate" in page


def test_a_report_written_before_the_rules_section_still_renders():
    real = ruled_table(n=400)
    data = json.loads(evaluate(real, ruled_table(n=400, seed=1)).to_json())
    del data["rules"], data["fidelity"]["ml_efficacy_by_target"]
    assert "Rules of the real table" not in Report.from_dict(data).to_html()


def test_on_a_wide_table_codes_are_examined_before_many_valued_numbers():
    rng = np.random.default_rng(0)
    n = 12_000
    amounts = {f"amount{i}": np.round(rng.gamma(2, 300, n)) for i in range(12)}  # ~1,800 each
    zips = rng.integers(0, 600, n)
    wide = pd.DataFrame({**amounts, "zip": zips.astype(str), "city": (zips // 6).astype(str)})
    schema = detect_schema(wide)
    rules = discover_rules(canonical_frame(wide, schema), schema, max_columns=4)
    assert rules.columns_examined["functional_dependencies"][:2] == ["zip", "city"]
    assert len(rules.columns_skipped["functional_dependencies"]) == 10  # amounts: candidates
    assert ("zip", "city") in {(d.determinant, d.dependent)
                               for d in rules.functional_dependencies}
