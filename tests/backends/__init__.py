"""The backend conformance suite (`conformance.py`) and its per-backend modules."""
