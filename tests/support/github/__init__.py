"""The GitHub stand-in, by concern; tests/support/github_server.py puts it together as GitHubServer."""
