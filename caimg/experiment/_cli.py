"""``caimg summarize``: argument parsing and the handler (the work is in
:mod:`caimg.experiment.summary` and :mod:`caimg.experiment.report`).
"""

from __future__ import annotations

__all__ = ["add_parser"]


def add_parser(subparsers) -> None:
    """Register ``summarize`` on the ``caimg`` sub-command parsers."""
    p = subparsers.add_parser(
        "summarize", help="summarise a batch by its experiment design: conditions, "
                          "statistics, concentration-response, report",
        description="Summarise the result folders of a `caimg run` by condition, with the "
                    "recording (coverslip) as the unit: responder fractions and kinetics per "
                    "condition (mean, SEM, n), each condition against the control, 4-parameter "
                    "logistic fits of EC50/IC50 with 95 % CI, figures (PNG), report.pdf and "
                    "the tables as CSV. See docs/experiment.md.")
    p.add_argument("results", metavar="RESULTS", help="the --out folder of caimg run")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--design", metavar="CSV",
                   help="design.csv: recording (name or glob), condition, compound, "
                        "concentration (e.g. '10 uM'), coverslip, plate, well, date")
    source.add_argument("--name-pattern", metavar="REGEX", dest="name_pattern",
                   help="instead of --design: a regular expression with named groups "
                        "(compound, concentration, condition, replicate, ...) matched on each "
                        "recording's input path, e.g. '(?P<compound>[a-z]+)_"
                        "(?P<concentration>[0-9.]+[munp]M)_cs(?P<replicate>[0-9]+)'")
    p.add_argument("--out", "-o", required=True, metavar="REPORT",
                   help="folder for the figures, report.pdf and tables")
    p.add_argument("--measure", default="amplitude",
                   help="primary measure, tested first and fitted against concentration "
                        "(amplitude, auc, time_to_peak_s, rise_time_s, decay_tau_s, "
                        "responder_fraction; default amplitude)")
    p.add_argument("--control", metavar="CONDITION",
                   help="control condition (default: the only condition at concentration 0)")
    p.add_argument("--per-recording", choices=["median", "mean"], default="median",
                   dest="per_recording",
                   help="how a recording's cells become its value (default median)")
    p.add_argument("--cells", choices=["accepted", "responders"], default="accepted",
                   help="cells entering a recording's value (default every accepted cell)")
    p.add_argument("--test", choices=["auto", "dunnett", "welch-holm"], default="auto",
                   help="comparison with the control: auto (default) = Dunnett when the "
                        "groups' SDs are within 3-fold, else Welch t-tests with Holm's "
                        "correction")
    p.add_argument("--direction", choices=["auto", "stimulation", "inhibition"],
                   default="auto", help="concentration-response direction (default auto)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``caimg summarize``; return 0 on success (bad designs raise: exit 2)."""
    from .report import write_report
    from .summary import summarize

    summary = summarize(args.results, args.design, measure=args.measure,
                        control=args.control, name_pattern=args.name_pattern,
                        per_recording=args.per_recording, cells=args.cells,
                        direction=args.direction, test=args.test)
    written = write_report(summary, args.out)
    print(f"caimg summarize: {summary.design['recording'].nunique()} recording(s) in "
          f"{summary.design['condition'].nunique()} condition(s), control "
          f"{summary.control!r} -> {args.out}")
    from .report import fit_text

    for _, r in summary.dose_response.iterrows():
        print(f"  {r['compound']} ({r['window']}, {r['measure']}): {fit_text(r)}")
    n_png = sum(p.suffix == ".png" for p in written.values())
    print(f"  {len(written)} files: report.pdf, {n_png} figures, tables as CSV")
    return 0
