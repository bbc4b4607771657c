"""YouTube (Data API v3): extractor and sandbox."""
