"""Maintainers' generators (not shipped in any package): the compose stack's generated files."""
