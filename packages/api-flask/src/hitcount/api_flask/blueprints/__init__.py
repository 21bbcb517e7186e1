"""The API's blueprints: Track (ingest), Read (counts) and Ops (health, metrics, OpenAPI)."""
