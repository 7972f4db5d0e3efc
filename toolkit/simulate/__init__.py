"""Traffic simulator: realistic shoppers for any ingest URL, or straight into the raw bucket.

``model`` plans the traffic (deterministic from a seed), ``send`` delivers it; see
docs/simulator.md.
"""
