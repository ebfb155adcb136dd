"""Format-agnostic I/O.

Durability, whole-file replacement, frame buffers, write-back, object storage
and path safety: what every backend writes through.
"""
