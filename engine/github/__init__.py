"""The GitHub edge (githubkit): client and pacing, answers decoded, the backend, pull requests, issues."""
