"""Facebook (Graph API): extractor and sandbox."""
