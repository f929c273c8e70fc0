"""Campfire: self-hosted team chat with a real-time Socket.IO layer."""
