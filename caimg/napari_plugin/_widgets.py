"""The "Run pipeline" dock widget: run caimg on the open stack without freezing the viewer.

Reads the stack again from its file with the chosen layout and recipe (the same way the
CLI does, :func:`caimg.pipeline.read_for_pipeline`), or takes the channels of an in-memory
recording (sample data), runs :func:`caimg.process_recording` in a worker thread and adds
the projection and the ROIs as layers; the review widget picks the ROIs up.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..config import SegmentConfig
from ..errors import ConfigError, StackReadError
from ._reader import projection_layer, roi_layer_kwargs

__all__ = ["RunWidget", "run_request"]

_LAYOUTS = ["auto", "hyperstack", "alternating", "pair", "single"]


def run_request(source: dict, pipeline: str, overrides: dict, out: str | None,
                progress=None):
    """Read (or take) the recording, process it and save it.

    Plain function (no Qt): what the widget's worker runs.

    Parameters
    ----------
    source : dict
        ``metadata["caimg"]`` of a channel layer: ``paths`` (files) or
        ``recording_object`` (an in-memory :class:`~caimg.recording.Recording`).
    pipeline : str
        Recipe name or ``"auto"``.
    overrides : dict
        Recipe overrides (``layout``, ``frame_interval_s``, ``stimulus_time_s``,
        ``segment``...); None values are ignored.
    out : str or None
        Output folder; the result is saved to ``out/<recording>/`` when given.
    progress : callable, optional
        Called with a short text before each stage.

    Returns
    -------
    result : Result
        With ``folder`` set when it was saved.
    recording : Recording
        The recording processed (kept with the ROI layer, so that the review widget can
        re-measure edited ROIs without reading the stack again).
    """
    from dataclasses import replace

    from ..io.result import save_result
    from ..pipeline import process_recording, read_for_pipeline, resolve_pipeline

    say = progress or (lambda _m: None)
    rec = source.get("recording_object")
    if rec is not None:
        if overrides.get("frame_interval_s"):
            rec = replace(rec, frame_interval_s=float(overrides["frame_interval_s"]),
                          frame_interval_source="override")
        cfg = resolve_pipeline(pipeline, rec, overrides=overrides)
    else:
        paths = [Path(p) for p in source.get("paths", [])]
        if not paths:
            raise StackReadError("the selected layer has no source file; open a stack file "
                                 "with the caimg reader")
        say(f"reading {paths[0].name}")
        rec, cfg = read_for_pipeline(paths[0] if len(paths) == 1 else tuple(paths), pipeline,
                                     overrides=overrides)
    say(f"processing {rec.name} ({cfg.name}: register, segment, extract, kinetics)")
    result = process_recording(rec, cfg)
    if out:
        say(f"saving to {out}")
        result = result.replace(folder=save_result(result, out))
    return result, rec


class RunWidget(Container):
    """Choose recipe, layout, timing and segmentation settings; run on the open stack.

    Parameters
    ----------
    napari_viewer : napari.Viewer
    """

    def __init__(self, napari_viewer):
        from ..config import available_pipelines
        from ..segmentation import available_methods

        self.viewer = napari_viewer
        self._worker = None
        self.last_result = None
        self.stack = ComboBox(label="stack", choices=self._stack_choices,
                              tooltip="an image layer opened with the caimg reader")
        self.recipe = ComboBox(label="recipe", choices=["auto", *available_pipelines()],
                               value="auto")
        self.layout_ = ComboBox(label="layout", choices=_LAYOUTS, value="auto")
        self.frame_interval = FloatSpinBox(label="frame interval (s)", min=0.0, max=3600.0,
                                           step=0.01, value=0.0,
                                           tooltip="0 = from the file metadata")
        self.stimulus = LineEdit(label="stimulus time (s)", value="",
                                 tooltip="empty = no stimulus (baseline from the quiet part)")
        seg = SegmentConfig()  # the form starts at the recipe defaults
        self.method = ComboBox(label="segmentation", choices=available_methods(),
                               value=seg.method)
        self.diameter = FloatSpinBox(label="cell diameter (px)", min=1.0, max=500.0,
                                     value=seg.cell_diameter_px)
        self.min_area = SpinBox(label="min area (px)", min=1, max=100000,
                                value=seg.min_area_px)
        self.out = FileEdit(label="save to", mode="d", value="",
                            tooltip="output folder; empty = keep in the viewer only")
        self.run_btn = PushButton(text="Run")
        self.progress = ProgressBar(label="", min=0, max=1, value=0, visible=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.stack, self.recipe, self.layout_, self.frame_interval,
                                  self.stimulus, self.method, self.diameter, self.min_area,
                                  self.out, self.run_btn, self.progress, self.status])
        self.run_btn.changed.connect(self.run)
        self.viewer.layers.events.inserted.connect(self._refresh_choices)
        self.viewer.layers.events.removed.connect(self._refresh_choices)
        self.stack.changed.connect(self._from_layer)
        self._from_layer()

    # --- choices -------------------------------------------------------------------
    def _channel_layers(self):
        return [lyr for lyr in self.viewer.layers
                if getattr(lyr, "metadata", {}).get("caimg", {}).get("kind") == "channel"]

    def _stack_choices(self, _widget=None):
        seen, out = set(), []
        for lyr in self._channel_layers():
            name = lyr.metadata["caimg"]["recording"]
            if name not in seen:
                seen.add(name)
                out.append(name)
        return out

    def _refresh_choices(self, _event=None):
        self.stack.reset_choices()

    def _source(self) -> dict | None:
        for lyr in self._channel_layers():
            if lyr.metadata["caimg"]["recording"] == self.stack.value:
                return lyr.metadata["caimg"]
        return None

    def _from_layer(self, _value=None):
        """Prefill timing from what the layer knows."""
        src = self._source()
        if not src:
            return
        if src.get("frame_interval_s") and src.get("recording_object") is not None:
            self.frame_interval.value = float(src["frame_interval_s"])
        if src.get("stimulus_time_s") is not None and not self.stimulus.value:
            self.stimulus.value = f"{src['stimulus_time_s']:g}"
        if src.get("layout") in _LAYOUTS and len(src.get("paths", [])) == 2:
            self.layout_.value = "pair"

    def overrides(self) -> dict:
        """Recipe overrides from the form (None = keep the recipe's value)."""
        stim = self.stimulus.value.strip()
        try:
            stim_s = float(stim) if stim else None
        except ValueError:
            raise ConfigError(f"stimulus time {stim!r}: expected a number of seconds or "
                              "nothing") from None
        return {"layout": None if self.layout_.value == "auto" else self.layout_.value,
                "frame_interval_s": self.frame_interval.value or None,
                "stimulus_time_s": stim_s,
                "segment": {"method": self.method.value,
                            "cell_diameter_px": float(self.diameter.value),
                            "min_area_px": int(self.min_area.value)}}

    # --- running -------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._worker is not None

    def run(self, _value=None):
        """Start the pipeline in a worker thread."""
        from napari.qt.threading import create_worker

        if self.busy:
            return
        src = self._source()
        if src is None:
            self.status.value = "open a stack first (File > Open, or a sample)"
            return
        try:
            ov = self.overrides()
        except ValueError as exc:
            self.status.value = str(exc)
            return
        out = str(self.out.value) if str(self.out.value) not in ("", ".") else None

        def _job():
            return run_request(src, self.recipe.value, ov, out, progress=self._say)

        self.progress.visible = True
        self.progress.min, self.progress.max = 0, 0  # busy indicator: stages have no count
        self.run_btn.enabled = False
        self.status.value = f"running {self.recipe.value} on {self.stack.value} ..."
        worker = create_worker(_job)
        worker.returned.connect(self._on_done)
        worker.errored.connect(self._on_error)
        worker.finished.connect(self._on_finished)
        self._worker = worker
        worker.start()

    def _say(self, msg: str):
        """Progress text from the worker thread, shown on the main thread."""
        from superqt.utils import ensure_main_thread

        ensure_main_thread(lambda: setattr(self.status, "value", msg))()

    def _on_finished(self):
        self._worker = None
        self.progress.visible = False
        self.progress.max = 1
        self.run_btn.enabled = True

    def _on_error(self, exc):
        self.status.value = f"failed: {exc}"

    def _on_done(self, out):
        result, rec = out
        self.last_result = result

        for lyr in list(self.viewer.layers):  # one result at a time
            m = getattr(lyr, "metadata", {}).get("caimg", {})
            if m.get("kind") in ("rois", "projection"):
                self.viewer.layers.remove(lyr)
        if result.projection is not None:
            data, kw, _kind = projection_layer(result)
            self.viewer.add_image(data, **kw)
        kw = roi_layer_kwargs(result)
        kw["metadata"]["caimg"]["recording_object"] = rec
        self.viewer.add_labels(np.array(result.labels, dtype=np.int32), **kw)
        n_acc = int(result.rois["accepted"].sum()) if len(result.rois) else 0
        where = f", saved to {result.folder}" if result.folder else " (not saved)"
        self.status.value = (f"{result.name}: {len(result.rois)} ROIs, {n_acc} accepted, "
                             f"{result.provenance.get('n_responders', 0)} responders{where}")
