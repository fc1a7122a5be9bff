"""Graph files: YAML with line numbers, the pydantic format, validation, command-line edits, pictures."""
