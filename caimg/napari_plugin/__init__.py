"""napari plugin for caimg: open stacks and result folders, run the pipeline, review ROIs.

Registered through the npe2 manifest ``napari.yaml`` (entry point group ``napari.manifest``).
Nothing here is imported by ``import caimg``; napari imports the modules named in the
manifest when it needs them. The numbers come from :mod:`caimg.review` and the core.
"""

__all__: list[str] = []
