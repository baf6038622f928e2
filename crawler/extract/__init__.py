"""Extract: page bytes to an article (text, title, dates, language, metadata) with trafilatura."""
