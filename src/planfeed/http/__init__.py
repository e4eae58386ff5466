"""The HTTP surface: app factory, dependencies, and one router per API."""
