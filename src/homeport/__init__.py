"""homeport: move AI agents off managed platforms and serve the same OpenAI API yourself."""

__version__ = "0.1.0"
