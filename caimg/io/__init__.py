"""File input and output: stacks (``caimg.io.stack``) and result folders (``caimg.io.result``).

This is the only part of caimg that knows about tifffile, roifile and file layouts.
"""
