"""planfeed: self-hosted plan tracking with AchieveIt- and accessplanit-compatible APIs."""

__version__ = "0.1.0"
