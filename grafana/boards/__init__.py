"""One module per dashboard; each has build(site) -> the built SDK dashboard model."""
