"""Reporting what the runs found: regressions per framework, to the terminal, as JSON, to a webhook."""
