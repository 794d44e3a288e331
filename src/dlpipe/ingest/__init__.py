"""The ingest stage: raw data -> a versioned, sharded, checksummed TFRecord dataset."""
