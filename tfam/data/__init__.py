"""Dataset readers for the real layouts, and offline stand-ins."""
