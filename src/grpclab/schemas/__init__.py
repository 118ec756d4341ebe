"""JSON schemas of grpclab's documents (report.schema.json; the probe result is its $defs)."""
