"""SynthFaces: the procedural face renderer (`render`), the deterministic dataset over it
(`dataset.SynthFaces`) and the writers that lay renderings out as the public datasets publish
theirs (`writers`), so every reader is tested without the real data."""
