"""The coordinator's use cases: what each request, page, command and periodic job does.

Routers (``coordinator.routers``) and pages (``coordinator.web``) only speak HTTP: they parse a
request, call a use case here and turn its result or :class:`coordinator.errors.Problem` into a
response; the CLI and housekeeping call the same use cases. Every check, use spent and audit
entry lives here, each entry written before the act it records.
"""
