"""Models arrive with their issue; see README.md, Roadmap."""
