"""Generated cities for the demo, the tests and the benchmarks: synthetic and scripted scenes
with ground truth, the end-to-end demo, and accuracy scoring.

Nothing in a deployed node or coordinator imports this package; it drives them from above
(docs/architecture.md, "Layers"). Synthetic cameras (``synthetic:`` sources) reach a node through
the ``safecity.sources`` entry point, not an import.
"""
