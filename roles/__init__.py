"""Roles: « Administrateurs » see every domain, « Gestionnaires » only those entrusted to them."""
