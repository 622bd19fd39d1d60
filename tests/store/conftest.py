"""The store fixtures live in tests/conftest.py (the importer tests use them too)."""
