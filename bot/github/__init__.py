"""The GitHub client (the only code importing PyGithub), App authentication, the error
hierarchy, and the thread context read for prompts."""
