"""Instagram (Instagram API with Instagram Login): extractor and sandbox."""
