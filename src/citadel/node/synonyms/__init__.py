"""Synonym sets (``_synonyms``): stored and served; no analyzer of this node reads them."""
