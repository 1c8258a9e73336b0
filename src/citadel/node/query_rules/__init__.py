"""Query rulesets (``_query_rules``): stored, listed and tested against match criteria."""
