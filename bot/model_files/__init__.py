"""Local model files: what a file is (read from its header), fetching one, start-up choices."""
