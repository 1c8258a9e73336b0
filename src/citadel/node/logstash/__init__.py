"""Logstash central management: pipeline documents kept for Logstash to fetch."""
