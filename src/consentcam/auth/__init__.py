"""Users, roles, passwords, API tokens and dashboard sessions."""
