"""Watch-side clients of the service: the replay client (a recording streamed as a watch)."""
