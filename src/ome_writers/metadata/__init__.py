"""Metadata builders, kept apart from array writing."""
