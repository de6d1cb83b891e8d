"""Probes: measurements inside a model on clean images (no cells, no store), e.g. `probes.aliasing`."""
