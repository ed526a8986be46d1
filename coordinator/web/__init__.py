"""The coordinator's web pages: the public transparency portal, the DPO console, casework pages
for police and judges, and the control room. Server-rendered templates, a little JavaScript,
every asset served from here (no CDN); the same roles and audited denials as the API."""
