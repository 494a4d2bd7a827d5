"""Where events come from: generator, LHC Olympics reader, regions, injection."""
