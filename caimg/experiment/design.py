"""The experiment design: which recording belongs to which condition, compound,
concentration and coverslip.

Two sources, one result: a ``design.csv`` table (:func:`read_design`) or a regular
expression with named groups applied to file and folder names
(:func:`design_from_names`). Both return the same table, one row per recording, with the
concentration converted to mol/L. Every problem is a :class:`DesignError` that names the
file and line, what was found, what was expected and the fix.
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CaimgError

__all__ = ["DesignError", "read_design", "design_from_names", "parse_concentration",
           "format_molar", "DESIGN_COLUMNS", "UNITS_M"]

#: Columns of the design table :func:`read_design` and :func:`design_from_names` return
#: (extra columns of the file follow them unchanged).
DESIGN_COLUMNS = ("recording", "condition", "compound", "concentration_M", "replicate",
                  "plate", "well", "date", "design_row")

#: Concentration units and their factor to mol/L.
UNITS_M = {"M": 1.0, "mM": 1e-3, "uM": 1e-6, "µM": 1e-6, "μM": 1e-6, "nM": 1e-9,
           "pM": 1e-12, "fM": 1e-15}
_UNITS_LOWER = {"mm": "mM", "um": "uM", "µm": "uM", "μm": "uM", "nm": "nM", "pm": "pM",
                "fm": "fM"}
_KNOWN = ("recording", "condition", "compound", "concentration", "concentration_unit",
          "replicate", "coverslip", "plate", "well", "date")
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(\S*)\s*$")


class DesignError(CaimgError):
    """The design table or name pattern does not fit the recordings."""


def _unit_factor(unit: str) -> float | None:
    if unit in UNITS_M:
        return UNITS_M[unit]
    canon = _UNITS_LOWER.get(unit.lower())
    return UNITS_M[canon] if canon else None


def parse_concentration(text, *, unit: str = "") -> float:
    """Parse a concentration as written by a person into mol/L.

    Parameters
    ----------
    text : str or number
        ``"10 uM"``, ``"10uM"``, ``"1e-6 M"``, ``"0"``, or a bare number with ``unit``.
        Empty = not given (NaN).
    unit : str
        Unit for a bare number: one of :data:`UNITS_M` (``µ``, ``μ`` and ``u`` all mean
        micro; ``um``, ``nm`` ... in lower case are accepted).

    Returns
    -------
    float
        Concentration in M; NaN when ``text`` is empty.

    Raises
    ------
    ValueError
        (plain, the caller adds the file and line) for text that is not a number with a
        unit, a unit not in :data:`UNITS_M`, two different units, a negative number, or a
        non-zero number without a unit.

    Examples
    --------
    >>> parse_concentration("10 uM")
    1e-05
    >>> parse_concentration("3", unit="nM")
    3e-09
    """
    s = str(text).strip()
    unit = str(unit or "").strip()
    if s == "" or s.lower() == "nan":
        return math.nan
    m = _NUMBER.match(s)
    if not m:
        raise ValueError(f"concentration {s!r} is not a number with a unit; expected e.g. "
                         "'10 uM', '0.3 nM' or '1e-6 M'")
    value, own_unit = float(m.group(1)), m.group(2)
    if own_unit and unit and _unit_factor(own_unit) != _unit_factor(unit):
        raise ValueError(f"concentration {s!r} has unit {own_unit!r} but concentration_unit "
                         f"says {unit!r}; expected one unit")
    use = own_unit or unit
    if value < 0:
        raise ValueError(f"concentration {s!r} is negative; expected a concentration >= 0")
    if not use:
        if value == 0:
            return 0.0
        raise ValueError(f"concentration {s!r} has no unit; expected a unit ("
                         f"{', '.join(u for u in UNITS_M if u != 'μM')}) in the value or in a "
                         "concentration_unit column")
    factor = _unit_factor(use)
    if factor is None:
        raise ValueError(f"unit {use!r} of concentration {s!r} is not a molar unit; expected "
                         f"one of {', '.join(u for u in UNITS_M if u != 'μM')}")
    return float(f"{value * factor:.12g}")  # 100 nM -> 1e-07, not 1.0000000000000001e-07


def format_molar(c: float) -> str:
    """Format a concentration in M for a label, in the largest unit that gives >= 1.

    Parameters
    ----------
    c : float
        Concentration in mol/L.

    Returns
    -------
    str
        ``1e-05`` -> ``"10 µM"``; NaN -> ``""``; 0 -> ``"0"``.
    """
    if c is None or not np.isfinite(c):
        return ""
    if c == 0:
        return "0"
    for unit in ("M", "mM", "µM", "nM", "pM", "fM"):
        v = c / UNITS_M[unit]
        if abs(v) >= 1 - 1e-9:
            return f"{v:.3g} {unit}"
    return f"{c / UNITS_M['fM']:.3g} fM"


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DesignError(f"design file {path} not found; expected a CSV file with a "
                          "'recording' column (see docs/experiment.md)")
    try:
        # blank lines are kept (and ignored later) so that row i is always line i + 2
        opts = dict(dtype=str, keep_default_na=False, skipinitialspace=True,
                    skip_blank_lines=False, encoding="utf-8-sig")
        df = pd.read_csv(path, **opts)
        if df.shape[1] == 1 and ";" in df.columns[0]:  # a European spreadsheet's CSV
            df = pd.read_csv(path, sep=";", **opts)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DesignError(f"design file {path}: cannot read it as CSV ({exc}); expected a "
                          "comma-separated table with a header line") from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def _check_columns(df: pd.DataFrame, where: str) -> None:
    for col in df.columns:
        if col in _KNOWN:
            continue
        close = difflib.get_close_matches(col, _KNOWN, n=1, cutoff=0.8)
        if close and close[0] not in df.columns:
            raise DesignError(f"{where}: column {col!r} is not a design column; did you mean "
                              f"{close[0]!r}? Expected columns: {', '.join(_KNOWN)} (others "
                              "are kept as they are)")
    if "recording" not in df.columns:
        raise DesignError(f"{where}: no 'recording' column (found {list(df.columns)}); "
                          "expected one row per recording name or glob, e.g. 'ctrl_*'")
    if "condition" not in df.columns and "compound" not in df.columns:
        raise DesignError(f"{where}: neither a 'condition' nor a 'compound' column; expected "
                          "at least one of them to group the recordings")


def _match_rows(df: pd.DataFrame, recordings, path: Path) -> dict[str, int]:
    """Map each recording name to the index of the design row that names it."""
    names = list(recordings)
    owner: dict[str, int] = {}
    for i, pattern in enumerate(df["recording"]):
        line = i + 2
        if pattern == "" and not "".join(df.iloc[i]).strip():
            continue  # a blank line, or a spreadsheet's empty row (",,,")
        if pattern == "":
            raise DesignError(f"{path} line {line}: empty 'recording'; expected a recording "
                              "name or a glob such as 'vehicle_*'")
        hits = ([pattern] if pattern in names else
                [n for n in names if fnmatch.fnmatchcase(n, pattern)])
        if not hits:
            close = difflib.get_close_matches(pattern, names, n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise DesignError(
                f"{path} line {line}: recording {pattern!r} matches no recording in the "
                f"results (found {len(names)}: {_short(names)}).{hint} Fix the name or glob, "
                "or delete the row.")
        for n in hits:
            if n in owner:
                raise DesignError(
                    f"{path} line {line}: recording {n!r} (from {pattern!r}) is already "
                    f"given by line {owner[n] + 2} ({df['recording'].iloc[owner[n]]!r}); "
                    "expected each recording in exactly one row. Make the names or globs "
                    "disjoint.")
            owner[n] = i
    return owner


def _short(names, k=6) -> str:
    names = list(names)
    return ", ".join(names[:k]) + (f", ... ({len(names) - k} more)" if len(names) > k else "")


def _normalise(raw: pd.DataFrame, owner: dict[str, int], recordings, on_missing: str, *,
               source: str, where, first_row: int) -> pd.DataFrame:
    """Turn the raw string table into :data:`DESIGN_COLUMNS` (``where(i)`` names row i)."""
    missing = [n for n in recordings if n not in owner]
    if missing and on_missing == "error":
        raise DesignError(f"{source}: {len(missing)} recording(s) have no design row: "
                          f"{_short(missing, 20)}. Add a row (or a glob) for each, or remove "
                          "their result folders from the batch.")
    rows = []
    for name, i in sorted(owner.items(), key=lambda kv: (kv[1], kv[0])):
        r = raw.iloc[i]

        def get(c, r=r):
            return str(r[c]) if c in raw.columns else ""

        try:
            conc = parse_concentration(get("concentration"), unit=get("concentration_unit"))
        except ValueError as exc:
            raise DesignError(f"{where(i)}: {exc}") from None
        compound = get("compound")
        condition = get("condition") or " ".join(
            v for v in (compound, format_molar(conc) if np.isfinite(conc) and conc > 0 else "")
            if v)
        if not condition:
            raise DesignError(f"{where(i)}: recording {name!r} "
                              "has neither a condition nor a compound; expected one of them")
        rows.append({"recording": name, "condition": condition, "compound": compound,
                     "concentration_M": conc,
                     "replicate": get("replicate") or get("coverslip"),
                     "plate": get("plate"), "well": get("well"), "date": get("date"),
                     "design_row": int(i) + first_row,
                     **{c: r[c] for c in raw.columns if c not in _KNOWN}})
    out = pd.DataFrame(rows, columns=list(DESIGN_COLUMNS) +
                       [c for c in raw.columns if c not in _KNOWN])
    out["concentration_M"] = out["concentration_M"].astype(float)
    out["design_row"] = out["design_row"].astype("int64")
    return out


def read_design(path, recordings, *, on_missing: str = "error") -> pd.DataFrame:
    """Read ``design.csv`` and map it onto the recordings of a batch.

    Parameters
    ----------
    path : str or Path
        CSV with a header line. Columns: ``recording`` (a recording name or a glob such as
        ``igm_10uM_*``; required), ``condition``, ``compound``, ``concentration``
        (``"10 uM"``, or a number with a ``concentration_unit`` column), ``replicate`` (or
        ``coverslip``), ``plate``, ``well``, ``date``; any other column is kept.
    recordings : sequence of str
        Names of the recordings in the batch (their result folders).
    on_missing : {"error", "ignore"}
        What to do with recordings that no row names: a :class:`DesignError` listing them,
        or leave them out of the experiment.

    Returns
    -------
    pandas.DataFrame
        :data:`DESIGN_COLUMNS` then the extra columns; one row per recording.
        ``concentration_M`` in mol/L (NaN when not given); ``design_row`` is the line of
        the file (the header is line 1). A missing ``condition`` is made from compound and
        concentration (``"igmesine 10 µM"``).

    Raises
    ------
    DesignError
        File missing or not CSV; no ``recording`` column; a misspelled design column; a
        name or glob that matches no recording; a recording matched by two rows; an
        unparseable concentration or a non-molar unit; recordings with no row.

    Examples
    --------
    A ``design.csv``::

        recording,condition,compound,concentration,coverslip
        veh_*,vehicle,vehicle,0,
        igm_10nM_cs1,igmesine 10 nM,igmesine,10 nM,1
    """
    if on_missing not in ("error", "ignore"):
        raise DesignError(f"on_missing = {on_missing!r}: expected 'error' or 'ignore'")
    path = Path(path)
    raw = _read_table(path)
    _check_columns(raw, str(path))
    names = [str(n) for n in recordings]
    owner = _match_rows(raw, names, path)
    return _normalise(raw, owner, names, on_missing, source=str(path),
                      where=lambda i: f"{path} line {i + 2}", first_row=2)


def design_from_names(names, pattern: str, *, on_missing: str = "error") -> pd.DataFrame:
    r"""Take the design from file and folder names with a regular expression.

    Parameters
    ----------
    names : sequence of str, or mapping of str to str
        Recording names, or recording name -> the text to match (e.g. the input path,
        so folder names can be used; ``/`` separates folders on every system).
    pattern : str
        Regular expression (Python ``re``, searched anywhere in the text) with named
        groups called like the design columns: ``condition``, ``compound``,
        ``concentration``, ``concentration_unit``, ``replicate``/``coverslip``,
        ``plate``, ``well``, ``date``; other groups become extra columns. On the command
        line ``caimg summarize --name-pattern REGEX``; a recipe or a script can keep it
        as e.g. ``[experiment] name_pattern = '...'`` and pass it here.
    on_missing : {"error", "ignore"}
        Names the pattern does not match: an error listing them, or left out.

    Returns
    -------
    pandas.DataFrame
        As :func:`read_design`; ``design_row`` is the position of the recording in
        ``names`` (1-based).

    Examples
    --------
    >>> d = design_from_names(["igm_10nM_cs1", "igm_1uM_cs2"],
    ...     r"(?P<compound>[a-z]+)_(?P<concentration>[\d.]+[munp]?M)_cs(?P<replicate>\d+)")
    >>> d["concentration_M"].tolist()
    [1e-08, 1e-06]
    """
    if on_missing not in ("error", "ignore"):
        raise DesignError(f"on_missing = {on_missing!r}: expected 'error' or 'ignore'")
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise DesignError(f"name pattern {pattern!r} is not a regular expression ({exc})"
                          ) from None
    if not rx.groupindex:
        raise DesignError(f"name pattern {pattern!r} has no named group; expected groups such "
                          "as (?P<compound>...) and (?P<concentration>...)")
    texts = dict(names) if hasattr(names, "items") else {str(n): str(n) for n in names}
    rows, owner, unmatched = [], {}, []
    for name, text in texts.items():
        m = rx.search(str(text).replace("\\", "/"))
        if m is None:
            unmatched.append(name)
            continue
        owner[name] = len(rows)
        rows.append({"recording": name, **{k: v or "" for k, v in m.groupdict().items()}})
    if unmatched and on_missing == "error":
        raise DesignError(f"name pattern {pattern!r} matches none of {len(unmatched)} "
                          f"recording name(s): {_short(unmatched, 20)}. Expected every "
                          "recording to match; fix the pattern (test it with Python's re).")
    raw = pd.DataFrame(rows, dtype=str) if rows else pd.DataFrame(columns=["recording"])
    _check_columns(raw, f"name pattern {pattern!r}")

    def where(i):
        return f"recording {raw['recording'].iloc[i]!r} (name pattern {pattern!r})"

    return _normalise(raw, owner, list(owner), "ignore", source=f"name pattern {pattern!r}",
                      where=where, first_row=1)
