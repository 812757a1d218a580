"""Vigil's streaming layer: the Faust app, records, dead letters, metrics and the CLI."""
