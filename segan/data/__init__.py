"""Datasets: SynthFaces (procedural, exact ground truth) and the public datasets' loaders."""
