"""Generic checks that every operator or selector must pass (registry-driven)."""
