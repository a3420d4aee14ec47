"""Pure logic, no I/O and no imports of the other layers: command grammar, repo config,
prompts, status-comment rendering, Markdown and sanitising, event classification, polling
policy, validation, and the typed records both APIs hand back."""
