"""What every app shares: auth, the error types and their JSON shape, secrets at rest and in
text, the bounded schema types. It imports no app; apps register what it needs at ready()."""
