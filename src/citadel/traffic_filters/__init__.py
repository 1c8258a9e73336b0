"""Network security: traffic-filter rulesets, their associations and claimed link ids."""
