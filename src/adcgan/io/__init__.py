"""Input and output helpers: atomic file writes (``files``), image batches as tensors (``tensors``),
terminal-aware progress (``progress``).
"""
