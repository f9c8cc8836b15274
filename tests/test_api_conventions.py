"""The API grammar of caimg, checked over every public function (after scanpy's
``test_sig_conventions``).

Public = named in the ``__all__`` of a module whose dotted path has no component starting
with ``_``. The rules (STYLE.md, "Conventions" and "Docstrings"):

(a) every name in ``caimg.__all__`` (the eager names and the lazy map) resolves;
(b) numpydoc sections: a ``Parameters`` section when the function takes parameters, and
    ``Returns`` (or ``Yields``) unless it returns None;
(c) data arguments positional, options keyword-only: at most ``MAX_DATA_ARGS`` required
    positional parameters, and every parameter with a default is keyword-only unless it is
    an optional *data* argument listed in ``OPTIONAL_POSITIONAL`` (with the reason);
(d) one spelling per concept: the names in ``SPELLINGS`` are never parameter names;
(e) a config dataclass field and the keyword parameter of the function that consumes it
    have the same default (``CONFIG_CONSUMERS``), except the pairs in ``DEFAULTS_DIFFER``.

Allow-lists are checked too: an entry that no longer names a violation fails, so they
shrink as the code improves.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

import caimg
import caimg.config

# -- the public surface --------------------------------------------------------------------


def _public_modules():
    names = ["caimg"]
    for info in pkgutil.walk_packages(caimg.__path__, "caimg."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


PUBLIC_MODULES = _public_modules()


def _public_functions():
    """``{"module.name": function}`` for every function in a public ``__all__``.

    A function is named after its defining module when that is public, else after the
    deepest public module that exports it (``caimg.kinetics.fit_exponential``, not
    ``caimg.kinetics._fit.fit_exponential``): moving a function between private modules
    does not rename its test cases.
    """
    homes = {}  # id(function) -> (function, [public "module.name", ...])
    for modname in PUBLIC_MODULES:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if inspect.isfunction(obj):
                homes.setdefault(id(obj), (obj, []))[1].append(f"{modname}.{name}")
    found = {}
    for obj, names in homes.values():
        own = f"{obj.__module__}.{obj.__name__}"
        best = own if own in names else min(names, key=lambda n: (-n.count("."), n))
        found[best] = obj
    return dict(sorted(found.items()))


FUNCTIONS = _public_functions()

# -- (a) the top-level names ---------------------------------------------------------------


def test_public_modules_declare_all():
    missing = [m for m in PUBLIC_MODULES if not hasattr(importlib.import_module(m), "__all__")]
    assert not missing, f"public modules without __all__: {missing}"


@pytest.mark.parametrize("name", caimg.__all__)
def test_top_level_name_resolves(name):
    obj = getattr(caimg, name)
    assert obj is not None
    assert name in dir(caimg)


def test_all_names_are_unique():
    for modname in PUBLIC_MODULES:
        names = list(importlib.import_module(modname).__all__)
        assert len(names) == len(set(names)), f"{modname}.__all__ repeats a name"


# -- (b) numpydoc sections -------------------------------------------------------------------


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^(\w[\w ]*)\n-{3,}[ \t]*$", doc, flags=re.M))


def _returns_value(func) -> bool:
    """Whether ``func`` returns something other than None (annotation, else its source)."""
    ann = inspect.signature(func).return_annotation
    if ann is not inspect.Signature.empty:
        return ann not in (None, "None")
    tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    body = tree.body[0]

    def walk(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
                          | ast.ClassDef):
                continue  # a nested function's returns are not ours
            if isinstance(child, ast.Yield | ast.YieldFrom):
                return True
            if isinstance(child, ast.Return) and child.value is not None and not (
                    isinstance(child.value, ast.Constant) and child.value.value is None):
                return True
            if walk(child):
                return True
        return False

    return walk(body)


def _params(func):
    return list(inspect.signature(func).parameters.values())


def _docstring_problems(func) -> list[str]:
    doc = inspect.getdoc(func) or ""
    sections = _sections(doc)
    problems = []
    if _params(func) and "Parameters" not in sections:
        problems.append("no Parameters section")
    if _returns_value(func) and not sections & {"Returns", "Yields"}:
        problems.append("no Returns/Yields section")
    return problems


DOCSTRING_XFAIL = {
}


def _cases(xfails: dict[str, str]):
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=xfails[name]))
            if name in xfails else name for name in FUNCTIONS]


@pytest.mark.parametrize("name", _cases(DOCSTRING_XFAIL))
def test_numpydoc_sections(name):
    assert not _docstring_problems(FUNCTIONS[name]), name


def test_docstring_xfail_list_names_public_functions():
    assert set(DOCSTRING_XFAIL) <= set(FUNCTIONS)


# -- (c) data positional, options keyword-only ------------------------------------------------

MAX_DATA_ARGS = 3

# (function, parameter): a positional parameter with a default that is data, not an option.
OPTIONAL_POSITIONAL = {
    ("caimg.motion.estimate_shifts", "reference"): "the reference image is data",
    ("caimg.summary.summary_images", "shifts"): "the shifts are data (from register)",
    ("caimg.plotting.plot_trace", "responses"): "the responses are data (from kinetics)",
    ("caimg.plotting.response_marks", "time_s"): "the time axis is data",
    ("caimg.cli.main", "argv"): "the console-script convention main(argv=None)",
    ("caimg.pipeline.run", "pipeline"): "the recipe: caimg.run(path, 'fura2') (README)",
    ("caimg.batch.run_batch", "pipeline"): "the recipe, as in caimg.run",
    ("caimg.pipeline.read_for_pipeline", "pipeline"): "the recipe, as in caimg.run",
    ("caimg.pipeline.resolve_pipeline", "recording"): "the recording is data (for 'auto')",
    ("caimg.pipeline.process_recording", "config"): "the recipe, as in caimg.run",
    ("caimg.config.load_pipeline", "name_or_path"): "the recipe to load is the data",
    ("caimg.synthetic.make_recording", "indicator"): "make_recording('fura2') names the kind",
    ("caimg.export.nwb.export_nwb", "path"): "the output file, as in save_result(result, out)",
    ("caimg.validate.dropped_frames", "frames"): "the frames are data (or stats= instead)",
}

SIGNATURE_XFAIL = {
}


def _signature_problems(name, func) -> list[str]:
    positional = [p for p in _params(func)
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    problems = []
    if len(required) > MAX_DATA_ARGS:
        problems.append(f"{len(required)} required positional parameters {required}")
    for p in positional:
        if p.default is not p.empty and (name, p.name) not in OPTIONAL_POSITIONAL:
            problems.append(f"option {p.name!r} is not keyword-only")
    return problems


@pytest.mark.parametrize("name", _cases(SIGNATURE_XFAIL))
def test_data_positional_options_keyword_only(name):
    assert not _signature_problems(name, FUNCTIONS[name])


@pytest.mark.parametrize("key", sorted(OPTIONAL_POSITIONAL), ids=".".join)
def test_optional_positional_allow_list_is_current(key):
    name, param = key
    func = FUNCTIONS[name]
    p = inspect.signature(func).parameters[param]
    assert p.kind is p.POSITIONAL_OR_KEYWORD and p.default is not p.empty, (
        f"{name}({param}) is no longer positional with a default: drop it from the list")


# -- (d) one spelling per concept -------------------------------------------------------------

SPELLINGS = {
    "time_s": {"times", "t", "time", "timestamps"},
    "labels": {"label_image", "masks", "mask_image"},
    "frame_interval_s": {"dt", "interval", "frame_interval"},
}

SPELLING_XFAIL = {
}


@pytest.mark.parametrize("name", _cases(SPELLING_XFAIL))
def test_one_spelling_per_concept(name):
    wrong = {p.name: right for p in _params(FUNCTIONS[name])
             for right, bad in SPELLINGS.items() if p.name in bad}
    assert not wrong, f"{name}: rename {wrong}"


# -- (e) config defaults are the function defaults --------------------------------------------

# config dataclass -> the functions that consume its fields
CONFIG_CONSUMERS = {
    "MotionConfig": ["caimg.motion.register", "caimg.motion.estimate_shifts"],
    "SegmentConfig": ["caimg.segmentation.segment"],
    "BackgroundConfig": ["caimg.traces.background_mask", "caimg.traces.extract_traces"],
    "CalibrationConfig": ["caimg.signals.grynkiewicz", "caimg.signals.fluo_calcium",
                          "caimg.signals.insitu_calibration"],
    "SignalConfig": ["caimg.signals.compute_f0", "caimg.signals.fura2_ratio"],
    "RoisConfig": ["caimg.rois.roi_table", "caimg.rois.accept_rois"],
    "KineticsConfig": ["caimg.kinetics.measure_kinetics", "caimg.kinetics.measure_trace",
                       "caimg.kinetics.detect_events", "caimg.signals.compute_f0"],
    "InputConfig": ["caimg.io.read_recording"],
}

# (config, field) -> parameter name where the function spells it without the config prefix
FIELD_TO_PARAM = {
    ("BackgroundConfig", "percentile"): "background_percentile",
    ("SignalConfig", "f0_mode"): "mode",
    ("SignalConfig", "f0_percentile"): "percentile",
    ("SignalConfig", "f0_window_s"): "window_s",
}

DEFAULTS_DIFFER = {
    ("CalibrationConfig", "kd_nM", "caimg.signals.grynkiewicz"):
        "the function has no hidden constant (keff_nM, or kd_nM and beta, must be given); "
        "the recipe carries Fura-2's literature Kd",
}


def _resolve(path):
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def _field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return inspect.Parameter.empty


def _config_pairs():
    pairs = []
    for cname, consumers in CONFIG_CONSUMERS.items():
        for field in dataclasses.fields(getattr(caimg.config, cname)):
            param = FIELD_TO_PARAM.get((cname, field.name), field.name)
            for path in consumers:
                p = inspect.signature(_resolve(path)).parameters.get(param)
                # only keyword parameters with a default: a required argument has none
                if p is None or p.default is p.empty:
                    continue
                key = (cname, field.name, path)
                marks = ()
                if key in DEFAULTS_DIFFER:
                    marks = pytest.mark.skip(reason=DEFAULTS_DIFFER[key])
                pairs.append(pytest.param(cname, field.name, path, param, marks=marks,
                                          id=f"{cname}.{field.name}-{path}"))
    return pairs


CONFIG_PAIRS = _config_pairs()


@pytest.mark.parametrize("cname, field_name, path, param", CONFIG_PAIRS)
def test_config_default_equals_function_default(cname, field_name, path, param):
    field = {f.name: f for f in dataclasses.fields(getattr(caimg.config, cname))}[field_name]
    default = inspect.signature(_resolve(path)).parameters[param].default
    assert _field_default(field) == default, (
        f"{cname}.{field_name} = {_field_default(field)!r} but {path}({param}={default!r})")


def test_config_pairs_cover_every_consumer():
    """Every consumer shares at least one default with its config (a wrong path or a
    renamed parameter would otherwise make the check above vacuous)."""
    covered = {p.values[2] for p in CONFIG_PAIRS}
    consumers = {path for paths in CONFIG_CONSUMERS.values() for path in paths}
    missing = consumers - covered - {"caimg.signals.fluo_calcium"}  # all its args required
    assert not missing, missing


@pytest.mark.parametrize("key", sorted(DEFAULTS_DIFFER), ids="-".join)
def test_defaults_differ_allow_list_is_current(key):
    cname, field_name, path = key
    field = {f.name: f for f in dataclasses.fields(getattr(caimg.config, cname))}[field_name]
    param = FIELD_TO_PARAM.get((cname, field_name), field_name)
    default = inspect.signature(_resolve(path)).parameters[param].default
    assert _field_default(field) != default, f"{key} agree now: drop it from DEFAULTS_DIFFER"


# -- tests/ mirrors caimg/ ---------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
PACKAGE = Path(caimg.__file__).resolve().parent

# suites that follow a behaviour across modules rather than one module
CROSS_CUTTING = {"api_conventions", "bad_inputs", "bad_inputs_plausibility", "calibrate",
                 "hess2019", "kill_rerun", "parallel", "layout"}


def test_every_subpackage_has_a_tests_folder():
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    missing = sorted(n for n in subpackages if not (TESTS / n.lstrip("_")).is_dir())
    assert not missing, f"tests/ should mirror caimg/: no tests/<name>/ for {missing}"


def test_flat_test_files_name_a_module():
    modules = {p.stem.lstrip("_") for p in PACKAGE.glob("*.py")}
    stray = sorted(p.name for p in TESTS.glob("test_*.py")
                   if p.stem.removeprefix("test_") not in modules | CROSS_CUTTING
                   and not p.stem.removeprefix("test_").startswith("cli"))
    assert not stray, f"tests/ should mirror caimg/: {stray} name no module of caimg"


# -- the checkers themselves ----------------------------------------------------------------


def test_checkers_catch_violations():
    def undocumented(stack, labels):
        """Do something."""
        return stack

    def positional_option(stack, chunk_frames=64):
        """Do something.

        Parameters
        ----------
        stack : array
            Data.
        chunk_frames : int
            An option.
        """

    def wrong_spelling(trace, *, dt):
        """Do something.

        Parameters
        ----------
        trace, dt
            Data and option.

        Returns
        -------
        None
        """
        return trace

    assert _docstring_problems(undocumented) == ["no Parameters section",
                                                 "no Returns/Yields section"]
    assert _docstring_problems(positional_option) == []
    assert _signature_problems("x", positional_option) == [
        "option 'chunk_frames' is not keyword-only"]
    assert _signature_problems("x", lambda a, b, c, d: None) == [
        "4 required positional parameters ['a', 'b', 'c', 'd']"]
    assert [p.name for p in _params(wrong_spelling)
            if p.name in SPELLINGS["frame_interval_s"]] == ["dt"]
