"""Search applications and behavioral analytics collections (``_application``)."""
