"""Privacy primitives: redaction of faces and plates, cryptography, differential privacy.

Pure logic and model inference only: this package does no network I/O and keeps no storage of
its own (ARCHITECTURE.md section 1).
"""
