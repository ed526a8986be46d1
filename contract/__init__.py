"""Everything a node and the coordinator say to each other: task and queue names, the signed
messages, warrants and the one registered-warrant check, queries, aggregates, events, live views,
models and camera notices.

The only package both sides import to talk; neither side's code is imported here
(docs/architecture.md, "Layers").
"""
