"""tui-session: durable multi-device AI sessions in the terminal."""

__version__ = "0.1.0"
