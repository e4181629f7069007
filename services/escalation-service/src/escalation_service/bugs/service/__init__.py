"""The decisions on bug reports, one module per concern; endpoints and consumers call
these, and these call ``bugs.repository`` for every query."""
