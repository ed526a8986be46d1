"""The city service: HTTP API, identities, warrants, queries, federated-learning server."""
