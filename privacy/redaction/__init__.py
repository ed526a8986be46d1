"""Redaction of faces and licence plates: detectors, tracks, styles and the stream engine."""
