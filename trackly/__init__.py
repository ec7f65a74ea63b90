"""Trackly Functions: the issues & insights tracker backend as an Azure Functions app."""

__version__ = "1.0.0"
