"""Streaming scoring: flows as CSV or JSON lines in (a file or stdin), one JSON verdict line per flow out.

What `rtguard score` runs (stream/stage.py). Loads the variant through the runtime's verified load, as
`rtguard serve` does, and never imports torch or the training code.
"""

from rtguard.stream.flows import FORMATS
from rtguard.stream.scoring import INTERRUPTED, Summary
from rtguard.stream.stage import StreamOptions, score_stream

__all__ = ["FORMATS", "INTERRUPTED", "StreamOptions", "Summary", "score_stream"]
