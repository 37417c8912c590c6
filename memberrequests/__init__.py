"""Members' requests (a new address, a forgotten password) and bulk imports, all approved."""
