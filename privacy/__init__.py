"""Privacy primitives: redaction of faces and plates, cryptography, differential privacy, and the
pinned models they run.

Pure logic and model inference: no network I/O at run time and no storage of its own
(docs/architecture.md, "Layers"). Filling the model cache from the package registry is
``safecity models install``'s one job.
"""
