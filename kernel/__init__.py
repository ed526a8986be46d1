"""The kernel every other package stands on: the error root, canonical JSON, atomic files,
JSON logs, settings files and the health server.

It knows nothing of video, privacy, warrants or the audit log, and imports no other safecity
package (docs/architecture.md, "Layers").
"""
