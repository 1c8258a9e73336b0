"""``_reindex``, ``_update_by_query`` and ``_delete_by_query``: requests and running them."""
