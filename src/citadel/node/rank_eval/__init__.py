"""Ranking evaluation (``_rank_eval``): rated searches scored by an information-retrieval metric."""
