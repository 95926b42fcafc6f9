"""avzsl: audio-visual generalised zero-shot video classification.

The library (this package) never imports the app or the command-line entry points; those are thin layers
on top of it.
"""

__version__ = "0.1.0"
