"""Constants and helpers shared by test modules (``tests`` is on pytest's pythonpath)."""

TEST_SECRET = "test-secret-" + "x" * 40
