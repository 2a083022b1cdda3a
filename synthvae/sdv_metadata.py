"""SDV single-table metadata <-> :class:`synthvae.schema.Schema`.

Read: SDV's single-table form (``{"columns": {...}, "primary_key": ..., 
"METADATA_SPEC_VERSION": "SINGLE_TABLE_V1"}``) or the multi-table ``V1`` form holding exactly
one table. sdtypes map to column kinds:

======================================  ==================================================
SDV sdtype                              synthvae kind
======================================  ==================================================
numerical (+ computer_representation)   continuous (``Int*``: whole numbers)
categorical (+ order)                   categorical (``order``: ordered categories)
boolean                                 categorical
datetime (+ datetime_format)            datetime (the format kept)
id (+ regex_format), the primary key    identifier
PII sdtypes (email, phone_number, ...)  identifier with ``pii`` where synthvae has the kind
                                        (email, phone_number, name, first_name, last_name,
                                        address, street_address, ipv4_address, url, ssn,
                                        iban, ... see synthvae/pii.py): fake values of that
                                        kind; other PII sdtypes: identifier (values of the
                                        real ones' form). Never modelled, never copied
a semantic sdtype with ``"pii": false`` categorical (SDV keeps its values too)
======================================  ==================================================

An sdtype SDV does not document, unless marked ``"pii": true``, is a SchemaError naming the
column. Constraints in SDV's form (``{"constraint_class": "Inequality",
"constraint_parameters": {...}}``: FixedCombinations, Inequality, ScalarInequality, Range,
ScalarRange, Positive, Negative, FixedIncrements, OneHotEncoding, Unique) become synthvae
constraints, and each alternate key a ``unique`` constraint (see docs/constraints.md).
Keys that synthvae cannot apply (other constraints, column relationships, sequence keys)
give an :class:`SdvMetadataWarning` naming them. Given the table, the
columns' nullability, dtype and constants come from the data and only the kinds from the
metadata; without it every column is taken as nullable and dtypes follow the sdtypes.

Write: :func:`schema_to_sdv` gives the single-table form; the SDV properties read from a file
(``regex_format``, PII sdtypes, the primary key) are written back unchanged; a ``pii`` column
is written with its kind's sdtype and ``"pii": true``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from synthvae.errors import SchemaError, SynthvaeWarning
from synthvae.pii import SDV_ALIASES, SDV_SDTYPES
from synthvae.schema import ColumnKind, ColumnSpec, Schema, detect_schema

SINGLE_TABLE = "SINGLE_TABLE_V1"
MULTI_TABLE = "V1"
BASE_SDTYPES = ("numerical", "categorical", "boolean", "datetime", "id")
# SDV's documented semantic sdtypes (anonymised by default; "pii": false keeps the values).
PII_SDTYPES = frozenset((
    "unknown", "email", "phone_number", "name", "first_name", "last_name", "address",
    "street_address", "secondary_address", "city", "state", "state_abbr", "country",
    "country_code", "administrative_unit", "postcode", "zipcode", "latitude", "longitude",
    "ssn", "ipv4_address", "ipv6_address", "mac_address", "user_agent_string",
    "credit_card_number", "iban", "swift11", "swift8", "bban", "license_plate", "vin",
    "company", "job", "url", "domain_name", "user_name", "password", "uuid", "date_of_birth",
    "ean", "isbn", "passport_number", "driver_license_number"))
INTEGER_REPRESENTATIONS = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32",
                           "UInt64")
REPRESENTATIONS = ("Float",) + INTEGER_REPRESENTATIONS
UNAPPLIED_KEYS = ("constraints", "column_relationships", "sequence_key", "sequence_index")


class SdvMetadataWarning(SynthvaeWarning):
    """Part of an SDV metadata file has no synthvae equivalent and is not applied."""


# ----------------------------------------------------------------------------- reading


def schema_from_sdv(metadata: dict | str | Path, data: pd.DataFrame | None = None) -> Schema:
    """The Schema an SDV metadata dict (or JSON file) describes; ``data`` supplies nullability,
    dtypes and constants, and must have exactly the metadata's columns."""
    table = single_table(load_metadata(metadata))
    columns = table.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise SchemaError("SDV metadata needs a 'columns' object naming each column's sdtype.")
    constraints, unmapped = _constraints(table)
    _warn_unapplied(dict(table, constraints=unmapped))
    primary_key = table.get("primary_key")
    if primary_key is not None and not isinstance(primary_key, str):
        raise SchemaError(f"The SDV primary key must be one column name; got "
                          f"{primary_key!r} (a composite key is not supported: declare its "
                          f"columns' sdtypes and leave primary_key out).")
    if primary_key is not None and primary_key not in columns:
        raise SchemaError(f"The SDV primary key {primary_key!r} is not one of the metadata's "
                          f"columns {list(columns)}.")
    specs = {name: column_from_sdv(name, props, name == primary_key)
             for name, props in columns.items()}
    if data is not None:
        specs = _merge_with_data(specs, data)
    extra = {"sdv": {"primary_key": primary_key, "columns": columns}}
    return Schema(columns=tuple(specs.values()), extra=extra, constraints=constraints)


def _constraints(table: dict) -> tuple[tuple, list]:
    """(synthvae constraints, SDV constraints that do not map) of the table's metadata."""
    from synthvae.constraints.declared import Unique, parse_constraint
    from synthvae.errors import ConfigError

    mapped, unmapped = [], []
    for item in table.get("constraints") or []:
        try:
            mapped.append(parse_constraint(item))
        except ConfigError:
            unmapped.append(item)
    keys = table.get("alternate_keys") or []
    mapped += [Unique(key) for key in keys if isinstance(key, str)]
    unmapped += [key for key in keys if not isinstance(key, str)]  # composite keys
    return tuple(mapped), unmapped


def load_metadata(metadata: dict | str | Path) -> dict:
    if isinstance(metadata, dict):
        return metadata
    path = Path(metadata)
    if not path.is_file():
        raise SchemaError(f"SDV metadata file {str(path)!r} does not exist.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaError(f"SDV metadata file {str(path)!r} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise SchemaError(f"SDV metadata file {str(path)!r} must hold a JSON object.")
    return data


def single_table(metadata: dict) -> dict:
    """The one table's metadata, from the single-table or the one-table multi-table form."""
    version = metadata.get("METADATA_SPEC_VERSION")
    if "tables" not in metadata:
        if version not in (None, SINGLE_TABLE):
            raise SchemaError(f"Unsupported SDV METADATA_SPEC_VERSION {version!r}; expected "
                              f"{SINGLE_TABLE!r} (or {MULTI_TABLE!r} with one table).")
        return metadata
    tables = metadata["tables"]
    if not isinstance(tables, dict) or len(tables) != 1:
        names = list(tables) if isinstance(tables, dict) else tables
        raise SchemaError(f"The SDV metadata describes {len(names)} tables {names}; synthvae "
                          f"models one table: keep only the table to synthesize.")
    if metadata.get("relationships"):
        warnings.warn("The SDV metadata's 'relationships' are not applied (one table).",
                      SdvMetadataWarning, stacklevel=3)
    return next(iter(tables.values()))


def _warn_unapplied(table: dict) -> None:
    found = [key for key in UNAPPLIED_KEYS if table.get(key)]
    if found:
        warnings.warn(f"The SDV metadata's {', '.join(found)} have no synthvae equivalent and "
                      f"are not applied (see docs/schema.md).", SdvMetadataWarning,
                      stacklevel=3)


def column_from_sdv(name: str, props: dict, primary_key: bool = False) -> ColumnSpec:
    """One column's spec from its SDV properties (nullable, dtype as the sdtype implies)."""
    if not isinstance(props, dict) or not isinstance(props.get("sdtype"), str):
        raise SchemaError(f"SDV column {name!r} needs an 'sdtype'. Got {props!r}.")
    sdtype = props["sdtype"]
    if primary_key or sdtype == "id":
        integer = sdtype == "numerical" or props.get("computer_representation", "") \
            in INTEGER_REPRESENTATIONS
        return ColumnSpec(name=name, kind=ColumnKind.IDENTIFIER, integer=integer,
                          dtype="int64" if integer else "object")
    if sdtype == "numerical":
        return _numerical(name, props.get("computer_representation", "Float"))
    if sdtype == "categorical":
        order = props.get("order")
        return ColumnSpec(name=name, kind=ColumnKind.CATEGORICAL, nullable=True,
                          categories=tuple(order) if order else None, ordered=bool(order))
    if sdtype == "boolean":
        return ColumnSpec(name=name, kind=ColumnKind.CATEGORICAL, nullable=True,
                          dtype="boolean")
    if sdtype == "datetime":
        fmt = props.get("datetime_format")
        return ColumnSpec(name=name, kind=ColumnKind.DATETIME, nullable=True,
                          datetime_format=fmt, dtype="object" if fmt else "datetime64[ns]")
    if sdtype in PII_SDTYPES or props.get("pii") is True:
        if props.get("pii") is False:
            return ColumnSpec(name=name, kind=ColumnKind.CATEGORICAL, nullable=True)
        return ColumnSpec(name=name, kind=ColumnKind.IDENTIFIER, pii=pii_kind(sdtype))
    raise SchemaError(f"SDV column {name!r} has sdtype {sdtype!r}, which synthvae does not "
                      f"know: use one of {list(BASE_SDTYPES)}, a PII sdtype such as 'email', "
                      f"or mark it \"pii\": true to have it replaced.")


def pii_kind(sdtype: str) -> str | None:
    """synthvae's PII kind for an SDV sdtype; None for those it has no generator for."""
    by_sdtype = {v: k for k, v in SDV_SDTYPES.items()}
    return by_sdtype.get(sdtype) or SDV_ALIASES.get(sdtype)


def _numerical(name: str, representation: str) -> ColumnSpec:
    if representation not in REPRESENTATIONS:
        raise SchemaError(f"SDV column {name!r}: computer_representation must be one of "
                          f"{list(REPRESENTATIONS)}. Got {representation!r} instead.")
    integer = representation != "Float"
    return ColumnSpec(name=name, kind=ColumnKind.CONTINUOUS, nullable=True, integer=integer,
                      decimals=0 if integer else None,
                      dtype=representation if integer else "float64")


def _merge_with_data(specs: dict[str, ColumnSpec], data: pd.DataFrame) -> dict:
    """The metadata's kinds on the data's detected nullability, dtypes and constants."""
    missing = [name for name in specs if name not in data.columns]
    extra = [name for name in data.columns if name not in specs]
    if missing or extra:
        which = (f"has no column {missing[0]!r} named in the SDV metadata" if missing else
                 f"has column {extra[0]!r}, which the SDV metadata does not describe")
        raise SchemaError(f"The table {which}; its columns are {list(data.columns)}.")
    detected = {c.name: c for c in detect_schema(data).columns}
    return {name: _merge_column(specs[name], detected[name]) for name in data.columns}


def _merge_column(given: ColumnSpec, found: ColumnSpec) -> ColumnSpec:
    if found.kind is ColumnKind.CONSTANT:
        return found  # one value whatever the sdtype: regenerated as that value
    common = {"nullable": found.nullable, "dtype": found.dtype}
    if given.kind is ColumnKind.CONTINUOUS:
        if found.kind is ColumnKind.CONTINUOUS and not given.integer:
            return found  # keeps the detected decimals and integer-ness
        return ColumnSpec(name=given.name, kind=given.kind, integer=given.integer,
                          decimals=0 if given.integer else found.decimals, **common)
    if given.kind is ColumnKind.DATETIME:
        timezone = found.timezone if found.kind is ColumnKind.DATETIME else None
        fmt = None if pd.api.types.is_datetime64_any_dtype(found.dtype) \
            else given.datetime_format or found.datetime_format
        return ColumnSpec(name=given.name, kind=given.kind, datetime_format=fmt,
                          timezone=timezone, **common)
    if given.kind is ColumnKind.IDENTIFIER:
        return ColumnSpec(name=given.name, kind=given.kind, dtype=found.dtype, pii=given.pii,
                          integer=pd.api.types.is_integer_dtype(found.dtype) or given.integer)
    return ColumnSpec(name=given.name, kind=given.kind, categories=given.categories,
                      ordered=given.ordered, **common)


# ----------------------------------------------------------------------------- writing


def schema_to_sdv(schema: Schema) -> dict:
    """SDV single-table metadata (``SINGLE_TABLE_V1``) for ``schema``."""
    read = schema.extra.get("sdv", {})
    original = read.get("columns", {})
    columns = {c.name: _column_to_sdv(c, original.get(c.name)) for c in schema.columns}
    primary_key = read.get("primary_key") or next(
        (c.name for c in schema.columns if c.kind is ColumnKind.IDENTIFIER
         and columns[c.name]["sdtype"] == "id"), None)
    out = {"METADATA_SPEC_VERSION": SINGLE_TABLE}
    if primary_key is not None:
        out["primary_key"] = primary_key
    out["columns"] = columns
    from synthvae.constraints import Unique

    alternate = [c.column for c in schema.constraints if isinstance(c, Unique)]
    if alternate:
        out["alternate_keys"] = alternate
    return out


def _column_to_sdv(column: ColumnSpec, original: dict | None) -> dict:
    kept = _kept_from_original(column, original)
    if kept is not None:
        return kept
    if column.kind is ColumnKind.IDENTIFIER and column.pii:
        return {"sdtype": SDV_SDTYPES[column.pii], "pii": True}
    if column.kind is ColumnKind.IDENTIFIER:
        return {"sdtype": "id"}
    if column.kind is ColumnKind.DATETIME:
        return {"sdtype": "datetime", **({"datetime_format": column.datetime_format}
                                         if column.datetime_format else {})}
    if column.kind is ColumnKind.CONTINUOUS or (
            column.kind is ColumnKind.CONSTANT and isinstance(column.value, (int, float))
            and not isinstance(column.value, bool)):
        return {"sdtype": "numerical", "computer_representation": _representation(column)}
    if column.dtype in ("bool", "boolean"):
        return {"sdtype": "boolean"}
    if column.ordered and column.categories:
        return {"sdtype": "categorical", "order": list(column.categories)}
    return {"sdtype": "categorical"}


def _kept_from_original(column: ColumnSpec, original: dict | None) -> dict | None:
    """The file's own properties, when the column still has the kind they mapped to."""
    if not original:
        return None
    sdtype = original.get("sdtype")
    identifier = (sdtype == "id" or sdtype in PII_SDTYPES or original.get("pii") is True) \
        and (None if sdtype == "id" else pii_kind(sdtype)) == column.pii
    still = {ColumnKind.IDENTIFIER: identifier,
             ColumnKind.DATETIME: sdtype == "datetime"}.get(column.kind, False)
    return dict(original) if still else None


def _representation(column: ColumnSpec) -> str:
    integer = column.integer or column.decimals == 0 or isinstance(column.value, int)
    if not integer:
        return "Float"
    named = {r.lower(): r for r in INTEGER_REPRESENTATIONS}
    return named.get((column.dtype or "").lower(), "Int64")
