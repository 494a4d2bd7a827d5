"""Small shared helpers: input validation, seeding, optional imports, progress bars."""
