"""What the user sees: events, the live view and plain lines, completion."""
