"""Regenerate the documentation screenshot ``docs/napari_review.png``.

A small synthetic Fura-2 batch (two recordings) is run through :func:`caimg.run_batch`, the
first result is opened in napari with the "Review ROIs" dock (through the plugin manifest,
as a user would), one ROI is rejected and the strongest responder selected; the whole
window is then grabbed.

It needs a display: on a headless machine run it under Xvfb::

    xvfb-run -a -s "-screen 0 1920x1200x24" python docs/make_screenshots.py

Options: ``--out PATH`` (default: ``napari_review.png`` beside this script).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

DOCS = Path(__file__).resolve().parent


def make_batch(root: Path) -> Path:
    """Two synthetic Fura-2 hyperstacks run with the fura2 recipe; returns the output."""
    import caimg
    from caimg.io.stack import write_recording
    from caimg.synthetic import make_recording

    stacks = root / "stacks"
    stacks.mkdir()
    kw = dict(preset="easy", shape=(80, 80), n_frames=80, n_cells=6, stimulus_time_s=12.0)
    for i, name in enumerate(["cellA", "cellB"]):
        syn = make_recording("fura2", rng=20 + i, **kw)
        write_recording(syn.recording, stacks / f"{name}.tif", layout="hyperstack")
    out = root / "out"
    summary = caimg.run_batch(stacks, out, "fura2", overrides={"stimulus_time_s": 12.0})
    if not summary.ok:
        raise RuntimeError(f"the demo batch failed: {summary.failures}")
    return out


def _wait(ms: int) -> None:
    """Run the Qt event loop for ``ms`` milliseconds (layout, drawing)."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def grab_review_window(folder: Path) -> np.ndarray:
    """Screenshot (RGBA, rows x columns x 4) of napari reviewing the result in ``folder``."""
    import napari

    viewer = napari.Viewer(show=True)
    try:
        viewer.window.resize(1500, 950)
        viewer.open(str(folder), plugin="caimg")
        _dock, widget = viewer.window.add_plugin_dock_widget("caimg", "Review ROIs")
        for layer in viewer.layers:  # the projection under the ROIs reads best alone
            if layer.metadata.get("caimg", {}).get("kind") == "channel":
                layer.visible = False
        table = widget.session.table()
        widget.set_accepted(False, int(widget.session.roi_ids[0]))  # one rejected ROI shown
        widget.select_roi(int(table.sort_values("amplitude").iloc[-1]["roi"]))
        _wait(500)  # let the dock and the plot lay out before the view is fitted
        viewer.reset_view()
        _wait(100)
        return viewer.screenshot(canvas_only=False, flash=False)
    finally:
        viewer.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DOCS / "napari_review.png")
    args = parser.parse_args(argv)
    from skimage.io import imsave

    with tempfile.TemporaryDirectory() as tmp:
        img = grab_review_window(make_batch(Path(tmp)) / "cellA")
    if img.ndim != 3 or img.shape[0] < 300 or float(img[..., :3].std()) < 10:
        print(f"the screenshot looks blank (shape {img.shape}); is a display there?",
              file=sys.stderr)
        return 1
    imsave(args.out, img, check_contrast=False)
    print(f"wrote {args.out} ({img.shape[1]} x {img.shape[0]} px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
