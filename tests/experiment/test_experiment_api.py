"""The public entry points of caimg.experiment."""

import subprocess
import sys


def test_summarize_is_the_function_not_the_module():
    import caimg
    import caimg.experiment
    import caimg.experiment.summary  # noqa: F401  (importing it must not shadow the function)

    assert callable(caimg.experiment.summarize)
    assert caimg.summarize is caimg.experiment.summarize
    assert "summarize" in dir(caimg.experiment)


def test_cli_parser_does_not_import_the_science():
    """`caimg --help` stays instant: registering `summarize` imports no pandas/scipy."""
    code = ("import sys, caimg.cli; caimg.cli.build_parser(); "
            "print(sorted(m for m in ('pandas', 'scipy', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
