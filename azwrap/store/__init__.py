"""What azwrap keeps on disk: the state file, its lock, and where the secret lives."""
