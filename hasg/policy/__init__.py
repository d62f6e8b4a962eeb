"""The policy: what the user means, validated once, and its file format."""
